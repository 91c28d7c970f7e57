"""Checks of notebook 06, errors and result codes: right answers pass, wrong ones are named."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mpesa_lab.course import check
from tests.course.helpers import callback_body, ok, todo, wrong


def test_triggered():
    sandbox = SimpleNamespace(emulator=None)  # no local emulator to ask how the code came about
    ok(check.triggered(callback_body("x", 1), "1", lab=sandbox))
    ok(check.triggered(callback_body("x", 1), 1, lab=sandbox))
    todo(check.triggered(..., "1", lab=sandbox))
    wrong(
        check.triggered(callback_body("x", 0), "1", lab=sandbox),
        "ResultCode is 0 (success), not 1 (insufficient_balance)",
        "register_subscriber",
    )
    wrong(check.triggered(42, "1", lab=sandbox), "expected the callback")
    with pytest.raises(TypeError):
        check.triggered(callback_body("x", 1), "1")  # the lab is needed to tell a magic number from a customer


def test_advice_function():
    from mpesa_lab import codes

    ok(check.advice_function(lambda code: codes.lookup(code).mitigation))
    ok(check.advice_function(lambda code: "Do this: " + codes.lookup(code).mitigation))
    todo(check.advice_function(...))
    table = {
        "0": "Nothing to fix: fulfil the order and keep the MpesaReceiptNumber.",
        "1032": codes.lookup("1032").mitigation,
    }
    verdict = check.advice_function(lambda code: table[code])
    wrong(
        verdict,
        "advice(1032)",
        "as a number",
        "advice('4242')",
        "unknown codes must still get advice",
        "advice('2001')",
        "your own table lacks this code",
    )
    wrong(check.advice_function(lambda code: None), "returned None")
    wrong(check.advice_function(lambda code: 0), "returned an int")
    wrong(
        check.advice_function(
            lambda code: codes.lookup(str(code)).mitigation if codes.lookup(str(code)).known else "ok"
        ),
        "should still say what to do",
    )
    wrong(check.advice_function("not a function"), "must be a function")


# -- a till (Buy Goods) push: the right settings pay, each mix-up is named by Daraja's code ----------


def _till_push(lab, amount, **settings):
    from mpesa_lab.daraja.client import DarajaClient

    shop = lab.emulator.credentials
    base = {"shortcode": shop["till_shortcode"], "passkey": shop["till_passkey"]}
    client = DarajaClient(lab.settings.replace(**{**base, **settings}))
    ack = client.stk_push("254711060070", amount, "SHOP-06", "Till sale")
    return lab.listener.wait_for(ack.checkout_request_id, timeout=10)


def test_till_push(lab):
    import warnings

    shop = lab.emulator.credentials
    lab.emulator.register_subscriber("254711060070", balance=1000)
    buy_goods = "CustomerBuyGoodsOnline"
    todo(check.till_push(..., lab=lab))
    ok(check.till_push(_till_push(lab, 7, transaction_type=buy_goods, party_b=shop["till_number"]), lab=lab))
    # The TransactionType left at the paybill's: 2028.
    wrong(check.till_push(_till_push(lab, 8), lab=lab), "2028", buy_goods)
    # The store number as PartyB: SFC_IC0003 (the client only warns).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed = _till_push(lab, 9, transaction_type=buy_goods, party_b=shop["till_shortcode"])
    wrong(check.till_push(mixed, lab=lab), "SFC_IC0003", "PartyB is the till number")
    wrong(check.till_push(callback_body("ws_CO_made_up", 0), lab=lab), "no push of this lab")
