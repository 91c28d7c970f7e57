"""Sources -> record tables -> frames: what a source is, and which reader takes it.

``load(source)`` accepts a running ``Lab``, a ``CallbackStore`` or its SQLite file, and files from
people's own sandbox or production logs: JSON lines of raw callbacks (one
``{"Body": {"stkCallback": ...}}`` per line, or wrapped with a received time:
``{"received_at": "...", "body": {...}}``), a JSON array, a folder of ``.json`` files, CSV
exports, Parquet files, and the day-partitioned Parquet folder written by :func:`export`.

Real logs are messy: codes and amounts as numbers or strings, Balance with no Value, one-element
Item arrays collapsed to an object, prefixes in ResultDesc, alphanumeric and undocumented codes.
All of that parses. A record that cannot be a callback (not JSON, a truncated last line, no
Body.stkCallback, no CheckoutRequestID or ResultCode) is counted in ``Outcomes.problems`` with
where it was, never fatal. Big inputs go through DuckDB (JSON extraction in SQL) and Arrow (the
line reader), not a Python loop per record.

The readers: a store here; JSON in ``json_lines`` (line by line, tolerant) and ``json_scan``
(a clean JSON lines file in one scan), their SQL in ``json_sql``; CSV, Parquet and DataFrames
in ``tables``; what every reader returns in ``outcomes``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab.analytics import json_lines, limits, tables
from mpesa_lab.analytics.limits import LoadError
from mpesa_lab.analytics.outcomes import (
    MAX_PROBLEMS_KEPT,
    Outcomes,
    Problem,
    Progress,
    from_records,
    note_unknown_codes,
)
from mpesa_lab.store import frames

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["LoadError", "Outcomes", "Problem", "Progress", "export", "load", "scan"]


def load(source: Any, *, progress: Progress | None = None) -> Outcomes:
    """Load outcomes from a Lab, a CallbackStore, a SQLite store file, JSON lines, a JSON array,
    a folder of .json files, a CSV or Parquet file, or an exported Parquet folder."""
    with frames.system_allocator():
        return _load(source, progress)


def _load(source: Any, progress: Progress | None) -> Outcomes:
    store_path = _store_path(source)
    if store_path is not None:
        return _load_store(store_path)
    if hasattr(source, "columns") and hasattr(source, "iloc"):  # a DataFrame
        return tables.from_dataframe(source)
    path = Path(os.fspath(source)).expanduser()
    if not path.exists():
        raise LoadError(
            f"{path}: no such file or folder. Pass a store (.sqlite), a JSON lines "
            "file, a JSON array, a folder of .json files, a CSV or a Parquet file"
        )
    if path.is_dir():
        parquet = json_lines.folder_files(path, "*.parquet")
        if parquet:
            for file in parquet:
                limits.check_parquet_file(file)
            return tables.load_parquet(parquet, str(path), folder=path)
        return json_lines.load_folder(path, progress)
    limits.regular_file(path)  # a FIFO or a device would block or never end
    head = limits.head(path)
    if head.startswith(limits.SQLITE_MAGIC):
        return _load_store(path)
    limits.check_sqlite_file(path, head)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        limits.check_parquet_file(path)
        return tables.load_parquet([path], str(path))
    if suffix in (".csv", ".tsv"):
        return tables.load_csv(path)
    return json_lines.load_json_file(path, progress)


def _store_path(source: Any) -> Path | None:
    store = getattr(source, "store", None)  # a Lab or a Listener
    if store is not None and hasattr(store, "path") and hasattr(store, "transactions"):
        return Path(store.path)
    if hasattr(source, "path") and hasattr(source, "transactions") and hasattr(source, "record_push"):
        return Path(source.path)
    return None


# --------------------------------------------------------------------------------------------
# A CallbackStore's SQLite file: one consistent cut for both frames.


def _load_store(path: Path) -> Outcomes:
    import sqlite3

    try:
        return _read_store_file(path)
    except (sqlite3.Error, RuntimeError) as exc:
        # (the reader process's error ends with the exception's own line; its traceback is noise)
        reason = limits.one_line(str(exc).strip().splitlines()[-1] if str(exc).strip() else exc)
        if "no such table" in reason or "no such column" in reason:
            raise LoadError(
                f"{path} is a SQLite database but not an mpesa-lab callback store "
                f"({reason}): pass the store the listener wrote"
            ) from None
        raise LoadError(
            f"{path}: the store cannot be read ({reason}); if it is damaged, "
            f"sqlite3 {path.name} '.recover' may save its rows"
        ) from None


def _read_store_file(path: Path) -> Outcomes:
    """Both frames from ONE cut of the store, while the listener may keep writing.

    ``read_store`` takes its cut (the last row ids, in one read transaction) on each call, and
    the callbacks frame needs the metadata items that the transactions read skips. So the
    transactions read comes first and fixes the cut; the callbacks read (later, so the same rows
    and perhaps a few newer ones: the tables are append-only) is cut back to it, and both frames
    are built from the one set of record tables, as for every other source.
    """
    import sqlite3

    from mpesa_lab.store.arrow import read_store

    records = read_store(path, for_view="transactions")
    last = _last_id(records.pop("callbacks"))  # (only its cut is needed: the next read has items)
    callbacks = _upto(read_store(path, for_view="callbacks")["callbacks"], last)
    out = from_records(callbacks, records.pop("pushes"), records.pop("queries"), str(path), [], {})
    del records, callbacks
    conn = sqlite3.connect(path, timeout=30.0)
    try:
        quarantined = conn.execute("SELECT delivery_id, reason FROM quarantine ORDER BY id").fetchall()
    finally:
        conn.close()
    out.problems = [Problem(f"{path.name} delivery {d}", "quarantined", r) for d, r in quarantined][:MAX_PROBLEMS_KEPT]
    out.counts = {"malformed": len(quarantined)}
    out.records = len(out.callbacks) + len(quarantined)
    note_unknown_codes(out, lambda cid: f"{path.name} callback {cid}")
    return out


def _last_id(callbacks: pa.Table) -> int:
    """The last callback a read saw (0: none)."""
    import pyarrow.compute as pc

    return int(pc.max(callbacks["callback_id"]).as_py() or 0) if len(callbacks) else 0


def _upto(callbacks: pa.Table, last: int) -> pa.Table:
    """The callbacks up to ``last``: the rows of a later read that the cut saw (filtered only
    when callbacks arrived in between: a copy of the table is not free)."""
    import pyarrow.compute as pc

    if _last_id(callbacks) <= last:
        return callbacks
    return callbacks.filter(pc.less_equal(callbacks["callback_id"], last))


# --------------------------------------------------------------------------------------------
# Beyond one machine's memory: a folder of Parquet files partitioned by day.


def export(source: Any, folder: str | os.PathLike[str]) -> Path:
    """Write ``source``'s transactions and callbacks as Parquet partitioned by Nairobi day:
    ``folder/transactions/day=YYYY-MM-DD/part-0.parquet`` and the same for ``callbacks``.
    DuckDB, Spark and BigQuery read it as is; ``load(folder)`` reads it back."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    outcomes = source if isinstance(source, Outcomes) else load(source)
    folder = Path(folder)
    for name, df, when in (
        ("transactions", outcomes.transactions, "pushed_at"),
        ("callbacks", outcomes.callbacks, "received_at"),
    ):
        moment = df[when]
        if name == "transactions":
            moment = moment.fillna(df["callback_at"])
        day = moment.dt.strftime("%Y-%m-%d").fillna("unknown")
        table = pa.Table.from_pandas(df.assign(day=day), preserve_index=False)
        ds.write_dataset(
            table,
            folder / name,
            format="parquet",
            partitioning=["day"],
            partitioning_flavor="hive",
            existing_data_behavior="delete_matching",
            basename_template="part-{i}.parquet",
        )
    return folder


def scan(folder: str | os.PathLike[str], table: str = "transactions") -> duckdb.DuckDBPyRelation:
    """A lazy DuckDB relation over an exported folder: filter and aggregate before anything is
    read (``scan(f).filter("day >= '2026-07-03'").aggregate(...)``)."""
    import duckdb

    pattern = str(Path(folder) / table / "**" / "*.parquet")
    relation = duckdb.sql(f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)")
    assert relation is not None  # (a SELECT always gives a relation)
    return relation
