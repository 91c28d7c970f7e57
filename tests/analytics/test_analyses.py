"""Each analysis against a small hand-built frame with known answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mpesa_lab.analytics import analyses
from mpesa_lab.store import frames

T0 = pd.Timestamp("2026-06-01 09:00", tz="Africa/Nairobi")


def tx_frame(rows: list[dict]) -> pd.DataFrame:
    """A transactions frame in the documented schema from a few hand-written rows."""
    base = {"callbacks": 0, "response_code": "0", "push_id": 1}
    df = pd.DataFrame([{**base, **row} for row in rows])
    df["push_id"] = range(1, len(df) + 1)
    df["result_code"] = (
        df["result_code"].astype("str").where(df["result_code"].notna()) if "result_code" in df else None
    )
    frames.explain(df)
    if "pushed_at" in df and "callback_at" in df:
        df["latency"] = df["callback_at"] - df["pushed_at"]
        df["latency_s"] = df["latency"].dt.total_seconds()
    return frames.conform(df, frames.TRANSACTIONS)


@pytest.fixture
def tx() -> pd.DataFrame:
    at = lambda minutes: T0 + pd.Timedelta(minutes=minutes)  # noqa: E731
    return tx_frame(
        [
            {
                "status": "paid",
                "result_code": "0",
                "result_desc": "ok",
                "phone": "A",
                "shortcode": "1",
                "pushed_at": at(0),
                "callback_at": at(0) + pd.Timedelta(seconds=4),
                "callbacks": 1,
            },
            {
                "status": "paid",
                "result_code": "0",
                "result_desc": "ok",
                "phone": "A",
                "shortcode": "1",
                "pushed_at": at(10),
                "callback_at": at(10) + pd.Timedelta(seconds=6),
                "callbacks": 2,
            },
            {
                "status": "failed",
                "result_code": "1032",
                "result_desc": "Request cancelled by user",
                "phone": "B",
                "shortcode": "2",
                "pushed_at": at(70),
                "callback_at": at(70) + pd.Timedelta(seconds=2),
                "callbacks": 1,
            },
            {
                "status": "failed",
                "result_code": None,
                "query_result_code": "1037",
                "query_result_desc": "timeout",
                "phone": "B",
                "shortcode": "2",
                "pushed_at": at(75),
                "callbacks": 0,
            },
            {"status": "pending", "result_code": None, "phone": "C", "shortcode": "2", "pushed_at": at(80)},
            {
                "status": "rejected",
                "result_code": None,
                "response_code": None,
                "error_code": "400.002.02",
                "phone": "C",
                "shortcode": "1",
                "pushed_at": at(85),
            },
            {
                "status": "failed",
                "result_code": "4242",
                "result_desc": "bad debt",
                "phone": "D",
                "shortcode": "1",
                "pushed_at": at(90),
                "callback_at": at(90) + pd.Timedelta(seconds=8),
                "callbacks": 1,
            },
        ]
    )


def test_summary_counts_shares_and_mitigation(tx):
    s = analyses.summary(tx)
    assert s["count"].sum() == len(tx) == 7
    rows = {(r.result_code if isinstance(r.result_code, str) else r.result_name): r for r in s.itertuples()}
    assert rows["0"].count == 2 and rows["0"].share == pytest.approx(2 / 7)
    assert rows["1037"].count == 1 and rows["1037"].result_name == "unreachable"  # from the STK query
    assert rows["1032"].category == "customer_action" and "cancel" in rows["1032"].mitigation.lower()
    assert rows["4242"].category == "unknown" and rows["4242"].result_name == "unknown"
    assert rows["(no result yet)"].count == 1 and rows["(push refused)"].count == 1
    assert s["count"].tolist() == sorted(s["count"], reverse=True)
    assert s["result_code"].dtype == "str"


def test_success_rate_overall_by_phone_by_shortcode_and_over_time(tx):
    overall = analyses.success_rate(tx)
    assert overall.loc[0, "transactions"] == 7 and overall.loc[0, "paid"] == 2
    assert overall.loc[0, "success_rate"] == pytest.approx(2 / 7)
    assert overall.loc[0, "settled_success_rate"] == pytest.approx(2 / 5)  # paid / (paid + failed)
    by_phone = analyses.success_rate(tx, by="phone").set_index("phone")
    assert by_phone.loc["A", "success_rate"] == 1.0 and by_phone.loc["B", "success_rate"] == 0.0
    by_code = analyses.success_rate(tx, by="shortcode").set_index("shortcode")
    assert by_code.loc["1", "transactions"] == 4 and by_code.loc["1", "paid"] == 2
    hourly = analyses.success_rate(tx, freq="1h")
    assert hourly["transactions"].tolist() == [2, 5]
    assert hourly["success_rate"].tolist() == [1.0, 0.0]


def test_latency_percentiles_and_distribution(tx):
    lat = analyses.latency(tx)
    assert lat.loc[0, "count"] == 4  # pushes with a callback time
    assert lat.loc[0, "p50_s"] == pytest.approx(5.0) and lat.loc[0, "max_s"] == 8.0
    assert lat.loc[0, "min_s"] == 2.0 and lat.loc[0, "mean_s"] == pytest.approx(5.0)
    dist = analyses.latency_distribution(tx, bins=[0, 5, 10])
    assert dist["count"].tolist() == [2, 2]


def test_funnel(tx):
    f = analyses.funnel(tx).set_index("stage")["count"]
    assert f.tolist() == [7, 6, 4, 2]
    assert analyses.funnel(tx).loc[3, "share_of_first"] == pytest.approx(2 / 7)


def test_funnel_of_callbacks_only_starts_at_received():
    df = tx_frame(
        [
            {"status": "paid", "result_code": "0", "callbacks": 1},
            {"status": "failed", "result_code": "1", "callbacks": 1},
        ]
    )
    df["push_id"] = pd.array([None, None], dtype="Int64")
    df["response_code"] = pd.Series([None, None], dtype="str")
    f = analyses.funnel(df)
    assert f["count"].isna().tolist() == [True, True, False, False]
    assert f["count"].tolist()[2:] == [2, 1]


def test_missing_callbacks_with_what_the_query_said(tx):
    m = analyses.missing_callbacks(tx)
    assert m["phone"].tolist() == ["B", "C"]  # accepted, no callback (the refused push is not here)
    assert m.loc[0, "query_says"].startswith("unreachable:")
    assert m.loc[1, "query_says"].startswith("never queried")


def test_duplicates_and_unknown_callbacks():
    cb = pd.DataFrame(
        {
            "checkout_request_id": ["x", "y", "x", "z", "x"],
            "received_at": pd.to_datetime(
                [
                    "2026-06-01 09:00:00",
                    "2026-06-01 09:00:01",
                    "2026-06-01 09:00:02",
                    "2026-06-01 09:00:03",
                    "2026-06-01 09:00:04",
                ]
            ).tz_localize("Africa/Nairobi"),
            "result_code": ["0", "1032", "0", "1", "1032"],
            "duplicate": [False, False, True, False, True],
            "unknown": [False, False, False, True, False],
        }
    )
    d = analyses.duplicates(cb)
    assert d["checkout_request_id"].tolist() == ["x"] and d.loc[0, "copies"] == 3
    assert not d.loc[0, "same_result"] and d.loc[0, "result_codes"] == "0, 1032"
    assert analyses.unknown_callbacks(cb)["checkout_request_id"].tolist() == ["z"]


def test_unknown_codes(tx):
    u = analyses.unknown_codes(tx)
    assert u["result_code"].tolist() == ["4242"] and u.loc[0, "result_desc"] == "bad debt"


def test_every_analysis_accepts_an_empty_frame():
    empty = frames.conform(pd.DataFrame(), frames.TRANSACTIONS)
    cb = frames.conform(pd.DataFrame(), frames.CALLBACKS)
    assert analyses.summary(empty).empty
    assert analyses.latency(empty).loc[0, "count"] == 0
    assert analyses.latency_distribution(empty).empty
    assert analyses.missing_callbacks(empty).empty
    assert analyses.duplicates(cb).empty and analyses.unknown_callbacks(cb).empty
    assert analyses.unknown_codes(empty).empty


def test_the_result_code_zero_trap():
    """result_code is text: comparing with the number 0 finds nothing; "0" finds the payments."""
    df = tx_frame([{"status": "paid", "result_code": "0"}, {"status": "failed", "result_code": "1032"}])
    assert (df.result_code == "0").sum() == 1
    assert (df.result_code == 0).sum() == 0


def test_summary_counts_pairs_the_same_way_either_route(monkeypatch):
    """The most frequent wording and status per code, ties to the smallest, whether counted in a
    table of pairs (few codes and wordings) or by grouping (many)."""
    import numpy as np

    from mpesa_lab.analytics import analyses, load

    week = load(Path(__file__).resolve().parents[2] / "data" / "week").transactions
    rng = np.random.default_rng(3)
    tied = week.copy()
    pick = rng.choice(len(tied), size=len(tied) // 3, replace=False)
    tied.loc[pick, "result_desc"] = np.where(rng.random(len(pick)) < 0.5, "b wording", "a wording")
    for frame in (week, tied):
        by_table = analyses.summary(frame)
        monkeypatch.setattr(analyses, "PAIR_TABLE_MAX", 0)
        by_grouping = analyses.summary(frame)
        monkeypatch.undo()
        pd.testing.assert_frame_equal(by_table, by_grouping)
