"""The lab's durable store: every callback delivery (raw), parsed callbacks, quarantine, and the
pushes and queries made through the lab, in one SQLite file in WAL mode.

Writes go through one writer thread that commits in groups: the deliveries that arrive while a
commit is in progress are written together in the next transaction, and each caller is told its
row is stored only after that transaction has committed (``synchronous=FULL`` by default, so a
committed row survives a killed process and a power cut). Reads open short-lived connections, so
any thread (or another process) may read while the listener writes.

Where the file lives: pass a path, or let :func:`default_store_path` pick a new file under the
lab's home, ``$MPESA_LAB_HOME`` or else ``~/.mpesa-lab``, in ``stores/``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mpesa_lab.clock import NAIROBI, nairobi_now, to_nairobi
from mpesa_lab.paths import lab_home as lab_home  # re-exported: callers that import it from here
from mpesa_lab.paths import new_throwaway_store_path
from mpesa_lab.codes import normalize_code, result_entry
from mpesa_lab.daraja.callbacks import ParsedCallback, parse_callback
from mpesa_lab.daraja.errors import MpesaLabError
from mpesa_lab.secret import Secret, mask_secrets

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

Outcome = Literal["accepted", "quarantined", "forbidden", "too_large"]
ExpectedIds = Callable[[str], bool] | Collection[str] | None

# Version 1: the five tables. Version 2: the meta table (and application_id marks the file).
SCHEMA_VERSION = 2
# PRAGMA application_id of every store: "MPSL". Tells our files from any other SQLite file.
APPLICATION_ID = 0x4D50534C
_NAIROBI_NAME = "Africa/Nairobi"
_TABLES = ("deliveries", "callbacks", "quarantine", "pushes", "queries")
#: Up to this size the open-time check also reads every page (``PRAGMA quick_check``: 2.6 s for a
#: 572 MiB store in the page cache, 16 s from disk; see docs/limits.md). Every store, whatever its
#: size, gets the bounded check (its tables' newest rows, and a trial write to every table and
#: index the listener writes, rolled back: 0.05 s at 572 MiB).
FULL_CHECK_MAX_BYTES = 256 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    received_ts REAL NOT NULL,
    remote_addr TEXT,
    client_addr TEXT,
    method TEXT,
    headers TEXT,
    body BLOB,
    body_size INTEGER,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    reason TEXT,
    checkout_request_id TEXT,
    duplicate INTEGER NOT NULL DEFAULT 0,
    unknown INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    received_at TEXT NOT NULL,
    received_ts REAL NOT NULL,
    checkout_request_id TEXT NOT NULL,
    merchant_request_id TEXT,
    result_code TEXT NOT NULL,
    result_desc TEXT,
    amount TEXT,
    receipt TEXT,
    balance TEXT,
    transaction_date TEXT,
    phone TEXT,
    items TEXT,
    duplicate INTEGER NOT NULL DEFAULT 0,
    unknown INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS callbacks_checkout ON callbacks(checkout_request_id);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
    received_at TEXT NOT NULL,
    received_ts REAL NOT NULL,
    reason TEXT NOT NULL,
    body BLOB
);
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    at_ts REAL NOT NULL,
    environment TEXT,
    checkout_request_id TEXT,
    merchant_request_id TEXT,
    phone TEXT,
    amount TEXT,
    account_reference TEXT,
    transaction_type TEXT,
    shortcode TEXT,
    response_code TEXT,
    response_description TEXT,
    customer_message TEXT,
    error_code TEXT,
    error_message TEXT,
    request_id TEXT,
    request TEXT,
    response TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS pushes_checkout ON pushes(checkout_request_id);
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    at_ts REAL NOT NULL,
    checkout_request_id TEXT,
    response_code TEXT,
    result_code TEXT,
    result_desc TEXT,
    error_code TEXT,
    error_message TEXT,
    request_id TEXT,
    request TEXT,
    response TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS queries_checkout ON queries(checkout_request_id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""


@lru_cache(maxsize=1)
def _expected_structure() -> dict[str, tuple[list[str], list[str]]]:
    """Each table of ``_SCHEMA`` with its columns and indexes, read from a copy made in memory."""
    reference = sqlite3.connect(":memory:")
    try:
        reference.executescript(_SCHEMA)
        tables = [row[0] for row in reference.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {table: ([row[1] for row in reference.execute(f'PRAGMA table_info("{table}")')],
                        [row[1] for row in reference.execute(f'PRAGMA index_list("{table}")')
                         if not row[1].startswith("sqlite_autoindex")])
                for table in tables}
    finally:
        reference.close()


class StoreError(MpesaLabError, RuntimeError):
    """The store could not be opened or written; the message is one line saying what to do."""


class StoreUnavailable(StoreError):
    """The store itself failed (disk, permissions, lock, damage), not the row being written."""


class CallbackTimeout(TimeoutError):
    """No callback for a CheckoutRequestID arrived in time."""


def default_store_path() -> Path:
    """A new, unique (throwaway) SQLite file under ``lab_home()/stores`` (see :mod:`mpesa_lab.paths`)."""
    return new_throwaway_store_path()


# --------------------------------------------------------------------------------------------
# What the listener hands to the store, and what it gets back.


@dataclass
class DeliveryIn:
    """One HTTP request that reached the callback path, as received."""

    received_at: datetime
    remote_addr: str | None
    body: bytes | None
    outcome: Outcome
    http_status: int
    client_addr: str | None = None
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    body_size: int | None = None
    reason: str | None = None
    callback: ParsedCallback | None = None


@dataclass(frozen=True)
class StoredDelivery:
    """A delivery after its transaction committed."""

    delivery_id: int
    received_at: datetime
    outcome: Outcome
    http_status: int
    remote_addr: str | None
    reason: str | None = None
    duplicate: bool = False
    unknown: bool = False
    callback: ParsedCallback | None = None


# --------------------------------------------------------------------------------------------
# Helpers.

def scrub(value: Any) -> Any:
    """A copy of ``value`` with anything that looks like a credential masked (defence in depth)."""
    return mask_secrets(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _loads(text: str | float | None) -> Any:
    # pandas 3 reads a text column holding some NULLs as str with NaN for the missing ones.
    return json.loads(text) if isinstance(text, str) else None


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _moment(at: datetime | None) -> datetime:
    return to_nairobi(at) if at is not None else nairobi_now()


def _code(value: Any) -> str | None:
    """A Daraja code as the catalogue spells it (0, "0" and 0.0 are all "0"); None if absent."""
    return None if value is None else _str_or_none(normalize_code(value))


@dataclass(frozen=True)
class _Call:
    """A push or query made through the lab, masked, with the columns both tables share."""

    request: dict[str, Any]
    response: dict[str, Any] | None
    error: dict[str, Any] | None
    moment: datetime

    @classmethod
    def of(cls, request: dict[str, Any] | None, response: dict[str, Any] | None,
           error: dict[str, Any] | None, at: datetime | None) -> "_Call":
        return cls(request=scrub(dict(request or {})),
                   response=scrub(dict(response)) if response else None,
                   error=scrub(dict(error)) if error else None,
                   moment=_moment(at))

    @property
    def resp(self) -> dict[str, Any]:
        return self.response or {}

    def leading(self) -> dict[str, Any]:
        return {"at": self.moment.isoformat(), "at_ts": self.moment.timestamp()}

    def trailing(self) -> dict[str, Any]:
        err = self.error or {}
        return {
            "error_code": _str_or_none(err.get("errorCode")),
            "error_message": _str_or_none(err.get("errorMessage")),
            "request_id": _str_or_none(err.get("requestId") or self.resp.get("requestId")),
            "request": _dumps(self.request),
            "response": _dumps(self.response),
            "error": _dumps(self.error),
        }


# --------------------------------------------------------------------------------------------
# The writer: one thread, one connection, group commit.


class _Job:
    """One write. Its result goes to a thread future, or to an asyncio future on its loop."""

    __slots__ = ("apply", "future", "loop", "afuture")

    def __init__(self, apply: Callable[[sqlite3.Connection], Any],
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
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


def _resolve(jobs: list[tuple[_Job, Any, BaseException | None]]) -> None:
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


class _Writer:
    def __init__(self, store: "CallbackStore") -> None:
        self.store = store
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="mpesa-lab-store-writer", daemon=True)
        self.thread.start()

    def submit(self, job: _Job) -> _Job:
        self.queue.put(job)
        return job

    def stop(self, timeout: float = 10.0) -> None:
        self.queue.put(_STOP)
        self.thread.join(timeout)

    def _run(self) -> None:
        try:
            conn = self.store._connect(writer=True)
        except Exception as exc:  # pragma: no cover - reported to every waiting caller
            self._fail_all(exc)
            return
        try:
            stopping = False
            while not stopping:
                batch = [self.queue.get()]
                while len(batch) < self.store.max_batch:
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

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [job.apply(conn) for job in batch]
            conn.execute("COMMIT")
        except Exception as exc:
            _rollback(conn)
            if len(batch) == 1:
                _resolve([(batch[0], None, _as_store_error(exc))])
                return
            # One bad row must not fail its neighbours: retry each on its own.
            log.warning("group commit failed (%s); retrying %d rows one by one", exc, len(batch))
            for job in batch:
                self._commit(conn, [job])
            return
        self.store._notify()
        _resolve([(job, result, None) for job, result in zip(batch, results)])

    def _fail_all(self, exc: BaseException) -> None:
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP:
                _resolve([(job, None, _as_store_error(exc))])


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def _as_store_error(exc: BaseException) -> BaseException:
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError, OSError)) and \
            not isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError)):
        return StoreUnavailable(f"could not write to the callback store: {exc}")
    # The row's own data (text SQLite cannot encode, an integer too large, ...).
    return StoreError(f"could not write to the callback store: {type(exc).__name__}: {exc}")


def _private_dir(folder: Path) -> None:
    """Make ``folder`` (and missing parents) and set it to 0700, whatever the umask."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _owned(folder):
        folder.chmod(0o700)


