"""Merchant side, receiving callbacks: the listener, its durable store and the ngrok tunnel.

The listener never imports the emulator: it only speaks HTTP, so the same code serves the
local lab and the real sandbox. The names below are imported on first use, so that
``mpesa-lab --help`` (which only needs the ``listen`` options) does not load the store, the
server and the tunnel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpesa_lab._exports import lazy_exports

if TYPE_CHECKING:
    from mpesa_lab.listener.app import ACCEPTED, DEFAULT_MAX_BODY_BYTES, ListenerApp
    from mpesa_lab.listener.server import SAFARICOM_IPS, Listener, new_path_token, run_listener
    from mpesa_lab.listener.store import (
        CallbackStore,
        CallbackTimeout,
        StoreError,
        StoredDelivery,
        default_store_path,
    )
    from mpesa_lab.listener.tunnel import Tunnel, TunnelError, open_tunnel
    from mpesa_lab.paths import lab_home

__getattr__, __dir__, __all__ = lazy_exports(__name__)
