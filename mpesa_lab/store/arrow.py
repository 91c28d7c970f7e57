"""Read a CallbackStore's SQLite file into Arrow record tables, without blocking its writer.

The store is in WAL mode, so readers never block the listener's writer (nor it them). Row ids
are taken first in one read transaction, and every table is read up to them: pushes, callbacks
and queries are one consistent cut even while callbacks keep arriving.

Two ways, one result:

- small stores (under ``SUBPROCESS_ROWS`` rows): Python's own ``sqlite3`` in this process;
- large ones: the ADBC SQLite driver (C, straight to Arrow; two tables at once) in a **child
  process**, handing back Arrow IPC files that are memory-mapped here. ADBC carries its own copy
  of SQLite, and two copies of SQLite in one process must never open the same file: POSIX locks
  belong to the process, so one copy closing the file silently drops the locks the other (the
  listener's writer) holds, which can corrupt the WAL (sqlite.org, "How To Corrupt An SQLite
  Database File", 2.2.1). The child also keeps the read off this process's GIL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

#: from this many pushes + callbacks on, read in a child process with ADBC
SUBPROCESS_ROWS = 150_000
#: rows per Arrow batch read by the ADBC driver
BATCH_ROWS = 262_144
#: the reader child's files go here when it has this much room (bytes)
SHARED_MEMORY, SHARED_MEMORY_ROOM = "/dev/shm", 4 << 30

# A first row of the right types (dropped afterwards): the driver infers a column's Arrow type
# from its first values, and a column that starts with NULLs would otherwise become int64.
# The store already keeps codes as the catalogue spells them; amounts are decimal text and
# TransactionDate ISO text with its offset, turned into numbers here by SQLite.
_PUSHES = """
SELECT -1 AS push_id, 0.0 AS pushed_ts, '' AS environment, '' AS checkout_request_id,
       '' AS merchant_request_id, '' AS phone, 0.0 AS amount, '' AS account_reference,
       '' AS shortcode, '' AS response_code, '' AS error_code, '' AS error_message, 0 AS refused,
       0.0 AS time_scale
UNION ALL
SELECT id, at_ts, environment, checkout_request_id, merchant_request_id, phone,
       CAST(amount AS REAL), account_reference, shortcode, response_code, error_code,
       error_message, (error IS NOT NULL), {time_scale}
FROM pushes WHERE id <= ?
"""
_PUSH_KEYS = """
SELECT '' AS checkout_request_id UNION ALL
SELECT checkout_request_id FROM pushes WHERE id <= ? AND checkout_request_id IS NOT NULL
"""
_CALLBACKS = """
SELECT -1 AS callback_id, -1 AS delivery_id, 0.0 AS received_ts, '' AS checkout_request_id,
       '' AS merchant_request_id, '' AS result_code, '' AS result_desc, 0.0 AS amount, '' AS receipt,
       0.0 AS balance, 0.0 AS transaction_ts, '' AS phone, {items_sentinel} AS items_json,
       0 AS unknown_on_arrival
UNION ALL
SELECT id, delivery_id, received_ts, checkout_request_id, merchant_request_id, result_code,
       result_desc, CAST(amount AS REAL), receipt, CAST(balance AS REAL),
       CAST(strftime('%s', transaction_date) AS REAL), phone, {items}, unknown
