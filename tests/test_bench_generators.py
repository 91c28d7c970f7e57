"""The benchmarks' generated inputs look like Daraja's: every TransactionDate is a real time."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(autouse=True)
def bench_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))


def _transaction_dates(bodies) -> list[int]:
    found = []
    for body in bodies:
        stk = body.get("body", body)["Body"]["stkCallback"]
        for item in stk.get("CallbackMetadata", {}).get("Item", []):
            if item["Name"] == "TransactionDate":
                found.append(item["Value"])
    return found


def _assert_valid(dates: list[int]) -> None:
    bad = []
    for value in dates:
        try:
            datetime.strptime(str(value), "%Y%m%d%H%M%S")
        except ValueError:
            bad.append(value)
    assert not bad, f"{len(bad)} of {len(dates)} TransactionDate values are not times, e.g. {bad[:3]}"


def test_bench_analytics_lines_carry_valid_transaction_dates(tmp_path):
    from bench_analytics import write_lines

    path = write_lines(tmp_path / "lines.jsonl", 6_000)  # past the 5,000 distinct seconds it cycles
    dates = _transaction_dates(json.loads(line) for line in path.read_text().splitlines())
    assert len(dates) > 4_000  # the paid ones (about 80 %)
    _assert_valid(dates)


def test_store_fill_callbacks_carry_valid_transaction_dates(tmp_path):
    from store_fill import fill

    store = fill(tmp_path / "store.sqlite", 300)
    with sqlite3.connect(store) as conn:
        bodies = [json.loads(body) for (body,) in conn.execute("SELECT body FROM deliveries")]
    dates = _transaction_dates(bodies)
    assert len(dates) > 100
    _assert_valid(dates)