def _private_file(path: Path, *, tighten: bool) -> None:
    """Create ``path`` as 0600 (whatever the umask); ``tighten`` an existing file we own, too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if tighten and _owned(path):
            for item in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if item.exists():
                    item.chmod(0o600)
        return
    try:
        if hasattr(os, "fchmod"):  # not on Windows, where modes mean little anyway
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _owned(path: Path) -> bool:
    """True if this user owns ``path`` (always on systems without user ids)."""
    return not hasattr(os, "getuid") or path.stat().st_uid == os.getuid()


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------


class CallbackStore:
    """SQLite (WAL) store of deliveries, callbacks, quarantine, pushes and queries.

    Safe to share between threads; several processes may open the same file.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, synchronous: str = "FULL",
                 max_batch: int = 256) -> None:
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
        self._writer: _Writer | None = None
        self._writer_lock = threading.Lock()
        self._cond = threading.Condition()
        self._generation = 0
        self._open()

    def _open(self) -> None:
        """Create or check the file: private permissions, our schema (migrated if older), a real
        test write. Every problem is one StoreError line saying what to do."""
        path = self.path
        home = lab_home().expanduser().resolve()
        in_home = _inside(path, home)
        try:
            if in_home:
                _private_dir(home)
                for folder in reversed(path.relative_to(home).parents[:-1]):
                    _private_dir(home / folder)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
            _private_file(path, tighten=in_home)
        except OSError as exc:
            raise StoreError(
                f"cannot open the callback store at {path}: {exc.strerror or exc}. Pass a writable "
                "path, or set MPESA_LAB_HOME to a writable folder"
            ) from None
        try:
            conn = self._connect(writer=True)
        except (StoreError, sqlite3.Error) as exc:
            raise self._open_error(exc) from None
        try:
            self._check_schema(conn)
            self._check_structure(conn)
            self._test_write(conn)
            self._check_integrity(conn)
        except StoreError:
            raise
        except sqlite3.Error as exc:
            raise self._open_error(exc) from None
        finally:
            conn.close()

    def _open_error(self, exc: BaseException) -> StoreError:
        text = " ".join(str(exc).split())  # one line, whatever SQLite said
        path = self.path
        lowered = text.lower()
        if "i/o error" in lowered or "readonly" in lowered or "read-only" in lowered or "permission" in lowered or \
                "unable to open" in lowered or "refused wal" in lowered:
            return StoreError(
                f"cannot write the callback store {path} ({text}): make the file and its folder "
                "writable by you, or pass another store path (--db PATH / store=PATH)"
            )
        if "not a database" in lowered or "malformed" in lowered or "integrity" in lowered or \
                "corrupt" in lowered:
            return StoreError(
                f"the callback store {path} is damaged ({text}): move it aside (sqlite3 FILE "
                "'.recover' may save its rows) and pass a new store path (--db PATH / store=PATH)"
            )
        return StoreError(
            f"cannot use the callback store {path} ({text}): pass another store path "
            "(--db PATH / store=PATH)"
        )

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        """Create the tables in a new file; migrate an older store; refuse anything else."""
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        path = self.path
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables and not (
                version == 1 and set(_TABLES) <= tables and self._v1_columns_ok(conn))):
            shown = ", ".join(sorted(tables)[:6]) or "no tables"
            raise StoreError(
                f"{path} is not an mpesa-lab callback store (it holds {shown}): pass a new file, "
                "or a store an earlier lab wrote"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer mpesa-lab (store schema {version}; this one reads "
                f"up to {SCHEMA_VERSION}): upgrade mpesa-lab, or pass a new store path"
            )
        if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # New file, or a version-1 store: the tables (IF NOT EXISTS) and the marks.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if tables:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('migrated_from', ?)",
                             (str(version),))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        if tables:
            log.info("store %s migrated from schema %s to %s", path.name, version, SCHEMA_VERSION)

    def _check_structure(self, conn: sqlite3.Connection) -> None:
        """Every table, column and index the store's code uses is there (a store of ours with a
        table dropped would otherwise start, then answer 503 to every callback)."""
        missing = []
        for table, (columns, indexes) in _expected_structure().items():
            have = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
            if not have:
                missing.append(f"table {table}")
                continue
            missing += [f"column {table}.{c}" for c in columns if c not in have]
            have_indexes = {row[1] for row in conn.execute(f'PRAGMA index_list("{table}")')}
            missing += [f"index {i}" for i in indexes if i not in have_indexes]
        if missing:
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            raise StoreError(
                f"the callback store {self.path} is damaged (missing {shown}): move it aside "
                "(sqlite3 FILE '.recover' may save its rows) and pass a new store path "
                "(--db PATH / store=PATH)"
            )

    def _check_integrity(self, conn: sqlite3.Connection) -> None:
        """Damaged pages refuse the store at open. A full ``quick_check`` up to
        ``FULL_CHECK_MAX_BYTES``; and for every store a check bounded by the tables' depth, not
        their size: the newest rows of every table, and a trial write (rolled back) into every
        table and index the listener writes, which walks the very pages every callback's insert
        would (damage there is what makes a store answer 503 to every callback)."""
        if self.path.stat().st_size <= FULL_CHECK_MAX_BYTES:
            problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {problem}")
        for table in _TABLES:
            conn.execute(f"SELECT * FROM {table} ORDER BY id DESC LIMIT 64").fetchall()
        conn.execute("BEGIN IMMEDIATE")
        try:
            probe = f"mpesa-lab-open-check-{os.urandom(4).hex()}"
            now = time.time()
            delivery = conn.execute(
                "INSERT INTO deliveries (received_at, received_ts, body, outcome, checkout_request_id) "
                "VALUES ('', ?, ?, 'accepted', ?)", (now, b"{}", probe)).lastrowid
            conn.execute("INSERT INTO callbacks (delivery_id, received_at, received_ts, "
                         "checkout_request_id, result_code) VALUES (?, '', ?, ?, '0')",
                         (delivery, now, probe))
            conn.execute("INSERT INTO quarantine (delivery_id, received_at, received_ts, reason) "
                         "VALUES (?, '', ?, 'open check')", (delivery, now))
            for table in ("pushes", "queries"):
                conn.execute(f"INSERT INTO {table} (at, at_ts, checkout_request_id) VALUES ('', ?, ?)",
                             (now, probe))
            for table in ("callbacks", "pushes", "queries"):
                conn.execute(f"SELECT 1 FROM {table} WHERE checkout_request_id = ?", (probe,)).fetchall()
        finally:
            _rollback(conn)

    @staticmethod
    def _v1_columns_ok(conn: sqlite3.Connection) -> bool:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(deliveries)")}
        return {"id", "received_ts", "body", "outcome"} <= columns

    def _test_write(self, conn: sqlite3.Connection) -> None:
        """A real write, committed: a store that cannot take one refuses to start."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_opened', ?)",
                         (nairobi_now().isoformat(),))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def __repr__(self) -> str:
        return f"CallbackStore({str(self.path)!r})"

    # ---- connections -------------------------------------------------------------------

    def _connect(self, *, writer: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        if writer:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        return conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def _writer_submit(self, job: _Job) -> _Job:
        with self._writer_lock:
            if self._writer is None or not self._writer.thread.is_alive():
                self._writer = _Writer(self)
            return self._writer.submit(job)

    def _write(self, apply: Callable[[sqlite3.Connection], Any], timeout: float = 60.0) -> Any:
        future = self._writer_submit(_Job(apply)).future
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

    def __enter__(self) -> "CallbackStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writes: deliveries ------------------------------------------------------------

    def submit_delivery(self, delivery: DeliveryIn, *, expected_ids: ExpectedIds = None
                        ) -> Future[StoredDelivery]:
        """Queue a delivery; the future resolves once its transaction has committed."""
        job = self._writer_submit(_Job(lambda conn: self._insert_delivery(conn, delivery, expected_ids)))
        assert job.future is not None
        return job.future

    async def store_delivery_async(self, delivery: DeliveryIn, *,
                                   expected_ids: ExpectedIds = None) -> StoredDelivery:
        """Store a delivery from an event loop; returns once its transaction has committed.

        The loop is never blocked: the write happens in the writer thread, grouped with the
        deliveries that arrive meanwhile, and the whole group is handed back in one wake-up.
        """
        job = _Job(lambda conn: self._insert_delivery(conn, delivery, expected_ids),
                   loop=asyncio.get_running_loop())
        self._writer_submit(job)
        assert job.afuture is not None
        return await job.afuture

    def store_delivery(self, delivery: DeliveryIn, *, expected_ids: ExpectedIds = None,
                       timeout: float = 60.0) -> StoredDelivery:
        """Store a delivery and wait for the commit."""
        return self.submit_delivery(delivery, expected_ids=expected_ids).result(timeout)

    def _insert_delivery(self, conn: sqlite3.Connection, d: DeliveryIn,
                         expected_ids: ExpectedIds) -> StoredDelivery:
        received = to_nairobi(d.received_at)
        ts = received.timestamp()
        iso = received.isoformat()
        cb = d.callback if d.outcome == "accepted" else None
        duplicate = unknown = False
        if cb is not None:
            cid = cb.checkout_request_id
            duplicate = conn.execute(
                "SELECT 1 FROM callbacks WHERE checkout_request_id = ? LIMIT 1", (cid,)
            ).fetchone() is not None
            unknown = not self._is_expected(conn, cid, expected_ids)
        body_size = d.body_size if d.body_size is not None else (len(d.body) if d.body is not None else None)
        cur = conn.execute(
            "INSERT INTO deliveries (received_at, received_ts, remote_addr, client_addr, method, "
            "headers, body, body_size, outcome, http_status, reason, checkout_request_id, duplicate, "
            "unknown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (iso, ts, d.remote_addr, d.client_addr, d.method, _dumps(d.headers), d.body, body_size,
             d.outcome, d.http_status, d.reason, cb.checkout_request_id if cb else None,
             int(duplicate), int(unknown)),
        )
        delivery_id = int(cur.lastrowid or 0)
        if cb is not None:
            conn.execute(
                "INSERT INTO callbacks (delivery_id, received_at, received_ts, checkout_request_id, "
                "merchant_request_id, result_code, result_desc, amount, receipt, balance, "
                "transaction_date, phone, items, duplicate, unknown) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (delivery_id, iso, ts, cb.checkout_request_id, cb.merchant_request_id,
                 cb.result_code, cb.result_desc, _str_or_none(cb.amount), cb.receipt,
                 _str_or_none(cb.balance),
                 cb.transaction_date.isoformat() if cb.transaction_date else None, cb.phone,
                 _dumps(cb.items), int(duplicate), int(unknown)),
            )
            cb = replace(cb, delivery_id=delivery_id, received_at=received, duplicate=duplicate,
                         unknown=unknown)
        elif d.outcome == "quarantined":
            conn.execute(
                "INSERT INTO quarantine (delivery_id, received_at, received_ts, reason, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (delivery_id, iso, ts, d.reason or "invalid callback", d.body),
            )
        return StoredDelivery(delivery_id=delivery_id, received_at=received, outcome=d.outcome,
                              http_status=d.http_status, remote_addr=d.client_addr or d.remote_addr,
                              reason=d.reason, duplicate=duplicate, unknown=unknown, callback=cb)

    @staticmethod
    def _is_expected(conn: sqlite3.Connection, cid: str, expected_ids: ExpectedIds) -> bool:
        if expected_ids is None:
            return conn.execute(
                "SELECT 1 FROM pushes WHERE checkout_request_id = ? LIMIT 1", (cid,)
            ).fetchone() is not None
        try:
            if callable(expected_ids):
                return bool(expected_ids(cid))
            return cid in expected_ids
        except Exception:  # a user hook must not lose a callback
            log.exception("expected_ids check failed for %s; flagging it unknown", cid)
            return False

    # ---- writes: pushes and queries ----------------------------------------------------

    def record_push(self, request: dict[str, Any], response: dict[str, Any] | None = None, *,
                    error: dict[str, Any] | None = None, at: datetime | None = None,
                    environment: str | None = None) -> int:
        """Record an STK push made through the lab (request, Daraja's answer or error envelope).

        Credentials in ``request`` are masked again here, whatever the caller did. Returns the row id.
        """
        call = _Call.of(request, response, error, at)
        req, resp = call.request, call.resp
        return self._record("pushes", {
            **call.leading(),
            "environment": environment,
            "checkout_request_id": _str_or_none(resp.get("CheckoutRequestID")),
            "merchant_request_id": _str_or_none(resp.get("MerchantRequestID")),
            "phone": _str_or_none(req.get("PhoneNumber") or req.get("PartyA")),
            "amount": _str_or_none(req.get("Amount")),
            "account_reference": _str_or_none(req.get("AccountReference")),
            "transaction_type": _str_or_none(req.get("TransactionType")),
            "shortcode": _str_or_none(req.get("BusinessShortCode")),
            "response_code": _code(resp.get("ResponseCode")),
            "response_description": _str_or_none(resp.get("ResponseDescription")),
            "customer_message": _str_or_none(resp.get("CustomerMessage")),
            **call.trailing(),
        })

    def record_query(self, request: dict[str, Any], response: dict[str, Any] | None = None, *,
                     error: dict[str, Any] | None = None, at: datetime | None = None) -> int:
        """Record an STK push query made through the lab. Returns the row id."""
        call = _Call.of(request, response, error, at)
        resp = call.resp
        return self._record("queries", {
            **call.leading(),
            "checkout_request_id": _str_or_none(resp.get("CheckoutRequestID")
                                                or call.request.get("CheckoutRequestID")),
            "response_code": _code(resp.get("ResponseCode")),
            "result_code": _code(resp.get("ResultCode")),
            "result_desc": _str_or_none(resp.get("ResultDesc")),
            **call.trailing(),
        })

    def _record(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row (column names come from this module, never from input); its id."""
        sql = (f"INSERT INTO {table} ({', '.join(row)}) "
               f"VALUES ({', '.join('?' * len(row))})")
        values = tuple(row.values())
        return int(self._write(lambda conn: int(conn.execute(sql, values).lastrowid or 0)))

    # ---- reads -------------------------------------------------------------------------

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self._reading() as conn:
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
        return int(self._scalar("SELECT COUNT(*) FROM callbacks WHERE checkout_request_id = ?",
                                (checkout_request_id,)))

    def count_quarantined(self) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM quarantine"))

    def count_pushes(self) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM pushes"))

    def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        """One delivery row as a dict (body as bytes, headers as a dict), or None."""
        with self._reading() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["headers"] = _loads(out["headers"]) or {}
        out["duplicate"] = bool(out["duplicate"])
        out["unknown"] = bool(out["unknown"])
        return out

    def delivery_bodies(self) -> list[bytes | None]:
        """Every stored body, in arrival order (None where the body was not kept: too large)."""
        with self._reading() as conn:
            return [row[0] for row in conn.execute("SELECT body FROM deliveries ORDER BY id")]

    def callback(self, checkout_request_id: str) -> ParsedCallback | None:
        """The first callback stored for this CheckoutRequestID, or None (does not wait)."""
        with self._reading() as conn:
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
        parsed = parse_callback(body)
        received = datetime.fromtimestamp(ts, NAIROBI)
        return replace(parsed, delivery_id=delivery_id, received_at=received, duplicate=False,
                       unknown=not known)

    def wait_for(self, checkout_request_id: str, timeout: float = 30.0, *,
                 poll_interval: float = 0.2) -> ParsedCallback:
        """Block until the first callback for ``checkout_request_id`` is stored; return it.

        Wakes as soon as this process stores it, and polls the file so that a listener in
        another process is seen too. Raises :class:`CallbackTimeout` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                generation = self._generation
            found = self.callback(checkout_request_id)
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

    # ---- DataFrames --------------------------------------------------------------------

    def _frame(self, sql: str, params: tuple[Any, ...] = ()) -> "pd.DataFrame":
        import pandas as pd

        with self._reading() as conn:
            return pd.read_sql_query(sql, conn, params=params)

    def deliveries(self) -> "pd.DataFrame":
        """Every request that reached the callback path, raw: one row each, in arrival order."""
        df = self._frame(
            "SELECT id AS delivery_id, received_ts, remote_addr, client_addr, method, headers, body, "
            "body_size, outcome, http_status, reason, checkout_request_id, duplicate, unknown "
            "FROM deliveries ORDER BY id"
        )
        df.insert(1, "received_at", _to_nairobi(df.pop("received_ts")))
        _json_columns(df, "headers", empty_dict=True)
        _bool_columns(df, "duplicate", "unknown")
        return df

    def callbacks(self) -> "pd.DataFrame":
        """Every valid callback (duplicates included, flagged), parsed, in arrival order.

        The columns are the analytics schema (docs/analytics.md). ``unknown`` is judged now (no
        push with this CheckoutRequestID in the store); ``unknown_on_arrival`` is what the
        listener saw when it arrived. Read with the ADBC SQLite driver and Arrow: a million
        callbacks take about a second, and the listener keeps writing meanwhile (WAL).
        """
        from mpesa_lab.analytics.frames import build_callbacks, system_allocator
        from mpesa_lab.analytics.sqlite import read_store

        with system_allocator():
            records = read_store(self.path, for_view="callbacks")
            return build_callbacks(records.pop("callbacks"), records.pop("pushes"))

    def quarantine(self) -> "pd.DataFrame":
        """Bodies that were not valid stkCallbacks, raw, with what was wrong."""
        df = self._frame(
            "SELECT q.id AS quarantine_id, q.delivery_id, q.received_ts, q.reason, q.body, "
            "d.remote_addr, d.client_addr, d.headers FROM quarantine q "
            "JOIN deliveries d ON d.id = q.delivery_id ORDER BY q.id"
        )
        df.insert(2, "received_at", _to_nairobi(df.pop("received_ts")))
        _json_columns(df, "headers", empty_dict=True)
        return df

    def pushes(self) -> "pd.DataFrame":
        """The STK pushes made through the lab (requests masked), in order."""
        df = self._frame(
            "SELECT id AS push_id, at_ts, environment, checkout_request_id, merchant_request_id, "
            "phone, amount, account_reference, transaction_type, shortcode, response_code, "
            "response_description, customer_message, error_code, error_message, request_id, "
            "request, response, error FROM pushes ORDER BY id"
        )
        df.insert(1, "pushed_at", _to_nairobi(df.pop("at_ts")))
        df["amount"] = _numeric(df["amount"])
        _json_columns(df, "request", "response", "error")
        return df

    def queries(self) -> "pd.DataFrame":
        """The STK push queries made through the lab, in order."""
        df = self._frame(
            "SELECT id AS query_id, at_ts, checkout_request_id, response_code, result_code, "
            "result_desc, error_code, error_message, request_id, request, response, error "
            "FROM queries ORDER BY id"
        )
        df.insert(1, "queried_at", _to_nairobi(df.pop("at_ts")))
        _explain(df)
        _json_columns(df, "request", "response", "error")
        return df

    def transactions(self) -> "pd.DataFrame":
        """One row per push with its FIRST callback (duplicates counted once, in ``callbacks``).

        ``status`` is paid / failed (from the callback), else the last final query result,
        else rejected (the push itself was refused) or pending. The columns are the analytics
        schema (docs/analytics.md): status, result_code (text), result_desc, phone, amount,
        receipt, latency_s first. The joins run in Arrow (no Python per row).
        """
        from mpesa_lab.analytics.frames import build_transactions, system_allocator
        from mpesa_lab.analytics.sqlite import read_store

        with system_allocator():
            records = read_store(self.path, for_view="transactions")
            return build_transactions(records.pop("callbacks"), records.pop("pushes"),
                                      records.pop("queries"))


# --------------------------------------------------------------------------------------------
# DataFrame helpers.


def _to_nairobi(ts: "pd.Series") -> "pd.Series":
    import pandas as pd

    # Whole microseconds: float seconds would show nanosecond noise.
    micros = (ts.astype("float64") * 1_000_000).round()
    return pd.to_datetime(micros, unit="us", utc=True).dt.tz_convert(_NAIROBI_NAME)


def _json_columns(df: "pd.DataFrame", *names: str, empty_dict: bool = False) -> None:
    """Decode JSON text columns in place (``empty_dict``: a missing value becomes ``{}``)."""
    decode: Callable[[str | None], Any] = (lambda t: _loads(t) or {}) if empty_dict else _loads
    for name in names:
        df[name] = df[name].map(decode).astype(object)


def _bool_columns(df: "pd.DataFrame", *names: str) -> None:
    for name in names:
        df[name] = df[name].astype(bool)


def _numeric(values: "pd.Series") -> "pd.Series":
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").astype("float64")


def _explain(df: "pd.DataFrame") -> None:
    """Turn ``result_code`` into a category and add the catalogue's name and explanation."""
    codes = df["result_code"].astype(object).where(df["result_code"].notna(), None)
    entries = [result_entry(code) if code is not None else None for code in codes]
    anchor = "result_desc" if "result_desc" in df.columns else "result_code"
    position = df.columns.get_loc(anchor) + 1
    df.insert(position, "result_name", [e.name if e else None for e in entries])
    df.insert(position + 1, "explanation", [e.explanation if e else None for e in entries])
    df.insert(position + 2, "mitigation", [e.mitigation if e else None for e in entries])
    df["result_code"] = df["result_code"].astype("category")
