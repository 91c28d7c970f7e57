"""Merchant side, receiving callbacks: the listener, its durable store and the ngrok tunnel.

The listener never imports the emulator: it only speaks HTTP, so the same code serves the
local lab and the real sandbox. The names below are imported on first use, so that
``mpesa-lab --help`` (which only needs the ``listen`` options) does not load the store, the
server and the tunnel.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ACCEPTED": "app",
    "DEFAULT_MAX_BODY_BYTES": "app",
    "ListenerApp": "app",
    "SAFARICOM_IPS": "server",
    "Listener": "server",
    "new_path_token": "server",
    "run_listener": "server",
    "CallbackStore": "store",
    "CallbackTimeout": "store",
    "StoreError": "store",
    "StoredDelivery": "store",
    "default_store_path": "store",
    "lab_home": "store",
    "Tunnel": "tunnel",
    "TunnelError": "tunnel",
    "open_tunnel": "tunnel",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from mpesa_lab.listener.app import ACCEPTED, DEFAULT_MAX_BODY_BYTES, ListenerApp
    from mpesa_lab.listener.server import SAFARICOM_IPS, Listener, new_path_token, run_listener
    from mpesa_lab.listener.store import (
        CallbackStore,
        CallbackTimeout,
        StoreError,
        StoredDelivery,
        default_store_path,
        lab_home,
    )
    from mpesa_lab.listener.tunnel import Tunnel, TunnelError, open_tunnel


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mpesa_lab.listener' has no attribute {name!r}")
    value = getattr(import_module(f"mpesa_lab.listener.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
