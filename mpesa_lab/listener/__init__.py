"""Merchant side, receiving callbacks: the listener, its durable store and the ngrok tunnel.

The listener never imports the emulator: it only speaks HTTP, so the same code serves the
local lab and the real sandbox.
"""

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

__all__ = [
    "ACCEPTED",
    "DEFAULT_MAX_BODY_BYTES",
    "SAFARICOM_IPS",
    "CallbackStore",
    "CallbackTimeout",
    "Listener",
    "ListenerApp",
    "StoreError",
    "StoredDelivery",
    "Tunnel",
    "TunnelError",
    "default_store_path",
    "lab_home",
    "new_path_token",
    "open_tunnel",
    "run_listener",
]
