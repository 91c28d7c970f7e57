"""Run an ASGI app on uvicorn in a background thread: for notebooks, tests and the Lab.

Never on the caller's event loop (a Jupyter kernel has one running): the server gets its own
thread and its own loop. Servers are registered by name, so running the same notebook cell
again stops the previous server before starting the new one: no second server, no port clash.

Hardened for a port anyone may reach:

- the application's logging is never touched (uvicorn's own ``dictConfig`` would close every
  handler the user configured);
- a client gets ``request_timeout`` seconds to send a whole request (headers and body), idle or
  not; a stalled connection is closed by the next sweep (within an eighth of the deadline, at
  most a second, after it passes);
- connections are bounded below the process's open-file limit: at the bound, the connection
  that has waited longest for its request is closed to make room, so a flood of stalled
  connections never locks out a real client;
- a failure that repeats (a flood of bad requests, a full file table) is logged once, then
  counted, with one summary line when it recurs later.
"""

from __future__ import annotations

import asyncio
import atexit
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mpesa_lab._lazy import import_on_first_use

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger(__name__)

_registry: dict[str, "BackgroundServer"] = {}
_registry_lock = threading.Lock()

DEFAULT_REQUEST_TIMEOUT = 15.0
# File descriptors kept free for everything else the process opens (SQLite files and their WAL,
# outgoing connections, logs): connections beyond the rest are refused.
_FD_RESERVE = 64
_MAX_CONNECTIONS_CAP = 4096
LISTEN_BACKLOG = 2048
# Connections are evicted this many below the hard budget, so newcomers get in.
ACCEPT_SLACK = 16
# Over the budget a newcomer is still let in, up to ACCEPT_OVERDRAFT more descriptors (a quarter
# of the reserve at most), and an idle connection is closed for it; past IDLE_OVERDRAFT only a
# newcomer whose request bytes are already waiting (see _Budget.admit).
ACCEPT_OVERDRAFT = 16
IDLE_OVERDRAFT = 8
# Refusals in one accept batch before the batch is ended, so that evicted connections close
# and the next batch can let newcomers in.
REFUSALS_PER_BATCH = 256
# How far down the waiting list eviction looks for a connection that has sent nothing yet
# (an idle one gives way before one that is part-way through its request).
EVICTION_SCAN = 64


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
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


# --------------------------------------------------------------------------------------------
# Repeated failures: logged once, then counted.


class RepeatLimiter:
    """Logs a message the first time; repeats within ``window`` seconds are only counted, and the
    count is reported with the next occurrence after the window (or by :meth:`flush`)."""

    def __init__(self, window: float = 60.0, max_keys: int = 256) -> None:
        self.window = window
        self.max_keys = max_keys
        self._seen: dict[tuple[Any, ...], list[Any]] = {}
        self._lock = threading.Lock()

    def log(self, logger: logging.Logger, level: int, msg: str, args: tuple[Any, ...] = (),
            *, key: Any = None, **kwargs: Any) -> bool:
        """Log unless this (logger, level, message) was logged less than ``window`` s ago;
        returns whether it was logged."""
        if not logger.isEnabledFor(level):
            return False
        exc_info = kwargs.get("exc_info")
        exc_type = type(exc_info).__name__ if isinstance(exc_info, BaseException) else None
        ident = (logger.name, level, msg if key is None else key, exc_type)
        now = time.monotonic()
        with self._lock:
            entry = self._seen.get(ident)
            if entry is not None and now - entry[0] < self.window:
                entry[1] += 1
                entry[2] = args
                return False
            repeats = entry[1] if entry is not None else 0
            if len(self._seen) >= self.max_keys:
                self._seen.clear()
            self._seen[ident] = [now, 0, args, msg]
        if repeats:
            msg = f"{msg} [repeated {repeats} more time(s) in the previous {self.window:g} s]"
        logger.log(level, msg, *args, **kwargs)
        return True

    def flush(self) -> None:
        """Report the counts not yet reported (when a server stops)."""
        with self._lock:
            pending = [(ident, entry) for ident, entry in self._seen.items() if entry[1]]
            self._seen.clear()
        for (name, level, _, _), (_, repeats, args, msg) in pending:
            logging.getLogger(name).log(level, f"{msg} [repeated {repeats} more time(s)]", *args)


class _CountingLogger:
    """A logger for uvicorn's protocols that logs each distinct message once per window."""

    def __init__(self, logger: logging.Logger, limiter: RepeatLimiter) -> None:
        self._logger = logger
        self._limiter = limiter

    def __getattr__(self, name: str) -> Any:  # level, name, isEnabledFor, ...
        return getattr(self._logger, name)

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        self._limiter.log(self._logger, level, msg, args, **kwargs)

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exc_info", True)
        self.log(logging.ERROR, msg, *args, **kwargs)


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


# --------------------------------------------------------------------------------------------
# Slow and stalled clients.


