"""Run an ASGI app on uvicorn in a background thread: for notebooks, tests and the Lab.

Never on the caller's event loop (a Jupyter kernel has one running): the server gets its own
thread and its own loop. Servers are registered by name, so running the same notebook cell
again stops the previous server before starting the new one: no second server, no port clash.

Hardened for a port anyone may reach by :mod:`mpesa_lab._uvicorn_guard` (the application's
logging never touched, a request deadline, connections bounded below the open-file limit,
repeated failures logged once with a count): the parts that adapt uvicorn's internals live
there, behind an upper version pin and a contract test. The guard's names that other rooms
import from here (the emulator's server, the listener) are re-exported below.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from mpesa_lab._lazy import import_on_first_use
from mpesa_lab._uvicorn_guard import (
    DEFAULT_REQUEST_TIMEOUT,
    ConnectionGuard,
    GuardedListenSocket,
    RepeatLimiter,
    server_config,
)

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT",
    "LISTEN_BACKLOG",
    "BackgroundServer",
    "ConnectionGuard",
    "GuardedListenSocket",
    "RepeatLimiter",
    "ServerStartError",
    "bind_socket",
    "join_thread",
    "running_servers",
    "serve_forever",
]

log = logging.getLogger(__name__)

_registry: dict[str, BackgroundServer] = {}
_registry_lock = threading.Lock()

LISTEN_BACKLOG = 2048


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
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or use 0 for a free one"
        ) from None
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


# --------------------------------------------------------------------------------------------
# The server's own loop, in its own thread.


def _loop_exception_handler(limiter: RepeatLimiter) -> Any:
    """The server loop's handler: asyncio's own report (e.g. ``socket.accept() out of system
    resource`` when the file table is full), once per window with a count."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message") or "event loop error")
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            limiter.log(log, logging.ERROR, "%s: %s", (message, exc), key=message, exc_info=exc)
        else:
            limiter.log(log, logging.ERROR, "%s", (message,), key=message)

    return handle


def serve_forever(server: uvicorn.Server, sockets: list[socket.socket], limiter: RepeatLimiter) -> None:
    """``server.run`` on a new loop whose unhandled errors are logged once with a count."""

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(_loop_exception_handler(limiter))
        await server.serve(sockets=sockets)

    try:
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            runner.run(main())
    finally:
        limiter.flush()


# --------------------------------------------------------------------------------------------


def join_thread(thread: threading.Thread, timeout: float) -> None:
    """Join ``thread``, also when Ctrl-C interrupted ``thread.start()`` itself.

    Thread.start() returns only once the new thread says it runs; interrupted in that wait, the
    OS thread exists but join() raises "cannot join thread before it is started". The server
    would then outlive its stop(): wait for the thread to say so instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            thread.join(max(0.0, deadline - time.monotonic()))
            return
        except RuntimeError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.005)


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
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_connections: int | None = None,
        **uvicorn_options: Any,
    ) -> None:
        self.app = app
        self.name = name
        self.host = host
        self.requested_port = port
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        # log_level is kept for callers; levels of loggers are the application's business.
        self._options = {"access_log": False, "lifespan": "off", "log_level": None, **uvicorn_options}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.guard: ConnectionGuard | None = None
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

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        """Start serving; a previous server registered under the same name is stopped first."""
        with _registry_lock:
            previous = _registry.get(self.name)
            _registry[self.name] = self
        if previous is not None and previous is not self:
            previous.stop()
        if self.running:
            return self
        # Imported when a server starts, not with this module: uvicorn's package imports its
        # process supervisors and multiprocessing, which an import of the lab does not need.
        uvicorn = import_on_first_use("uvicorn")

        limiter = RepeatLimiter()
        self._socket = GuardedListenSocket.adopt(bind_socket(self.host, self.requested_port), limiter)
        self.port = self._socket.getsockname()[1]
        config, self.guard = server_config(
            self.app,
            request_timeout=self.request_timeout,
            max_connections=self.max_connections,
            limiter=limiter,
            **self._options,
        )
        # No signal handlers to switch off: uvicorn's Server.capture_signals() listens only on the
        # main thread, and this server never runs there (tests/test_uvicorn_guard.py checks it).
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=serve_forever,
            args=(self._server, [self._socket], limiter),
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
            join_thread(self._thread, timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                join_thread(self._thread, timeout)
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

    def __enter__(self) -> BackgroundServer:
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
