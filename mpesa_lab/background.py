"""Run an ASGI app on uvicorn in a background thread: for notebooks, tests and the Lab.

Never on the caller's event loop (a Jupyter kernel has one running): the server gets its own
thread and its own loop. Servers are registered by name, so running the same notebook cell
again stops the previous server before starting the new one: no second server, no port clash.
"""

from __future__ import annotations

import atexit
import logging
import socket
import threading
import time
from typing import Any

import uvicorn

log = logging.getLogger(__name__)

_registry: dict[str, "BackgroundServer"] = {}
_registry_lock = threading.Lock()


class ServerStartError(RuntimeError):
    """The server did not come up (port taken, app failed to start, timeout)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket; port 0 picks a free port. Raises a clear error if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets created with it, and
    # without NODELAY every small response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerStartError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or use 0 "
            "for a free one"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """One uvicorn server in a daemon thread. ``start()`` returns once it accepts connections."""

    def __init__(
        self,
        app: Any,
        *,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        **uvicorn_options: Any,
    ) -> None:
        self.app = app
        self.name = name
        self.host = host
        self.requested_port = port
        self._options = {"log_level": log_level, "access_log": False, "lifespan": "off", **uvicorn_options}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"server {self.name!r} is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> "BackgroundServer":
        """Start serving; a previous server registered under the same name is stopped first."""
        with _registry_lock:
            previous = _registry.get(self.name)
            _registry[self.name] = self
        if previous is not None and previous is not self:
            previous.stop()
        if self.running:
            return self
        self._socket = bind_socket(self.host, self.requested_port)
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(self.app, **self._options)
        self._server = uvicorn.Server(config)
        # uvicorn only installs signal handlers on the main thread; say so explicitly anyway.
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"mpesa-lab-{self.name}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._cleanup()
                raise ServerStartError(f"server {self.name!r} stopped while starting")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"server {self.name!r} did not start within {timeout} s")
            time.sleep(0.005)
        log.debug("%s listening on %s", self.name, self.url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and free the port. Safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        self._cleanup()
        with _registry_lock:
            if _registry.get(self.name) is self:
                del _registry[self.name]

    def _cleanup(self) -> None:
        if self._socket is not None:
            try:
                self._socket.close()
            except OSError:
                pass
        self._socket = None
        self._thread = None
        self._server = None

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"<BackgroundServer {self.name!r} {state}>"


def running_servers() -> dict[str, BackgroundServer]:
    """The servers started in this process and not yet stopped, by name."""
    with _registry_lock:
        return dict(_registry)


@atexit.register
def _stop_all() -> None:
    for server in list(running_servers().values()):
        server.stop(timeout=2.0)
