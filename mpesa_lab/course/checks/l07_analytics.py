"""Checks for notebook 07, result-code analytics: the paid rows and the top failure."""

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
