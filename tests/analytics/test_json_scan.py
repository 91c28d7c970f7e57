"""The whole-file path: a clean JSON lines file is read by DuckDB in one scan; any line it cannot
vouch for sends the file to the line-by-line path, which gives the same frames."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mpesa_lab.analytics import json_scan
from mpesa_lab.analytics.sources import load
from tests.analytics.samples import MESSY, PAID, body


def _clean_lines() -> list[str]:
    """Every messy-sample line that is an ordinary callback (bare or wrapped under "body"),
    each also wrapped with a received time in epoch seconds, ms, ISO text and Daraja's form."""
    out = []
    for raw in MESSY.read_text().splitlines():
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            continue
        stk = record.get("Body", {}).get("stkCallback") if isinstance(record.get("Body"), dict) else None
        item = ((stk or {}).get("CallbackMetadata") or {}).get("Item")
        if not stk or not stk.get("CheckoutRequestID") or stk.get("ResultCode") is None or isinstance(item, dict):
            continue
        out.append(raw)
        for when in (1782892260.5, 1782892260500, "2026-07-01T10:30:05+03:00", "20260701103005"):
            copy = json.loads(raw)
            copy["Body"]["stkCallback"]["CheckoutRequestID"] += f"-{when}"
            out.append(json.dumps({"received_at": when, "body": copy}))
    return out


def _line_by_line(monkeypatch, path):
    with monkeypatch.context() as m:
        m.setattr(json_scan, "read_whole_file", lambda *a, **k: None)
        return load(path)


def test_a_clean_file_takes_the_whole_file_path_and_gives_the_same_frames(tmp_path, monkeypatch):
    path = tmp_path / "clean.jsonl"
    lines = _clean_lines()
    path.write_text("\n".join(lines) + "\n\n")  # blank lines at the very end change nothing
    assert json_scan.read_whole_file(path, None) is not None
    whole, slow = load(path), _line_by_line(monkeypatch, path)
    assert len(whole.callbacks) == len(lines) > 60
    pd.testing.assert_frame_equal(whole.transactions, slow.transactions)
    pd.testing.assert_frame_equal(whole.callbacks, slow.callbacks)
    assert whole.problems == slow.problems and whole.counts == slow.counts
    assert any(p.kind == "unknown_code" and "clean.jsonl:" in p.location for p in whole.problems)
    assert whole.callbacks["received_at"].notna().sum() >= 4 * 15


@pytest.mark.parametrize(
    "odd",
    [
        "",  # a blank line: the numbering would shift
        "   ",  # a line of spaces
        '{"Body": {"stkCallback": {"CheckoutRequestID": "x"',  # truncated
        "not JSON",
        '{"Body": {"somethingElse": {}}}',  # JSON, not a callback
        '{"Body": {"stkCallback": {"ResultCode": 0}}}',  # no CheckoutRequestID
        '{"Body": {"stkCallback": {"CheckoutRequestID": "c"}}}',  # no ResultCode
        '{"received_at": 1, "body": "{\\"Body\\": {\\"stkCallback\\": {}}}"}',  # the callback as text
        json.dumps(body("ws_CO_OBJ", 0, items={"Name": "Amount", "Value": 1})),  # Item collapsed
        "[1, 2]",
    ],
)
def test_any_line_it_cannot_vouch_for_sends_the_file_line_by_line(tmp_path, monkeypatch, odd):
    lines = [json.dumps(body(f"ws_CO_{i}", i % 2, items=PAID if i % 2 == 0 else None)) for i in range(40)]
    lines.insert(17, odd)
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert json_scan.read_whole_file(path, None) is None
    out, slow = load(path), _line_by_line(monkeypatch, path)
    pd.testing.assert_frame_equal(out.callbacks, slow.callbacks)
    assert out.problems == slow.problems
    assert out.callbacks["callback_id"].tolist()[17:19] == (
        [18, 19] if odd.strip() and "ws_CO_OBJ" in odd else [19, 20]
    )
    if odd.strip() and "ws_CO_OBJ" not in odd:
        assert [p.location for p in out.problems if p.kind == "malformed"] == ["odd.jsonl:18"]


def test_the_whole_file_path_reports_progress_in_bytes(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(body(f"ws_CO_{i}", 0, items=PAID)) + "\n" for i in range(5000)))
    seen: list[tuple[int, int]] = []
    out = load(path, progress=lambda done, total: seen.append((done, total)))
    assert len(out.transactions) == 5000
    size = path.stat().st_size
    assert seen and seen[-1] == (size, size) and all(t == size and 0 <= d <= size for d, t in seen)
