"""A running Lab is an analytics source: pushes through the real emulator and listener, then
the same frames from lab.transactions(), analytics.load(lab) and the report."""

from __future__ import annotations

import pandas as pd
import pytest

from mpesa_lab import analytics
from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.lab import Lab
from mpesa_lab.store import frames


@pytest.fixture
def lab(tmp_path):
    lab = Lab.start(store=tmp_path / "lab.sqlite3",
                    emulator_config=EmulatorConfig(enforce_subscriber_lock=False, enforce_duplicate_rule=False))
    yield lab
    lab.stop()


def test_a_lab_loads_into_the_documented_frames_and_reports(lab, tmp_path):
    pushes = [lab.push(phone, 10, "E2E", "e2e") for phone in
              ("254708374149", "254708001032", "254708001037", "254708990003")]
    for push in pushes:
        push.wait(20)
    tx = lab.transactions()
    assert list(tx.columns) == [c.name for c in frames.TRANSACTIONS]
    assert tx["result_code"].tolist() == ["0", "1032", "1037", "SFC_IC0003"]
    assert tx["status"].astype(str).tolist() == ["paid", "failed", "failed", "failed"]
    assert tx["latency_s"].notna().all() and str(tx["pushed_at"].dt.tz) == "Africa/Nairobi"
    out = analytics.load(lab)
    pd.testing.assert_frame_equal(out.transactions, tx)
    pd.testing.assert_frame_equal(out.callbacks, lab.callbacks())
    index = analytics.report(lab, tmp_path / "report")
    assert "SFC_IC0003" in index.read_text()
