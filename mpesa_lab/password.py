"""The STK password: base64(BusinessShortCode + Passkey + Timestamp), built and explained.

"Wrong credentials" (500.001.1001) almost always means the password does not decode to this
request's shortcode, passkey and timestamp. ``check_password`` says which part disagrees.

On the ground floor because both sides compute it: the merchant's client builds the password
and the emulator checks it, from the same public formula. ``mpesa_lab.daraja.password`` is the
merchant side's name for this module (the course teaches it there).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

from mpesa_lab.clock import daraja_timestamp, parse_daraja_timestamp
from mpesa_lab.secret import Secret, mask

TIMESTAMP_LENGTH = 14
# Daraja passkeys (sandbox and production) are 64 hex characters.
PASSKEY_LENGTH = 64


def _text(value: object) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    return str(value).strip()


def build_password(shortcode: str | int, passkey: str | Secret, timestamp: str) -> str:
    """base64(shortcode + passkey + timestamp), as Daraja expects it."""
    raw = f"{_text(shortcode)}{_text(passkey)}{_text(timestamp)}"
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


def password_and_timestamp(
    shortcode: str | int, passkey: str | Secret, moment: datetime | None = None
) -> tuple[str, str]:
    """A fresh (password, timestamp) pair, the timestamp in Nairobi time."""
    timestamp = daraja_timestamp(moment)
    return build_password(shortcode, passkey, timestamp), timestamp


@dataclass(frozen=True)
class DecodedPassword:
    """What a password says inside. The passkey is kept as a Secret and shown masked."""

    shortcode: str
    passkey: Secret = field(repr=False)
    timestamp: str

    @property
    def timestamp_valid(self) -> bool:
        try:
            parse_daraja_timestamp(self.timestamp)
        except ValueError:
            return False
        return True

    def __repr__(self) -> str:
        return (
            f"DecodedPassword(shortcode={self.shortcode!r}, passkey={mask(self.passkey.reveal())!r}, "
            f"timestamp={self.timestamp!r})"
        )


class PasswordDecodeError(ValueError):
    """The value is not a Daraja password at all."""


def decode_password(password: str) -> DecodedPassword:
    """Split a password into shortcode, passkey and timestamp.

    The timestamp is the last 14 characters; the passkey the 64 before it; the shortcode the rest.
    When the passkey is not 64 characters the shortcode is taken as the leading digits.
    """
    text = (password or "").strip()
    try:
        raw = base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise PasswordDecodeError(
            "the Password is not valid base64 text; build it as base64(BusinessShortCode + Passkey + Timestamp)"
        ) from None
    if len(raw) <= TIMESTAMP_LENGTH:
        raise PasswordDecodeError(
            f"the Password decodes to only {len(raw)} characters: too short to hold "
            "BusinessShortCode + Passkey + Timestamp"
        )
    body, timestamp = raw[:-TIMESTAMP_LENGTH], raw[-TIMESTAMP_LENGTH:]
    if len(body) > PASSKEY_LENGTH and body[:-PASSKEY_LENGTH].isdigit():
        shortcode, passkey = body[:-PASSKEY_LENGTH], body[-PASSKEY_LENGTH:]
    else:
        digits = len(body) - len(body.lstrip("0123456789"))
        shortcode, passkey = body[:digits], body[digits:]
    return DecodedPassword(shortcode=shortcode, passkey=Secret(passkey), timestamp=timestamp)


@dataclass(frozen=True)
class PasswordCheck:
    """The verdict of ``check_password``: ``ok`` or a list of problems, each with its fix."""

    decoded: DecodedPassword | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return "Password OK: it decodes to this shortcode, passkey and timestamp."
        return "Password problems:\n" + "\n".join(f"- {p}" for p in self.problems)


def check_password(
    password: str,
    shortcode: str | int,
    passkey: str | Secret,
    timestamp: str,
) -> PasswordCheck:
    """Compare a password with the shortcode, passkey and timestamp it should encode."""
    try:
        decoded = decode_password(password)
    except PasswordDecodeError as exc:
        return PasswordCheck(decoded=None, problems=(str(exc),))
    problems: list[str] = []
    expected_shortcode, expected_timestamp = _text(shortcode), _text(timestamp)
    if decoded.shortcode != expected_shortcode:
        problems.append(
            f"shortcode inside the Password is {decoded.shortcode!r} but BusinessShortCode is "
            f"{expected_shortcode!r}: build the password with the same shortcode you send"
        )
    if decoded.passkey.reveal() != _text(passkey):
        problems.append(
            "passkey inside the Password is not the passkey given (fingerprints "
            f"{decoded.passkey.fingerprint} vs {Secret(_text(passkey)).fingerprint}): use the "
            "passkey issued for this shortcode (sandbox: the test-data passkey for 174379)"
        )
    if decoded.timestamp != expected_timestamp:
        problems.append(
            f"timestamp inside the Password is {decoded.timestamp!r} but Timestamp is "
            f"{expected_timestamp!r}: use one timestamp for both"
        )
    if not decoded.timestamp_valid:
        problems.append(f"timestamp {decoded.timestamp!r} is not a real YYYYMMDDHHmmss date and time")
    return PasswordCheck(decoded=decoded, problems=tuple(problems))
