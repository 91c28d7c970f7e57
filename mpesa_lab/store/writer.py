"""The store's writer: one thread, one connection, group commit.

The writes that arrive while a commit is in progress are written together in the next
transaction (up to ``max_batch``), and each caller is told its row is stored only after that
transaction has committed. A batch that fails is retried row by row, so one bad row never fails
its neighbours. Results go back to a thread's future, or to an asyncio future on its own loop
(one wake-up per loop for the whole batch).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from mpesa_lab.store.errors import as_store_error
from mpesa_lab.store.schema import rollback

log = logging.getLogger(__name__)


class Job:
    """One write. Its result goes to a thread future, or to an asyncio future on its loop."""

    __slots__ = ("apply", "future", "loop", "afuture")

    def __init__(
        self, apply: Callable[[sqlite3.Connection], Any], loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.apply = apply
        self.loop = loop
        self.future: Future[Any] | None = None
        self.afuture: asyncio.Future[Any] | None = None
        if loop is None:
            self.future = Future()
        else:
            self.afuture = loop.create_future()


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for afuture, result, error in outcomes:
        if afuture.cancelled():
            continue
        if error is not None:
            afuture.set_exception(error)
        else:
            afuture.set_result(result)


def _resolve(jobs: list[tuple[Job, Any, BaseException | None]]) -> None:
    """Hand results back: one wake-up per event loop for the whole batch, not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
    for job, result, error in jobs:
        if job.future is not None:
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)
        elif job.loop is not None and job.afuture is not None:
            by_loop.setdefault(job.loop, []).append((job.afuture, result, error))
    for loop, outcomes in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, outcomes)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass


_STOP = object()


class Writer:
    """The writer thread. ``connect`` opens its connection (in the thread); ``committed`` is
    called after every commit (the store's change counter)."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], committed: Callable[[], None], max_batch: int
    ) -> None:
        self.connect = connect
        self.committed = committed
        self.max_batch = max_batch
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="mpesa-lab-store-writer", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Job:
        self.queue.put(job)
        return job

    def stop(self, timeout: float = 10.0) -> None:
        self.queue.put(_STOP)
        self.thread.join(timeout)

    def _run(self) -> None:
        try:
            conn = self.connect()
        except Exception as exc:  # pragma: no cover - reported to every waiting caller
            self._fail_all(exc)
            return
        try:
            stopping = False
            while not stopping:
                batch = [self.queue.get()]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                if any(job is _STOP for job in batch):
                    stopping = True
                    batch = [job for job in batch if job is not _STOP]
                    # Whatever was queued before stop() is still written.
                    while True:
                        try:
                            job = self.queue.get_nowait()
                        except queue.Empty:
                            break
                        if job is not _STOP:
                            batch.append(job)
                if batch:
                    self._commit(conn, batch)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [job.apply(conn) for job in batch]
            conn.execute("COMMIT")
        except Exception as exc:
            rollback(conn)
            if len(batch) == 1:
                _resolve([(batch[0], None, as_store_error(exc))])
                return
            # One bad row must not fail its neighbours: retry each on its own.
            log.warning("group commit failed (%s); retrying %d rows one by one", exc, len(batch))
            for job in batch:
                self._commit(conn, [job])
            return
        self.committed()
        _resolve([(job, result, None) for job, result in zip(batch, results, strict=True)])

    def _fail_all(self, exc: BaseException) -> None:
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP:
                _resolve([(job, None, as_store_error(exc))])
