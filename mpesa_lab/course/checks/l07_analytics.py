"""Checks for notebook 07, result-code analytics: the paid rows, the top failure, and the week's
questions (the no-answer hour and latency, what queries settled, retries, amounts, the till)."""

from __future__ import annotations

from typing import Any

from mpesa_lab import codes
from mpesa_lab.course.checks._shared import todo, type_name, unanswered, verdict, with_article
from mpesa_lab.course.verdict import Verdict


def paid_rows(frame: Any, tx: Any) -> Verdict:
    """The rows of ``tx`` whose callback said paid: ``tx[tx.result_code == "0"]``."""
    name = "The paid transactions"
    if unanswered(frame):
        return todo(name, "Filter the transactions on result_code; remember what type it holds.")
    expected = int((tx["result_code"] == "0").sum())
    if isinstance(frame, (int, float)) and not isinstance(frame, bool):
        return verdict(name, [f"{frame} is a number: keep the rows (a DataFrame), not their count"])
    if isinstance(frame, bool) or not hasattr(frame, "columns"):
        if hasattr(frame, "dtype") and str(getattr(frame, "dtype", "")) == "bool":
            return verdict(name, ["this is the mask (True/False per row): use it to select rows, tx[mask]"])
        return verdict(name, [f"expected a DataFrame of transactions, got {type_name(frame)}"])
    got = len(frame)
    if got == expected and "result_code" in frame.columns and (frame["result_code"] == "0").all():
        return verdict(name, [], f"{expected} of {len(tx)} transactions paid.")
    if got == 0 and expected:
        return verdict(
            name,
            ['no rows: result_code is text, so result_code == 0 (the number) is never true; compare with the text "0"'],
        )
    if got == len(tx):
        return verdict(name, [f'all {got} rows: nothing was filtered out; keep only result_code "0"'])
    if "result_code" in frame.columns and not (frame["result_code"] == "0").all():
        return verdict(name, ['some rows have another result_code than "0": those did not pay'])
    return verdict(name, [f'{got} rows, but {expected} transactions have result_code "0"'])


def top_failure(value: Any, tx: Any) -> Verdict:
    """The most frequent failing ResultCode in ``tx`` (status failed), as text."""
    name = "The commonest failure"
    if unanswered(value):
        return todo(name, "Count result_code among the failed rows and take the most common one.")
    failed_rows = tx[tx["status"] == "failed"]
    failed = failed_rows["result_code"].value_counts()
    expected = str(failed.index[0])
    # What analytics.summary counts (and the notebook shows): the callback's code, else the STK
    # query's for a push whose callback never came; the message gives both parts of that count.
    by_query = (
        failed_rows["result_code"].isna() & (failed_rows["query_result_code"] == expected)
        if "query_result_code" in failed_rows.columns
        else failed_rows["result_code"].isna() & False
    )
    told = int(failed.iloc[0])
    asked = int(by_query.sum())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if codes.normalize_code(value) == expected:
            return verdict(name, [f'right code, but {with_article(value)}: result codes are text ("{expected}")'])
    if not isinstance(value, str):
        return verdict(name, [f"answer with the code as a str, not {type_name(value)}"])
    code = value.strip()
    if code == expected:
        entry = codes.result_entry(expected)
        how = (
            (f"{told + asked} times ({told} told by the callback, {asked} by the STK query when no callback came)")
            if asked
            else f"{told} times"
        )
        return verdict(name, [], f"{expected} ({entry.name}) failed {how}: {entry.mitigation}")
    if code == "0":
        return verdict(name, ["0 is success: look at the failed rows only (status == 'failed')"])
    if code in failed.index:
        rank = list(failed.index).index(code) + 1
        return verdict(
            name,
            [
                f"{code} failed {int(failed[code])} times, number {rank} among the failures; "
                f"another code failed more often"
            ],
        )
    counts = tx["result_code"].value_counts()
    if code in counts.index:
        return verdict(
            name,
            [f"{code} is in the week but not as a failure (its rows are not status 'failed'): filter on status first"],
        )
    return verdict(name, [f"{code!r} is not a result code of these transactions"])


