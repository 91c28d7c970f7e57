"""Merchant side, receiving callbacks: the listener (HTTP in front of the store) and the ngrok tunnel.

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
    from mpesa_lab.listener.cli import run_listener
    from mpesa_lab.listener.server import (
        SAFARICOM_IPS,
        Listener,
        new_path_token,
        parsed_callback,
    )
    from mpesa_lab.listener.tunnel import Tunnel, TunnelError, open_tunnel

    # The store's names, for the listener's users (notebooks): the store room owns them.
    from mpesa_lab.store.core import CallbackStore, default_store_path
    from mpesa_lab.store.errors import CallbackTimeout, StoreError
    from mpesa_lab.store.records import StoredDelivery

__getattr__, __dir__, __all__ = lazy_exports(__name__)
