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


# -- the week's questions (issue 22) ------------------------------------------------------------


def test_no_answer_hour(week):
    from mpesa_lab import analytics

    tx = week
    hours = analytics.by_hour(tx)
    busy = hours[hours.transactions >= 50]
    ok(check.no_answer_hour(int(busy.loc[busy.no_answer_rate.idxmax(), "hour"]), tx))
    todo(check.no_answer_hour(..., tx))
    quiet = int(hours.loc[hours.no_answer_rate.idxmax(), "hour"])  # a night hour of a few pushes
    wrong(check.no_answer_hour(quiet, tx), "a rate of so few is noise")
    wrong(check.no_answer_hour(12, tx), "a busy hour has more")
    wrong(check.no_answer_hour(25, tx), "not an hour of the day")
    wrong(check.no_answer_hour("22", tx), "(a number)")


def test_no_answer_latency(week):
    tx = week
    verdict = check.no_answer_latency(tx[tx.result_code == "1037"].latency_s.median(), tx)
    ok(verdict)
    assert "half a minute" in " ".join(str(verdict).split())
    todo(check.no_answer_latency(..., tx))
    wrong(check.no_answer_latency(tx.latency_s.median(), tx), "the median of every code")
    wrong(check.no_answer_latency(60, tx), "is not the median")


def test_settled_by_query(week):
    tx = week
    silent = tx[(tx.response_code == "0") & (tx.callbacks == 0)]
    ok(check.settled_by_query(int(silent.status.isin(["paid", "failed"]).sum()), tx))
    todo(check.settled_by_query(..., tx))
    wrong(check.settled_by_query(int((tx.callbacks == 0).sum()), tx), "refused pushes and unsettled ones")
    wrong(check.settled_by_query(len(silent), tx), "keep those a query settled")
    wrong(check.settled_by_query(int(tx.query_result_code.notna().sum()), tx), "pending ones (4999)")


def test_retry_conversion(week):
    from mpesa_lab import analytics

    tx = week
    row = analytics.retry_conversion(tx).set_index("first_code").loc["1037"]
    verdict = check.retry_conversion(row.paid_on_retry / row.retried, tx)
    ok(verdict)
    assert f"{int(row.paid_on_retry)} of {int(row.retried)} retried customers paid" in " ".join(str(verdict).split())
    todo(check.retry_conversion(..., tx))
    wrong(check.retry_conversion(row.recovered, tx), "divide by the retried ones")
    wrong(check.retry_conversion(row.conversion * 100, tx), "divide the percentage by 100")
    wrong(check.retry_conversion(0.99, tx), "is not paid on a retry")


def test_mismatched(week):
    tx = week
    paid = tx[tx.status == "paid"]
    ok(check.mismatched(paid[paid.amount != paid.amount_requested].dropna(subset=["amount"]), tx))
    todo(check.mismatched(..., tx))
    wrong(check.mismatched(tx[tx.amount != tx.amount_requested], tx), "NaN != 100 is True")
    wrong(check.mismatched(paid.head(3), tx), "were paid another amount")
    wrong(check.mismatched(3, tx), "a DataFrame")


def test_till_success_rate(week):
    tx = week
    ok(check.till_success_rate((tx[tx.shortcode == "174380"].status == "paid").mean(), tx))
    todo(check.till_success_rate(..., tx))
    wrong(check.till_success_rate((tx[tx.shortcode == "174381"].status == "paid").mean(), tx), "store number 174380")
    wrong(check.till_success_rate((tx.status == "paid").mean(), tx), "every shortcode's rate")
    till = tx[tx.shortcode == "174380"]
    settled = (till.status == "paid").sum() / till.status.isin(["paid", "failed"]).sum()
    wrong(check.till_success_rate(settled, tx), "pending and refused")
