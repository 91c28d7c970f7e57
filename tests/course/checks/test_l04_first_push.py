"""Checks of notebook 04, the first push: right answers pass, wrong ones are named."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mpesa_lab.course import check
from tests.course.helpers import TEST_PHONE, callback_body, ok, todo, wrong


def test_customer_answer_on_real_callbacks(lab):
    from mpesa_lab.widgets import VirtualPhone

    phone = VirtualPhone(lab, TEST_PHONE, watch=False)  # interactive: prompts wait for an answer
    try:
        got = {}
        for amount, (what, answer) in enumerate(
            {
                "paid": lambda p: p.answer(pin="1234"),
                "cancelled": lambda p: p.cancel(),
                "wrong_pin": lambda p: p.answer(pin="0000"),
                "ignored": lambda p: lab.emulator.answer(p.checkout_request_id, ignore=True),
            }.items(),
            start=41,
        ):
            push = lab.push(TEST_PHONE, amount, "CHK", "Checks")
            answer(push)
            got[what] = (push, push.wait(timeout=15))
    finally:
        phone.close()
    for what, (_push, callback) in got.items():
        ok(check.customer_answer(callback, what, lab=lab))
        todo(check.customer_answer(..., what, lab=lab))
    wrong(
        check.customer_answer(got["cancelled"][1], "wrong_pin", lab=lab),
        "the customer cancelled (ResultCode 1032",
        "to get 2001, enter a wrong PIN",
    )
    wrong(
        check.customer_answer(got["paid"][1], "ignored", lab=lab),
        "the customer paid (ResultCode 0",
        "ignore the prompt",
    )
    wrong(
        check.customer_answer(got["wrong_pin"][1], "paid", lab=lab), "entered a wrong PIN (ResultCode 2001", "right PIN"
    )
    wrong(check.customer_answer(got["paid"][0], "paid", lab=lab), "this is the push (its acknowledgement)")
    wrong(check.customer_answer(got["paid"][0].query(), "paid", lab=lab), "STK query result")
    wrong(
        check.customer_answer(callback_body("x", 17), "paid", lab=SimpleNamespace(emulator=None)),
        "same amount to the same phone",
    )
    wrong(check.customer_answer("nonsense", "paid", lab=lab), "expected the callback")
    with pytest.raises(ValueError, match="wanted must be one of"):
        check.customer_answer(got["paid"][1], "refunded", lab=lab)
