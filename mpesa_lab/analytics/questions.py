"""The questions a week of real outcomes raises, one function each: frame in, frame out.

- ``by_hour`` / ``hour_heatmap``: paid, cancel and no-answer rates by hour of day;
- ``latency_by_code``: how long each result code takes to come back (p50 / p90 / p99);
- ``callback_funnel``: pushes to callbacks, the callbacks that never came and what the STK
  query said about them;
- ``retry_chains`` / ``retry_conversion``: did customers pay on a retry after 1032 or 1037;
- ``reconciliation`` / ``amount_mismatches``: callback amounts against requested amounts;
- ``by_shortcode``: the same counts per shortcode (paybill, till).

Every table says what it counts in its first count column: ``transactions`` is one per push (or
one per CheckoutRequestID for a callbacks-only log), never a callback delivery; ``deliveries``
counts callback POSTs, duplicates included. Each works on any source's transactions frame: a
source without pushes (a callback log) has no push times, phones asked or requested amounts, and
what needs them is "not known" (an empty table whose ``attrs["note"]`` says why), never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mpesa_lab.analytics.analyses import settled_code
from mpesa_lab.codes import no_answer_codes

if TYPE_CHECKING:
    import pandas as pd

#: Outcome groups, in the order tables and plots show them.
OUTCOMES = ("paid", "cancelled", "no answer", "other failure", "pending", "refused")
#: The customer cancelled the prompt.
CANCELLED = ("1032",)
#: The prompt got no answer (1037, 1019, 1036): the catalogue's "no answer" family, codes.py's rule.
NO_ANSWER = tuple(sorted(no_answer_codes()))
#: Codes after which a customer is asked again (the prompt never reached a decision).
RETRY_AFTER = ("1032", "1037")
#: Shortcodes the lab knows (the frame carries BusinessShortCode, not TransactionType): the Daraja
#: sandbox's test paybill and the lab's till (its store number; customers pay till 174381).
KNOWN_SHORTCODES = {"174379": "paybill", "174380": "till 174381 (Buy Goods)"}
NOT_KNOWN = "not known"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def outcome(tx: pd.DataFrame) -> pd.Series:
    """Each transaction's outcome group (``OUTCOMES``): paid, cancelled (1032), no answer (1037,
    1019, 1036), other failure, pending, refused (Daraja refused the push: no prompt)."""
    import numpy as np
    import pandas as pd

    code = settled_code(tx).astype(object)
    status = tx["status"].astype(object)
    group = np.select(
        [
            (status == "paid").to_numpy(),
            (status == "rejected").to_numpy(),
            (status == "pending").to_numpy(),
            code.isin(CANCELLED).to_numpy(),
            code.isin(NO_ANSWER).to_numpy(),
        ],
        [0, 5, 4, 1, 2],
        3,
    )
    return pd.Series(pd.Categorical.from_codes(group, OUTCOMES), index=tx.index, name="outcome")


def _when_column(tx: pd.DataFrame) -> str:
    """Where a transaction is placed in time: its push, else (a callbacks-only log) its callback."""
    return "pushed_at" if tx["pushed_at"].notna().any() else "callback_at"


def _when(tx: pd.DataFrame) -> pd.Series:
    return tx[_when_column(tx)]


def _counts(keys: pd.Series, n_keys: int, groups: pd.Series) -> pd.DataFrame:
    """transactions and one column per outcome group, per integer key 0..n_keys-1 (-1: skipped)."""
    import numpy as np
    import pandas as pd

    k = keys.to_numpy()
    keep = k >= 0
    table = np.bincount(
        k[keep] * len(OUTCOMES) + groups.cat.codes.to_numpy()[keep], minlength=n_keys * len(OUTCOMES)
    ).reshape(n_keys, len(OUTCOMES))
    out = pd.DataFrame(table, columns=list(OUTCOMES)).astype("int64")
    out.insert(0, "transactions", out.sum(axis=1))
    return out


def _rates(out: pd.DataFrame) -> pd.DataFrame:
    n = out["transactions"].where(out["transactions"] > 0)
    out["success_rate"] = out["paid"] / n
    out["cancel_rate"] = out["cancelled"] / n
    out["no_answer_rate"] = out["no answer"] / n
    return out


def by_hour(tx: pd.DataFrame) -> pd.DataFrame:
    """Transactions per hour of day (0-23, Nairobi time of the push; of the callback for a log
    without pushes) by outcome group, with the paid, cancel and no-answer rates of that hour.

    Every hour has a row (0 where nothing happened). ``attrs["note"]`` says what was counted and
    how many transactions had no time (they are in no hour)."""
    when = _when(tx)
    hours = when.dt.hour.fillna(-1).astype("int64")
    out = _rates(_counts(hours, 24, outcome(tx)))
    out.insert(0, "hour", range(24))
    timeless = int(when.isna().sum())
    column = "push" if _when_column(tx) == "pushed_at" else "callback"
    out.attrs["note"] = f"transactions by the hour of their {column} (Nairobi)" + (
        f"; {timeless:,} without a time are in no hour" if timeless else ""
    )
    return out


def hour_heatmap(tx: pd.DataFrame, *, value: str = "transactions", columns: str = "weekday") -> pd.DataFrame:
    """A table of hours of day (rows 0-23) by day of week (``columns="weekday"``, Mon-Sun) or by
    outcome group (``columns="outcome"``). ``value`` is ``transactions`` (a count) or, by
    weekday, ``success_rate``, ``cancel_rate`` or ``no_answer_rate`` (NaN where nothing was
    pushed)."""
    import numpy as np
    import pandas as pd

    when = _when(tx)
    hours = when.dt.hour.fillna(-1).astype("int64").to_numpy()
    groups = outcome(tx)
    if columns == "outcome":
        if value != "transactions":
            raise ValueError("by outcome the heatmap counts transactions: value='transactions'")
        table = _counts(pd.Series(hours), 24, groups)[list(OUTCOMES)]
        table.index = pd.RangeIndex(24, name="hour")
        return table
    if columns != "weekday":
        raise ValueError(f"columns must be 'weekday' or 'outcome', not {columns!r}")
    if value not in ("transactions", "success_rate", "cancel_rate", "no_answer_rate"):
        raise ValueError(f"value must be transactions, success_rate, cancel_rate or no_answer_rate, not {value!r}")
    day = when.dt.day_of_week.fillna(-1).astype("int64").to_numpy()
    key = np.where((hours >= 0) & (day >= 0), hours * 7 + day, -1)
    counts = _rates(_counts(pd.Series(key), 24 * 7, groups))
    grid = counts[value].to_numpy().reshape(24, 7)
    return pd.DataFrame(grid, index=pd.RangeIndex(24, name="hour"), columns=list(WEEKDAYS))


def latency_by_code(tx: pd.DataFrame, *, percentiles: Sequence[float] = (50, 90, 99)) -> pd.DataFrame:
    """Seconds from push to first callback per result code (the callback's): how many callbacks
    (``transactions`` answered), and the percentiles, most frequent code first. A log without
    push times has no latencies: empty, with ``attrs["note"]`` saying so."""
    import numpy as np
    import pandas as pd

    columns = ["result_code", "result_name", "transactions", *[f"p{p:g}_s" for p in percentiles]]
    df = tx.loc[tx["latency_s"].notna() & tx["result_code"].notna(), ["result_code", "result_name", "latency_s"]]
    if df.empty:
        out = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
        out = out.astype({"result_code": "str", "result_name": "str", "transactions": "int64"})
        out.attrs["note"] = f"latency {NOT_KNOWN}: no transaction has both a push time and a callback"
        return out
    codes, labels = pd.factorize(df["result_code"].astype(object))
    values = df["latency_s"].to_numpy(dtype="float64")
    order = np.lexsort((values, codes))
    codes, values = codes[order], values[order]
    bounds = np.searchsorted(codes, np.arange(len(labels) + 1))
    names = df["result_name"].astype(object).to_numpy()[order]
    rows = []
    for i, code in enumerate(labels):
        part = values[bounds[i] : bounds[i + 1]]
        row = {"result_code": code, "result_name": names[bounds[i]], "transactions": len(part)}
        for p, v in zip(percentiles, np.percentile(part, list(percentiles)), strict=True):
            row[f"p{p:g}_s"] = float(v)
        rows.append(row)
    out = pd.DataFrame(rows, columns=columns)
    out = out.sort_values(["transactions", "result_code"], ascending=[False, True], kind="stable")
    out.attrs["note"] = "transactions answered by a callback, by the callback's result code"
    return out.reset_index(drop=True).astype({"result_code": "str", "result_name": "str", "transactions": "int64"})


def callback_funnel(tx: pd.DataFrame) -> pd.DataFrame:
    """Pushes -> accepted -> callback received, and the accepted pushes whose callback never
    came: resolved by an STK query (paid, or failed), still pending after one, never queried.
    Then how many paid, by callback and by query. Counts are transactions; ``share_of_accepted``
    is of the pushes Daraja accepted. A log without pushes has only the callback rows."""
    import pandas as pd

    has_pushes = bool(tx["push_id"].notna().any() or tx["pushed_at"].notna().any())
    accepted = (tx["response_code"] == "0").fillna(False).to_numpy(dtype=bool) if has_pushes else None
    answered = (tx["callbacks"] > 0).to_numpy()
    status = tx["status"].astype(object).to_numpy()
    queried = tx["query_result_code"].notna().to_numpy()
    by_callback = (tx["result_code"] == "0").fillna(False).to_numpy(dtype=bool)
    rows: list[tuple[str, int | None]] = []
    if accepted is not None:
        silent = accepted & ~answered
        rows += [
            ("pushes requested", len(tx)),
            ("refused by Daraja (no prompt)", int((status == "rejected").sum())),
            ("accepted by Daraja", int(accepted.sum())),
            ("callback received", int((accepted & answered).sum())),
            ("no callback", int(silent.sum())),
            ("  query said paid", int((silent & queried & (status == "paid")).sum())),
            ("  query said failed", int((silent & queried & (status == "failed")).sum())),
            ("  query still pending", int((silent & queried & (status == "pending")).sum())),
            ("  never queried", int((silent & ~queried).sum())),
        ]
    else:
        rows.append(("callback received", int(answered.sum())))
    paid_by_query = (status == "paid") & ~by_callback
    rows += [
        ("paid", int((status == "paid").sum())),
        ("  told by the callback", int((by_callback & (status == "paid")).sum())),
        ("  told by the STK query", int(paid_by_query.sum())),
    ]
    out = pd.DataFrame(rows, columns=["stage", "transactions"]).astype({"transactions": "int64"})
    base = int(accepted.sum()) if accepted is not None else int(answered.sum())
    out["share_of_accepted"] = out["transactions"] / base if base else float("nan")
    if accepted is None:
        out = out.rename(columns={"share_of_accepted": "share_of_received"})
        out.attrs["note"] = f"a log of callbacks: pushes, refusals and missing callbacks {NOT_KNOWN}"
    else:
        out.attrs["note"] = "transactions (one per push); the share is of the pushes Daraja accepted"
    return out


def retry_chains(tx: pd.DataFrame, *, window: str = "30min") -> pd.DataFrame:
    """Customers' attempts to pay, one row per chain: pushes from the same shortcode to the same
    phone for the same requested amount, each within ``window`` of the one before, a chain
    ending at its first paid push. Columns: the first push's time and code, ``attempts``,
    ``codes`` ("1037 > 1032 > 0"), ``paid`` (any attempt paid), ``minutes_to_pay`` (first push
    to the paid one). A source without pushes or requested amounts: empty, with
    ``attrs["note"]``."""
    import numpy as np
    import pandas as pd

    columns = ["first_at", "shortcode", "phone", "amount_requested", "first_code", "attempts", "codes"]
    chains, why = _chains(tx, window)
    if chains is None:
        out = pd.DataFrame({c: pd.Series(dtype="object") for c in [*columns, "paid", "minutes_to_pay"]})
        out.attrs["note"] = why
        return out
    codes, starts, ends, rows = chains["codes"], chains["starts"], chains["ends"], chains["rows"]
    joined = codes[starts].copy()  # most chains are one push: joined only where there are more
    for i in np.flatnonzero(ends - starts > 1):
        joined[i] = " > ".join(codes[starts[i] : ends[i]])
    first = rows[starts]
    out = pd.DataFrame(
        {
            "first_at": tx["pushed_at"].iloc[first].reset_index(drop=True),
            "shortcode": tx["shortcode"].to_numpy()[first],
            "phone": tx["phone"].to_numpy()[first],
            "amount_requested": chains["amount"][starts],
            "first_code": codes[starts],
            "attempts": ends - starts,
            "codes": joined,
            "paid": chains["paid"],
            "minutes_to_pay": chains["minutes"],
        }
    )
    out.attrs["note"] = f"chains of pushes: same shortcode, phone and amount, each within {window} of the last"
    return out.sort_values("first_at", kind="stable").reset_index(drop=True)


def _chains(tx: pd.DataFrame, window: str) -> tuple[dict[str, Any] | None, str]:
    """The chains of ``retry_chains`` as numpy arrays (push positions in chain order, each chain's
    start and end, codes, paid, minutes to pay), or None and why they are not known."""
    import numpy as np
    import pandas as pd

    why = ""
    if not tx["pushed_at"].notna().any():
        why = f"retries {NOT_KNOWN}: the source has no pushes (no push times or phones asked)"
    elif not tx["amount_requested"].notna().any():
        why = f"retries {NOT_KNOWN}: the source has no requested amounts"
    keep = np.flatnonzero((tx["pushed_at"].notna() & tx["phone"].notna() & tx["amount_requested"].notna()).to_numpy())
    if why or not len(keep):
        return None, why or "no pushes with a phone and an amount"
    # Integers and numpy datetimes (UTC) only, sorted once with lexsort: sorting the text columns
    # in pandas, or turning a tz-aware column into numpy (one object per row), cost seconds at 1M.
    pushed = tx["pushed_at"].iloc[keep]
    t = pushed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    shortcode_key = pd.factorize(tx["shortcode"].iloc[keep].fillna(""))[0]
    phone_key = pd.factorize(tx["phone"].iloc[keep])[0]
    amount = tx["amount_requested"].to_numpy(dtype="float64")[keep]
    order = np.lexsort((t, amount, phone_key, shortcode_key))
    t, amount = t[order], amount[order]
    shortcode_key, phone_key = shortcode_key[order], phone_key[order]
    rows = keep[order]  # positions in tx, chain by chain
    same = np.r_[
        False,
        (shortcode_key[1:] == shortcode_key[:-1]) & (phone_key[1:] == phone_key[:-1]) & (amount[1:] == amount[:-1]),
    ]
    close = np.r_[False, np.diff(t) <= pd.Timedelta(window).to_timedelta64()]
    paid = (tx["status"] == "paid").to_numpy()[rows]
    after_paid = np.r_[False, paid[:-1]]
    starts = np.flatnonzero(~(same & close & ~after_paid))
    ends = np.r_[starts[1:], len(rows)]
    # A chain ends at its first payment, so a paid chain's payment is its last push.
    last_paid = paid[ends - 1]
    codes = settled_code(tx).astype(object).to_numpy()[rows]
    codes = np.where(pd.isna(codes), "refused", codes)
    minutes = np.where(last_paid, (t[ends - 1] - t[starts]) / np.timedelta64(60, "s"), np.nan)
    arrays = {"rows": rows, "starts": starts, "ends": ends, "codes": codes, "amount": amount}
    return {**arrays, "paid": last_paid, "minutes": minutes}, ""


def retry_conversion(tx: pd.DataFrame, *, window: str = "30min", after: Sequence[str] = RETRY_AFTER) -> pd.DataFrame:
    """Did customers pay on a retry? Per code in ``after`` (1032, 1037) and in all: the chains
    (``retry_chains``) whose first push ended with that code, how many were retried within
    ``window``, how many of those paid on a retry, and the median minutes from the first push to
    the payment. ``conversion`` = paid on a retry / retried; ``recovered`` = paid on a retry /
    all such chains. Counts are chains (a customer's attempts), not pushes."""
    import numpy as np
    import pandas as pd

    chains, why = _chains(tx, window)
    columns = ["first_code", "chains", "retried", "paid_on_retry", "conversion", "recovered", "median_minutes_to_pay"]
    if chains is None:
        out = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}).astype({"first_code": "str"})
        out.attrs["note"] = why
        return out
    first_code = chains["codes"][chains["starts"]]
    retried = (chains["ends"] - chains["starts"]) > 1
    rows = []
    for label, codes in [*((code, [code]) for code in after), ("all", list(after))]:
        part = np.isin(first_code, codes)
        won = part & retried & chains["paid"]
        rows.append(
            {
                "first_code": label,
                "chains": int(part.sum()),
                "retried": int((part & retried).sum()),
                "paid_on_retry": int(won.sum()),
                "median_minutes_to_pay": float(np.median(chains["minutes"][won])) if won.any() else np.nan,
            }
        )
    out = pd.DataFrame(rows)
    out["conversion"] = out["paid_on_retry"] / out["retried"].where(out["retried"] > 0)
    out["recovered"] = out["paid_on_retry"] / out["chains"].where(out["chains"] > 0)
    out.attrs["note"] = (
        f"chains whose first push ended {' or '.join(after)}; a retry is a push from the same shortcode "
        f"to the same phone for the same amount within {window} of the one before"
    )
    return out[columns].astype({"chains": "int64", "retried": "int64", "paid_on_retry": "int64"})


