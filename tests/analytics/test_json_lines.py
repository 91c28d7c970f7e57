"""The line-by-line reader: JSON lines, arrays and folders; every problem at its line; the typed
fast path and the tolerant path agree."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mpesa_lab.analytics import json_lines, json_sql
from mpesa_lab.analytics.limits import LoadError
from mpesa_lab.analytics.sources import load
from tests.analytics.samples import MESSY, PAID, body, schema_ok


def test_messy_sample_reports_malformed_lines_with_their_line_numbers():
    out = load(MESSY)
    bad = {p.location: p.detail for p in out.problems if p.kind == "malformed"}
    assert bad == {
        "messy_callbacks.jsonl:20": "not valid JSON (a truncated or broken line?)",
        "messy_callbacks.jsonl:21": "no CheckoutRequestID",
        "messy_callbacks.jsonl:22": "no ResultCode",
        "messy_callbacks.jsonl:23": 'no Body.stkCallback (nor a wrapper with one under "body")',
        "messy_callbacks.jsonl:24": "not valid JSON (a truncated or broken line?)",  # truncated last line
    }
    assert out.malformed == 5


def test_json_array_and_a_truncated_array(tmp_path):
    records = [body(f"ws_CO_A{i}", code) for i, code in enumerate([0, "1032", 1037])]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(records, indent=2))
    out = load(good)
    schema_ok(out)
    assert out.transactions["result_code"].tolist() == ["0", "1032", "1037"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(records, indent=2)[:-40])
    out = load(broken)
    assert len(out.transactions) == 2 and out.malformed == 1
    assert out.problems[0].location.startswith("broken.json[2]")


def test_folder_of_json_files_with_a_stranger(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(body("ws_CO_F1", 0, items=PAID)))
    (folder / "b.json").write_text(json.dumps([body("ws_CO_F2", 1032), body("ws_CO_F3", "SFC_IC0003")]))
    (folder / "c.json").write_text("{not json")
    (folder / "notes.txt").write_text(json.dumps(body("ws_CO_F4", 1)) + "\n")  # lines too
    (folder / "README.md").write_text("# not data")
    out = load(folder)
    schema_ok(out)
    assert sorted(out.transactions["checkout_request_id"]) == ["ws_CO_F1", "ws_CO_F2", "ws_CO_F3", "ws_CO_F4"]
    kinds = {(p.location, p.kind) for p in out.problems}
    assert ("c.json", "malformed") in kinds and ("README.md", "skipped_file") in kinds


def test_empty_file_and_empty_folder_are_reported_not_fatal(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = load(empty)
    schema_ok(out)
    assert out.transactions.empty and out.problems[0].detail == "empty file"
    (tmp_path / "nothing").mkdir()
    assert load(tmp_path / "nothing").transactions.empty
    with pytest.raises(LoadError, match="no such file"):
        load(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("few_rows", [256, 0], ids=["sliced", "filtered"])
def test_fast_path_and_tolerant_path_agree_with_the_right_line_numbers(tmp_path, monkeypatch, few_rows):
    """Ordinary lines take the typed fast path, odd ones (blank, broken, wrapped as text, Item
    collapsed to an object...) the tolerant one; together they give exactly what the tolerant
    path alone gives, and malformed lines keep their own line numbers (whether the odd rows are
    dropped and merged back by slicing, as when they are few, or by a filter and a sort)."""
    monkeypatch.setattr(json_lines, "_FEW_ROWS", few_rows)

    messy = MESSY.read_text().splitlines()
    lines = []
    for i, raw in enumerate(messy):  # each messy line between ordinary ones, and blank lines
        lines.append(json.dumps(body(f"ws_CO_PLAIN{i}", i % 3, items=PAID if i % 3 == 0 else None)))
        lines.append(json.dumps({"received_at": "2026-07-01T10:00:00+03:00", "body": body(f"ws_CO_WRAP{i}", "1032")}))
        lines.append("")
        lines.append(raw)
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines))  # no newline after the last (truncated) line
    fast = load(path)
    monkeypatch.setattr(json_sql, "FAST", json_sql.FAST.replace("WHEN s IS NULL THEN true", "WHEN true THEN true"))
    tolerant = load(path)
    pd.testing.assert_frame_equal(fast.transactions, tolerant.transactions)
    pd.testing.assert_frame_equal(fast.callbacks, tolerant.callbacks)
    assert fast.problems == tolerant.problems and fast.counts == tolerant.counts
    bad = {p.location for p in fast.problems if p.kind == "malformed"}
    assert bad == {f"mixed.jsonl:{4 * (n - 1) + 4}" for n in (20, 21, 22, 23, 24)}
    assert len(fast.callbacks) == 18 + 2 * len(messy)
