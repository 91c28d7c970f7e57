"""The week's questions (mpesa_lab.analytics.questions): each answer on hand-made rows, on the
committed week (where the tables must agree with each other), on a callbacks-only log and on an
empty frame."""

from __future__ import annotations

import pandas as pd
import pytest

from mpesa_lab import analytics
from mpesa_lab.analytics import analyses, questions
from mpesa_lab.store import frames
from tests.analytics.samples import MESSY, WEEK
from tests.analytics.test_analyses import T0, tx_frame


def at(minutes: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minutes)


def push(minutes: float, code: str | None, *, phone: str = "A", amount: float = 100, shortcode: str = "1", **more):
    status = {"0": "paid", None: "pending"}.get(code, "failed")
    row = {
        "status": status,
        "result_code": code,
        "phone": phone,
        "shortcode": shortcode,
        "amount_requested": amount,
        "pushed_at": at(minutes),
        "callback_at": at(minutes) + pd.Timedelta(seconds=30 if code == "1037" else 10) if code else None,
        "callbacks": 1 if code else 0,
        "amount": amount if code == "0" else None,
    }
    return {**row, **more}


@pytest.fixture(scope="module")
def week() -> analytics.Outcomes:
    return analytics.load(WEEK)


def test_retry_chains_follow_the_same_phone_amount_and_shortcode_within_the_window():
    tx = tx_frame(
        [
            push(0, "1037"),  # chain 1: 1037 > 1032 > 0, each within 30 min of the last
            push(5, "1032"),
            push(20, "0"),
            push(25, "1032"),  # after a payment: a new chain, never retried
            push(100, "1037", phone="B"),  # B: retried 40 min later, outside the window
            push(140, "0", phone="B"),
            push(200, "1032", phone="C"),  # C: "retried" for another amount is a new purchase
            push(205, "0", phone="C", amount=50),
            push(300, "1032", phone="D", shortcode="2"),  # D: retried, and did not pay
            push(302, "1037", phone="D", shortcode="2"),
        ]
    )
    chains = questions.retry_chains(tx)
    assert chains["codes"].tolist() == ["1037 > 1032 > 0", "1032", "1037", "0", "1032", "0", "1032 > 1037"]
    assert chains["attempts"].tolist() == [3, 1, 1, 1, 1, 1, 2]
    assert chains.loc[0, "minutes_to_pay"] == pytest.approx(20)
    conversion = questions.retry_conversion(tx).set_index("first_code")
    # 1037 first: A (retried, paid) and B (not retried in the window); 1032 first: A's second
    # chain, C and D (retried, not paid).
    assert conversion.loc["1037", ["chains", "retried", "paid_on_retry"]].tolist() == [2, 1, 1]
    assert conversion.loc["1032", ["chains", "retried", "paid_on_retry"]].tolist() == [3, 1, 0]
    assert conversion.loc["all", "conversion"] == pytest.approx(0.5)
    assert conversion.loc["1037", "median_minutes_to_pay"] == pytest.approx(20)
    wide = questions.retry_conversion(tx, window="1h").set_index("first_code")
    assert wide.loc["1037", "paid_on_retry"] == 2  # B's payment 40 min later counts in a 1 h window


def test_reconciliation_lists_the_amounts_that_differ():
    tx = tx_frame(
        [
            push(0, "0", amount=100),
            push(1, "0", amount=100, phone="B") | {"amount": 90.0},
            push(2, "0", phone="C") | {"amount": None, "query_result_code": "0"},  # paid by query
            push(3, "1032", phone="D"),
        ]
    )
    summary = questions.reconciliation(tx).set_index("verdict")
    assert summary["transactions"].tolist() == [1, 1, 1]
    assert summary.loc["mismatch", "amount_paid"] == 90
    mismatches = questions.amount_mismatches(tx)
    assert mismatches[["phone", "amount_requested", "amount", "difference"]].values.tolist() == [["B", 100, 90, -10]]


def test_outcome_groups_and_hours():
    tx = tx_frame(
        [
            push(0, "0"),
            push(1, "1032"),
            push(2, "1019"),
            push(61, "1037"),
            push(62, "1"),
            push(63, None),
            {"status": "rejected", "response_code": None, "error_code": "500.003.02", "pushed_at": at(64)},
        ]
    )
    assert questions.outcome(tx).tolist() == [
        "paid",
        "cancelled",
        "no answer",
        "no answer",
        "other failure",
        "pending",
        "refused",
    ]
    hours = questions.by_hour(tx).set_index("hour")
    first, second = T0.hour, (T0 + pd.Timedelta(hours=1)).hour
    assert hours.loc[first, ["transactions", "paid", "cancelled", "no answer"]].tolist() == [3, 1, 1, 1]
    assert hours.loc[second, "transactions"] == 4 and hours.loc[second, "no_answer_rate"] == 0.25
    assert hours["transactions"].sum() == len(tx) and len(hours) == 24
    grid = questions.hour_heatmap(tx)
    assert grid.shape == (24, 7) and grid.to_numpy().sum() == len(tx)
    assert questions.hour_heatmap(tx, columns="outcome").loc[first, "cancelled"] == 1