def _paid_amounts(tx: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    import numpy as np
    import pandas as pd

    paid = tx[tx["status"] == "paid"]
    known = paid["amount"].notna() & paid["amount_requested"].notna()
    differs = known & ((paid["amount"] - paid["amount_requested"]).abs() > 0.005)
    verdict = np.select([differs.to_numpy(), known.to_numpy()], ["mismatch", "match"], NOT_KNOWN)
    return paid, pd.Series(verdict, index=paid.index)


def reconciliation(tx: pd.DataFrame) -> pd.DataFrame:
    """Paid transactions whose callback Amount equals the requested amount (``match``), differs
    (``mismatch``: list them with ``amount_mismatches``), or cannot be compared (``not known``:
    paid by STK query, which carries no amount, or no requested amount in the source). Counts
    are paid transactions, with the sums requested and paid."""
    import pandas as pd

    paid, verdict = _paid_amounts(tx)
    rows = []
    for name in ("match", "mismatch", NOT_KNOWN):
        part = paid[verdict == name]
        rows.append(
            {
                "verdict": name,
                "transactions": len(part),
                "amount_requested": float(part["amount_requested"].sum()),
                "amount_paid": float(part["amount"].sum()),
            }
        )
    out = pd.DataFrame(rows).astype({"transactions": "int64"})
    out.attrs["note"] = "paid transactions: the callback's Amount against the push's Amount"
    return out


def amount_mismatches(tx: pd.DataFrame) -> pd.DataFrame:
    """The paid transactions whose callback Amount differs from the push's, with the difference
    (paid - requested)."""
    paid, verdict = _paid_amounts(tx)
    out = paid.loc[
        verdict == "mismatch",
        ["checkout_request_id", "shortcode", "phone", "pushed_at", "amount_requested", "amount", "receipt"],
    ]
    out = out.assign(difference=out["amount"] - out["amount_requested"])
    return out.sort_values("pushed_at", kind="stable").reset_index(drop=True)


def by_shortcode(tx: pd.DataFrame, *, kinds: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per BusinessShortCode: what kind it is (``kinds``, then the lab's ``KNOWN_SHORTCODES``,
    else "not known": the frame has no TransactionType), transactions by outcome group, the
    callbacks received (transactions answered) and delivered (duplicates included), the success
    rate, amounts requested and paid, and the median latency."""
    import numpy as np
    import pandas as pd

    names = {**KNOWN_SHORTCODES, **(kinds or {})}
    shortcode = tx["shortcode"].astype(object).fillna(f"({NOT_KNOWN})")
    keys, labels = pd.factorize(shortcode, sort=True)
    out = _rates(_counts(pd.Series(keys), len(labels), outcome(tx)))
    k = np.asarray(keys)
    callbacks = tx["callbacks"].to_numpy(dtype="int64")
    out["callbacks_received"] = np.bincount(k, weights=(callbacks > 0), minlength=len(labels)).astype("int64")
    out["deliveries"] = np.bincount(k, weights=callbacks, minlength=len(labels)).astype("int64")
    paid = (tx["status"] == "paid").to_numpy()
    out["amount_requested"] = np.bincount(k, weights=tx["amount_requested"].fillna(0).to_numpy(), minlength=len(labels))
    out["amount_paid"] = np.bincount(
        k, weights=np.where(paid, tx["amount"].fillna(0).to_numpy(), 0), minlength=len(labels)
    )
    latency = pd.Series(tx["latency_s"].to_numpy(), index=k).groupby(level=0).median()
    out["p50_latency_s"] = latency.reindex(range(len(labels))).to_numpy()
    out.insert(0, "kind", [names.get(str(s), NOT_KNOWN) for s in labels])
    out.insert(0, "shortcode", list(labels))
    out.attrs["note"] = "transactions (one per push) per shortcode; deliveries count callback POSTs, copies included"
    return out
