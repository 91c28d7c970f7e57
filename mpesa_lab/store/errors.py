"""The store's exceptions, and how a failed write is worded for the caller."""

from __future__ import annotations

import sqlite3

from mpesa_lab.errors import MpesaLabError


class StoreError(MpesaLabError, RuntimeError):
    """The store could not be opened or written; the message is one line saying what to do."""


class StoreUnavailable(StoreError):
    """The store itself failed (disk, permissions, lock, damage), not the row being written."""


class CallbackTimeout(TimeoutError):
    """No callback for a CheckoutRequestID arrived in time."""


def as_store_error(exc: BaseException) -> BaseException:
    """A failed write as the caller sees it: the store's fault (``StoreUnavailable``: the listener
    answers 503 so that Daraja retries) or the row's own (``StoreError``)."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError, OSError)) and not isinstance(
        exc, (sqlite3.IntegrityError, sqlite3.DataError)
    ):
        return StoreUnavailable(f"could not write to the callback store: {exc}")
    # The row's own data (text SQLite cannot encode, an integer too large, ...).
    return StoreError(f"could not write to the callback store: {type(exc).__name__}: {exc}")
