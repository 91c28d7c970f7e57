"""The M-Pesa core's clockwork: when prompts appear, customers answer, prompts time out, and
callbacks are POSTed.

Steps run on the event loop that serves the emulator's HTTP requests (the app attaches it on
every request): no thread hand-off per push, and callback POSTs are tasks there, so they never
block request handling. When no serving loop is alive (before the first request, or after the
server stopped) the steps run on a private fallback thread with its own loop; either way never
on a notebook kernel's loop. Steps are idempotent, so a restart can safely reschedule them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

Step = tuple[float, Callable[..., Any], tuple[Any, ...]]
# Steps due within the same few milliseconds share one timer: under load that is one heap entry
# and one wake-up for many transactions instead of one each. Steps may run up to this late.
BUCKET = 0.005


class Engine:
    """Timers and tasks on the serving loop (or the fallback thread); safe from any thread."""

    def __init__(self, name: str = "emulator") -> None:
        self.name = name
        self._serving: asyncio.AbstractEventLoop | None = None
        self._home: asyncio.AbstractEventLoop | None = None
        self._home_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._on_loop: list[Callable[[], None]] = []
        self._on_stop: list[Callable[[], Coroutine[Any, Any, None]]] = []
        # Work handed over from other threads waits here; one wake-up drains a whole burst.
        self._inbox: dict[asyncio.AbstractEventLoop, deque[Step]] = {}
        self._wake_pending: set[asyncio.AbstractEventLoop] = set()
        # Per loop: due bucket -> steps (only touched from that loop's thread).
        self._buckets: dict[asyncio.AbstractEventLoop, dict[int, list[tuple[Callable[..., Any], tuple[Any, ...]]]]] = {}

    # ------------------------------------------------------------------ hooks and state

    def on_new_loop(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` on a loop each time the engine moves to it (to reschedule open work)."""
        self._on_loop.append(hook)

    def on_stop(self, hook: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Await ``hook`` on the fallback loop before it closes."""
        self._on_stop.append(hook)

    @property
    def running(self) -> bool:
        """True while the fallback thread is alive."""
        return self._home_thread is not None and self._home_thread.is_alive()

    @property
    def serving_loop(self) -> asyncio.AbstractEventLoop | None:
        loop = self._serving
        return loop if loop is not None and not loop.is_closed() else None

    def attach(self) -> None:
        """Called by the app on each request: the running loop becomes where steps run."""
        loop = asyncio.get_running_loop()
        if loop is self._serving:
            return
        with self._lock:
            self._serving = loop
        for hook in self._on_loop:
            loop.call_soon(self._safe, hook, ())

    def detach(self) -> None:
        """Forget the serving loop (its server is stopping)."""
        with self._lock:
            self._serving = None

    # ------------------------------------------------------------------ scheduling

    def _target(self) -> asyncio.AbstractEventLoop:
        loop = self.serving_loop
        if loop is not None and loop.is_running():
            return loop
        return self._ensure_home()

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` after ``delay`` seconds, on the serving loop (or the fallback)."""
        delay = max(0.0, delay)
        loop = self._target()
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            self._schedule(loop, delay, fn, args)
            return
        with self._lock:
            self._inbox.setdefault(loop, deque()).append((delay, fn, args))
            wake = loop not in self._wake_pending
            self._wake_pending.add(loop)
        if wake:
            try:
                loop.call_soon_threadsafe(self._drain, loop)
            except RuntimeError:  # closed under us: hand the work to the fallback loop
                with self._lock:
                    self._wake_pending.discard(loop)
                    stranded = self._inbox.pop(loop, deque())
                if self._serving is loop:
                    self.detach()
                for step in stranded:
                    self.call_later(step[0], step[1], *step[2])

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._wake_pending.discard(loop)
            steps = self._inbox.pop(loop, deque())
        for delay, fn, args in steps:
            self._schedule(loop, delay, fn, args)

    def _schedule(
        self, loop: asyncio.AbstractEventLoop, delay: float, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        """On ``loop``'s own thread: run soon, or join the timer bucket of its due time."""
        if delay <= 0:
            loop.call_soon(self._safe, fn, args)
            return
        key = int((loop.time() + delay) / BUCKET) + 1  # round up: never early
        buckets = self._buckets.setdefault(loop, {})
        bucket = buckets.get(key)
        if bucket is None:
            buckets[key] = bucket = []
            loop.call_at(key * BUCKET, self._fire, loop, key)
        bucket.append((fn, args))

    def _fire(self, loop: asyncio.AbstractEventLoop, key: int) -> None:
        for fn, args in self._buckets.get(loop, {}).pop(key, ()):
            self._safe(fn, args)

    def spawn(self, factory: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Start the coroutine ``factory()`` as a task where steps run (fire and forget)."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is not None and current is self._target():
            _start_task(factory)  # already where steps run: no extra hop
        else:
            self.call_later(0.0, _start_task, factory)

    @staticmethod
    def _safe(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        # A bug in one step must not take the clockwork down with it.
        try:
            fn(*args)
        except Exception:
            log.exception("emulator step %s failed", getattr(fn, "__qualname__", fn))

    # ------------------------------------------------------------------ the fallback thread

    def _ensure_home(self) -> asyncio.AbstractEventLoop:
        loop = self._home
        if loop is not None and self.running:
            return loop
        with self._lock:
            if self._home is not None and self.running:
                return self._home
            ready = threading.Event()
            thread = threading.Thread(
                target=self._run_home, args=(ready,), name=f"mpesa-lab-{self.name}-engine", daemon=True
            )
            self._home_thread = thread
            thread.start()
            ready.wait()
            assert self._home is not None
            return self._home

    def _run_home(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._home = loop
        ready.set()
        for hook in self._on_loop:
            loop.call_soon(self._safe, hook, ())
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            for stop_hook in self._on_stop:
                try:
                    loop.run_until_complete(stop_hook())
                except Exception:  # closing must not stop the shutdown
                    log.debug("engine stop hook failed", exc_info=True)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._buckets.pop(loop, None)

    def run_on_serving_loop(self, factory: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 5.0) -> None:
        """Run a coroutine on the serving loop and wait for it (e.g. to close connections)."""
        loop = self.serving_loop
        if loop is None or not loop.is_running():
            return
        try:
            if asyncio.get_running_loop() is loop:
                return  # cannot wait for our own loop from inside it
        except RuntimeError:
            pass
        try:
            asyncio.run_coroutine_threadsafe(factory(), loop).result(timeout)
        except Exception:
            log.debug("could not run on the serving loop", exc_info=True)

    def stop(self, timeout: float = 5.0) -> None:
        """Detach from the serving loop and stop the fallback thread. Unfinished transactions
        are rescheduled when the engine next gets a loop."""
        self.detach()
        with self._lock:
            loop, thread = self._home, self._home_thread
            self._home = None
            self._home_thread = None
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            if thread is not threading.current_thread():
                thread.join(timeout)


def _start_task(factory: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    task = asyncio.get_running_loop().create_task(factory())
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("emulator task failed", exc_info=task.exception())
