"""The lab's durable store: every callback delivery (raw), parsed callbacks, quarantine, and the
pushes and queries made through the lab, in one SQLite file in WAL mode.

Writes go through one writer thread that commits in groups (:mod:`mpesa_lab.store.writer`): each
caller is told its row is stored only after the transaction holding it has committed
(``synchronous=FULL`` by default, so a committed row survives a killed process and a power cut).
Reads open short-lived connections, so any thread (or another process) may read while the
listener writes.

Where the file lives: pass a path, or let :func:`default_store_path` pick a new file under the
lab's home (``$MPESA_LAB_HOME`` or else ``~/.mpesa-lab``), in ``stores/``. At open the file is
made private and checked (:mod:`mpesa_lab.store.files`, :mod:`mpesa_lab.store.schema`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab.clock import NAIROBI, to_nairobi
from mpesa_lab.paths import new_throwaway_store_path
from mpesa_lab.store import files, schema, views
from mpesa_lab.store.errors import CallbackTimeout, StoreError
from mpesa_lab.store.records import (
    Call,
    DeliveryIn,
    ExpectedIds,
    Outcome,
    StoredCallback,
    StoredDelivery,
    dumps,
    loads,
    push_row,
    query_row,
    str_or_none,
)
from mpesa_lab.store.writer import Job, Writer

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def default_store_path() -> Path:
    """A new, unique (throwaway) SQLite file under ``lab_home()/stores`` (see :mod:`mpesa_lab.paths`)."""
    return new_throwaway_store_path()


class CallbackStore:
    """SQLite (WAL) store of deliveries, callbacks, quarantine, pushes and queries.

    Safe to share between threads; several processes may open the same file.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, synchronous: str = "FULL", max_batch: int = 256
    ) -> None:
        if path is None:
            path = default_store_path()
        if str(path) == ":memory:":
            raise StoreError(
                "the callback store needs a file (several threads and processes share it); pass "
                "a path such as 'lab.sqlite', or None for a new file under ~/.mpesa-lab"
            )
        self.path = Path(path).expanduser().resolve()
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA", "OFF"):
            raise ValueError(f"synchronous must be FULL, NORMAL, EXTRA or OFF, not {synchronous!r}")
        self.synchronous = synchronous.upper()
        self.max_batch = max_batch
        self._writer: Writer | None = None
        self._writer_lock = threading.Lock()
        self._cond = threading.Condition()
        self._generation = 0
        self._open()

    def _open(self) -> None:
        """Create or check the file: private permissions, our schema (migrated if older), a real
        test write. Every problem is one StoreError line saying what to do."""
        path = self.path
        try:
            files.prepare(path)
        except OSError as exc:
            raise StoreError(
                f"cannot open the callback store at {path}: {exc.strerror or exc}. Pass a writable "
                "path, or set MPESA_LAB_HOME to a writable folder"
            ) from None
        try:
            conn = self._connect(writer=True)
        except (StoreError, sqlite3.Error) as exc:
            raise schema.open_error(path, exc) from None
        try:
            schema.check(conn, path)
        except StoreError:
            raise
        except sqlite3.Error as exc:
            raise schema.open_error(path, exc) from None
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"CallbackStore({str(self.path)!r})"

    # ---- connections -------------------------------------------------------------------

    def _connect(self, *, writer: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        if writer:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        return conn

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A short-lived read connection (WAL: it never blocks the writer, nor it this)."""
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def _writer_submit(self, job: Job) -> Job:
        with self._writer_lock:
            if self._writer is None or not self._writer.thread.is_alive():
                self._writer = Writer(lambda: self._connect(writer=True), self._notify, self.max_batch)
            return self._writer.submit(job)

    def _write(self, apply: Callable[[sqlite3.Connection], Any], timeout: float = 60.0) -> Any:
        future = self._writer_submit(Job(apply)).future
        assert future is not None
        return future.result(timeout)

    def _notify(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    @property
    def generation(self) -> int:
        """A counter bumped by every commit this process makes (for watchers such as live tables)."""
        with self._cond:
            return self._generation

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Block until a commit moves ``generation`` past ``since`` (or ``timeout`` s pass);
        return the generation now. Only this process's writes wake it."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != since, max(0.0, timeout))
            return self._generation

    def close(self) -> None:
        """Finish pending writes and stop the writer thread. The store reopens on next use."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()

    def __enter__(self) -> CallbackStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writes: deliveries ------------------------------------------------------------

    def submit_delivery(self, delivery: DeliveryIn, *, expected_ids: ExpectedIds = None) -> Future[StoredDelivery]:
        """Queue a delivery; the future resolves once its transaction has committed."""
        job = self._writer_submit(Job(lambda conn: self._insert_delivery(conn, delivery, expected_ids)))
        assert job.future is not None
        return job.future

    async def store_delivery_async(self, delivery: DeliveryIn, *, expected_ids: ExpectedIds = None) -> StoredDelivery:
        """Store a delivery from an event loop; returns once its transaction has committed.

        The loop is never blocked: the write happens in the writer thread, grouped with the
        deliveries that arrive meanwhile, and the whole group is handed back in one wake-up.
        """
        job = Job(lambda conn: self._insert_delivery(conn, delivery, expected_ids), loop=asyncio.get_running_loop())
        self._writer_submit(job)
        assert job.afuture is not None
        stored: StoredDelivery = await job.afuture
        return stored

    def store_delivery(
        self, delivery: DeliveryIn, *, expected_ids: ExpectedIds = None, timeout: float = 60.0
    ) -> StoredDelivery:
        """Store a delivery and wait for the commit."""
        return self.submit_delivery(delivery, expected_ids=expected_ids).result(timeout)

    def _insert_delivery(self, conn: sqlite3.Connection, d: DeliveryIn, expected_ids: ExpectedIds) -> StoredDelivery:
        received = to_nairobi(d.received_at)
        ts = received.timestamp()
        iso = received.isoformat()
        cb = d.callback if d.outcome == "accepted" else None
        duplicate = unknown = False
        if cb is not None:
            cid = cb.checkout_request_id
            duplicate = (
                conn.execute("SELECT 1 FROM callbacks WHERE checkout_request_id = ? LIMIT 1", (cid,)).fetchone()
                is not None
            )
            unknown = not self._is_expected(conn, cid, expected_ids)
        body_size = d.body_size if d.body_size is not None else (len(d.body) if d.body is not None else None)
        cur = conn.execute(
            "INSERT INTO deliveries (received_at, received_ts, remote_addr, client_addr, method, "
            "headers, body, body_size, outcome, http_status, reason, checkout_request_id, duplicate, "
            "unknown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                iso,
                ts,
                d.remote_addr,
                d.client_addr,
                d.method,
                dumps(d.headers),
                d.body,
                body_size,
                d.outcome,
                d.http_status,
                d.reason,
                cb.checkout_request_id if cb else None,
                int(duplicate),
                int(unknown),
            ),
        )
        delivery_id = int(cur.lastrowid or 0)
        stored_cb: Any = None
        if cb is not None:
            conn.execute(
                "INSERT INTO callbacks (delivery_id, received_at, received_ts, checkout_request_id, "
                "merchant_request_id, result_code, result_desc, amount, receipt, balance, "
                "transaction_date, phone, items, duplicate, unknown) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery_id,
                    iso,
                    ts,
                    cb.checkout_request_id,
                    cb.merchant_request_id,
                    cb.result_code,
                    cb.result_desc,
                    str_or_none(cb.amount),
                    cb.receipt,
                    str_or_none(cb.balance),
                    cb.transaction_date.isoformat() if cb.transaction_date else None,
                    cb.phone,
                    dumps(cb.items),
                    int(duplicate),
                    int(unknown),
                ),
            )
            stored_cb = replace(cb, delivery_id=delivery_id, received_at=received, duplicate=duplicate, unknown=unknown)
        elif d.outcome == "quarantined":
            conn.execute(
                "INSERT INTO quarantine (delivery_id, received_at, received_ts, reason, body) VALUES (?, ?, ?, ?, ?)",
                (delivery_id, iso, ts, d.reason or "invalid callback", d.body),
            )
        return StoredDelivery(
            delivery_id=delivery_id,
            received_at=received,
            outcome=d.outcome,
            http_status=d.http_status,
            remote_addr=d.client_addr or d.remote_addr,
            reason=d.reason,
            duplicate=duplicate,
            unknown=unknown,
            callback=stored_cb,
        )

    @staticmethod
    def _is_expected(conn: sqlite3.Connection, cid: str, expected_ids: ExpectedIds) -> bool:
        if expected_ids is None:
            return (
                conn.execute("SELECT 1 FROM pushes WHERE checkout_request_id = ? LIMIT 1", (cid,)).fetchone()
                is not None
            )
        try:
            if callable(expected_ids):
                return bool(expected_ids(cid))
            return cid in expected_ids
        except Exception:  # a user hook must not lose a callback
            log.exception("expected_ids check failed for %s; flagging it unknown", cid)
            return False

    # ---- writes: pushes and queries ----------------------------------------------------

    def record_push(
        self,
        request: dict[str, Any],
        response: dict[str, Any] | None = None,
        *,
        error: dict[str, Any] | None = None,
        at: datetime | None = None,
        environment: str | None = None,
        phone: str | None = None,
        time_scale: float | None = None,
    ) -> int:
        """Record an STK push made through the lab (request, Daraja's answer or error envelope).

        ``phone`` is the customer's number as the caller normalised it (the store does not parse
        phones; the merchant side does: ``daraja.requests.stored_phone``); by default the request's
        as given. Credentials in ``request`` are masked again here, whatever the caller did.
        ``time_scale``: the lab's (1.0 real time; None: unknown, or the emulator's quick lab), so
        frames can tell each latency in real-world seconds too. Returns the row id.
        """
        return self._record("pushes", push_row(Call.of(request, response, error, at), environment, phone, time_scale))

    def record_query(
        self,
        request: dict[str, Any],
        response: dict[str, Any] | None = None,
        *,
        error: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> int:
        """Record an STK push query made through the lab. Returns the row id."""
        return self._record("queries", query_row(Call.of(request, response, error, at)))

    def _record(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row (column names come from this package, never from input); its id."""
        sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        values = tuple(row.values())
        return int(self._write(lambda conn: int(conn.execute(sql, values).lastrowid or 0)))

    # ---- reads -------------------------------------------------------------------------

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self.reading() as conn:
            return conn.execute(sql, params).fetchone()[0]

    def count_deliveries(self, outcome: Outcome | None = None) -> int:
        """How many requests reached the callback path (optionally with this outcome)."""
        if outcome is None:
            return int(self._scalar("SELECT COUNT(*) FROM deliveries"))
        return int(self._scalar("SELECT COUNT(*) FROM deliveries WHERE outcome = ?", (outcome,)))

    def count_callbacks(self, checkout_request_id: str | None = None) -> int:
        """How many valid callbacks were stored (duplicates included), optionally for one ID."""
        if checkout_request_id is None:
            return int(self._scalar("SELECT COUNT(*) FROM callbacks"))
        return int(self._scalar("SELECT COUNT(*) FROM callbacks WHERE checkout_request_id = ?", (checkout_request_id,)))

    def count_quarantined(self) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM quarantine"))

    def count_pushes(self) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM pushes"))

    def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        """One delivery row as a dict (body as bytes, headers as a dict), or None."""
        with self.reading() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["headers"] = loads(out["headers"]) or {}
        out["duplicate"] = bool(out["duplicate"])
        out["unknown"] = bool(out["unknown"])
        return out

    def delivery_bodies(self) -> list[bytes | None]:
        """Every stored body, in arrival order (None where the body was not kept: too large)."""
        with self.reading() as conn:
            return [row[0] for row in conn.execute("SELECT body FROM deliveries ORDER BY id")]

    def first_callback(self, checkout_request_id: str) -> StoredCallback | None:
        """The first callback stored for this CheckoutRequestID (its raw body), or None (does not
        wait). ``mpesa_lab.listener`` gives it parsed: ``Listener.callback``."""
        with self.reading() as conn:
            row = conn.execute(
                "SELECT c.delivery_id, c.received_ts, d.body, "
                "EXISTS(SELECT 1 FROM pushes p WHERE p.checkout_request_id = c.checkout_request_id) "
                "FROM callbacks c JOIN deliveries d ON d.id = c.delivery_id "
                "WHERE c.checkout_request_id = ? ORDER BY c.id LIMIT 1",
                (checkout_request_id,),
            ).fetchone()
        if row is None:
            return None
        delivery_id, ts, body, known = row
        return StoredCallback(
            checkout_request_id=checkout_request_id,
            delivery_id=delivery_id,
            received_at=datetime.fromtimestamp(ts, NAIROBI),
            body=body,
            unknown=not known,
        )

    def wait_for_callback(
        self, checkout_request_id: str, timeout: float = 30.0, *, poll_interval: float = 0.2
    ) -> StoredCallback:
        """Block until the first callback for ``checkout_request_id`` is stored; return it.

        Wakes as soon as this process stores it, and polls the file so that a listener in
        another process is seen too. Raises :class:`CallbackTimeout` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                generation = self._generation
            found = self.first_callback(checkout_request_id)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CallbackTimeout(
                    f"no callback for CheckoutRequestID {checkout_request_id!r} within {timeout:g} s "
                    f"({self.count_deliveries()} deliveries in {self.path.name}). Check that the "
                    "push's CallBackURL is this listener's callback_url and is reachable, or ask "
                    "Daraja with an STK push query."
                )
            with self._cond:
                if self._generation == generation:
                    self._cond.wait(min(remaining, poll_interval))

    # ---- DataFrames (mpesa_lab.store.views) ---------------------------------------------

    def deliveries(self) -> pd.DataFrame:
        """Every request that reached the callback path, raw: one row each, in arrival order."""
        return views.deliveries(self)

    def callbacks(self) -> pd.DataFrame:
        """Every valid callback (duplicates included, flagged), parsed, in arrival order.

        The columns are the analytics schema (docs/analytics.md). ``unknown`` is judged now (no
        push with this CheckoutRequestID in the store); ``unknown_on_arrival`` is what the
        listener saw when it arrived. Read with the ADBC SQLite driver and Arrow: a million
        callbacks take about a second, and the listener keeps writing meanwhile (WAL).
        """
        return views.callbacks(self)

    def quarantine(self) -> pd.DataFrame:
        """Bodies that were not valid stkCallbacks, raw, with what was wrong."""
        return views.quarantine(self)

    def pushes(self) -> pd.DataFrame:
        """The STK pushes made through the lab (requests masked), in order."""
        return views.pushes(self)

    def queries(self) -> pd.DataFrame:
        """The STK push queries made through the lab, in order."""
        return views.queries(self)

    def transactions(self) -> pd.DataFrame:
        """One row per push with its FIRST callback (duplicates counted once, in ``callbacks``).

        ``status`` is paid / failed (from the callback), else the last final query result,
        else rejected (the push itself was refused) or pending. The columns are the analytics
        schema (docs/analytics.md): status, result_code (text), result_desc, phone, amount,
        receipt, latency_s first. The joins run in Arrow (no Python per row).
        """
        return views.transactions(self)
