"""The uvicorn guard: uvicorn hardened for a port anyone may reach, by adapting its internals.

One job: what mpesa-lab changes in uvicorn's own behaviour. The background server
(:mod:`mpesa_lab.background`) runs uvicorn with these pieces:

- a request deadline: a client gets ``request_timeout`` seconds to send a whole request (headers
  and body), idle or not; a stalled connection is closed by the next sweep (within an eighth of
  the deadline, at most a second, after it passes);
- connections bounded below the process's open-file limit (:class:`GuardedListenSocket` at
  accept(), eviction in the protocol): at the bound, the connection that has waited longest for
  its request (preferably one that sent nothing) is closed to make room, so a flood of stalled
  connections never locks out a real client (docs/limits.md);
- uvicorn's ``Config`` without its logging setup (uvicorn's ``dictConfig`` would close every
  handler the application configured);
- a failure that repeats (a flood of bad requests, a full file table) logged once, then counted
  (:class:`RepeatLimiter`), with one summary line when it recurs later.

What it relies on in uvicorn, beyond the documented ``Config``/``Server`` API (private: it may
change in any release, hence the upper pin in pyproject.toml and tests/test_uvicorn_guard.py,
which checks each of these names and shapes against the installed uvicorn):

- ``uvicorn.protocols.http.auto.AutoHTTPProtocol`` (``H11Protocol``, or ``HttpToolsProtocol``
  when httptools is installed) is subclassed. uvicorn builds it with keyword arguments, among
  them ``config``. Extended: ``connection_made(transport)`` (count the connection, evict at the
  bound, arm the deadline), ``connection_lost(exc)``, ``data_received(data)`` (disarm once the
  whole request is in) and ``on_response_complete()`` (re-arm for the next request). Read:
  ``logger`` (replaced by a counting one), ``access_log``, ``connections`` (the server's set of
  open connections), ``loop``, ``transport``, and ``cycle`` (the current
  ``RequestResponseCycle`` or None) with its ``more_body``, ``response_complete``,
  ``disconnected`` and ``message_event``, which are set to end an app still reading a request
  whose connection was dropped.
- ``uvicorn.Config.configure_logging()``, which ``Config.__init__`` calls: overridden to do
  nothing; ``Config(http=<protocol class>)`` uses the class as given.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from mpesa_lab._lazy import import_on_first_use

if TYPE_CHECKING:
    import uvicorn

# The background server's log: the guard's messages keep the logger name they always had, so a
# user's logging set-up for "mpesa_lab.background" covers the whole server.
log = logging.getLogger("mpesa_lab.background")

DEFAULT_REQUEST_TIMEOUT = 15.0
# File descriptors kept free for everything else the process opens (SQLite files and their WAL,
# outgoing connections, logs): connections beyond the rest are refused.
_FD_RESERVE = 64
_MAX_CONNECTIONS_CAP = 4096
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

    def log(
        self,
        logger: logging.Logger,
        level: int,
        msg: str,
        args: tuple[Any, ...] = (),
        *,
        key: Any = None,
        **kwargs: Any,
    ) -> bool:
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

    limiter: RepeatLimiter | None = None
    _refused_in_batch = 0

    def accept(self) -> tuple[socket.socket, Any]:
        while True:
            if self._refused_in_batch >= REFUSALS_PER_BATCH:
                # End asyncio's accept batch (it loops until BlockingIOError, up to the listen
                # backlog): the connections evicted for the ones let in close only when the loop
                # runs on, and until then every newcomer, a real client's too, would be refused.
                raise BlockingIOError(errno.EAGAIN, "accept batch ended at the connection budget")
            conn, address = super().accept()  # BlockingIOError when the queue is empty
            if _budget.admit(functools.partial(_has_bytes, conn)):
                return conn, address
            conn.close()
            self._refused()
            if self.limiter is not None:
                self.limiter.log(
                    log,
                    logging.WARNING,
                    "out of connection slots (%d): refusing new connections",
                    (connection_budget(),),
                )

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
    def adopt(cls, sock: socket.socket, limiter: RepeatLimiter) -> GuardedListenSocket:
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

    def __init__(self, request_timeout: float, max_connections: int | None, limiter: RepeatLimiter) -> None:
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

    def protocol_class(self) -> type[asyncio.Protocol]:
        """uvicorn's HTTP protocol (whichever ``AutoHTTPProtocol`` is) with this guard's hooks."""
        if TYPE_CHECKING:  # checked against h11's; httptools' has the same names (the contract test)
            from uvicorn.protocols.http.h11_impl import H11Protocol as AutoHTTPProtocol
        else:
            from uvicorn.protocols.http.auto import AutoHTTPProtocol

        guard = self

        class GuardedProtocol(AutoHTTPProtocol):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                # Duck-typed: it has the Logger methods uvicorn's protocols call.
                self.logger = cast(logging.Logger, _CountingLogger(self.logger, guard.limiter))
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
                    guard.limiter.log(
                        log,
                        logging.WARNING,
                        "connection limit (%d) reached: closing the connection that waited longest for its request",
                        (bound,),
                    )
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
                guard.limiter.log(
                    log,
                    logging.INFO,
                    "closed a connection that sent no complete request within %g s",
                    (guard.request_timeout,),
                )
                self._drop()

            def _drop(self) -> None:
                self._disarm()
                if self.cycle is not None and not self.cycle.response_complete:
                    self.cycle.disconnected = True
                    self.cycle.message_event.set()
                if not self.transport.is_closing():
                    self.transport.close()

        return GuardedProtocol


_config_type: type[uvicorn.Config] | None = None
_config_type_lock = threading.Lock()


def _config_class() -> type[uvicorn.Config]:
    """uvicorn's Config, minus its logging setup: the application's logging is its own. Made on
    first use: uvicorn is imported when a server starts, not with this module."""
    global _config_type
    with _config_type_lock:  # one class for every server, also when 8 start at once
        if _config_type is None:
            if TYPE_CHECKING:
                from uvicorn import Config
            else:
                Config = import_on_first_use("uvicorn").Config

            class _Config(Config):
                def configure_logging(self) -> None:
                    pass

            _config_type = _Config
        return _config_type


def server_config(
    app: Any,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_connections: int | None = None,
    limiter: RepeatLimiter | None = None,
    **options: Any,
) -> tuple[uvicorn.Config, ConnectionGuard]:
    """A uvicorn Config with the guarded protocol and no logging setup, and its guard."""
    guard = ConnectionGuard(request_timeout, max_connections, limiter or RepeatLimiter())
    config = _config_class()(app, http=guard.protocol_class(), **options)
    return config, guard
