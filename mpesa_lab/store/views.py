"""The store's pandas views: one DataFrame per table, read through short-lived connections.

``transactions`` and ``callbacks`` are the documented analytics frames (:mod:`mpesa_lab.store.frames`,
docs/analytics.md), read straight to Arrow (:mod:`mpesa_lab.store.arrow`); the others are the
raw tables with times as Nairobi datetimes and JSON text decoded. Nothing here runs at import:
pandas and pyarrow are imported by the call that needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mpesa_lab.store.records import loads

if TYPE_CHECKING:
    import pandas as pd

    from mpesa_lab.store.core import CallbackStore

_NAIROBI_NAME = "Africa/Nairobi"


def _frame(store: CallbackStore, sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    import pandas as pd

    with store.reading() as conn:
        return pd.read_sql_query(sql, conn, params=params)


def deliveries(store: CallbackStore) -> pd.DataFrame:
    """Every request that reached the callback path, raw: one row each, in arrival order."""
    df = _frame(
        store,
        "SELECT id AS delivery_id, received_ts, remote_addr, client_addr, method, headers, body, "
        "body_size, outcome, http_status, reason, checkout_request_id, duplicate, unknown "
        "FROM deliveries ORDER BY id",
    )
    df.insert(1, "received_at", _to_nairobi(df.pop("received_ts")))
    _json_columns(df, "headers", empty_dict=True)
    _bool_columns(df, "duplicate", "unknown")
    return df


def callbacks(store: CallbackStore) -> pd.DataFrame:
    """Every valid callback (duplicates included, flagged), parsed, in arrival order: the
    analytics callbacks frame (docs/analytics.md)."""
    from mpesa_lab.store.arrow import read_store
    from mpesa_lab.store.frames import build_callbacks

    records = read_store(store.path, for_view="callbacks")
    return build_callbacks(records.pop("callbacks"), records.pop("pushes"))


def transactions(store: CallbackStore) -> pd.DataFrame:
    """One row per push with its first callback: the analytics transactions frame."""
    from mpesa_lab.store.arrow import read_store
    from mpesa_lab.store.frames import build_transactions

    records = read_store(store.path, for_view="transactions")
    return build_transactions(records.pop("callbacks"), records.pop("pushes"), records.pop("queries"))


def quarantine(store: CallbackStore) -> pd.DataFrame:
    """Bodies that were not valid stkCallbacks, raw, with what was wrong."""
    df = _frame(
        store,
        "SELECT q.id AS quarantine_id, q.delivery_id, q.received_ts, q.reason, q.body, "
        "d.remote_addr, d.client_addr, d.headers FROM quarantine q "
        "JOIN deliveries d ON d.id = q.delivery_id ORDER BY q.id",
    )
    df.insert(2, "received_at", _to_nairobi(df.pop("received_ts")))
    _json_columns(df, "headers", empty_dict=True)
    return df


def pushes(store: CallbackStore) -> pd.DataFrame:
    """The STK pushes made through the lab (requests masked), in order."""
    df = _frame(
        store,
        "SELECT id AS push_id, at_ts, environment, checkout_request_id, merchant_request_id, "
        "phone, amount, account_reference, transaction_type, shortcode, response_code, "
        "response_description, customer_message, error_code, error_message, request_id, "
        "request, response, error, time_scale FROM pushes ORDER BY id",
    )
    df.insert(1, "pushed_at", _to_nairobi(df.pop("at_ts")))
    df["amount"] = _numeric(df["amount"])
    _json_columns(df, "request", "response", "error")
    return df


def queries(store: CallbackStore) -> pd.DataFrame:
    """The STK push queries made through the lab, in order, with what each result code means."""
    df = _frame(
        store,
        "SELECT id AS query_id, at_ts, checkout_request_id, response_code, result_code, "
        "result_desc, error_code, error_message, request_id, request, response, error "
        "FROM queries ORDER BY id",
    )
    df.insert(1, "queried_at", _to_nairobi(df.pop("at_ts")))
    explain_after(df, "result_desc")
    _json_columns(df, "request", "response", "error")
    return df


def explain_after(df: pd.DataFrame, anchor: str) -> None:
    """Insert the catalogue's ``result_name``, ``explanation`` and ``mitigation`` of each
    ``result_code`` after the column ``anchor`` (the frames' one join with the catalogue,
    :func:`mpesa_lab.store.frames.explain`), and make ``result_code`` a category."""
    import pandas as pd

    from mpesa_lab.store.frames import TEXT, explain

    meaning = pd.DataFrame({"result_code": df["result_code"].astype(TEXT)}, index=df.index)
    explain(meaning)
    position = df.columns.get_loc(anchor) + 1
    for offset, column in enumerate(("result_name", "explanation", "mitigation")):
        df.insert(position + offset, column, meaning[column])
    df["result_code"] = df["result_code"].astype("category")


def _to_nairobi(ts: pd.Series) -> pd.Series:
    import pandas as pd

    # Whole microseconds: float seconds would show nanosecond noise.
    micros = (ts.astype("float64") * 1_000_000).round()
    return pd.to_datetime(micros, unit="us", utc=True).dt.tz_convert(_NAIROBI_NAME)


def _json_columns(df: pd.DataFrame, *names: str, empty_dict: bool = False) -> None:
    """Decode JSON text columns in place (``empty_dict``: a missing value becomes ``{}``)."""
    decode: Callable[[str | None], Any] = (lambda t: loads(t) or {}) if empty_dict else loads
    for name in names:
        df[name] = df[name].map(decode).astype(object)


def _bool_columns(df: pd.DataFrame, *names: str) -> None:
    for name in names:
        df[name] = df[name].astype(bool)


def _numeric(values: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").astype("float64")
