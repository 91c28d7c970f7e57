"""Answers from a transactions (or callbacks) frame: plain functions, frame in, frame out.

Each works on the documented schema (docs/analytics.md) whatever the source, and on an empty
frame (it returns an empty frame with its columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

NO_RESULT = {
    "pending": (
        "(no result yet)",
        "pending",
        "No callback and no final STK query answer yet. Query the status (STK push query) "
        "instead of pushing again; callbacks can be late or lost.",
    ),
    "rejected": (
        "(push refused)",
        "rejected",
        "Daraja refused the push itself (an error envelope, no prompt was sent). See "
        "error_code / error_message and `mpesa-lab codes CODE`.",
    ),
}


#: summary counts (code, wording) pairs in a table of at most this many cells, else by grouping
PAIR_TABLE_MAX = 4_000_000


def settled_code(tx: pd.DataFrame) -> pd.Series:
    """The code that settled each transaction: the callback's, else the last STK query's."""
    return tx["result_code"].fillna(tx["query_result_code"])


def summary(tx: pd.DataFrame) -> pd.DataFrame:
    """Outcomes by result code: how many, what share, what it means and what to do.

    One row per code (the callback's, else the STK query's), most frequent first, plus one row
    each for transactions still pending and pushes Daraja refused.
    """
    import pandas as pd

    from mpesa_lab.store.frames import explain

    columns = [
        "result_code",
        "result_name",
        "category",
        "result_desc",
        "count",
        "share",
        "status",
        "explanation",
        "mitigation",
    ]
    total = len(tx)
    if total == 0:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in columns}).astype({"count": "int64", "share": "float64"})
    # Vectorised: integer codes for the settled code, its description and the status, then the
    # counts and the most frequent description / status per code (ties: the smallest, like
    # Series.mode) from the few distinct pairs. No per-group Python, no copy of the frame.
    import numpy as np

    code = settled_code(tx)
    codes, code_values = pd.factorize(code)
    descs, desc_values = pd.factorize(tx["result_desc"].fillna(tx["query_result_desc"]))
    coded = codes >= 0
    counts = np.bincount(codes[coded], minlength=len(code_values))

    def most_frequent(values: np.ndarray, labels: Sequence[str]) -> dict[int, str]:
        keep = coded & (values >= 0)
        n_codes, n_values = len(code_values), len(labels)
        if not n_codes or not n_values:  # no code settled (e.g. only refused pushes), or no wording
            return {}
        if n_codes * n_values <= PAIR_TABLE_MAX:  # the usual: a few codes, a few wordings each
            # One count per (code, value) pair, the values in label order: the first largest
            # count in a row is the most frequent value, ties going to the smallest label.
            order = np.argsort(np.asarray(labels, dtype=object), kind="stable")
            rank = np.empty(n_values, dtype="int64")
            rank[order] = np.arange(n_values)
            table = np.bincount(codes[keep] * n_values + rank[values[keep]], minlength=n_codes * n_values).reshape(
                n_codes, n_values
            )
            best = table.argmax(axis=1)
            return {i: labels[order[best[i]]] for i in range(n_codes) if table[i, best[i]] > 0}
        pairs = pd.DataFrame({"code": codes[keep], "value": values[keep]}).value_counts()
        pairs = pairs.reset_index(name="n")
        pairs["label"] = np.asarray(labels, dtype=object)[pairs["value"].to_numpy()]
        pairs = pairs.sort_values(["code", "n", "label"], ascending=[True, False, True], kind="stable")
        first = pairs.drop_duplicates("code")
        return dict(zip(first["code"].tolist(), first["label"].tolist(), strict=True))

    best_desc = most_frequent(descs, list(desc_values))
    status = tx["status"]
    best_status = most_frequent(np.asarray(status.cat.codes), [str(c) for c in status.cat.categories])
    rows = [
        {"result_code": value, "count": int(counts[i]), "result_desc": best_desc.get(i), "status": best_status.get(i)}
        for i, value in enumerate(code_values)
    ]
    out = pd.DataFrame(rows, columns=["result_code", "count", "result_desc", "status"])
    if len(out):
        out["result_code"] = out["result_code"].astype("str")
        explain(out)
        out["category"] = out["category"].astype(str)
        for column in ("result_name", "explanation", "mitigation"):
            out[column] = out[column].astype(str)
    extra = []
    for status, (name, category, mitigation) in NO_RESULT.items():
        n = int(((code.isna()) & (tx["status"] == status)).sum())
        if n:
            extra.append(
                {
                    "result_code": None,
                    "result_name": name,
                    "category": category,
                    "result_desc": None,
                    "count": n,
                    "status": status,
                    "explanation": None,
                    "mitigation": mitigation,
                }
            )
    out = pd.concat([out, pd.DataFrame(extra)], ignore_index=True) if extra else out
    out["share"] = out["count"] / total
    out = out.sort_values(["count", "result_code"], ascending=[False, True], kind="stable")
    out = out[columns].reset_index(drop=True)
    return out.astype({"count": "int64", "share": "float64", "result_code": "str"})


def _rates(groups: pd.core.groupby.DataFrameGroupBy) -> pd.DataFrame:
    import pandas as pd

    counts = groups["status"].value_counts().unstack(fill_value=0)
    for status in ("paid", "failed", "pending", "rejected"):
        if status not in counts.columns:
            counts[status] = 0
    counts = counts[["paid", "failed", "pending", "rejected"]].astype("int64")
    counts.insert(0, "transactions", counts.sum(axis=1))
    counts["success_rate"] = counts["paid"] / counts["transactions"].where(counts["transactions"] > 0)
    settled = counts["paid"] + counts["failed"]
    counts["settled_success_rate"] = counts["paid"] / settled.where(settled > 0)
    counts.columns = pd.Index(list(counts.columns))
    return counts


def success_rate(
    tx: pd.DataFrame, *, by: str | Sequence[str] | None = None, freq: str | None = None, time_column: str | None = None
) -> pd.DataFrame:
    """Success rate (paid / transactions, and paid / settled) overall, per column(s) such as
    ``"phone"`` or ``"shortcode"``, and/or over time in bins of ``freq`` (``"1h"``, ``"1D"``...).

    Time bins use ``pushed_at`` when the source has pushes, else ``callback_at``.
    """
    import pandas as pd

    keys: list = []
    if by is not None:
        keys.extend([by] if isinstance(by, str) else list(by))
    column = None
    if freq is not None:
        column = time_column or ("pushed_at" if tx["pushed_at"].notna().any() else "callback_at")
    # Only the columns grouped on: a copy of the whole frame (29 columns) cost ~150 MiB at 1M rows.
    needed = list(dict.fromkeys([*keys, *([column] if column else []), "status"]))
    df = tx[needed].assign(status=tx["status"].astype(str))
    if column is not None:
        df = df[df[column].notna()]
        keys.append(pd.Grouper(key=column, freq=freq))
    if not keys:
        df = df.assign(_all="all")
        keys = ["_all"]
    out = _rates(df.groupby(keys, dropna=False, observed=True))
    if keys == ["_all"]:
        out.index = pd.Index(["all"], name="scope")
    return out.reset_index()


def latency(
    tx: pd.DataFrame, *, by: str | None = None, percentiles: Sequence[float] = (50, 90, 95, 99)
) -> pd.DataFrame:
    """Seconds from push to first callback: count, mean, min, percentiles, max (overall or by a
    column such as ``"result_name"``). Transactions without both times are left out."""
    import numpy as np
    import pandas as pd

    df = tx[tx["latency_s"].notna()]
    groups = [("all", df)] if by is None else list(df.groupby(by, observed=True))
    rows = []
    for key, group in groups:
        values = group["latency_s"].to_numpy(dtype="float64")
        row = {
            "scope" if by is None else by: key,
            "count": len(values),
            "mean_s": float(values.mean()) if len(values) else np.nan,
            "min_s": float(values.min()) if len(values) else np.nan,
        }
        for p in percentiles:
            row[f"p{p:g}_s"] = float(np.percentile(values, p)) if len(values) else np.nan
        row["max_s"] = float(values.max()) if len(values) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def latency_distribution(tx: pd.DataFrame, *, bins: int | Sequence[float] = 30) -> pd.DataFrame:
    """A histogram of latency_s: bin edges and counts."""
    import numpy as np
    import pandas as pd

    values = tx["latency_s"].dropna().to_numpy(dtype="float64")
    if not len(values):
        return pd.DataFrame({"from_s": [], "to_s": [], "count": []}).astype({"count": "int64"})
    counts, edges = np.histogram(values, bins=bins)
    return pd.DataFrame({"from_s": edges[:-1], "to_s": edges[1:], "count": counts.astype("int64")})


FUNNEL_STAGES = ("requested", "accepted by Daraja", "callback received", "paid")


def funnel(tx: pd.DataFrame) -> pd.DataFrame:
    """requested -> accepted by Daraja -> callback received -> paid, with the share kept at each
    step. A source of callbacks only has no pushes: its funnel starts at "callback received"
    (the earlier stages are <NA>)."""
    import pandas as pd

    has_pushes = tx["push_id"].notna().any() or tx["pushed_at"].notna().any()
    requested: int | None
    accepted: int | None
    if has_pushes:
        requested = len(tx)
        accepted = int((tx["response_code"] == "0").fillna(False).sum())
    else:
        requested = accepted = None
    received = int((tx["callbacks"] > 0).sum())
    paid = int((tx["status"] == "paid").sum())
    counts = [requested, accepted, received, paid]
    out = pd.DataFrame({"stage": list(FUNNEL_STAGES), "count": pd.array(counts, dtype="Int64")})
    first = next((c for c in counts if c is not None), None)
    out["share_of_first"] = out["count"].astype("Float64") / first if first else pd.NA
    previous = out["count"].shift(1)
    out["kept_from_previous"] = out["count"].astype("Float64") / previous.astype("Float64")
    return out


def missing_callbacks(tx: pd.DataFrame) -> pd.DataFrame:
    """Pushes Daraja accepted whose callback never arrived, with what the STK query said."""
    from mpesa_lab.codes import result_entry

    accepted = (tx["response_code"] == "0").fillna(False)
    df = tx[accepted & (tx["callbacks"] == 0)]
    out = df[
        [
            "checkout_request_id",
            "phone",
            "amount_requested",
            "pushed_at",
            "status",
            "query_result_code",
            "query_result_desc",
        ]
    ].reset_index(drop=True)
    said = [
        "never queried: ask Daraja with an STK push query"
        if not isinstance(code, str)
        else f"{result_entry(code).name}: {result_entry(code).explanation}"
        for code in out["query_result_code"].astype(object).where(out["query_result_code"].notna(), None)
    ]
    out["query_says"] = said
    return out


def refusals(tx: pd.DataFrame) -> pd.DataFrame:
    """Pushes refused before any prompt (status ``rejected``), by Daraja's errorCode and wording:
    how many, what share of the refused, what the code means and what to do (from the catalogue).

    A refused push with no code (e.g. the request never reached Daraja) is counted under
    ``error_code`` <NA> with its error message."""
    import pandas as pd

    from mpesa_lab.codes import lookup

    columns = ["error_code", "error_message", "count", "share", "explanation", "mitigation"]
    refused = tx[tx["status"] == "rejected"]
    if refused.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype="int64" if c == "count" else "float64" if c == "share" else "str") for c in columns}
        )
    counts = (
        refused[["error_code", "error_message"]].astype(object).value_counts(dropna=False).reset_index(name="count")
    )
    rows = []
    for code, message, count in counts.itertuples(index=False):
        code = code if isinstance(code, str) else None
        message = message if isinstance(message, str) else None
        entry = lookup(code, message) if code else None
        rows.append(
            {
                "error_code": code,
                "error_message": message,
                "count": int(count),
                "share": count / len(refused),
                "explanation": entry.explanation
                if entry
                else "No Daraja code: the push did not get an answer from Daraja (see the message).",
                "mitigation": entry.mitigation
                if entry
                else "Read the message; check the connection and the request, then push again.",
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(
        ["count", "error_code"], ascending=[False, True], kind="stable", na_position="last"
    ).reset_index(drop=True)


def duplicates(callbacks: pd.DataFrame) -> pd.DataFrame:
    """CheckoutRequestIDs delivered more than once: how many copies, when, and whether the
    copies agree on the result."""
    import pandas as pd

    keys = callbacks.loc[callbacks["duplicate"], "checkout_request_id"].unique()
    df = callbacks[callbacks["checkout_request_id"].isin(keys)]
    if df.empty:
        return pd.DataFrame(
            {
                "checkout_request_id": pd.Series(dtype="str"),
                "copies": pd.Series(dtype="int64"),
                "first_at": pd.Series(dtype=df["received_at"].dtype),
                "last_at": pd.Series(dtype=df["received_at"].dtype),
                "same_result": pd.Series(dtype=bool),
                "result_codes": pd.Series(dtype="str"),
            }
        )
    grouped = df.groupby("checkout_request_id", sort=False)
    out = pd.DataFrame(
        {
            "copies": grouped.size(),
            "first_at": grouped["received_at"].min(),
            "last_at": grouped["received_at"].max(),
            "same_result": grouped["result_code"].nunique() == 1,
            "result_codes": grouped["result_code"].agg(lambda s: ", ".join(dict.fromkeys(s.astype(str)))),
        }
    )
    return out.reset_index()


def unknown_callbacks(callbacks: pd.DataFrame) -> pd.DataFrame:
    """Callbacks for a CheckoutRequestID no push in the source has (someone else's push, a
    replay, or a push made outside the lab)."""
    return callbacks[callbacks["unknown"]].reset_index(drop=True)


def unknown_codes(frame: pd.DataFrame) -> pd.DataFrame:
    """Result codes outside the catalogue, with how often and how Daraja worded them."""
    import pandas as pd

    df = frame[frame["category"] == "unknown"]
    if df.empty:
        return pd.DataFrame(
            {
                "result_code": pd.Series(dtype="str"),
                "count": pd.Series(dtype="int64"),
                "result_desc": pd.Series(dtype="str"),
            }
        )
    grouped = df.groupby("result_code", sort=True)
    return pd.DataFrame(
        {
            "count": grouped.size().astype("int64"),
            "result_desc": grouped["result_desc"].agg(lambda s: s.mode().iloc[0] if s.notna().any() else None),
        }
    ).reset_index()
