"""The merchant side: what a developer writes to talk to Daraja.

The names below are imported on first use (``from mpesa_lab.daraja import DarajaClient``), so that
importing one module of the package (``mpesa_lab.daraja.errors``, say) does not load httpx and the
client with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpesa_lab._exports import lazy_exports

if TYPE_CHECKING:
    from mpesa_lab.daraja.auth import AsyncTokenProvider, TokenProvider
    from mpesa_lab.daraja.client import AsyncDarajaClient, DarajaClient
    from mpesa_lab.daraja.errors import (
        AmbiguousPushError,
        DarajaError,
        TransportError,
        ValidationError,
        error_from_response,
    )
    from mpesa_lab.daraja.polling import backoff_delays, wait_for_result
    from mpesa_lab.daraja.requests import StkPushRequest, StkQueryRequest, normalize_phone
    from mpesa_lab.daraja.results import StkPushResult, StkQueryResult
    from mpesa_lab.errors import MpesaLabError
    from mpesa_lab.password import build_password, check_password, decode_password

__getattr__, __dir__, __all__ = lazy_exports(__name__)
