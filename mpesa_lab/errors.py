"""The ground floor's exceptions: the root of every mpesa-lab error and warning, and the shared ones.

Every room raises a subclass of :class:`MpesaLabError` (the merchant side's Daraja errors in
:mod:`mpesa_lab.daraja.errors`, the store's, the lab's, ...), so a caller can catch them all with
one ``except`` and a command line can print any of them as one line. Only errors that more than one
floor raises live here; each room keeps its own in its own ``errors`` module.
"""

from __future__ import annotations


class MpesaLabError(Exception):
    """Base of every error raised by mpesa-lab."""


class MpesaLabWarning(UserWarning):
    """Base of every warning issued by mpesa-lab."""


class ConfigError(MpesaLabError, ValueError):
    """Settings are missing or wrong; the message names the variable and how to set it."""