FROM callbacks WHERE id <= ?
"""
_QUERIES = """
SELECT -1 AS query_id, '' AS checkout_request_id, '' AS result_code, '' AS result_desc
UNION ALL
SELECT id, checkout_request_id, result_code, result_desc FROM queries
WHERE id <= ? AND result_code IS NOT NULL
"""
_BOOLS = ("refused", "unknown_on_arrival")


def _read_adbc(path: Path, sql: str, upto: int) -> pa.Table:
    """Child process only (see the module docstring). The driver manager's own objects, not its
    DB-API layer: that one imports pyarrow.dataset and with it pandas, a third of a second of
    start-up for a process that only reads."""
    import adbc_driver_manager as manager
    import adbc_driver_sqlite
    import pyarrow as pa
    from adbc_driver_sqlite import StatementOptions

    def run(statement: manager.AdbcStatement, query: str) -> pa.Table:
        statement.set_sql_query(query)
        stream, _ = statement.execute_query()
        return pa.RecordBatchReader._import_from_c(stream.address).read_all()

    with (
        adbc_driver_sqlite.connect(str(path)) as database,
        manager.AdbcConnection(database) as connection,
        manager.AdbcStatement(connection) as statement,
    ):
        run(statement, "PRAGMA busy_timeout = 30000")
        # Big batches: the driver's default (1,024 rows) makes ~1,000 chunks per million rows,
        # and every later Arrow kernel (casts, hashing, to_pandas) pays per chunk.
        statement.set_options(**{StatementOptions.BATCH_ROWS.value: str(BATCH_ROWS)})
        # The one parameter is a row id this module computed: written into the text as an int.
        return _bools(run(statement, sql.replace("?", str(int(upto)))).slice(1))


def _read_sqlite3(path: Path, sql: str, upto: int) -> pa.Table:
    import sqlite3

    import pyarrow as pa

    conn = sqlite3.connect(path, timeout=30.0)
    try:
        cur = conn.execute(sql, (upto,))
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()[1:]
    finally:
        conn.close()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return _bools(
        pa.table(
            {
                name: pa.array(list(values)) if values else pa.nulls(0)
                for name, values in zip(names, columns, strict=True)
            }
        )
    )


def _bools(table: pa.Table) -> pa.Table:
    """SQLite's 0/1 as booleans. A cast (non-zero is true), not a comparison with a Python 0:
    turning a Python value into Arrow makes pyarrow import pandas, which the reader child
    otherwise never needs (0.16 s of its start)."""
    import pyarrow as pa

    for column in _BOOLS:
        if column in table.column_names:
            index = table.schema.get_field_index(column)
            table = table.set_column(index, column, table[column].cast(pa.bool_()))
    return table


def _large_text(schema: pa.Schema) -> pa.Schema:
    """Text as ``large_string``, the record tables' type (and pandas' ``str``): the parent then
    maps the file and builds its frame on those very buffers, with no cast and no copy."""
    import pyarrow as pa

    return pa.schema([f.with_type(pa.large_string()) if f.type == pa.string() else f for f in schema])


def _cut(path: Path) -> tuple[int, int, int]:
    """The last row ids of the three tables, read in one transaction (a consistent cut)."""
    import sqlite3

    conn = sqlite3.connect(path, timeout=30.0)
    try:
        row = conn.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM pushes), "
            "(SELECT COALESCE(MAX(id), 0) FROM callbacks), "
            "(SELECT COALESCE(MAX(id), 0) FROM queries)"
        ).fetchone()
    finally:
        conn.close()
    return int(row[0]), int(row[1]), int(row[2])


def _time_scale_column(path: Path) -> str:
    """``time_scale``, or NULL for a store made before that column (read without opening it)."""
    import sqlite3

    conn = sqlite3.connect(path, timeout=30.0)
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(pushes)")}
    finally:
        conn.close()
    return "time_scale" if "time_scale" in have else "NULL"


def _jobs(path: Path, for_view: str) -> dict[str, tuple[str, int]]:
    pushes_upto, callbacks_upto, queries_upto = _cut(path)
    with_items = for_view == "callbacks"
    callbacks_sql = _CALLBACKS.format(
        items="items" if with_items else "NULL", items_sentinel="''" if with_items else "NULL"
    )
    jobs = {
        "callbacks": (callbacks_sql, callbacks_upto),
        "pushes": (_PUSH_KEYS if with_items else _PUSHES.format(time_scale=_time_scale_column(path)), pushes_upto),
    }
    if not with_items:
        jobs["queries"] = (_QUERIES, queries_upto)
    return jobs


def read_store(
    path: str | os.PathLike[str], *, for_view: str = "transactions", subprocess_rows: int | None = None
) -> dict[str, pa.Table]:
    """The store's record tables (``pushes``, ``callbacks``, ``queries``) as Arrow.

    ``for_view="callbacks"`` reads what the callbacks frame needs (the metadata items, and only
    the pushes' CheckoutRequestIDs); ``"transactions"`` skips the items. ``subprocess_rows``
    overrides ``SUBPROCESS_ROWS`` (0: always the child process).
    """
    path = Path(path)
    jobs = _jobs(path, for_view)
    limit = SUBPROCESS_ROWS if subprocess_rows is None else subprocess_rows
    if jobs["pushes"][1] + jobs["callbacks"][1] < limit:
        return {name: _read_sqlite3(path, sql, upto) for name, (sql, upto) in jobs.items()}
    return _read_in_child(path, for_view)


def _scratch_dir() -> str | None:
    """Where the reader child leaves its Arrow files: shared memory when the machine has room
    there (the files are mapped, never copied, so they need not touch a disk), else the temp dir."""
    statvfs = getattr(os, "statvfs", None)  # Windows has none (and no /dev/shm)
    if statvfs is None:
        return None
    try:
        room = statvfs(SHARED_MEMORY)
    except OSError:
        return None
    return SHARED_MEMORY if room.f_bavail * room.f_frsize > SHARED_MEMORY_ROOM else None


def _read_in_child(path: Path, for_view: str) -> dict[str, pa.Table]:
    import pyarrow as pa

    # ignore_cleanup_errors: on Windows a file still mapped cannot be deleted (see _mapped_reads)
    with tempfile.TemporaryDirectory(
        prefix="mpesa-lab-read-", dir=_scratch_dir(), ignore_cleanup_errors=True
    ) as folder:
        child = subprocess.Popen(
            [sys.executable, "-m", "mpesa_lab.store.arrow", str(path), for_view, folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        import pandas  # noqa: F401 - the frames need it next: imported while the child reads

        _, errors = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"reading {path} failed in the reader process: {errors.strip()[-2000:]}")
        tables = {}
        opener = pa.memory_map if _mapped_reads() else pa.OSFile
        for name in os.listdir(folder):
            # Memory-mapped: the pages stay readable after the file is removed.
            with opener(os.path.join(folder, name)) as source:
                tables[name.removesuffix(".arrow")] = pa.ipc.open_file(source).read_all()
    return tables


def _mapped_reads() -> bool:
    """Map the child's Arrow files (no copy) except on Windows, where a mapped file cannot be
    deleted while the tables use it: there they are read into memory."""
    return not sys.platform.startswith("win")


def start_method() -> str:
    """How the reader process starts its second reader: ``"fork"`` on Linux; ``"spawn"`` (a fresh
    interpreter, multiprocessing's) on Windows, which has no fork, and on macOS, where a fork
    without exec is unsafe once system frameworks are loaded (Python's own default there is spawn)."""
    return "fork" if sys.platform.startswith("linux") and hasattr(os, "fork") else "spawn"


def _child(path: str, for_view: str, folder: str) -> None:
    """Reader process: the callbacks in a forked copy of itself (a spawned one off Linux:
    :func:`start_method`), the rest here, each table
    written as an Arrow file. Two processes rather than two threads: the driver holds the GIL
    for part of its work, and two threads read a million rows each in 1.6 s where two processes
    take 1.2 s. The fork happens before any database is open and while this process has one
    thread, so the copy inherits nothing that could deadlock or share a lock."""
    import adbc_driver_manager  # noqa: F401 - imported once, before the fork, for both
    import adbc_driver_sqlite  # noqa: F401
    import pyarrow  # noqa: F401

    jobs = _jobs(Path(path), for_view)
    mine = {name: job for name, job in jobs.items() if name != "callbacks"}
    if start_method() == "spawn":
        import multiprocessing

        other = multiprocessing.get_context("spawn").Process(
            target=_write, args=(path, folder, "callbacks", *jobs["callbacks"]), daemon=True
        )
        other.start()
        for name, (sql, upto) in mine.items():
            _write(path, folder, name, sql, upto)
        other.join()
        if other.exitcode != 0:
            raise SystemExit(f"reading the callbacks of {path} failed (see above)")
        return
    pid = os.fork()
    if pid == 0:
        try:
            _write(path, folder, "callbacks", *jobs["callbacks"])
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    for name, (sql, upto) in mine.items():
        _write(path, folder, name, sql, upto)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"reading the callbacks of {path} failed (see above)")


def _write(path: str, folder: str, name: str, sql: str, upto: int) -> None:
    import pyarrow as pa

    table = _read_adbc(Path(path), sql, upto)
    schema = _large_text(table.schema)
    with pa.OSFile(os.path.join(folder, f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for batch in table.to_batches():  # cast batch by batch: one batch extra at most
            writer.write_batch(batch.cast(schema))


if __name__ == "__main__":
    _child(*sys.argv[1:4])
