"""The transactions and callbacks frames: one documented schema for every source.

Every source (a running Lab, a CallbackStore or its SQLite file, JSON lines, CSV, Parquet...) is
first turned into up to three Arrow *record* tables with fixed columns (``pushes``,
``callbacks``, ``queries``; see ``RECORD_COLUMNS``). The frames are then built by vectorised
joins (one hash pass gives every CheckoutRequestID an integer; the first callback per push, the
count of duplicates and the last final STK query are numpy lookups on those integers), the
catalogue is joined the same way, and the dtypes are fixed. No Python runs per row.

Arrow allocates from the C library's malloc here (:func:`pool`, passed as ``memory_pool=`` to
every Arrow call that allocates), never by swapping the process's default pool: a listener or a
notebook building frames changes nothing for anyone else in the process.

The schema is documented in docs/analytics.md (a test keeps that table and ``TRANSACTIONS`` /
``CALLBACKS`` in step). ``result_code`` is text, never a number: ``df.result_code == 0`` is always
False (compare with ``"0"``, or use ``df.status == "paid"``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

NAIROBI = "Africa/Nairobi"
STATUSES = ("paid", "failed", "pending", "rejected")
#: catalogue categories, in the order plots and summaries show them
CATEGORIES = (
    "success",
    "customer_action",
    "customer_funds",
    "limits",
    "merchant_config",
    "system",
    "pending",
    "unknown",
)
TEXT = "str"
TIME = f"datetime64[us, {NAIROBI}]"


@dataclass(frozen=True)
class Column:
    """One column of a frame: its name, pandas dtype and what it means."""

    name: str
    dtype: str
    meaning: str


TRANSACTIONS: tuple[Column, ...] = (
    Column(
        "status",
        "category",
        "paid, failed, pending or rejected: the callback's result, else the "
        "last final STK query result, else rejected (the push itself was refused) or pending",
    ),
    Column(
        "result_code",
        TEXT,
        'ResultCode as text ("0", "1032", "SFC_IC0003"); never a number, '
        'so `df.result_code == 0` is always False: compare with "0"',
    ),
    Column("result_desc", TEXT, "ResultDesc exactly as Daraja worded it"),
    Column("phone", TEXT, "the phone that was asked to pay (from the push, else the callback)"),
    Column("amount", "float64", "Amount paid, from the callback's metadata (NaN unless paid)"),
    Column("receipt", TEXT, "MpesaReceiptNumber (only on success)"),
    Column("latency_s", "float64", "seconds from push to first callback"),
    Column(
        "real_latency_s",
        "float64",
        "latency_s in real-world seconds: latency_s / the lab's time_scale when the push was made "
        "(the same on the real sandbox; NaN when unknown, or in the emulator's quick lab)",
    ),
    Column("checkout_request_id", TEXT, "CheckoutRequestID, the push's identity"),
    Column("merchant_request_id", TEXT, "MerchantRequestID"),
    Column("pushed_at", TIME, "when the push was sent (Nairobi time)"),
    Column("callback_at", TIME, "when the first callback arrived (Nairobi time)"),
    Column("latency", "timedelta64[us]", "callback_at - pushed_at"),
    Column("result_name", "category", "the catalogue's short name for the code (unknown if not catalogued)"),
    Column(
        "category",
        "category",
        "success, customer_action, customer_funds, limits, merchant_config, system, pending or unknown",
    ),
    Column("explanation", "category", "what the code means (the catalogue)"),
    Column("mitigation", "category", "what to do about it (the catalogue)"),
    Column("amount_requested", "float64", "Amount in the push request"),
    Column("balance", "float64", "Balance from the callback's metadata (often absent)"),
    Column("transaction_date", TIME, "TransactionDate from the callback (Nairobi time)"),
    Column("account_reference", TEXT, "AccountReference of the push"),
    Column("shortcode", TEXT, "BusinessShortCode of the push"),
    Column("environment", TEXT, "local, sandbox or production (stores only)"),
    Column("response_code", TEXT, 'ResponseCode of the push acknowledgement ("0" = accepted)'),
    Column("error_code", TEXT, "Daraja's errorCode when the push was refused"),
    Column("error_message", TEXT, "Daraja's errorMessage when the push was refused"),
    Column("callbacks", "int64", "callbacks received for this push (duplicates included)"),
    Column("query_result_code", TEXT, "ResultCode of the last STK query that gave one"),
    Column("query_result_desc", TEXT, "ResultDesc of that query"),
    Column("push_id", "Int64", "row id of the push in the store (<NA> for imported callbacks)"),
)

CALLBACKS: tuple[Column, ...] = (
    Column("received_at", TIME, "when the callback arrived (Nairobi time; NaT if the log has no time)"),
    Column("checkout_request_id", TEXT, "CheckoutRequestID"),
    Column("result_code", TEXT, "ResultCode as text (see transactions)"),
    Column("result_desc", TEXT, "ResultDesc as worded"),
    Column("phone", TEXT, "PhoneNumber from the metadata (only on success)"),
    Column("amount", "float64", "Amount from the metadata"),
    Column("receipt", TEXT, "MpesaReceiptNumber"),
    Column("result_name", "category", "the catalogue's short name"),
    Column("category", "category", "the catalogue's category (see transactions)"),
    Column("explanation", "category", "what the code means"),
    Column("mitigation", "category", "what to do about it"),
    Column("merchant_request_id", TEXT, "MerchantRequestID"),
    Column("balance", "float64", "Balance from the metadata"),
    Column("transaction_date", TIME, "TransactionDate (Nairobi time)"),
    Column("duplicate", "bool", "not the first callback for this CheckoutRequestID"),
    Column(
        "unknown",
        "bool",
        "no push with this CheckoutRequestID in the source (judged now; "
        "always False for a source that holds callbacks only)",
    ),
    Column("unknown_on_arrival", "bool", "what the listener judged when it arrived (stores only)"),
    Column("items_json", TEXT, "CallbackMetadata items as a JSON object text"),
    Column("callback_id", "Int64", "row id (the store's, or the record's order in a file)"),
    Column("delivery_id", "Int64", "the store's delivery row id (<NA> for imported callbacks)"),
)

#: The record tables every loader produces (Arrow types), already normalised: codes spelled as
#: the catalogue spells them (see ``mpesa_lab.codes.normalize_code``), numbers as numbers, times
#: as epoch seconds. ``callbacks`` are in arrival order. Text is ``large_string``: what pandas'
#: ``str`` dtype holds, so turning a record table into a frame shares the text, never copies it.
RECORD_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "pushes": (
        ("push_id", "int64"),
        ("pushed_ts", "float64"),
        ("environment", "large_string"),
        ("checkout_request_id", "large_string"),
        ("merchant_request_id", "large_string"),
        ("phone", "large_string"),
        ("amount", "float64"),
        ("account_reference", "large_string"),
        ("shortcode", "large_string"),
        ("response_code", "large_string"),
        ("error_code", "large_string"),
        ("error_message", "large_string"),
        ("refused", "bool"),
        ("time_scale", "float64"),
    ),
    "callbacks": (
        ("callback_id", "int64"),
        ("delivery_id", "int64"),
        ("received_ts", "float64"),
        ("checkout_request_id", "large_string"),
        ("merchant_request_id", "large_string"),
        ("result_code", "large_string"),
        ("result_desc", "large_string"),
        ("amount", "float64"),
        ("receipt", "large_string"),
        ("balance", "float64"),
        ("transaction_ts", "float64"),
        ("phone", "large_string"),
        ("items_json", "large_string"),
        ("unknown_on_arrival", "bool"),
    ),
    "queries": (
        ("query_id", "int64"),
        ("checkout_request_id", "large_string"),
        ("result_code", "large_string"),
        ("result_desc", "large_string"),
    ),
}


def pool() -> pa.MemoryPool:
    """The Arrow pool the frames are built on: the C library's malloc. Measured at a million
    rows, mimalloc (pyarrow's default) spent 0.3-0.5 s more, mostly faulting in fresh pages for
    hash tables it had handed back, and peaked ~50 MiB higher. Passed as ``memory_pool=`` to each
    call, so the process's default pool is never touched (every buffer is freed to the pool
    that made it)."""
    import pyarrow as pa

    return pa.system_memory_pool()


def column_names(schema: tuple[Column, ...]) -> list[str]:
    return [c.name for c in schema]


def record_schema(name: str) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([(column, pa.type_for_alias(kind)) for column, kind in RECORD_COLUMNS[name]])


def empty_records(name: str) -> pa.Table:
    """An empty record table (a source with no pushes, or no queries)."""
    return record_schema(name).empty_table()


def as_records(name: str, table: pa.Table) -> pa.Table:
    """``table`` with exactly the record columns of ``name``, cast to their types."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = record_schema(name)
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(pc.cast(table[field.name], field.type, memory_pool=pool()))
        else:
            columns.append(pa.nulls(table.num_rows, field.type, memory_pool=pool()))
    return pa.Table.from_arrays(columns, schema=schema)


