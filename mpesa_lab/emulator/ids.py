"""Identifiers in Daraja's formats: request ids, MerchantRequestID, CheckoutRequestID, receipts.

Unique across runs and processes: every IdFactory draws a fresh random start from the OS, so a
store or a merchant database with a unique receipt index, reused across runs, never sees an old
identifier again. The seed fixes the *outcomes* (the emulator's mix has its own seeded
generators), never the identifiers. Receipts walk a fixed permutation of the 36**7 tails from a
random offset: unique within a run, and two runs collide only if their stretches of that cycle
overlap (a chance of about (n1 + n2) / 78 billion).
"""

from __future__ import annotations

import itertools
import random
import re
import secrets
import string
import threading
from datetime import datetime

from mpesa_lab.clock import NAIROBI, to_nairobi

_ALNUM = string.ascii_uppercase + string.digits
_TAIL_SPACE = 36**7
# Coprime with 36**7 (neither 2 nor 3 divides it): multiplying by it permutes the tails, so
# consecutive receipts look unrelated, as Daraja's do.
_TAIL_STRIDE = 48_271_098_785
_TOKEN_CHARS = string.ascii_letters + string.digits
TOKEN_LENGTH = 28

MERCHANT_REQUEST_ID_RE = re.compile(r"^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d+$")
CHECKOUT_REQUEST_ID_RE = re.compile(r"^ws_CO_(\d{2})(\d{2})(\d{4})(\d{2})(\d{2})(\d{2})(\d{1,3})(\d{9})$")
RECEIPT_RE = re.compile(r"^[A-Z][A-L][1-9A-V][A-Z0-9]{7}$")


def year_letter(year: int) -> str:
    """Receipts start with a letter for the year: 2019 is N (the doc's NLJ7RT61SV), 2025 is T."""
    return chr(ord("A") + (year - 2006) % 26)


def month_letter(month: int) -> str:
    """A = January ... L = December."""
    return chr(ord("A") + month - 1)


def day_char(day: int) -> str:
    """1-9 as digits, then A = 10 ... V = 31."""
    return str(day) if day < 10 else chr(ord("A") + day - 10)


class IdFactory:
    """Daraja-shaped identifiers. Safe to call from several threads (each call is atomic)."""

    def __init__(self, seed: int | str | None = None) -> None:
        # ``seed`` is accepted for compatibility and ignored: identifiers must differ between
        # runs even when the seed (and so every outcome) is the same.
        del seed
        self._rng = random.Random(secrets.randbits(128))
        # Apigee ids end in a running decimal counter; start it somewhere plausible.
        self._counter = itertools.count(self._rng.randint(1_000_000, 9_000_000))
        self._receipts = itertools.count(secrets.randbelow(_TAIL_SPACE))
        self._lock = threading.Lock()

    def _apigee_id(self) -> str:
        # e.g. 2654-4b64-97ff-b827b542881d3130: uuid-ish hex groups, then the counter.
        with self._lock:
            h = f"{self._rng.getrandbits(96):024x}"
            n = next(self._counter)
        return f"{h[:4]}-{h[4:8]}-{h[8:12]}-{h[12:24]}{n}"

    def request_id(self) -> str:
        """The ``requestId`` of an error envelope."""
        return self._apigee_id()

    def merchant_request_id(self) -> str:
        return self._apigee_id()

    def checkout_request_id(self, moment: datetime, phone: str) -> str:
        """ws_CO_ + DDMMYYYYHHmmss (Nairobi) + milliseconds (not zero-padded) + last 9 digits."""
        # The lab's clock already gives Nairobi time: converting it again would change nothing.
        t = moment if moment.tzinfo is NAIROBI else to_nairobi(moment)
        # (plain formatting: strftime costs more than the rest of the id)
        return (
            f"ws_CO_{t.day:02d}{t.month:02d}{t.year:04d}{t.hour:02d}{t.minute:02d}{t.second:02d}"
            f"{t.microsecond // 1000}{phone[-9:]}"
        )

    def receipt(self, moment: datetime) -> str:
        """A 10-character MpesaReceiptNumber whose first three characters encode the date."""
        local = moment if moment.tzinfo is NAIROBI else to_nairobi(moment)
        with self._lock:
            number = (next(self._receipts) * _TAIL_STRIDE) % _TAIL_SPACE
        tail = []
        for _ in range(7):
            number, digit = divmod(number, 36)
            tail.append(_ALNUM[digit])
        return f"{year_letter(local.year)}{month_letter(local.month)}{day_char(local.day)}{''.join(tail)}"

    @staticmethod
    def access_token() -> str:
        """A 28-character alphanumeric bearer token, like Daraja's."""
        return "".join(secrets.choice(_TOKEN_CHARS) for _ in range(TOKEN_LENGTH))