# -- the week's questions (issue 22): hours, latency by code, queries, retries, amounts, till ----


def _number(name: str, value: Any, what: str) -> Verdict | float:
    """``value`` as a float, or the verdict that says it is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        return verdict(name, [f"answer with {what} (a number), not {type_name(value)}"])
    try:
        return float(value)
    except (TypeError, ValueError):
        return verdict(name, [f"answer with {what} (a number), not {type_name(value)}"])


#: an hour with fewer transactions than this has a rate that is mostly noise
BUSY_HOUR = 50


def no_answer_hour(value: Any, tx: Any) -> Verdict:
    """The hour of day (0-23) with the highest no-answer rate among hours with >= 50 transactions."""
    from mpesa_lab.analytics import by_hour

    name = "The hour prompts go unanswered"
    if unanswered(value):
        return todo(
            name, f"analytics.by_hour(tx): keep hours with >= {BUSY_HOUR} transactions, take the top no_answer_rate."
        )
    hours = by_hour(tx)
    busy = hours[hours["transactions"] >= BUSY_HOUR]
    expected = int(busy.loc[busy["no_answer_rate"].idxmax(), "hour"])
    got = _number(name, value, "the hour, 0-23")
    if isinstance(got, Verdict):
        return got
    if got != int(got) or not 0 <= got <= 23:
        return verdict(name, [f"{value} is not an hour of the day: answer 0-23"])
    hour = int(got)
    row = hours.set_index("hour").loc[hour]
    if hour == expected:
        return verdict(
            name, [], f"{hour:02d}:00: {row['no_answer_rate']:.0%} of {int(row['transactions'])} prompts got no answer."
        )
    if row["transactions"] < BUSY_HOUR:
        return verdict(
            name,
            [
                f"{hour:02d}:00 had only {int(row['transactions'])} transactions: a rate of so few is noise; "
                f"keep the hours with >= {BUSY_HOUR} transactions first"
            ],
        )
    return verdict(name, [f"{hour:02d}:00's no-answer rate is {row['no_answer_rate']:.0%}; a busy hour has more"])


def no_answer_latency(value: Any, tx: Any) -> Verdict:
    """The median seconds from push to a 1037 callback."""
    name = "How long a no-answer takes"
    if unanswered(value):
        return todo(name, 'Keep the rows with result_code "1037", then the median of latency_s.')
    expected = float(tx.loc[tx["result_code"] == "1037", "latency_s"].median())
    got = _number(name, value, "seconds")
    if isinstance(got, Verdict):
        return got
    if abs(got - expected) < 0.005:
        return verdict(
            name,
            [],
            f"{expected:.1f} s: an unanswered prompt holds the phone about half a minute; query after that, not before.",
        )
    if abs(got - float(tx["latency_s"].median())) < 0.005:
        return verdict(name, ['that is the median of every code; keep result_code "1037" first'])
    return verdict(name, [f"{got:g} s is not the median latency of the 1037 callbacks"])


def settled_by_query(value: Any, tx: Any) -> Verdict:
    """How many accepted pushes without a callback an STK query settled (paid or failed)."""
    name = "Settled by an STK query"
    if unanswered(value):
        return todo(name, "Accepted pushes (response_code '0') with callbacks == 0 whose status is paid or failed.")
    silent = (tx["response_code"] == "0").fillna(False) & (tx["callbacks"] == 0)
    expected = int((silent & tx["status"].isin(["paid", "failed"])).sum())
    got = _number(name, value, "a count")
    if isinstance(got, Verdict):
        return got
    if got == expected:
        return verdict(
            name, [], f"{expected} of {int(silent.sum())} pushes without a callback were settled by a query."
        )
    if got == int((tx["callbacks"] == 0).sum()):
        return verdict(
            name, ["that counts every transaction without a callback: refused pushes and unsettled ones too"]
        )
    if got == int(silent.sum()):
        return verdict(name, ["that counts every accepted push without a callback; keep those a query settled"])
    if got == int(tx["query_result_code"].notna().sum()):
        return verdict(name, ["that counts every query answer, pending ones (4999) too: keep status paid or failed"])
    return verdict(name, [f"{got:g}, but {expected} accepted pushes without a callback were settled by a query"])


def retry_conversion(value: Any, tx: Any) -> Verdict:
    """Of the chains that began with 1037 and were retried, the share paid on a retry."""
    from mpesa_lab.analytics import retry_conversion as table

    name = "Paid on a retry after 1037"
    if unanswered(value):
        return todo(name, "analytics.retry_conversion(tx): the 1037 row; paid on a retry / retried.")
    row = table(tx).set_index("first_code").loc["1037"]
    got = _number(name, value, "a share between 0 and 1")
    if isinstance(got, Verdict):
        return got
    if abs(got - row["conversion"]) < 0.0005:
        return verdict(
            name,
            [],
            f"{row['conversion']:.0%}: {int(row['paid_on_retry'])} of {int(row['retried'])} retried customers paid.",
        )
    if abs(got - row["recovered"]) < 0.0005:
        return verdict(name, ["that divides by every 1037 chain, retried or not: divide by the retried ones"])
    if 1 < got <= 100 and abs(got / 100 - row["conversion"]) < 0.0005:
        return verdict(name, ["a share is between 0 and 1: divide the percentage by 100"])
    return verdict(name, [f"{got:g} is not paid on a retry / retried for the chains that began with 1037"])


def mismatched(frame: Any, tx: Any) -> Verdict:
    """The paid rows whose callback Amount differs from the amount requested."""
    from mpesa_lab.analytics import amount_mismatches

    name = "Paid another amount"
    if unanswered(frame):
        return todo(name, "Keep the paid rows first, then those whose amount differs from amount_requested.")
    if not hasattr(frame, "columns") or "checkout_request_id" not in getattr(frame, "columns", ()):
        return verdict(name, [f"expected rows of tx (a DataFrame), got {type_name(frame)}"])
    expected = set(amount_mismatches(tx)["checkout_request_id"])
    got = set(frame["checkout_request_id"])
    if got == expected:
        short = float((frame["amount_requested"] - frame["amount"]).sum()) if "amount" in frame.columns else 0
        return verdict(name, [], f"{len(expected)} payments, KES {short:,.0f} short of what was asked.")
    unpaid = got & set(tx.loc[tx["status"] != "paid", "checkout_request_id"])
    if unpaid:
        return verdict(
            name,
            [
                f"{len(unpaid)} rows are not paid: their amount is NaN, and NaN != 100 is True; keep status == 'paid' first"
            ],
        )
    return verdict(name, [f"{len(got)} rows, but {len(expected)} paid transactions were paid another amount"])


def till_success_rate(value: Any, tx: Any) -> Verdict:
    """The success rate (paid / transactions) of the till's pushes (BusinessShortCode 174380)."""
    name = "The till's success rate"
    if unanswered(value):
        return todo(name, "Keep the till's pushes (which shortcode do they carry?), then paid / transactions.")
    till = tx[tx["shortcode"] == "174380"]
    expected = float((till["status"] == "paid").mean())
    got = _number(name, value, "a share between 0 and 1")
    if isinstance(got, Verdict):
        return got
    if got != got:  # NaN: no rows
        return verdict(
            name,
            [
                "no rows, so no rate: a till push carries the store number 174380 as BusinessShortCode "
                "(the till 174381 is its PartyB)"
            ],
        )
    if abs(got - expected) < 0.0005:
        return verdict(name, [], f"{expected:.0%} of {len(till)} pushes to the till were paid.")
    settled = till["status"].isin(["paid", "failed"])
    if settled.any() and abs(got - float((till["status"] == "paid").sum() / settled.sum())) < 0.0005:
        return verdict(name, ["that leaves pending and refused pushes out: divide by every till transaction"])
    if abs(got - float((tx["status"] == "paid").mean())) < 0.0005:
        return verdict(name, ["that is every shortcode's rate: keep the till's pushes first"])
    return verdict(name, [f"{got:g} is not paid / transactions for shortcode 174380"])
