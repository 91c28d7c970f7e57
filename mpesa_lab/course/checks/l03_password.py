"""Checks for notebook 03, password and timestamp: by hand, the Nairobi-time trap, the wrong part."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from mpesa_lab.clock import DARAJA_TIMESTAMP_FORMAT, daraja_timestamp, to_nairobi
from mpesa_lab.course.checks._shared import decode_b64_text, reveal, todo, type_name, unanswered, verdict
from mpesa_lab.course.verdict import Verdict
from mpesa_lab.daraja.password import build_password, check_password
from mpesa_lab.secret import Secret


def password(value: Any, shortcode: str | int, passkey: str | Secret, timestamp: str) -> Verdict:
    """An STK Password: ``base64(BusinessShortCode + Passkey + Timestamp)``."""
    name = "Password"
    if unanswered(value):
        return todo(name, "Join shortcode + passkey + timestamp, then base64-encode the result.")
    code, key, ts = str(shortcode).strip(), reveal(passkey), str(timestamp).strip()
    if isinstance(value, bytes):
        try:
            as_text = value.decode("ascii")
        except UnicodeDecodeError:
            as_text = ""
        if as_text == build_password(code, key, ts):
            return verdict(
                name,
                ["the password is right but it is bytes: add .decode() so the JSON body gets a string, not b'...'"],
            )
        return verdict(name, ["the password must be a str, not bytes"])
    if not isinstance(value, str):
        return verdict(name, [f"the password must be a str, not {type_name(value)}"])
    if value == f"{code}{key}{ts}":
        return verdict(
            name,
            ["you joined the three parts but did not base64-encode them: base64.b64encode(text.encode()).decode()"],
        )
    decoded = decode_b64_text(value.strip())
    if decoded is not None:
        parts = {"shortcode": code, "passkey": key, "timestamp": ts}
        for order in (
            ("passkey", "shortcode", "timestamp"),
            ("shortcode", "timestamp", "passkey"),
            ("timestamp", "shortcode", "passkey"),
            ("passkey", "timestamp", "shortcode"),
            ("timestamp", "passkey", "shortcode"),
        ):
            if decoded == "".join(parts[p] for p in order):
                return verdict(
                    name,
                    [f"the parts are in the order {' + '.join(order)}: Daraja wants shortcode + passkey + timestamp"],
                )
        if (
            decoded.replace(" ", "").replace(":", "").replace("-", "") == f"{code}{key}{ts}"
            and decoded != f"{code}{key}{ts}"
        ):
            return verdict(
                name, ["there are separators (spaces, ':' or '-') between the parts: join them with nothing in between"]
            )
    result = check_password(value, code, key, ts)
    return verdict(name, result.problems, "Daraja will accept it with this Timestamp.")


def timestamp(value: Any, moment: datetime) -> Verdict:
    """A Daraja Timestamp for ``moment``: YYYYMMDDHHmmss in Nairobi time (UTC+3)."""
    name = "Timestamp"
    if unanswered(value):
        return todo(name, "Convert the moment to Africa/Nairobi, then format it as %Y%m%d%H%M%S.")
    expected = daraja_timestamp(moment)
    if isinstance(value, int) and not isinstance(value, bool):
        value_text = str(value)
        if value_text == expected:
            return verdict(
                name,
                [
                    "right digits, but as a number: send the Timestamp as a string "
                    "(a number also loses a leading zero in other formats)"
                ],
            )
    if not isinstance(value, str):
        return verdict(name, [f"the Timestamp must be a str of 14 digits, not {type_name(value)}"])
    text = value.strip()
    if text == expected:
        return verdict(name, [], "Nairobi time, 14 digits: the convention Daraja integrations follow.")
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    utc_text = aware.astimezone(UTC).strftime(DARAJA_TIMESTAMP_FORMAT)
    nairobi = to_nairobi(moment)
    if not re.fullmatch(r"\d{14}", text):
        digits = re.sub(r"\D", "", text)
        if digits == expected:
            return verdict(name, [f"{text!r} has separators: Daraja wants the 14 digits only, format '%Y%m%d%H%M%S'"])
        if len(digits) == 14 and digits == utc_text:
            return verdict(
                name, [f"{text!r} has separators, and it is UTC time: format '%Y%m%d%H%M%S' in Africa/Nairobi time"]
            )
        return verdict(name, [f"{text!r} is not 14 digits: use the format '%Y%m%d%H%M%S' (YYYYMMDDHHmmss)"])
    if text == utc_text:
        return verdict(
            name,
            [
                "this is UTC time (a laptop or server set to UTC): Nairobi is 3 hours "
                "ahead; convert with .astimezone(ZoneInfo('Africa/Nairobi')) first"
            ],
        )
    if text == nairobi.strftime("%Y%m%d%I%M%S"):
        return verdict(name, ["the hour is on a 12-hour clock (%I): use %H, the 24-hour hour"])
    if text == nairobi.strftime("%Y%d%m%H%M%S"):
        return verdict(name, ["day and month are swapped: the order is year, month, day, hour, minute, second"])
    if text == nairobi.strftime("%Y%m%d%H%S%M"):
        return verdict(name, ["minutes and seconds are swapped (%M is minutes, %S seconds)"])
    try:
        got = datetime.strptime(text, DARAJA_TIMESTAMP_FORMAT)
    except ValueError:
        return verdict(name, [f"{text!r} is 14 digits but not a real date and time"])
    offset = got - nairobi.replace(tzinfo=None, microsecond=0)
    hours = offset.total_seconds() / 3600
    if hours.is_integer() and hours:
        return verdict(
            name,
            [
                f"the time is {abs(hours):g} hour(s) {'ahead of' if hours > 0 else 'behind'} "
                "Nairobi time: convert the moment to Africa/Nairobi (UTC+3) before formatting"
            ],
        )
    return verdict(name, [f"{text!r} is {offset} away from the moment given ({expected} in Nairobi time)"])


_PARTS = ("shortcode", "passkey", "timestamp")


def wrong_part(answer: Any, password: str, shortcode: str | int, passkey: str | Secret, timestamp: str) -> Verdict:
    """Diagnose "Wrong credentials": which part of ``password`` disagrees with the request."""
    name = "Wrong credentials diagnosed"
    if unanswered(answer):
        return todo(name, f"Decode the password and answer one of {', '.join(map(repr, _PARTS))} or 'none'.")
    result = check_password(password, shortcode, passkey, timestamp)
    wrong = [part for part in _PARTS if any(p.startswith(part) for p in result.problems)]
    expected = wrong[0] if wrong else "none"
    given = str(answer).strip().lower()
    if given not in (*_PARTS, "none"):
        return verdict(name, [f"answer one of 'shortcode', 'passkey', 'timestamp' or 'none', not {answer!r}"])
    if given == expected:
        return verdict(
            name, [], f"decode_password(...) showed it: {result.problems[0] if result.problems else 'it matches'}"
        )
    if given == "none":
        return verdict(
            name, ["the password does not match the request: decode it with decode_password() and compare each part"]
        )
    if expected == "none":
        return verdict(
            name,
            [
                f"the {given} inside the password matches the request: this password "
                "is right, look elsewhere (is the Timestamp field the same one?)"
            ],
        )
    return verdict(
        name,
        [
            f"the {given} inside the password matches the request; another part does "
            "not: compare each part of decode_password(...) with the request"
        ],
    )
