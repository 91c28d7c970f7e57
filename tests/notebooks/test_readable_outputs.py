"""Where a lesson says "read it", the executed notebook shows it whole (issue 18, items 6 and 10):
06's trigger table with every fix in full, 07's first rows in a few chosen columns and its summary
with every mitigation in full, 04's four answers one row each with the requested amount."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mpesa_lab import codes
from tests.notebooks.runner import NOTEBOOKS, execute

pytestmark = pytest.mark.timeout(300)


def _html_of(nb, marker: str) -> str:
    cells = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"{marker!r} is in {len(cells)} cells"
    html = [o["data"]["text/html"] for o in cells[0].outputs if "text/html" in o.get("data", {})]
    assert html, f"the cell with {marker!r} showed no table: {cells[0].outputs}"
    return "".join(html)


def _cells(html: str) -> list[str]:
    import html as html_lib

    return [
        html_lib.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)
    ]


def test_06_the_trigger_table_shows_every_fix_whole(tmp_path: Path):
    report = execute(NOTEBOOKS / "06-errors-result-codes.ipynb", tmp_path, runs=1)
    html = _html_of(report.notebook, "readable(pd.DataFrame(rows))")
    shown = _cells(html)
    from mpesa_lab.emulator import TRIGGERS

    for trigger in TRIGGERS:
        assert codes.result_entry(trigger.code).mitigation in shown, trigger.code
    assert not any(cell.endswith("...") for cell in shown)


def test_07_first_rows_in_chosen_columns_and_the_summary_whole(tmp_path: Path):
    report = execute(NOTEBOOKS / "07-result-code-analytics.ipynb", tmp_path, runs=1)
    head = _html_of(report.notebook, "readable(tx.head(), FIRST)")
    assert len(re.findall(r"<th[ >]", head)) <= 8, "tx.head() shows too many columns to read"
    summary = _html_of(report.notebook, "readable(summary,")
    shown = _cells(summary)
    for code in ("1032", "1037", "2001"):
        assert codes.result_entry(code).mitigation in shown, code
    assert not any(cell.endswith("...") for cell in shown)


def test_04_the_four_answers_one_row_each(tmp_path: Path):
    report = execute(NOTEBOOKS / "04-first-push.ipynb", tmp_path, runs=1)
    html = _html_of(report.notebook, "for answer, callback in answers.items()")
    rows = re.findall(r"<tr>\s*<th>([^<]+)</th>(.*?)</tr>", html, re.S)
    assert [name for name, _ in rows] == ["pay", "cancel", "wrong PIN (exercise 1)", "no answer (exercise 2)"]
    pay, cancel, wrong, ignored = (_cells(cells) for _, cells in rows)
    assert pay[:2] == ["paid", "0"] and cancel[:2] == ["failed", "1032"]
    assert "10.0" in pay and "11.0" in cancel, "the requested amount is missing from a failed push's row"
    assert wrong[0] == ignored[0] == "do the exercise above first"  # the learner's copy, unanswered
