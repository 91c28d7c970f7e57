"""Rich display: what a learner sees for a Lab, a Push, a callback and a query result."""

from __future__ import annotations

import html

import pytest

from mpesa_lab.constants import SANDBOX_PASSKEY
from mpesa_lab.daraja.callbacks import parse_callback
from mpesa_lab.display import to_html
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
    shown = to_html(lab)
    assert "running" in shown and lab.settings.base_url in shown and "local emulator" in shown
    assert "1 pushes, 1 callbacks, 0 quarantined" in shown and "failed 1" in shown
    lab.stop()
    assert "stopped" in to_html(lab) and "Lab.start()" in to_html(lab)


def test_push_card_follows_the_callback(lab):
    lab.emulator.set_profile("254711000111", "interactive")
    push = lab.push("0711000111", 4, "D", "display")
    before = to_html(push)
    assert push.checkout_request_id in before and "waiting for the callback" in before and "KES 4.00" in before
    push.cancel()
    push.wait(TIMEOUT)
    after = to_html(push)
    assert "callback stored" in after and "1032" in after and "what to do" in after


def test_callback_card_and_short_repr(lab):
    callback = lab.push("0708374149", 5, "D", "display").wait(TIMEOUT)
    shown = to_html(callback)
    assert "paid" in shown and callback.receipt in shown and "KES 5.00" in shown
    assert "Nothing to fix" in shown  # the catalogue's mitigation for 0
    text = repr(callback)
    assert text.startswith("<ParsedCallback ") and callback.receipt in text and len(text) < 200


def test_unknown_code_is_shown_as_such():
    body = {"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_X", "ResultCode": 4242, "ResultDesc": "New thing"}}}
    shown = to_html(parse_callback(body))
    assert "4242" in shown and "New thing" in shown and "not in Daraja" in shown and "failed" in shown


def test_query_card_and_short_repr(lab):
    push = lab.push("254708002001", 6, "D", "display")
    push.wait(TIMEOUT)
    result = push.query()
    shown = to_html(result)
    assert "failed" in shown and "2001" in shown and result.entry.mitigation[:25] in html.unescape(shown)
    assert repr(result).startswith("<StkQueryResult failed ResultCode 2001") and len(repr(result)) < 200


def test_no_secret_in_any_display(lab):
    push = lab.push("0708374149", 7, "D", "display")
    callback = push.wait(TIMEOUT)
    token = lab.client.tokens.token().reveal()
    for shown in (to_html(lab), to_html(push), to_html(callback), to_html(push.query())):
        assert SANDBOX_PASSKEY not in shown and token not in shown


def test_the_cards_reach_ipython_through_its_html_formatter(lab, monkeypatch):
    """Lab.start() registers the renderers with the running shell's formatter, by class name."""
    import IPython
    from IPython.core.formatters import DisplayFormatter

    formatter = DisplayFormatter()

    class Shell:  # what display.register() uses of IPython's running shell
        display_formatter = formatter

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    callback = lab.push("254708374149", 4, "D", "display").wait(TIMEOUT)
    assert "text/html" not in formatter.format(callback)[0]  # not registered yet
    second = Lab.start(store=lab.store.path)
    try:
        for shown in (second, callback):
            data, _ = formatter.format(shown)
            assert data["text/html"] == to_html(shown) and "<table" in data["text/html"]
    finally:
        second.stop()


def test_nothing_below_display_imports_it():
    """The merchant-side objects never import their renderer (no display cycle)."""
    import ast
    from pathlib import Path

    import mpesa_lab

    root = Path(mpesa_lab.__file__).parent
    for path in (root / "daraja").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "mpesa_lab.display", path
                assert not (node.module == "mpesa_lab" and any(a.name == "display" for a in node.names)), path
