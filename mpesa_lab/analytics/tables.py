"""Tables: CSV exports, Parquet files and folders, DataFrames.

Our own schema (an export: transactions and/or callbacks frames) is read as is, its dtypes
fixed and the missing frame rebuilt; anything else is taken as callbacks whose columns are
matched by name (``CheckoutRequestID``, ``checkout_request_id``, ``checkout``...).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mpesa_lab.analytics import limits
from mpesa_lab.analytics.json_sql import connect
from mpesa_lab.analytics.limits import LoadError
from mpesa_lab.analytics.outcomes import MAX_PROBLEMS_KEPT, Outcomes, Problem, empty, from_records, note_unknown_codes
from mpesa_lab.store import frames

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_ALIASES = {
    "checkout_request_id": ("checkoutrequestid", "checkoutid", "checkout"),
    "merchant_request_id": ("merchantrequestid",),
    "result_code": ("resultcode", "code"),
    "result_desc": ("resultdesc", "resultdescription", "description", "desc"),
    "amount": ("amount",),
    "receipt": ("receipt", "mpesareceiptnumber", "receiptnumber", "mpesareceipt"),
    "balance": ("balance",),
    "transaction_date": ("transactiondate",),
    "phone": ("phone", "phonenumber", "msisdn"),
    "received_at": ("receivedat", "received", "callbackat", "timestamp", "createdat", "time"),
}


def _squash(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _mapping(columns: Iterable[str]) -> dict[str, str]:
    by_squash = {_squash(c): c for c in columns}
    found = {}
    for target, aliases in _ALIASES.items():
        for alias in (_squash(target), *aliases):
            if alias in by_squash:
                found[target] = by_squash[alias]
                break
    return found


def _is_our_schema(columns: Iterable[str]) -> str | None:
    names = set(columns)
    if {"status", "result_code", "checkout_request_id", "pushed_at"} <= names:
        return "transactions"
    if {"received_at", "result_code", "duplicate", "items_json"} <= names:
        return "callbacks"
    return None


def _from_table(table: pa.Table, source: str, first_row: int = 1, name: str | None = None) -> Outcomes:
    """Rows of a table taken as callbacks (columns matched by name)."""
    con = connect()
    con.register("src", table)
    found = _mapping(table.column_names)
    problems: list[Problem] = []
    counts: dict[str, int] = {}
    if "checkout_request_id" not in found or "result_code" not in found:
        con.close()
        raise LoadError(
            f"{source}: no CheckoutRequestID / ResultCode columns among {table.column_names[:12]}; "
            "name them checkout_request_id and result_code (or as Daraja does)"
        )

    def col(target: str, how: str) -> str:
        if target not in found:
            return "NULL"
        text = f'CAST("{found[target]}" AS VARCHAR)'
        if how in ("when_ts", "code"):
            return f"{how}({text}, TRY_CAST({text} AS DOUBLE))"
        return f"{how}({text})"

    sql = f"""
        SELECT row_number() OVER () AS callback_id, {col("received_at", "when_ts")} AS received_ts,
            {col("checkout_request_id", "txt")} AS checkout_request_id,
            {col("merchant_request_id", "txt")} AS merchant_request_id,
            {col("result_code", "code")} AS result_code,
            CAST({col("result_desc", "")} AS VARCHAR) AS result_desc,
            {col("amount", "num")} AS amount, {col("receipt", "txt")} AS receipt,
            {col("balance", "num")} AS balance, {col("transaction_date", "when_ts")} AS transaction_ts,
            {col("phone", "code")} AS phone, '{{}}' AS items_json
        FROM src
    """
    records = con.sql(sql).to_arrow_table()
    con.close()
    import pyarrow.compute as pc

    ok = pc.and_(pc.is_valid(records["checkout_request_id"]), pc.is_valid(records["result_code"]))
    bad = records.filter(pc.invert(ok))
    label = name or source
    for n, cid in zip(bad["callback_id"].to_pylist(), bad["checkout_request_id"].to_pylist(), strict=True):
        counts["malformed"] = counts.get("malformed", 0) + 1
        if len(problems) < MAX_PROBLEMS_KEPT:
            problems.append(
                Problem(
                    f"{label} row {n + first_row - 1}", "malformed", "no ResultCode" if cid else "no CheckoutRequestID"
                )
            )
    out = from_records(records.filter(ok), None, None, source, problems, counts)
    out.records = records.num_rows
    note_unknown_codes(out, lambda n: f"{label} row {int(n) + first_row - 1}")
    return out


def _frames_from_ours(kind: str, df: pd.DataFrame) -> pd.DataFrame:
    schema = frames.TRANSACTIONS if kind == "transactions" else frames.CALLBACKS
    for column in ("result_name", "category", "explanation", "mitigation"):
        df.pop(column) if column in df.columns else None
    if "result_code" in df.columns:
        df["result_code"] = df["result_code"].astype("str").where(df["result_code"].notna())
    frames.explain(df)
    out = frames.conform(df, schema)
    if kind == "transactions":  # derived, and an interval does not survive every engine's trip
        out["latency"] = out["callback_at"] - out["pushed_at"]
        out["latency_s"] = out["latency"].dt.total_seconds()
    return out


def load_csv(path: Path) -> Outcomes:
    con = connect()
    try:
        table = (
            con.sql(
                "SELECT * FROM read_csv(?, all_varchar = true, header = true, "
                "null_padding = true, ignore_errors = false)",
                params=[str(path)],
            ).to_arrow_table()
            if path.stat().st_size
            else None
        )
    except Exception as exc:  # noqa: BLE001 - a broken CSV is reported, not raised
        con.close()
        return empty(str(path), [Problem(path.name, "malformed", f"not a readable CSV: {limits.one_line(exc)}")])
    con.close()
    if table is None or table.num_rows == 0:
        return empty(str(path), [Problem(path.name, "malformed", "empty file")])
    kind = _is_our_schema(table.column_names)
    if kind is not None:
        return _ours({kind: table}, str(path))
    return _from_table(table, str(path), first_row=2, name=path.name)


def load_parquet(files: list[Path], source: str, folder: Path | None = None) -> Outcomes:
    """Parquet files, or a folder written by :func:`export` (``transactions/day=.../*.parquet``
    and ``callbacks/day=...``): DuckDB scans them, so only the columns are held, never the files."""
    con = connect()
    tables: dict[str, pa.Table] = {}
    groups: dict[str, list[str]] = {}
    for file in files:
        parts = file.relative_to(folder).parts if folder else (file.name,)
        group = parts[0] if folder and parts[0] in ("transactions", "callbacks") else "data"
        groups.setdefault(group, []).append(str(file))
    import duckdb

    try:
        for group, names in groups.items():
            rel = con.sql(
                "SELECT * EXCLUDE (day) FROM read_parquet(?, hive_partitioning = true, union_by_name = true)"
                if _has_day(names)
                else "SELECT * FROM read_parquet(?, union_by_name = true)",
                params=[names],
            )
            tables[group] = rel.to_arrow_table()
    except duckdb.Error as exc:
        raise LoadError(
            f"{source}: the Parquet data cannot be read ({limits.one_line(exc)}): pass "
            "the folder analytics.export wrote, or files written by pyarrow or DuckDB"
        ) from None
    finally:
        con.close()
    if set(tables) <= {"transactions", "callbacks"}:
        return _ours(tables, source)
    table = tables["data"]
    kind = _is_our_schema(table.column_names)
    if kind is not None:
        return _ours({kind: table}, source)
    return _from_table(table, source)


def _has_day(names: list[str]) -> bool:
    return any(f"{os.sep}day=" in n for n in names)


def _ours(tables: dict[str, pa.Table], source: str) -> Outcomes:
    """Frames that are already in our schema (an export): fix the dtypes, rebuild the missing one."""
    import pandas as pd

    tx = _frames_from_ours("transactions", _pandas(tables["transactions"])) if "transactions" in tables else None
    cb = _frames_from_ours("callbacks", _pandas(tables["callbacks"])) if "callbacks" in tables else None
    if cb is None:
        cb = frames.conform(pd.DataFrame(), frames.CALLBACKS)
    if tx is None:
        records = _records_from_callback_frame(cb)
        tx = frames.build_transactions(records)
    out = Outcomes(source, tx, cb, [], {}, records=len(cb))
    note_unknown_codes(out, lambda n: f"callback {n}")
    return out


def _pandas(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas()
    for column in df.columns:  # Parquet keeps the zone; a CSV keeps the offset in the text
        if column.endswith("_at") or column == "transaction_date":
            import pandas as pd

            df[column] = (
                pd.to_datetime(df[column], utc=True, format="ISO8601")
                if df[column].dtype == object or str(df[column].dtype) == "str"
                else df[column]
            )
    if "latency" in df.columns and str(df["latency"].dtype) in ("str", "object"):
        import pandas as pd

        df["latency"] = pd.to_timedelta(df["latency"])
    return df


def _records_from_callback_frame(cb: pd.DataFrame) -> pa.Table:
    """A callbacks frame back to callback records (an export that kept only callbacks)."""
    import pandas as pd
    import pyarrow as pa

    epoch = pd.Timestamp(0, tz="UTC")

    def seconds(column: str) -> pa.Array:
        return pa.array((cb[column] - epoch).dt.total_seconds(), pa.float64(), from_pandas=True)

    return pa.table(
        {
            "callback_id": pa.array(cb["callback_id"].astype("float64"), pa.float64(), from_pandas=True).cast(
                pa.int64()
            ),
            "received_ts": seconds("received_at"),
            "transaction_ts": seconds("transaction_date"),
            **{
                c: pa.array(cb[c], pa.string(), from_pandas=True)
                for c in (
                    "checkout_request_id",
                    "merchant_request_id",
                    "result_code",
                    "result_desc",
                    "receipt",
                    "phone",
                    "items_json",
                )
            },
            "amount": pa.array(cb["amount"], pa.float64(), from_pandas=True),
            "balance": pa.array(cb["balance"], pa.float64(), from_pandas=True),
        }
    )


def _arrow_from_pandas(df: pd.DataFrame) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False)


def from_dataframe(df: pd.DataFrame) -> Outcomes:
    """A DataFrame: one of our frames, or callbacks with columns matched by name."""
    kind = _is_our_schema(df.columns)
    table = _arrow_from_pandas(df)
    return _ours({kind: table}, "DataFrame") if kind else _from_table(table, "DataFrame")
