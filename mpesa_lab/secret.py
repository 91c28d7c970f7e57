"""A string that never shows itself: for consumer secrets, passkeys and access tokens."""

from __future__ import annotations

import hashlib
import unicodedata
from functools import lru_cache
from typing import Any


def mask(value: str | None) -> str:
    """A display form of a secret that gives away nothing useful: its length only."""
    if not value:
        return "<not set>"
    return f"<secret: {len(value)} chars>"


def fingerprint(value: str) -> str:
    """A short one-way digest, to tell two secrets apart without showing either."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


class Secret:
    """Wraps a secret string; ``str``, ``repr`` and f-strings show a mask, ``reveal()`` the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"a secret must be a string, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The real value: pass it to the wire, never to a log."""
        return self._value

    @property
    def fingerprint(self) -> str:
        return fingerprint(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({mask(self._value)!r})"

    def __str__(self) -> str:
        return mask(self._value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self) -> Any:
        # Pickling would write the secret to disk; refuse rather than leak.
        raise TypeError("Secret values are not picklable")


# Keys whose values are credentials, whatever their case, separators, accents or invisible
# characters ("Passkey", "pass_key", "pass.key", "Pass\u200bkey", "Passkéy", "consumer-secret"...):
# masked wherever a request is listed or stored, known field or not.
_SECRET_KEYS = frozenset(
    {
        "password",
        "passkey",
        "consumersecret",
        "consumerkey",
        "accesstoken",
        "token",
        "authorization",
        "securitycredential",
        "secret",
        "apikey",
        "authtoken",
        "pin",
        "privatekey",
        "credential",
        "credentials",
    }
)
_SECRET_WORDS = ("secret", "password", "passkey", "passwd", "token", "credential", "apikey", "privatekey")
MASKED = "<masked>"


def looks_secret(key: object) -> bool:
    """True if a field called ``key`` probably holds a credential."""
    return _looks_secret(key if isinstance(key, str) else str(key))


def squash_key(key: str) -> str:
    """A field name reduced to what a reader sees in it: case folded, compatibility forms and
    accents undone (NFKD, combining marks dropped), and everything that is not a letter or a
    digit dropped (punctuation, spaces, zero-width and other format characters)."""
    decomposed = unicodedata.normalize("NFKD", key.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch)).casefold()


@lru_cache(maxsize=1024)  # requests repeat the same few field names
def _looks_secret(key: str) -> bool:
    squashed = squash_key(key)
    return squashed in _SECRET_KEYS or any(word in squashed for word in _SECRET_WORDS)


def mask_secrets(value: Any, masked: str = MASKED) -> Any:
    """A copy of ``value`` (dicts, lists, scalars) with every secret-looking field masked."""
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, dict):
        return {
            key: (masked if item not in (None, "") else item) if looks_secret(key) else mask_secrets(item, masked)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [mask_secrets(item, masked) for item in value]
    return value
