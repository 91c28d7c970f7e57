"""The store's DataFrame views as they were before the analytics schema (commit d226f3f), kept
verbatim as an oracle: the new views must give the same values on small stores (see
test_views_schema.py for what changed on purpose). Per-row Python; fine for a few hundred rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from mpesa_lab.codes import result_entry
from mpesa_lab.store.records import loads as _loads

_NAIROBI_NAME = "Africa/Nairobi"


def legacy_callbacks(self) -> pd.DataFrame:
    """Every valid callback (duplicates included, flagged), parsed, in arrival order.

    ``unknown`` is judged now (no push with this CheckoutRequestID in the store);
    ``unknown_on_arrival`` is what the listener saw when it arrived.
    """
    df = _frame(
        self,
        "SELECT c.id AS callback_id, c.delivery_id, c.received_ts, c.checkout_request_id, "
        "c.merchant_request_id, c.result_code, c.result_desc, c.amount, c.receipt, c.balance, "
        "c.transaction_date, c.phone, c.items, c.duplicate, "
        "NOT EXISTS(SELECT 1 FROM pushes p WHERE p.checkout_request_id = c.checkout_request_id) "
        "AS unknown, c.unknown AS unknown_on_arrival "
        "FROM callbacks c ORDER BY c.id",
    )
    df.insert(2, "received_at", _to_nairobi(df.pop("received_ts")))
    _explain(df)
    df["amount"] = _numeric(df["amount"])
    df["balance"] = _numeric(df["balance"])
    df["transaction_date"] = _iso_to_nairobi(df["transaction_date"])
    _json_columns(df, "items", empty_dict=True)
    _bool_columns(df, "duplicate", "unknown", "unknown_on_arrival")
    return df


def legacy_transactions(self) -> pd.DataFrame:
    """One row per push with its FIRST callback (duplicates counted once, in ``callbacks``).

    ``status`` is paid / failed (from the callback), else the last final query result,
    else rejected (the push itself was refused) or pending.
    """
    import pandas as pd

    df = _frame(
        self,
        "SELECT p.id AS push_id, p.at_ts, p.environment, p.checkout_request_id, "
        "p.merchant_request_id, p.phone, p.amount AS amount_requested, p.account_reference, "
        "p.response_code, p.error_code, p.error_message, (p.error IS NOT NULL) AS refused, "
        "c.received_ts AS callback_ts, c.result_code, c.result_desc, c.amount, c.receipt, "
        "c.balance, c.transaction_date, COALESCE(f.n, 0) AS callbacks, "
        "(SELECT q.result_code FROM queries q WHERE q.checkout_request_id = p.checkout_request_id "
        " AND q.result_code IS NOT NULL ORDER BY q.id DESC LIMIT 1) AS query_result_code "
        "FROM pushes p "
        "LEFT JOIN (SELECT checkout_request_id, MIN(id) AS first_id, COUNT(*) AS n FROM callbacks "
        "           GROUP BY checkout_request_id) f ON f.checkout_request_id = p.checkout_request_id "
        "LEFT JOIN callbacks c ON c.id = f.first_id "
        "ORDER BY p.id",
    )
    pushed = _to_nairobi(df.pop("at_ts"))
    callback_ts = df.pop("callback_ts")
    df.insert(1, "pushed_at", pushed)
    df.insert(df.columns.get_loc("result_code"), "callback_at", _to_nairobi(callback_ts))
    df["latency"] = df["callback_at"] - df["pushed_at"]
    df["latency_s"] = df["latency"].dt.total_seconds()
    df["status"] = [
        _status(row)
        for row in df[["response_code", "error_code", "refused", "result_code", "query_result_code"]].itertuples(
            index=False
        )
    ]
    df.pop("refused")
    _explain(df)
    df["amount_requested"] = _numeric(df["amount_requested"])
    df["amount"] = _numeric(df["amount"])
    df["balance"] = _numeric(df["balance"])
    df["transaction_date"] = _iso_to_nairobi(df["transaction_date"])
    df["callbacks"] = df["callbacks"].astype("int64")
    df["status"] = pd.Categorical(df["status"], categories=["paid", "failed", "pending", "rejected"])
    return df


def _frame(store: Any, sql: str) -> pd.DataFrame:
    with store.reading() as conn:
        return pd.read_sql_query(sql, conn)


def _to_nairobi(ts: pd.Series) -> pd.Series:
    import pandas as pd

    # Whole microseconds: float seconds would show nanosecond noise.
    micros = (ts.astype("float64") * 1_000_000).round()
    return pd.to_datetime(micros, unit="us", utc=True).dt.tz_convert(_NAIROBI_NAME)


def _iso_to_nairobi(values: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(values, format="ISO8601", utc=True).dt.tz_convert(_NAIROBI_NAME)


def _json_columns(df: pd.DataFrame, *names: str, empty_dict: bool = False) -> None:
    """Decode JSON text columns in place (``empty_dict``: a missing value becomes ``{}``)."""
    decode: Callable[[str | None], Any] = (lambda t: _loads(t) or {}) if empty_dict else _loads
    for name in names:
        df[name] = df[name].map(decode).astype(object)


def _bool_columns(df: pd.DataFrame, *names: str) -> None:
    for name in names:
        df[name] = df[name].astype(bool)


def _numeric(values: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").astype("float64")


def _explain(df: pd.DataFrame) -> None:
    """Turn ``result_code`` into a category and add the catalogue's name and explanation."""
    codes = df["result_code"].astype(object).where(df["result_code"].notna(), None)
    entries = [result_entry(code) if code is not None else None for code in codes]
    anchor = "result_desc" if "result_desc" in df.columns else "result_code"
    position = df.columns.get_loc(anchor) + 1
    df.insert(position, "result_name", [e.name if e else None for e in entries])
    df.insert(position + 1, "explanation", [e.explanation if e else None for e in entries])
    df.insert(position + 2, "mitigation", [e.mitigation if e else None for e in entries])
    df["result_code"] = df["result_code"].astype("category")


def _status(row: tuple[Any, ...]) -> str:
    response_code, error_code, refused, result_code, query_code = row
    for code in (result_code, query_code):
        if isinstance(code, str):
            entry = result_entry(code)
            if code == "0":
                return "paid"
            if entry.final is not False:
                return "failed"
    if refused or isinstance(error_code, str) or (isinstance(response_code, str) and response_code != "0"):
        return "rejected"
    return "pending"
