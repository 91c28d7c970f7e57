"""The whole-file path: a JSON lines file whose every line is an ordinary callback, read by
DuckDB in one scan.

DuckDB's own JSON reader scans the file on every core straight into typed structs (bare, or
wrapped as ``{"received_at": ..., "body": {...}}``; see ``json_sql.DIRECT``), with no Python
line reader in front. It cannot say which line a row came from, so it is used only when it can
vouch for the whole file: the reader raised nothing, every row is a callback the fast path would
accept, and there are exactly as many rows as lines (a blank line would shift the numbering).
Any doubt and the line-by-line path (``json_lines``) takes the file, with every problem at its
line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab.analytics.json_sql import DIRECT, connect
from mpesa_lab.analytics.outcomes import Progress

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


def _count_lines(path: Path) -> int:
    """Lines in a text file, not counting blank ones at its very end (numpy over a memory map:
    the file is not read into Python)."""
    import mmap

    import numpy as np

    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        data = np.frombuffer(mm, np.uint8)
        try:
            tail = bytes(data[max(0, size - 65536) :])
            end = size - (len(tail) - len(tail.rstrip(b" \t\r\n")))
            if end == 0:
                return 0
            step = 1 << 24
            newlines = sum(int(np.count_nonzero(data[i : min(i + step, end)] == 10)) for i in range(0, end, step))
        finally:
            del data  # the map cannot close while numpy still looks at it
    return newlines + 1


def _ends_with_a_record(path: Path) -> bool:
    """Whether the last line is a whole JSON object (or too long to tell from the file's tail)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - 65536))
        tail = fh.read().rstrip(b" \t\r\n")
    if b"\n" not in tail and size > 65536:
        return True  # one huge last line: DuckDB will judge it
    last = tail.rsplit(b"\n", 1)[-1]
    try:
        return isinstance(json.loads(last), dict)
    except (ValueError, RecursionError):
        return False


def read_whole_file(path: Path, progress: Progress | None) -> pa.Table | None:
    """Record table of a JSON lines file read by DuckDB in one scan, or None if it cannot vouch
    for every line (see the module docstring)."""
    import threading

    import duckdb
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _ends_with_a_record(path):
        return None  # a log cut off mid-line (it is still being written): no scan to throw away
    counted: list[int] = []

    def beside_the_scan() -> None:  # DuckDB lets go of the GIL while it scans
        counted.append(_count_lines(path))
        import pandas  # noqa: F401 - the frames need it next; importing it now overlaps the scan

    counter = threading.Thread(target=beside_the_scan, daemon=True)
    counter.start()
    con = connect()
    try:
        table = run_with_progress(con, DIRECT, {"path": str(path)}, progress, path.stat().st_size)
    except duckdb.Error:
        return None
    finally:
        con.close()
        counter.join()
    # A callback without its id or code is a problem the line-by-line path words at its line.
    if (
        not counted
        or table.num_rows != counted[0]
        or pc.any(table["slow"]).as_py()
        or table["checkout_request_id"].null_count
        or table["result_code"].null_count
    ):
        return None
    n = pa.array(np.arange(1, table.num_rows + 1, dtype="int64"))
    return table.drop_columns(["slow"]).add_column(0, "n", n)


def run_with_progress(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], progress: Progress | None, total: int
) -> pa.Table:
    """Run ``sql`` to an Arrow table; with ``progress``, report DuckDB's own progress as bytes."""
    if progress is None:
        return con.sql(sql, params=params).to_arrow_table()
    import threading

    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["table"] = con.sql(sql, params=params).to_arrow_table()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
        try:
            done = con.query_progress()
        except Exception:  # noqa: BLE001 - progress is a nicety, never a failure
            done = -1
        if done > 0:
            progress(min(total, int(total * done / 100)), total)
    if "error" in result:
        raise result["error"]
    progress(total, total)
    return result["table"]
