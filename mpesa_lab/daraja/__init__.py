"""The merchant side: what a developer writes to talk to Daraja.

The names below are imported on first use (``from mpesa_lab.daraja import DarajaClient``), so
that ``mpesa_lab.config`` can use ``mpesa_lab.daraja.errors`` without an import cycle.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DarajaClient": "client",
    "AsyncDarajaClient": "client",
    "TokenProvider": "auth",
    "AsyncTokenProvider": "auth",
    "StkPushRequest": "requests",
    "StkQueryRequest": "requests",
    "normalize_phone": "requests",
    "StkPushResult": "results",
    "StkQueryResult": "results",
    "MpesaLabError": "errors",
    "ValidationError": "errors",
    "DarajaError": "errors",
    "AmbiguousPushError": "errors",
    "TransportError": "errors",
    "error_from_response": "errors",
    "build_password": "password",
    "decode_password": "password",
    "check_password": "password",
}

__all__ = [
    "AmbiguousPushError",
    "AsyncDarajaClient",
    "AsyncTokenProvider",
    "DarajaClient",
    "DarajaError",
    "MpesaLabError",
    "StkPushRequest",
    "StkPushResult",
    "StkQueryRequest",
    "StkQueryResult",
    "TokenProvider",
    "TransportError",
    "ValidationError",
    "build_password",
    "check_password",
    "decode_password",
    "error_from_response",
    "normalize_phone",
]

if TYPE_CHECKING:
    from mpesa_lab.daraja.auth import AsyncTokenProvider, TokenProvider
    from mpesa_lab.daraja.client import AsyncDarajaClient, DarajaClient
    from mpesa_lab.daraja.errors import (
        AmbiguousPushError,
        DarajaError,
        MpesaLabError,
        TransportError,
        ValidationError,
        error_from_response,
    )
    from mpesa_lab.daraja.password import build_password, check_password, decode_password
    from mpesa_lab.daraja.requests import StkPushRequest, StkQueryRequest, normalize_phone
    from mpesa_lab.daraja.results import StkPushResult, StkQueryResult


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mpesa_lab.daraja' has no attribute {name!r}")
    value = getattr(import_module(f"mpesa_lab.daraja.{module}"), name)
    globals()[name] = value
    return value
