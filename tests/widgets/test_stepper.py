"""The sequence stepper over a real transaction of this lab: the messages, masked, and the times."""

from __future__ import annotations

import html

import pytest

from mpesa_lab.constants import LAB_CONSUMER_SECRET, SANDBOX_PASSKEY
from mpesa_lab.widgets import SequenceStepper, VirtualPhone, transaction_steps
from mpesa_lab.widgets.stepper import STEPS, diagram_svg

from .conftest import TIMEOUT, eventually


def test_seven_steps_of_a_real_transaction(lab, closing):
    phone = closing(VirtualPhone(lab))
    push = lab.push("0708374149", 21, "STEP-1", "Stepper")
    eventually(lambda: phone.prompt, what="prompt")
    phone.press_cancel()
    push.wait(TIMEOUT)
    push.query()
    token = lab.client.tokens.token().reveal()
    steps = transaction_steps(lab, push.checkout_request_id)
    assert [s.number for s in steps] == list(range(1, 8)) and all(s.happened for s in steps)
    # the actual messages
    assert (
        '"AccountReference": "STEP-1"' in steps[0].message
        and "POST /mpesa/stkpush/v1/processrequest" in steps[0].message
    )
    assert push.checkout_request_id in steps[2].message and '"ResponseCode": "0"' in steps[2].message
    assert "Ksh21.00" in steps[3].message
    assert "Cancel" in steps[4].message
    assert '"ResultCode": 1032' in steps[5].message and "content-type: application/json" in steps[5].message.lower()
    assert steps[5].extra["result_code"] == "1032"
    assert "/mpesa/stkpushquery/v1/query" in steps[6].message and '"ResultCode": "1032"' in steps[6].message
    # secrets masked: no passkey, no Password, no token, no consumer secret anywhere
    everything = "".join(s.message for s in steps)
    from mpesa_lab.daraja.password import build_password

    password = build_password("174379", SANDBOX_PASSKEY, steps[0].message.split('"Timestamp": "')[1][:14])
    for secret in (SANDBOX_PASSKEY, password, token, LAB_CONSUMER_SECRET):
        assert secret not in everything
    assert "Bearer <masked>" in steps[0].message
    # times in the order things happened (step 1 has whole seconds only)
    times = [s.at for s in steps[1:]]
    assert all(a <= b for a, b in zip(times, times[1:], strict=False)), times


def test_the_widget_steps_and_highlights(lab, closing):
    push = lab.push("254708000000", 5, "STEP-2", "Stepper")
    push.wait(TIMEOUT)
    stepper = closing(SequenceStepper(lab))
    assert stepper.transaction.value == push.checkout_request_id
    assert stepper.previous.disabled and "1. Merchant sends the STK push" in stepper.detail.value
    stepper.next.click()
    stepper.next.click()
    assert stepper.step.value == 3 and "after step 2" in stepper.detail.value and " ms" in stepper.detail.value
    stepper.go(6)
    assert "ResultCode 0" in stepper.detail.value and "MpesaReceiptNumber" in stepper.detail.value
    assert 'fill="#ddf4ff"' in stepper.diagram.value  # the current step's band
    stepper.go(7)
    assert "Not queried" in stepper.detail.value and stepper.next.disabled


def test_diagram_draws_every_step_and_highlights_one():
    svg = diagram_svg(4)
    for _title, _src, _dst, label in STEPS:
        assert html.escape(label) in svg
    assert svg.count('fill="#ddf4ff"') == 1 and svg.count("<circle") == 7


def test_a_refused_push_has_no_prompt(lab, closing):
    lab.emulator.fail_next("500.001.1001", message="Merchant does not exist", route="push")
    from mpesa_lab.daraja.errors import MerchantDoesNotExist

    with pytest.raises(MerchantDoesNotExist):
        lab.push("0708374149", 6, "STEP-3", "Stepper")
    stepper = closing(SequenceStepper(lab))
    assert stepper.transaction.options == ()  # nothing with a CheckoutRequestID to walk through
    assert "No push in this lab's store yet" in stepper.detail.value


def test_unknown_checkout_id_says_where_to_look(lab):
    with pytest.raises(KeyError, match="lab.pushes"):
        transaction_steps(lab, "ws_CO_NOPE")


def test_no_step_label_crosses_a_lifeline():
    """Issue 18, item 10: 01's diagram labels ran over the lanes' dashed lifelines. Each label,
    at a generous estimate of its width, lies between lifelines with room to spare."""
    import re

    from mpesa_lab.widgets.stepper import CHAR_PX, diagram_svg

    svg = diagram_svg(1)
    lifelines = [float(x) for x in re.findall(r'<line class="mpl-lifeline" x1="([\d.]+)"', svg)]
    assert len(lifelines) == 3
    labels = re.findall(
        r'<text class="mpl-step-label" x="([\d.]+)" y="[\d.]+"( text-anchor="middle")?[^>]*>([^<]+)</text>', svg
    )
    assert len(labels) == 7
    import html

    for x, middle, text in labels:
        width = CHAR_PX * len(html.unescape(text))
        start = float(x) - width / 2 if middle else float(x)
        end = start + width
        crossed = [line for line in lifelines if start - 4 < line < end + 4]
        assert not crossed, f"{html.unescape(text)!r} ({start:.0f}-{end:.0f} px) crosses a lifeline at {crossed}"


def test_a_long_message_is_cut_at_a_word_and_says_how_much_is_left():
    from mpesa_lab.widgets.stepper import Step, cut_text

    text = "POST /cb HTTP/1.1\ncontent-type: application/json\n\n" + " ".join(f"word{i:03d}" for i in range(120))
    shown = Step(6, "Callback", message=text).excerpt(400)
    head, tail = shown.rsplit("\n", 1)
    assert len(head) <= 400 and text.startswith(head)
    assert text[len(head)] in " \n", "cut inside a word"
    assert tail == f"… ({len(text) - len(head)} more characters)"
    assert cut_text("short", 400) == "short"