# --------------------------------------------------------------------------------------------
# The joins, vectorised with Arrow compute: a hash lookup of each push's first callback and last
# query (``index_in`` keeps the first match), counts by group, ``take`` to gather.


def _encode(*columns: pa.ChunkedArray) -> list[np.ndarray]:
    """Shared integer codes for string columns (-1 for null): one hash pass for all joins."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = [
        chunk if chunk.type == pa.large_string() else pc.cast(chunk, pa.large_string(), memory_pool=pool())
        for column in columns
        for chunk in column.chunks
    ]
    if not chunks:
        return [np.zeros(0, "int64") for _ in columns]
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, pa.large_string()), memory_pool=pool())
    encoded = encoded.combine_chunks(memory_pool=pool())
    codes = _filled(encoded.indices, -1).to_numpy(zero_copy_only=False).astype("int64")
    out, start = [], 0
    for column in columns:
        out.append(codes[start : start + len(column)])
        start += len(column)
    return out


def _filled(values: pa.Array, fill: int) -> pa.Array:
    """``values`` with nulls replaced by ``fill`` (``pc.fill_null`` takes no pool)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.coalesce(values, pa.scalar(fill, values.type), memory_pool=pool())


def _first_index(codes: np.ndarray, size: int, *, last: bool = False) -> np.ndarray:
    """For each code, the position of its first (or last) occurrence in ``codes``; -1 if none."""
    import numpy as np

    out = np.full(size, -1, dtype="int64")
    positions = np.arange(len(codes))
    if last:
        codes, positions = codes[::-1], positions[::-1]
    valid = codes >= 0
    uniques, first = np.unique(codes[valid], return_index=True)
    out[uniques] = positions[valid][first]
    return out


