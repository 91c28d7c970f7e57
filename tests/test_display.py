"""Rich display: what a learner sees for a Lab, a Push, a callback and a query result."""

from __future__ import annotations

import pytest

from mpesa_lab.constants import SANDBOX_PASSKEY
from mpesa_lab.daraja.callbacks import parse_callback
from mpesa_lab.lab import Lab

TIMEOUT = 15.0


@pytest.fixture
def lab(tmp_path):
    lab = Lab.start(store=tmp_path / "display.sqlite3")
    yield lab
    lab.stop()


def test_lab_card_running_then_stopped(lab):
    push = lab.push("254708001032", 3, "D", "display")
    push.wait(TIMEOUT)
    shown = lab._repr_html_()
    assert "running" in shown and lab.settings.base_url in shown and "local emulator" in shown
    assert "1 pushes, 1 callbacks, 0 quarantined" in shown and "failed 1" in shown
    lab.stop()
    assert "stopped" in lab._repr_html_() and "Lab.start()" in lab._repr_html_()


def test_push_card_follows_the_callback(lab):
    lab.emulator.set_profile("254711000111", "interactive")
    push = lab.push("0711000111", 4, "D", "display")
    before = push._repr_html_()
    assert push.checkout_request_id in before and "waiting for the callback" in before and "KES 4.00" in before
    push.cancel()
    push.wait(TIMEOUT)
    after = push._repr_html_()
    assert "callback stored" in after and "1032" in after and "what to do" in after


def test_callback_card_and_short_repr(lab):
    callback = lab.push("0708374149", 5, "D", "display").wait(TIMEOUT)
    shown = callback._repr_html_()
    assert "paid" in shown and callback.receipt in shown and "KES 5.00" in shown
    assert "Nothing to fix" in shown  # the catalogue's mitigation for 0
    text = repr(callback)
    assert text.startswith("<ParsedCallback ") and callback.receipt in text and len(text) < 200


def test_unknown_code_is_shown_as_such():
    body = {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_X", "ResultCode": 9999, "ResultDesc": "New thing"}}}
    shown = parse_callback(body)._repr_html_()
    assert "9999" in shown and "New thing" in shown and "not in Daraja" in shown and "failed" in shown


def test_query_card_and_short_repr(lab):
    push = lab.push("254708002001", 6, "D", "display")
    push.wait(TIMEOUT)
    result = push.query()
    shown = result._repr_html_()
    assert "failed" in shown and "2001" in shown and result.entry.mitigation[:25] in shown.replace("&#x27;", "'")
    assert repr(result).startswith("<StkQueryResult failed ResultCode 2001") and len(repr(result)) < 200


def test_no_secret_in_any_display(lab):
    push = lab.push("0708374149", 7, "D", "display")
    callback = push.wait(TIMEOUT)
    token = lab.client.tokens.token().reveal()
    for shown in (lab._repr_html_(), push._repr_html_(), callback._repr_html_(), push.query()._repr_html_()):
        assert SANDBOX_PASSKEY not in shown and token not in shown
