"""The store's SQLite schema and the checks a file passes before it is used.

- :data:`SCHEMA`: the tables and indexes (the one copy of the store's DDL); version
  :data:`SCHEMA_VERSION`, marked by ``PRAGMA application_id`` :data:`APPLICATION_ID` ("MPSL").
- :func:`check`: at open, create the tables in a new file, migrate an older store (version 1: the
  five tables, no marks), refuse a foreign, newer or damaged file; then every table, column and
  index is there, a real write commits, and the pages are sound (a full ``quick_check`` up to
  :data:`FULL_CHECK_MAX_BYTES`; for every store a bounded check and a trial write, rolled back).
- :func:`open_error`: what SQLite said at open, as one line saying what to do.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from functools import lru_cache
from pathlib import Path

from mpesa_lab.clock import nairobi_now
from mpesa_lab.store.errors import StoreError

log = logging.getLogger(__name__)

# Version 1: the five tables. Version 2: the meta table (and application_id marks the file).
# Within version 2, columns added later (nullable, so older mpesa-labs read and write the file as
# before) are added at open: ``ADDED_COLUMNS``.
SCHEMA_VERSION = 2
#: (table, column, type): the emulator's time scale of each push (NULL: unknown, or the quick lab)
ADDED_COLUMNS = (("pushes", "time_scale", "REAL"),)
# PRAGMA application_id of every store: "MPSL". Tells our files from any other SQLite file.
APPLICATION_ID = 0x4D50534C
TABLES = ("deliveries", "callbacks", "quarantine", "pushes", "queries")
#: Up to this size the open-time check also reads every page (``PRAGMA quick_check``: 2.6 s for a
#: 572 MiB store in the page cache, 16 s from disk; see docs/limits.md). Every store, whatever its
#: size, gets the bounded check (its tables' newest rows, and a trial write to every table and
#: index the listener writes, rolled back: 0.05 s at 572 MiB).
FULL_CHECK_MAX_BYTES = 256 << 20

SCHEMA = """
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
    error TEXT,
    time_scale REAL
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
def expected_structure() -> dict[str, tuple[list[str], list[str]]]:
    """Each table of :data:`SCHEMA` with its columns and indexes, read from a copy made in memory."""
    reference = sqlite3.connect(":memory:")
    try:
        reference.executescript(SCHEMA)
        tables = [
            row[0]
            for row in reference.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            table: (
                [row[1] for row in reference.execute(f'PRAGMA table_info("{table}")')],
                [
                    row[1]
                    for row in reference.execute(f'PRAGMA index_list("{table}")')
                    if not row[1].startswith("sqlite_autoindex")
                ],
            )
            for table in tables
        }
    finally:
        reference.close()


def rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def check(conn: sqlite3.Connection, path: Path) -> None:
    """Everything a file passes at open (see the module docstring); StoreError or sqlite3.Error."""
    check_schema(conn, path)
    check_structure(conn, path)
    check_write(conn)
    check_integrity(conn, path)


def open_error(path: Path, exc: BaseException) -> StoreError:
    """What went wrong opening ``path``, as one line saying what to do."""
    text = " ".join(str(exc).split())  # one line, whatever SQLite said
    lowered = text.lower()
    if (
        "i/o error" in lowered
        or "readonly" in lowered
        or "read-only" in lowered
        or "permission" in lowered
        or "unable to open" in lowered
        or "refused wal" in lowered
    ):
        return StoreError(
            f"cannot write the callback store {path} ({text}): make the file and its folder "
            "writable by you, or pass another store path (--db PATH / store=PATH)"
        )
    if "not a database" in lowered or "malformed" in lowered or "integrity" in lowered or "corrupt" in lowered:
        return StoreError(
            f"the callback store {path} is damaged ({text}): move it aside (sqlite3 FILE "
            "'.recover' may save its rows) and pass a new store path (--db PATH / store=PATH)"
        )
    return StoreError(
        f"cannot use the callback store {path} ({text}): pass another store path (--db PATH / store=PATH)"
    )


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Create the tables in a new file; migrate an older store; refuse anything else."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    }
    if app_id not in (0, APPLICATION_ID) or (
        app_id == 0 and tables and not (version == 1 and set(TABLES) <= tables and _v1_columns_ok(conn))
    ):
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
        add_columns(conn)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # New file, or a version-1 store: the tables (IF NOT EXISTS) and the marks.
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if tables:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('migrated_from', ?)", (str(version),))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    if tables:
        log.info("store %s migrated from schema %s to %s", path.name, version, SCHEMA_VERSION)
    add_columns(conn)


def add_columns(conn: sqlite3.Connection) -> None:
    """Add the nullable columns of ``ADDED_COLUMNS`` a store made before them lacks."""
    for table, column, kind in ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
        if have and column not in have:
            conn.execute(f'ALTER TABLE "{table}" ADD COLUMN {column} {kind}')


def _v1_columns_ok(conn: sqlite3.Connection) -> bool:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(deliveries)")}
    return {"id", "received_ts", "body", "outcome"} <= columns


def check_structure(conn: sqlite3.Connection, path: Path) -> None:
    """Every table, column and index the store's code uses is there (a store of ours with a
    table dropped would otherwise start, then answer 503 to every callback)."""
    missing = []
    for table, (columns, indexes) in expected_structure().items():
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
            f"the callback store {path} is damaged (missing {shown}): move it aside "
            "(sqlite3 FILE '.recover' may save its rows) and pass a new store path "
            "(--db PATH / store=PATH)"
        )


def check_write(conn: sqlite3.Connection) -> None:
    """A real write, committed: a store that cannot take one refuses to start."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_opened', ?)", (nairobi_now().isoformat(),))
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """Damaged pages refuse the store at open. A full ``quick_check`` up to
    :data:`FULL_CHECK_MAX_BYTES`; and for every store a check bounded by the tables' depth, not
    their size: the newest rows of every table, and a trial write (rolled back) into every
    table and index the listener writes, which walks the very pages every callback's insert
    would (damage there is what makes a store answer 503 to every callback)."""
    if path.stat().st_size <= FULL_CHECK_MAX_BYTES:
        problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if problem != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {problem}")
    for table in TABLES:
        conn.execute(f"SELECT * FROM {table} ORDER BY id DESC LIMIT 64").fetchall()
    conn.execute("BEGIN IMMEDIATE")
    try:
        probe = f"mpesa-lab-open-check-{os.urandom(4).hex()}"
        now = time.time()
        delivery = conn.execute(
            "INSERT INTO deliveries (received_at, received_ts, body, outcome, checkout_request_id) "
            "VALUES ('', ?, ?, 'accepted', ?)",
            (now, b"{}", probe),
        ).lastrowid
        conn.execute(
            "INSERT INTO callbacks (delivery_id, received_at, received_ts, "
            "checkout_request_id, result_code) VALUES (?, '', ?, ?, '0')",
            (delivery, now, probe),
        )
        conn.execute(
            "INSERT INTO quarantine (delivery_id, received_at, received_ts, reason) VALUES (?, '', ?, 'open check')",
            (delivery, now),
        )
        for table in ("pushes", "queries"):
            conn.execute(f"INSERT INTO {table} (at, at_ts, checkout_request_id) VALUES ('', ?, ?)", (now, probe))
        for table in ("callbacks", "pushes", "queries"):
            conn.execute(f"SELECT 1 FROM {table} WHERE checkout_request_id = ?", (probe,)).fetchall()
    finally:
        rollback(conn)
