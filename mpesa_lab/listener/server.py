"""Run the listener: in a background thread (notebooks, the Lab) or in the foreground (CLI).

>>> listener = Listener("lab.sqlite").start()      # never on the notebook's event loop
>>> listener.callback_url                           # pass this as CallBackURL
>>> listener.wait_for(checkout_request_id, 30)      # the parsed callback, once stored
>>> listener.transactions()                         # pushes joined with their first callback
>>> listener.stop()

Running the cell again replaces the previous listener of the same name (no port clash, its
tunnel closed). With no store given, a new SQLite file is made under ``$MPESA_LAB_HOME`` (default
``~/.mpesa-lab``) in ``stores/``; ``listener.store.path`` says where. A store that cannot be used
(unwritable, damaged, another program's database, a newer schema) stops ``Listener()`` with one
``StoreError`` line saying what to do, before anything is served.

Source addresses (``allowed_ips``, ``--allow-ip``, ``--safaricom-only``) are checked against the
TCP peer. ``X-Forwarded-For`` is believed only from a proxy you name (``trusted_proxies`` /
``--trust-proxy 127.0.0.1`` for a reverse proxy on this machine) or from the ngrok agent once
``expose()`` opened the tunnel: any process on the machine can write that header, so without a
named proxy it is kept with the delivery but never trusted. The last entry is the one used (the
address the proxy itself saw).

Slow clients get ``request_timeout`` seconds (15 by default) to send a whole request, and
connections are bounded below the open-file limit (see :mod:`mpesa_lab.background`).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mpesa_lab import paths
from mpesa_lab.background import DEFAULT_REQUEST_TIMEOUT, BackgroundServer
from mpesa_lab.daraja.callbacks import ParsedCallback, parse_callback
from mpesa_lab.listener.app import DEFAULT_MAX_BODY_BYTES, ListenerApp
from mpesa_lab.listener.tunnel import Tunnel, open_tunnel
from mpesa_lab.store.core import CallbackStore
from mpesa_lab.store.records import ExpectedIds, StoredCallback, StoredDelivery

if TYPE_CHECKING:
    import pandas as pd

# Safaricom's published source addresses for Daraja callbacks (the list Safaricom gives merchants
# to allow through firewalls). Safaricom may change it: keep it current, or pass your own.
SAFARICOM_IPS: tuple[str, ...] = (
    "196.201.214.200",
    "196.201.214.206",
    "196.201.213.114",
    "196.201.214.207",
    "196.201.214.208",
    "196.201.213.44",
    "196.201.212.127",
    "196.201.212.138",
    "196.201.212.129",
    "196.201.212.136",
    "196.201.212.74",
    "196.201.212.69",
)

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{8,128}")

_active: dict[str, Listener] = {}
_active_lock = threading.Lock()


def new_path_token() -> str:
    """A random, unguessable path segment (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def _check_token(token: str) -> str:
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        raise ValueError(
            "path_token must be 8 to 128 characters of letters, digits, '-' or '_' (it becomes a "
            "URL path segment); leave it None for a random one"
        )
    return token


class Listener:
    """The merchant's callback endpoint: an ASGI app, its store, a server and optionally a tunnel."""

    def __init__(
        self,
        store: CallbackStore | str | Path | None = None,
        *,
        path_token: str | None = None,
        allowed_ips: Iterable[str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        expected_ids: ExpectedIds = None,
        trust_forwarded_for: bool | None = None,
        trusted_proxies: Iterable[str] | None = None,
        on_delivery: Callable[[StoredDelivery], None] | None = None,
        name: str = "listener",
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_connections: int | None = None,
    ) -> None:
        self.path_token = _check_token(path_token) if path_token is not None else new_path_token()
        # A store this listener opened is closed (its writer thread ended) by stop(); one passed
        # in belongs to the caller.
        self._owns_store = not isinstance(store, CallbackStore)
        self.store = store if isinstance(store, CallbackStore) else CallbackStore(store)
        self.name = name
        self.app = ListenerApp(
            self.store,
            self.path_token,
            allowed_ips=allowed_ips,
            max_body_bytes=max_body_bytes,
            expected_ids=expected_ids,
            trust_forwarded_for=trust_forwarded_for,
            trusted_proxies=trusted_proxies,
            on_delivery=on_delivery,
        )
        if request_timeout <= 0:
            raise ValueError(f"request_timeout must be > 0 seconds, not {request_timeout!r}")
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self._server: BackgroundServer | None = None
        self._holds_store = False
        self.tunnel: Tunnel | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0) -> Listener:
        """Serve in a background thread; returns once it accepts connections. Rerun-safe."""
        with _active_lock:
            previous = _active.get(self.name)
            _active[self.name] = self
        if previous is not None and previous is not self:
            previous.stop()
        if self.running:
            return self
        if not self._holds_store:  # pruning of throwaway stores never deletes a served store
            paths.hold_store(self.store.path)
            self._holds_store = True
        # proxy_headers off: the app itself decides when X-Forwarded-For is trusted, and keeps
        # the real TCP peer in remote_addr.
        self._server = BackgroundServer(
            self.app,
            name=self.name,
            host=host,
            port=port,
            proxy_headers=False,
            request_timeout=self.request_timeout,
            max_connections=self.max_connections,
        )
        self._server.start(timeout=timeout)
        return self

    def stop(self) -> None:
        """Close the tunnel, stop serving (in-flight callbacks finish and commit). Safe twice.

        The store stays readable (DataFrames, wait_for) after stop.
        """
        if self.tunnel is not None:
            self.tunnel.close()
            self.tunnel = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._owns_store:
            self.store.close()  # reopens on next write; a re-run cell leaks no writer thread
        if self._holds_store:
            paths.release_store(self.store.path)
            self._holds_store = False
        with _active_lock:
            if _active.get(self.name) is self:
                del _active[self.name]

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    def __enter__(self) -> Listener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- URLs ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The local base URL (http://127.0.0.1:PORT)."""
        if self._server is None:
            raise RuntimeError("the listener is not running; call start() first")
        return self._server.url

    @property
    def port(self) -> int | None:
        return self._server.port if self._server is not None else None

    @property
    def local_callback_url(self) -> str:
        return f"{self.url}{self.app.callback_path}"

    @property
    def public_url(self) -> str | None:
        return self.tunnel.public_url if self.tunnel is not None else None

    @property
    def callback_url(self) -> str:
        """The URL to give Daraja as CallBackURL: the public https one after expose()."""
        if self.tunnel is not None:
            return f"{self.tunnel.public_url}{self.app.callback_path}"
        return self.local_callback_url

    def expose(
        self,
        authtoken: str | None = None,
        *,
        ngrok_path: str | Path | None = None,
        timeout: float = 15.0,
        config_path: str | Path | None = None,
    ) -> str:
        """Open an ngrok tunnel to this listener (starting it if needed); return callback_url."""
        if not self.running:
            self.start()
        if self.tunnel is None:
            assert self._server is not None and self._server.port is not None
            # The tunnel's agent is the proxy the user asked for: it connects from this machine
            # and names the real sender in X-Forwarded-For.
            self.app.trust_tunnel_agent()
            self.tunnel = open_tunnel(
                self._server.port, authtoken=authtoken, ngrok_path=ngrok_path, timeout=timeout, config_path=config_path
            )
        return self.callback_url

    # ---- data ----------------------------------------------------------------------------

    def wait_for(self, checkout_request_id: str, timeout: float = 30.0) -> ParsedCallback:
        """The first callback for this CheckoutRequestID, parsed, as soon as it is stored
        (CallbackTimeout, a TimeoutError, after ``timeout`` seconds)."""
        return parsed_callback(self.store.wait_for_callback(checkout_request_id, timeout))

    def callback(self, checkout_request_id: str) -> ParsedCallback | None:
        """The first callback stored for this CheckoutRequestID, parsed, or None (does not wait)."""
        stored = self.store.first_callback(checkout_request_id)
        return parsed_callback(stored) if stored is not None else None

    def callbacks(self) -> pd.DataFrame:
        return self.store.callbacks()

    def transactions(self) -> pd.DataFrame:
        return self.store.transactions()

    def deliveries(self) -> pd.DataFrame:
        return self.store.deliveries()

    def quarantine(self) -> pd.DataFrame:
        return self.store.quarantine()

    def pushes(self) -> pd.DataFrame:
        return self.store.pushes()

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        exposed = f", public {self.public_url}" if self.tunnel is not None else ""
        return f"<Listener {self.name!r} {state}{exposed}, store {str(self.store.path)!r}>"


# --------------------------------------------------------------------------------------------
# Foreground: `mpesa-lab listen` and `python -m mpesa_lab.listener`.


def parsed_callback(stored: StoredCallback) -> ParsedCallback:
    """A callback read back from the store: its raw body parsed again, with what the store knows
    (its delivery, arrival time, and whether its push is in the store) filled in."""
    return replace(
        parse_callback(stored.body),
        delivery_id=stored.delivery_id,
        received_at=stored.received_at,
        duplicate=False,
        unknown=stored.unknown,
    )
