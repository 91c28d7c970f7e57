"""The STK password as the merchant side uses it: the ground floor's :mod:`mpesa_lab.password`.

The formula is public and both sides compute it (the client builds, the emulator checks), so it
lives on the ground floor; this module is the name a merchant's code and the course use.
"""

from __future__ import annotations

from mpesa_lab.password import (
    DecodedPassword,
    PasswordCheck,
    PasswordDecodeError,
    build_password,
    check_password,
    decode_password,
    password_and_timestamp,
)

__all__ = [
    "DecodedPassword",
    "PasswordCheck",
    "PasswordDecodeError",
    "build_password",
    "check_password",
    "decode_password",
    "password_and_timestamp",
]
