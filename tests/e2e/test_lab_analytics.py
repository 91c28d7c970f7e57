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
    lab = Lab.start(
        store=tmp_path / "lab.sqlite3",
        emulator_config=EmulatorConfig(enforce_subscriber_lock=False, enforce_duplicate_rule=False),
    )
    yield lab
    lab.stop()


def test_a_lab_loads_into_the_documented_frames_and_reports(lab, tmp_path):
    pushes = [
        lab.push(phone, 10, "E2E", "e2e") for phone in ("254708374149", "254708001032", "254708001037", "254708990003")
    ]
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


def test_a_refused_push_keeps_one_customer_one_phone_and_has_its_code(lab):
    # Issue 18 (11): typed with spaces, refused (amount 0), then paid: one customer, one phone.
    from mpesa_lab.daraja.errors import ValidationError

    with pytest.raises(ValidationError):
        lab.push("0708 374 149", 0, "E2E", "e2e")
    with pytest.raises(ValidationError):
        lab.push("0733 123 456", 10, "E2E", "e2e")  # an Airtel line: refused before sending
    with pytest.raises(ValidationError):
        lab.push("12345", 10, "E2E", "e2e")  # not a phone: kept as typed
    lab.push("0708 374 149", 10, "E2E", "e2e").wait(20)
    tx = lab.transactions()
    assert tx["phone"].tolist() == ["254708374149", "254733123456", "12345", "254708374149"]
    by_phone = analytics.success_rate(tx, by="phone").set_index("phone")
    assert by_phone.loc["254708374149", ["transactions", "paid", "rejected"]].tolist() == [2, 1, 1]
    # Every refused push carries the code Daraja gives such a request, with its wording (18, 9).
    refused = tx[tx["status"] == "rejected"]
    assert refused["error_code"].tolist() == ["400.002.02"] * 3
    assert refused["error_message"].tolist() == [
        "Bad Request - Invalid Amount",
        "Bad Request - Invalid PhoneNumber",
        "Bad Request - Invalid PhoneNumber",
    ]
    assert lab.pushes()["request"].iloc[0]["PhoneNumber"] == "0708 374 149"  # the raw text is kept


def test_a_result_code_that_looks_like_mathtext_or_html_is_shown_literally(lab, tmp_path):
    # Issue 19 (5): a callback whose ResultCode is `$x^$` once made the report fail in matplotlib.
    import httpx

    from mpesa_lab.cli import main

    lab.emulator.inject_callback_fault("drop", phone="254708374149")
    push = lab.push("254708374149", 10, "E2E", "e2e")
    body = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": push.merchant_request_id,
                "CheckoutRequestID": push.checkout_request_id,
                "ResultCode": "$x^$",
                "ResultDesc": "<script>alert(1)</script> $\\frac{$",
            }
        }
    }
    answer = httpx.post(lab.callback_url, json=body, timeout=10)
    assert answer.status_code == 200 and answer.json()["ResultCode"] == 0
    assert lab.transactions()["result_code"].tolist() == ["$x^$"]
    lab.stop()
    out = tmp_path / "report"
    assert main(["report", str(lab.store.path), "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "<code>$x^$</code>" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    from mpesa_lab.analytics import plots

    fig = plots.result_codes(analytics.load(lab.store.path).transactions)
    fig.canvas.draw()  # mathtext would raise here
    assert any(t.get_text().startswith("\\$x^\\$") for t in fig.axes[0].get_yticklabels())