def test_the_weeks_tables_agree_with_each_other(week):
    tx, cb = week.transactions, week.callbacks
    funnel = questions.callback_funnel(tx).set_index("stage")["transactions"]
    hours = questions.by_hour(tx)
    shortcodes = questions.by_shortcode(tx)
    old = analyses.funnel(tx).set_index("stage")["count"]
    # transactions: one per push, everywhere
    assert funnel["pushes requested"] == hours["transactions"].sum() == shortcodes["transactions"].sum() == len(tx)
    assert funnel["pushes requested"] == old["requested"]
    for column in ("paid", "refused", "cancelled", "no answer", "pending"):
        assert hours[column].sum() == shortcodes[column].sum(), column
    assert funnel["paid"] == hours["paid"].sum() == old["paid"] == (tx["status"] == "paid").sum()
    assert funnel["refused by Daraja (no prompt)"] == hours["refused"].sum()
    assert funnel["accepted by Daraja"] == funnel["callback received"] + funnel["no callback"]
    silent = ["  query said paid", "  query said failed", "  query still pending", "  never queried"]
    assert funnel[silent].sum() == funnel["no callback"] == len(analyses.missing_callbacks(tx))
    assert funnel["paid"] == funnel["  told by the callback"] + funnel["  told by the STK query"]
    assert funnel["  told by the STK query"] == funnel["  query said paid"]
    # deliveries: callback POSTs, duplicates included
    assert shortcodes["deliveries"].sum() == len(cb)
    assert shortcodes["callbacks_received"].sum() == funnel["callback received"] == old["callback received"]
    assert questions.reconciliation(tx)["transactions"].sum() == funnel["paid"]
    assert questions.latency_by_code(tx)["transactions"].sum() == analyses.latency(tx).loc[0, "count"]


def test_the_week_answers_its_questions(week):
    tx = week.transactions
    kinds = questions.by_shortcode(tx).set_index("shortcode")["kind"]
    assert kinds["174379"] == "paybill" and kinds["174380"].startswith("till 174381")
    latency = questions.latency_by_code(tx).set_index("result_code")
    assert 28 <= latency.loc["1037", "p50_s"] <= 34  # a no-answer ends about 30 s after the push
    assert 5 <= latency.loc["0", "p50_s"] <= 25 and latency.loc["1032", "p50_s"] < latency.loc["0", "p50_s"]
    assert latency.loc["2028", "p90_s"] < 5  # a refusal by the core comes back fast
    retries = questions.retry_conversion(tx).set_index("first_code")
    assert retries.loc["all", "paid_on_retry"] > 20 and 0.3 < retries.loc["all", "conversion"] < 0.95
    assert len(questions.amount_mismatches(tx)) >= 3
    funnel = questions.callback_funnel(tx).set_index("stage")["transactions"]
    assert funnel["  query said paid"] > 0 and funnel["  query said failed"] > 0 and funnel["  never queried"] > 0


def test_a_callbacks_only_log_says_what_is_not_known():
    tx = analytics.load(MESSY).transactions
    chains = questions.retry_chains(tx)
    assert chains.empty and "not known" in chains.attrs["note"]
    assert questions.retry_conversion(tx).empty
    assert questions.latency_by_code(tx).empty and "not known" in questions.latency_by_code(tx).attrs["note"]
    funnel = questions.callback_funnel(tx)
    assert funnel["stage"].iloc[0] == "callback received" and "not known" in funnel.attrs["note"]
    assert "callback" in questions.by_hour(tx).attrs["note"]  # placed by the callback's time
    shortcodes = questions.by_shortcode(tx)
    assert shortcodes["shortcode"].tolist() == ["(not known)"] and shortcodes["kind"].tolist() == ["not known"]
    assert questions.reconciliation(tx).set_index("verdict").loc["not known", "transactions"] == (
        (tx["status"] == "paid").sum()
    )


def test_every_question_accepts_an_empty_frame():
    empty = frames.conform(pd.DataFrame(), frames.TRANSACTIONS)
    assert questions.by_hour(empty)["transactions"].sum() == 0
    assert questions.hour_heatmap(empty).to_numpy().sum() == 0
    assert questions.latency_by_code(empty).empty
    assert questions.retry_chains(empty).empty and questions.retry_conversion(empty).empty
    assert questions.reconciliation(empty)["transactions"].sum() == 0
    assert questions.amount_mismatches(empty).empty
    assert questions.by_shortcode(empty).empty
    assert questions.callback_funnel(empty)["transactions"].sum() == 0


def test_the_package_exports_them():
    for name in ("by_hour", "hour_heatmap", "latency_by_code", "callback_funnel", "retry_conversion"):
        assert getattr(analytics, name) is getattr(questions, name)


def test_a_lab_sessions_own_store_few_rows(tmp_path):
    # A real store as a lab fills it: three pushes to one phone, 0 then 1032 then 0, seconds apart.
    from tests.analytics.test_sources import _store

    tx = analytics.load(_store(tmp_path)).transactions
    assert len(tx) == 3
    conversion = questions.retry_conversion(tx).set_index("first_code")
    assert conversion.loc["1032", ["chains", "retried", "paid_on_retry"]].tolist() == [1, 1, 1]
    assert questions.retry_chains(tx)["codes"].tolist() == ["0", "1032 > 0"]
    assert questions.reconciliation(tx).set_index("verdict").loc["match", "transactions"] == 2
    assert questions.by_shortcode(tx)[["shortcode", "kind", "transactions"]].values.tolist() == [
        ["174379", "paybill", 3]
    ]
    assert questions.by_hour(tx)["transactions"].sum() == 3
    assert set(questions.latency_by_code(tx)["result_code"]) == {"0", "1032"}


def test_without_requested_amounts_retries_and_reconciliation_are_not_known(tmp_path):
    from tests.analytics.test_sources import _store

    tx = analytics.load(_store(tmp_path)).transactions.assign(amount_requested=float("nan"))
    assert "no requested amounts" in questions.retry_chains(tx).attrs["note"]
    assert questions.retry_conversion(tx).empty
    verdicts = questions.reconciliation(tx).set_index("verdict")["transactions"]
    assert verdicts["not known"] == 2 and verdicts["match"] == 0
