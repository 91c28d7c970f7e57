"""The one-call dashboard: form, phone and live table wired to the same lab."""

from __future__ import annotations

from mpesa_lab.widgets import dashboard

from .conftest import TIMEOUT, eventually


def test_dashboard_push_prompt_answer_row(lab, closing):
    board = closing(dashboard(lab))
    assert board.form in board.children[2].children and board.phone in board.children[2].children
    assert board.live in board.children
    board.form.amount.value = "30"
    board.form.click()
    eventually(lambda: board.phone.prompt and not board.phone.ok.disabled, what="prompt on the dashboard's phone")
    for key in "1234":
        board.phone.press(key)
    board.phone.send_pin()
    assert lab.listener.wait_for(board.form.last_push.checkout_request_id, TIMEOUT).result_code == "0"
    eventually(lambda: len(board.live.rows) == 1, what="the live row")
    assert board.live.rows[0]["status"] == "paid"
    assert "1 pushes" in board.card.value


def test_dashboard_uses_the_active_lab(lab, closing):
    board = closing(dashboard())
    assert board.lab is lab
