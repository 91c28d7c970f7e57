"""data/week is what data/make_week.py makes: regenerated here and compared value for value, so
the committed week cannot drift from the script (or the script from the week)."""

from __future__ import annotations

import importlib.util
import sys

import pandas as pd

from mpesa_lab import analytics
from tests.analytics.samples import ROOT, WEEK


def _make_week():
    spec = importlib.util.spec_from_file_location("make_week", ROOT / "data" / "make_week.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_committed_week_is_what_the_script_makes(tmp_path):
    make_week = _make_week()
    made = make_week.generate(tmp_path / "week", quiet=True)
    fresh, committed = analytics.load(made), analytics.load(WEEK)
    pd.testing.assert_frame_equal(fresh.transactions, committed.transactions)
    pd.testing.assert_frame_equal(fresh.callbacks, committed.callbacks)
    assert (made / "ABOUT.md").read_text() == (WEEK / "ABOUT.md").read_text()


def test_the_week_says_it_is_simulated_production_traffic():
    about = (WEEK / "ABOUT.md").read_text()
    assert "Simulated production traffic, not the Daraja sandbox" in about
    readme = (ROOT / "data" / "README.md").read_text()
    assert "simulated production traffic" in readme.lower() and "sandbox outcomes" not in readme


def test_the_weeks_hours_follow_kenyan_retail():
    tx = analytics.load(WEEK).transactions
    hours = analytics.by_hour(tx).set_index("hour")["transactions"]
    night, lunch, evening = hours.loc[0:4].sum(), hours.loc[12:13].sum(), hours.loc[18:19].sum()
    assert lunch > 5 * night and evening > 5 * night and evening > hours.loc[9:10].sum()
    assert (WEEK / "ABOUT.md").exists()
