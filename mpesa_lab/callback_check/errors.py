"""check-callback's one error: the check could not run at all (a bad URL, nothing listening)."""

from __future__ import annotations

from mpesa_lab.errors import MpesaLabError


class CallbackCheckError(MpesaLabError):
    """The check could not run: a one-line message that says what was wrong and how to fix it."""
