"""Checks of notebook 07, result-code analytics: right answers pass, wrong ones are named."""

from __future__ import annotations

from mpesa_lab.course import check
from tests.course.helpers import ok, todo, wrong


def test_paid_rows(week):
    tx = week
    ok(check.paid_rows(tx[tx.result_code == "0"], tx))
    todo(check.paid_rows(..., tx))
    wrong(check.paid_rows(tx[tx.result_code == 0], tx), "result_code is text", 'compare with the text "0"')
    wrong(check.paid_rows(tx, tx), "nothing was filtered out")
    wrong(check.paid_rows(tx[tx.status == "paid"], tx), 'another result_code than "0"')
    wrong(check.paid_rows(int((tx.result_code == "0").sum()), tx), "is a number")
    wrong(check.paid_rows(tx.result_code == "0", tx), "this is the mask")
    wrong(check.paid_rows(tx[tx.result_code == "0"].head(5), tx), "5 rows, but")


def test_top_failure(week):
    tx = week
    counts = tx[tx.status == "failed"].result_code.value_counts()
    top, second = counts.index[0], counts.index[1]
    ok(check.top_failure(top, tx))
    todo(check.top_failure(..., tx))
    wrong(check.top_failure(int(top), tx), "result codes are text")
    wrong(check.top_failure("0", tx), "0 is success")
    wrong(check.top_failure(second, tx), f"{second} failed", "number 2 among the failures")
    wrong(check.top_failure("SFC_NOPE", tx), "not a result code of these transactions")
    wrong(check.top_failure(["1032"], tx), "as a str")


def test_top_failure_counts_as_the_notebook_shows(week):
    """Issue 18, item 10: 07's summary counted 1032 as 222 while the check said 218. The check's
    count is the summary's (callback, else STK query), and says how it splits."""
    from mpesa_lab import analytics

    tx = week
    top = tx[tx.status == "failed"].result_code.value_counts().index[0]
    summary = analytics.summary(tx)
    shown = int(summary.loc[summary.result_code == top, "count"].iloc[0])
    verdict = check.top_failure(top, tx)
    ok(verdict)
    assert f"failed {shown} times" in str(verdict), (shown, str(verdict))
    by_callback = int((tx[tx.status == "failed"].result_code == top).sum())
    assert f"{by_callback} told by the callback" in str(verdict)
