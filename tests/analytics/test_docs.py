"""docs/analytics.md keeps the schema tables of mpesa_lab.store.frames, row for row."""

from __future__ import annotations

import re
from pathlib import Path

from mpesa_lab.store import frames

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"


def _rows(section: str) -> list[tuple[str, str]]:
    text = DOC.read_text()
    part = text.split(section, 1)[1]
    return re.findall(r"^\| `([a-z_]+)` \| `([^`]+)` \|", part.split("\n## ", 1)[0], flags=re.M)


def test_transactions_table_matches_the_schema():
    assert _rows("## The transactions frame") == [(c.name, c.dtype) for c in frames.TRANSACTIONS]


def test_callbacks_table_matches_the_schema():
    assert _rows("## The callbacks frame") == [(c.name, c.dtype) for c in frames.CALLBACKS]


def test_the_zero_trap_is_explained_where_learners_meet_it():
    text = DOC.read_text()
    assert "df[df.result_code == 0]" in text and "always empty" in text