def open_file_limit() -> int | None:
    """The soft RLIMIT_NOFILE of this process (None where there is no such thing)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def connection_budget() -> int:
    """Descriptors this process's servers may hold for connections: the open-file limit minus a
    reserve for everything else (at least 16, at most 4,096)."""
    limit = open_file_limit()
    if limit is None:
        return _MAX_CONNECTIONS_CAP
    return max(16, min(_MAX_CONNECTIONS_CAP, limit - max(_FD_RESERVE, limit // 16)))


class _Budget:
    """Connections across every guarded server of this process: accepted (``pending``, not yet
    seen by a protocol) and open."""

    def __init__(self) -> None:
        self.open = 0
        self.pending = 0
        self.refused = 0
        self.overdrawn = 0  # let in over the budget because they had sent their request
        self.lock = threading.Lock()

    def admit(self, has_request: Callable[[], bool]) -> bool:
        """At accept(): True if one more descriptor fits the budget (then it is pending).

        Over the budget a newcomer may still come in, up to ACCEPT_OVERDRAFT more descriptors:
        the eviction in connection_made then closes an idle connection for it. When accept()
        meets a burst (a flood reconnecting), only newcomers that have already sent bytes get
        the second half: a real client writes its request right after connecting, a flood of
        idle connections writes nothing. ``has_request`` is asked only then (recv(MSG_PEEK))."""
        with self.lock:
            held = self.open + self.pending
            budget = connection_budget()
            if held < budget:
                self.pending += 1
                return True
        # A newcomer with nothing sent yet gets the first half of the overdraft (a real client
        # accepted the instant it connected has not written yet); one with bytes waiting, all.
        if held < budget + IDLE_OVERDRAFT or (held < budget + ACCEPT_OVERDRAFT and has_request()):
            with self.lock:
                self.pending += 1
                self.overdrawn += 1
            return True
        with self.lock:
            self.refused += 1
        return False

    def opened(self) -> int:
        with self.lock:
            self.pending = max(0, self.pending - 1)
            self.open += 1
            return self.open

    def closed(self) -> None:
        with self.lock:
            self.open -= 1


class GuardedListenSocket(socket.socket):
    """A listening socket whose accept() never takes a descriptor beyond the process's budget:
    over it, the newcomer is closed at once (asyncio would otherwise accept a whole batch and
    run the process out of descriptors before anyone could be evicted)."""

    limiter: "RepeatLimiter | None" = None
    _refused_in_batch = 0

    def accept(self) -> tuple[socket.socket, Any]:
        while True:
            if self._refused_in_batch >= REFUSALS_PER_BATCH:
                # End asyncio's accept batch (it loops until BlockingIOError, up to the listen
                # backlog): the connections evicted for the ones let in close only when the loop
                # runs on, and until then every newcomer, a real client's too, would be refused.
                raise BlockingIOError(errno.EAGAIN, "accept batch ended at the connection budget")
            conn, address = super().accept()  # BlockingIOError when the queue is empty
            if _budget.admit(lambda: _has_bytes(conn)):
                return conn, address
            conn.close()
            self._refused()
            if self.limiter is not None:
                self.limiter.log(log, logging.WARNING,
                                 "out of connection slots (%d): refusing new connections",
                                 (connection_budget(),))

    def _refused(self) -> None:
        if self._refused_in_batch == 0:
            try:
                asyncio.get_running_loop().call_soon(self._new_batch)
            except RuntimeError:  # not on a loop (a direct call): no batches to end
                return
        self._refused_in_batch += 1

    def _new_batch(self) -> None:
        self._refused_in_batch = 0

    @classmethod
    def adopt(cls, sock: socket.socket, limiter: "RepeatLimiter") -> "GuardedListenSocket":
        guarded = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        guarded.limiter = limiter
        return guarded


_budget = _Budget()


def _has_bytes(conn: socket.socket) -> bool:
    """Whether the peer has already sent something (without reading it, without waiting)."""
    try:
        return bool(conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:  # reset already: nothing to serve
        return False


class ConnectionGuard:
    """Per server: the request deadline, the connection bound, and who has waited longest."""

    def __init__(self, request_timeout: float, max_connections: int | None,
                 limiter: RepeatLimiter) -> None:
        if request_timeout <= 0:
            raise ValueError(f"request_timeout must be > 0 seconds, not {request_timeout!r}")
        self.request_timeout = float(request_timeout)
        self.max_connections = max_connections or _MAX_CONNECTIONS_CAP
        self.limiter = limiter
        # Connections waiting for (the rest of) a request, oldest first: who gives way at the bound.
        self.waiting: dict[Any, None] = {}
        self.timed_out = 0
        self.evicted = 0
        # One sweep every eighth of the deadline (at most a second) closes the connections past
        # it, instead of a timer armed and cancelled for every request: under load that pair
        # cost more than the whole deadline bookkeeping is worth. A deadline is thus kept to
        # within an eighth.
        self.sweep_every = min(1.0, self.request_timeout / 8)
        self._sweeping: asyncio.TimerHandle | None = None
        self._sweep_loop: asyncio.AbstractEventLoop | None = None

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sweeping is not None and self._sweep_loop is loop:
            return
        self._sweep_loop = loop  # (a server restarted on a new loop gets a sweep there)
        self._sweeping = loop.call_later(self.sweep_every, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeping = None
        now = loop.time()
        for connection in list(self.waiting):  # oldest deadline first: stop at the first alive
            if connection._armed_at + self.request_timeout > now:
                break
            connection._expire()
        if self.waiting:
            self._watch(loop)

    def victim(self) -> Any:
        """Who gives way at the bound: the longest-waiting connection that has sent nothing
        (among the EVICTION_SCAN oldest), else the longest-waiting one; None if none waits."""
        oldest = None
        for index, connection in enumerate(self.waiting):
            if oldest is None:
                oldest = connection
            if not connection._heard:
                return connection
            if index + 1 >= EVICTION_SCAN:
                break
        return oldest

    def protocol_class(self) -> type:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        guard = self

        class GuardedProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.logger = _CountingLogger(self.logger, guard.limiter)
                if not kwargs["config"].access_log:
                    # uvicorn decides by the access logger's handlers, which are not ours to clear.
                    self.access_log = False
                self._armed_at = 0.0
                self._counted = False
                self._heard = False  # any bytes received on this connection

            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                self._counted = True
                total = _budget.opened()
                # Evict a little before the hard budget, so that newcomers are let in (and the
                # stalest connection goes) rather than refused at accept().
                soft = max(8, connection_budget() - ACCEPT_SLACK)  # across this process
                if total > soft or len(self.connections) > guard.max_connections:
                    bound = soft if total > soft else guard.max_connections
                    victim = guard.victim()
                    guard.evicted += 1
                    guard.limiter.log(log, logging.WARNING,
                                      "connection limit (%d) reached: closing the connection that "
                                      "waited longest for its request", (bound,))
                    if victim is None:  # every connection is busy with a request: refuse this one
                        self._drop()
                        return
                    victim._drop()
                self._arm()

            def connection_lost(self, exc: Exception | None) -> None:
                self._disarm()
                if self._counted:
                    self._counted = False
                    _budget.closed()
                super().connection_lost(exc)

            def data_received(self, data: bytes) -> None:
                self._heard = True
                super().data_received(data)
                cycle = self.cycle
                if cycle is not None and not cycle.more_body and not cycle.response_complete:
                    self._disarm()  # the whole request is in: the app takes its time

            def on_response_complete(self) -> None:
                super().on_response_complete()
                if not self.transport.is_closing():
                    cycle = self.cycle  # a pipelined request may already be the current one
                    if cycle is None or cycle.response_complete or cycle.more_body:
                        self._arm()  # the next request gets its own deadline

            def _arm(self) -> None:
                guard.waiting.pop(self, None)  # to the end: ``waiting`` stays in deadline order
                self._armed_at = self.loop.time()
                guard.waiting[self] = None
                guard._watch(self.loop)

            def _disarm(self) -> None:
                guard.waiting.pop(self, None)

            def _expire(self) -> None:
                guard.waiting.pop(self, None)
                guard.timed_out += 1
                guard.limiter.log(log, logging.INFO,
                                  "closed a connection that sent no complete request within %g s",
                                  (guard.request_timeout,))
                self._drop()

            def _drop(self) -> None:
                self._disarm()
                if self.cycle is not None and not self.cycle.response_complete:
                    self.cycle.disconnected = True
                    self.cycle.message_event.set()
                if not self.transport.is_closing():
                    self.transport.close()

        return GuardedProtocol


_config_type: type | None = None
_config_type_lock = threading.Lock()


def _config_class() -> type:
    """uvicorn's Config, minus its logging setup: the application's logging is its own. Made on
    first use: uvicorn is imported when a server starts, not with this module."""
    global _config_type
    with _config_type_lock:  # one class for every server, also when 8 start at once
        if _config_type is None:
            uvicorn = import_on_first_use("uvicorn")

            class _Config(uvicorn.Config):  # type: ignore[misc, valid-type]
                def configure_logging(self) -> None:
                    pass

            _config_type = _Config
        return _config_type


def server_config(app: Any, *, request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                  max_connections: int | None = None, limiter: RepeatLimiter | None = None,
                  **options: Any) -> tuple[uvicorn.Config, ConnectionGuard]:
    """A uvicorn Config with the guarded protocol and no logging setup, and its guard."""
    guard = ConnectionGuard(request_timeout, max_connections, limiter or RepeatLimiter())
    config = _config_class()(app, http=guard.protocol_class(), **options)
    return config, guard


def serve_forever(server: uvicorn.Server, sockets: list[socket.socket],
                  limiter: RepeatLimiter) -> None:
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
        self._server: "uvicorn.Server | None" = None
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

    def start(self, timeout: float = 10.0) -> "BackgroundServer":
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
        config, self.guard = server_config(self.app, request_timeout=self.request_timeout,
                                           max_connections=self.max_connections, limiter=limiter,
                                           **self._options)
        self._server = uvicorn.Server(config)
        # uvicorn only installs signal handlers on the main thread; say so explicitly anyway.
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
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