def _lookup(table: np.ndarray, codes: np.ndarray, missing: int) -> np.ndarray:
    import numpy as np

    if not len(table):
        return np.full(len(codes), missing, dtype=table.dtype)
    return np.where(codes >= 0, table[np.maximum(codes, 0)], missing)


def _take(table: pa.Table, where: np.ndarray) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    if len(where) == table.num_rows and (where == np.arange(len(where))).all():
        return table  # every row, in order (a log without duplicates): share, do not copy
    import pyarrow.compute as pc

    return pc.take(table, pa.array(where, mask=where < 0, memory_pool=pool()), memory_pool=pool())


def _ascending(ids: pa.ChunkedArray) -> bool:
    import pyarrow.compute as pc

    ordered = pc.greater_equal(ids[1:], ids[:-1], memory_pool=pool())
    return len(ids) < 2 or bool(pc.all(ordered, memory_pool=pool()).as_py())


def _sorted_by(table: pa.Table, column: str) -> pa.Table:
    import pyarrow.compute as pc

    if _ascending(table[column]):
        return table
    order = pc.sort_indices(table, [(column, "ascending")], memory_pool=pool())
    return pc.take(table, order, memory_pool=pool())


def build_frames(
    callbacks: pa.Table, pushes: pa.Table | None = None, queries: pa.Table | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The transactions and the callbacks frame, the CheckoutRequestIDs hashed once for both
    (at a million rows the hashing is a good part of either frame's cost)."""
    callbacks, queries, base = _prepared(callbacks, pushes, queries)
    keys = [callbacks["checkout_request_id"], queries["checkout_request_id"]]
    if base is not None:
        keys.append(base["checkout_request_id"])
    codes = _encode(*keys)
    transactions = build_transactions(callbacks, base, queries, encoded=codes)
    push_codes = codes[2] if base is not None else None
    return transactions, build_callbacks(callbacks, base, encoded=(codes[0], push_codes))


def _prepared(
    callbacks: pa.Table, pushes: pa.Table | None, queries: pa.Table | None
) -> tuple[pa.Table, pa.Table, pa.Table | None]:
    """Record tables with their columns, in id order, queries that gave a result only."""
    import pyarrow.compute as pc

    callbacks = _sorted_by(as_records("callbacks", callbacks), "callback_id")
    queries = as_records("queries", queries if queries is not None else empty_records("queries"))
    answered = pc.is_valid(queries["result_code"], memory_pool=pool())
    queries = _sorted_by(pc.filter(queries, answered, memory_pool=pool()), "query_id")
    base = _sorted_by(as_records("pushes", pushes), "push_id") if pushes is not None else None
    return callbacks, queries, base


def build_callbacks(
    callbacks: pa.Table, pushes: pa.Table | None = None, *, encoded: tuple[np.ndarray, np.ndarray | None] | None = None
) -> pd.DataFrame:
    """The callbacks frame from record tables (see ``RECORD_COLUMNS``), in arrival order.
    ``encoded``: the CheckoutRequestIDs already encoded (see ``build_frames``)."""
    import numpy as np

    callbacks = _sorted_by(as_records("callbacks", callbacks), "callback_id")
    push_keys = pushes["checkout_request_id"] if pushes is not None else None
    push_codes: np.ndarray | None = None
    if encoded is not None:
        cb_codes, push_codes = encoded
    elif push_keys is not None:
        cb_codes, push_codes = _encode(callbacks["checkout_request_id"], push_keys)
    else:
        (cb_codes,) = _encode(callbacks["checkout_request_id"])
    size = int(cb_codes.max(initial=-1)) + 1
    if push_codes is not None:
        size = max(size, int(push_codes.max(initial=-1)) + 1)
    first = _lookup(_first_index(cb_codes, size), cb_codes, -1)
    df = _to_pandas(callbacks, drop=("unknown_on_arrival",))
    df["unknown_on_arrival"] = callbacks["unknown_on_arrival"].to_pandas(memory_pool=pool()).fillna(False).astype(bool)
    df["duplicate"] = first != np.arange(len(cb_codes))
    if push_codes is not None:
        pushed = np.zeros(size, bool)
        pushed[push_codes[push_codes >= 0]] = True
        df["unknown"] = ~_lookup(pushed, cb_codes, False).astype(bool)
    else:
        df["unknown"] = False
    df["received_at"] = epoch_to_nairobi(df.pop("received_ts"))
    df["transaction_date"] = epoch_to_nairobi(df.pop("transaction_ts"))
    explain(df)
    out = conform(df, CALLBACKS)
    del df, callbacks
    release_unused()
    return out


def build_transactions(
    callbacks: pa.Table,
    pushes: pa.Table | None = None,
    queries: pa.Table | None = None,
    *,
    encoded: list[np.ndarray] | None = None,
) -> pd.DataFrame:
    """The transactions frame from record tables: one row per push (a source with pushes), else
    one row per CheckoutRequestID seen in the callbacks. ``encoded``: the CheckoutRequestIDs of
    callbacks, queries (and pushes) already encoded (see ``build_frames``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    callbacks, queries, base = _prepared(callbacks, pushes, queries)
    has_pushes = base is not None
    if encoded is None:
        columns = [callbacks["checkout_request_id"], queries["checkout_request_id"]]
        if base is not None:
            columns.append(base["checkout_request_id"])
        encoded = list(_encode(*columns))
    codes_c, codes_q, *rest = encoded
    size = int(max((c.max(initial=-1) for c in (codes_c, codes_q, *rest)), default=-1)) + 1
    first_of = _first_index(codes_c, size)
    counts = np.bincount(codes_c[codes_c >= 0], minlength=size).astype("int64")
    wanted = [
        "received_ts",
        "result_code",
        "result_desc",
        "amount",
        "receipt",
        "balance",
        "transaction_ts",
        "phone",
        "merchant_request_id",
    ]
    if base is not None:
        codes = rest[0]
        where = _lookup(first_of, codes, -1)
    else:
        mask = _lookup(first_of, codes_c, -1) == np.arange(len(codes_c))
        where = np.flatnonzero(mask)
        codes = codes_c[mask]
        base = as_records(
            "pushes",
            pa.table(
                {
                    "checkout_request_id": callbacks["checkout_request_id"]
                    if mask.all()
                    else pc.filter(
                        callbacks["checkout_request_id"], pa.array(mask, memory_pool=pool()), memory_pool=pool()
                    ),
                    "refused": pa.array(np.zeros(len(where), bool), memory_pool=pool()),
                }
            ),
        )
    first = _take(callbacks.select(wanted), where)
    n_callbacks = _lookup(counts, codes, 0)
    last_q = _lookup(_first_index(codes_q, size, last=True), codes, -1)
    picked = _take(queries.select(["result_code", "result_desc"]), last_q)
    del callbacks
    for column in ("phone", "merchant_request_id"):  # the push's, else the callback's
        index = base.schema.get_field_index(column)
        base = base.set_column(index, column, pc.coalesce(base[column], first[column], memory_pool=pool()))
    df = _to_pandas(base, drop=("amount",))
    df["amount_requested"] = base["amount"].to_numpy(zero_copy_only=False)
    del base
    got = _to_pandas(first, drop=("phone", "merchant_request_id"))
    del first
    for column in ("result_code", "result_desc", "amount", "receipt", "balance"):
        df[column] = got[column]
    df["callbacks"] = n_callbacks
    df["query_result_code"] = picked["result_code"].to_pandas(memory_pool=pool()).astype(TEXT)
    df["query_result_desc"] = picked["result_desc"].to_pandas(memory_pool=pool()).astype(TEXT)
    df["pushed_at"] = epoch_to_nairobi(df.pop("pushed_ts"))
    df["callback_at"] = epoch_to_nairobi(got["received_ts"])
    df["transaction_date"] = epoch_to_nairobi(got["transaction_ts"])
    df["latency"] = df["callback_at"] - df["pushed_at"]
    df["latency_s"] = df["latency"].dt.total_seconds()
    df["real_latency_s"] = df["latency_s"] / df.pop("time_scale")
    df["status"] = _status(df)
    if not has_pushes:
        df["push_id"] = None
    explain(df)
    out = conform(df, TRANSACTIONS)
    del df
    release_unused()
    return out


_pool_lock = threading.Lock()
_pool_users = 0
_pool_before: Any = None


@contextmanager
def system_allocator() -> Iterator[None]:
    """Make the C library's malloc the process's default Arrow pool for the block, then the
    caller's pool is back (nested and concurrent uses restore it once, last).

    Process-wide: only for code that cannot be given a pool (``analytics.load``'s readers, until
    they pass ``memory_pool=`` too). The frames here never need it: they pass :func:`pool`.
    Every buffer is freed to the pool that made it, so what is built inside outlives the switch."""
    import pyarrow as pa

    global _pool_users, _pool_before
    with _pool_lock:
        if _pool_users == 0:
            _pool_before = pa.default_memory_pool()
            pa.set_memory_pool(pa.system_memory_pool())
        _pool_users += 1
    try:
        yield
    finally:
        with _pool_lock:
            _pool_users -= 1
            if _pool_users == 0:
                pa.set_memory_pool(_pool_before)
                _pool_before = None


def release_unused() -> None:
    """Hand the memory Arrow has freed back to the system now: its allocator keeps freed pages
    for reuse, and after a million rows they are hundreds of MiB nothing else will use."""
    pool().release_unused()


def _to_pandas(table: pa.Table, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    keep = [name for name in table.column_names if name not in drop]
    return table.select(keep).to_pandas(memory_pool=pool())


def _status(df: pd.DataFrame) -> pd.Series:
    """paid / failed from the callback, else from the last final query; else rejected / pending."""
    import numpy as np
    import pandas as pd

    from mpesa_lab.codes import pending_result_codes  # the one rule (codes.status_of), vectorised

    nonfinal = sorted(pending_result_codes())

    def settled(codes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        codes = codes.astype(TEXT)
        paid = (codes == "0").fillna(False).to_numpy(bool)
        final = (codes.notna() & ~codes.str.lower().isin(nonfinal)).fillna(False).to_numpy(bool)
        return paid, final

    cb_paid, cb_final = settled(df["result_code"])
    q_paid, q_final = settled(df["query_result_code"])
    refused = df["refused"].fillna(False).to_numpy(bool)
    rejected = (
        refused
        | df["error_code"].notna().to_numpy()
        | (df["response_code"].notna() & (df["response_code"] != "0")).fillna(False).to_numpy(bool)
    )
    paid, failed, pending, rejected_code = (STATUSES.index(s) for s in ("paid", "failed", "pending", "rejected"))
    status = np.select(
        [cb_paid, cb_final, q_paid, q_final, rejected], [paid, failed, paid, failed, rejected_code], pending
    )
    return pd.Series(pd.Categorical.from_codes(status, categories=list(STATUSES)), index=df.index)


# --------------------------------------------------------------------------------------------
# From an Arrow table to the documented frame: times, the catalogue, dtypes, order.


def epoch_to_nairobi(seconds: pd.Series) -> pd.Series:
    """Epoch seconds (float) -> tz-aware Nairobi datetimes, whole microseconds."""
    import numpy as np
    import pandas as pd

    # numpy straight to datetime64[us] (NaN and out-of-range values become NaT), then the zone:
    # a third of the passes pd.to_datetime makes over a million values.
    values = np.asarray(pd.to_numeric(seconds, errors="coerce"), dtype="float64")
    micros = np.rint(values * 1_000_000)
    valid = np.abs(micros) < 9.2e18  # False for NaN too
    ticks = np.where(valid, micros, 0).astype("int64")
    ticks[~valid] = np.iinfo("int64").min  # NaT
    moments = pd.DatetimeIndex(ticks.view("datetime64[us]")).tz_localize("UTC").tz_convert(NAIROBI)
    index = seconds.index if isinstance(seconds, pd.Series) else None
    return pd.Series(moments, index=index, copy=False)


@lru_cache(maxsize=1)
def _catalogue_entries() -> tuple[Any, ...]:
    from mpesa_lab.codes import result_codes

    return result_codes()


def explain(df: pd.DataFrame) -> None:
    """Join the catalogue on ``result_code`` (vectorised): result_name, category, explanation,
    mitigation, as categoricals. Codes outside the catalogue get the catalogue's "unknown" advice."""
    import numpy as np
    import pandas as pd

    from mpesa_lab.codes import unknown_entry

    entries = list(_catalogue_entries()) + [unknown_entry("")]
    keys = [e.code.lower() for e in entries[:-1]]
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = pa.array(df["result_code"].astype(TEXT), type=pa.large_string(), from_pandas=True, memory_pool=pool())
    found = pc.index_in(
        pc.utf8_lower(codes, memory_pool=pool()), value_set=pa.array(keys, pa.large_string()), memory_pool=pool()
    )
    index = _filled(found, -1).to_numpy(zero_copy_only=False).astype("int64")
    unknown = (index == -1) & pc.is_valid(codes, memory_pool=pool()).to_numpy(zero_copy_only=False)
    index = np.where(unknown, len(entries) - 1, index)  # -1 stays: no code at all
    for column, attr in (
        ("result_name", "name"),
        ("category", "category"),
        ("explanation", "explanation"),
        ("mitigation", "mitigation"),
    ):
        values = [(getattr(e, attr) or "unknown") if attr == "category" else getattr(e, attr) for e in entries]
        if column == "category":
            values = [v if e.known else "unknown" for v, e in zip(values, entries, strict=True)]
        uniques = list(dict.fromkeys(values))
        position = {v: i for i, v in enumerate(uniques)}
        mapping = np.array([position[v] for v in values] + [-1], dtype="int64")
        categories = (
            [c for c in CATEGORIES if c in uniques] + [c for c in uniques if c not in CATEGORIES]
            if column == "category"
            else uniques
        )
        remap = np.array([categories.index(u) for u in uniques] + [-1], dtype="int64")
        df[column] = pd.Categorical.from_codes(remap[mapping[index]], categories=categories)


def conform(df: pd.DataFrame, schema: tuple[Column, ...]) -> pd.DataFrame:
    """Exactly the schema's columns, in its order, with its dtypes (missing ones filled empty)."""
    import pandas as pd

    out = {}
    n = len(df)
    for col in schema:
        values = df[col.name] if col.name in df.columns else pd.Series([None] * n, index=df.index)
        out[col.name] = _cast(values, col)
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def _cast(values: pd.Series, col: Column) -> pd.Series:
    import pandas as pd

    values = values.reset_index(drop=True)
    if col.name == "status":
        return values.astype(pd.CategoricalDtype(list(STATUSES)))
    if col.dtype == "category":
        return values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    if col.dtype == "bool":
        return values.fillna(False).astype(bool)
    if col.dtype == TIME:
        if values.dtype == TIME:
            return values
        return pd.to_datetime(values, utc=True).dt.tz_convert(NAIROBI).astype(TIME)
    if col.dtype.startswith("timedelta"):
        return pd.to_timedelta(values).astype(col.dtype)
    if col.dtype == TEXT:
        return values if values.dtype == TEXT else values.astype(TEXT)
    return values.astype(col.dtype)
