"""The virtual phone, driven like a customer: it shows the prompt, takes a PIN, Cancel or Ignore,
and what it does reaches the emulator, the callback and the store."""

from __future__ import annotations

import html
import types

import pytest

from mpesa_lab.lab import LabError
from mpesa_lab.widgets import PushForm, VirtualPhone

from .conftest import TIMEOUT, eventually

PHONE = "254708374149"


def prompt_on(phone):
    # drawn, not just noticed: the buttons are enabled last
    eventually(lambda: phone.prompt and not phone.ok.disabled, what="prompt on the phone")
    return phone.prompt


def test_prompt_appears_with_the_emulators_exact_text(lab, closing):
    phone = closing(VirtualPhone(lab))
    assert all(b.disabled for b in (phone.ok, phone.cancel, phone.ignore))  # nothing to answer yet
    push = lab.push("0708374149", 42, "SHOE-7", "Shoes")
    prompt = prompt_on(phone)
    assert prompt["checkout_request_id"] == push.checkout_request_id
    text = lab.emulator.transaction(push.checkout_request_id)["prompt"]
    assert text == "Do you want to pay Ksh42.00 to MPESA LAB PAYBILL Account no. SHOE-7? Enter M-PESA PIN:"
    assert html.escape(text) in phone.screen.value
    assert not phone.ok.disabled and not phone.cancel.disabled


def test_right_pin_pays_and_shows_the_confirmation(lab, closing):
    phone = closing(VirtualPhone(lab))
    push = lab.push("0708374149", 10, "INV-1", "Order")
    prompt_on(phone)
    for key in "1234":
        phone.keypad_keys[[b.description for b in phone.keypad_keys].index(key)].click()
    assert phone.pin.value == "1234"
    phone.ok.click()
    callback = push.wait(TIMEOUT)
    assert callback.result_code == "0" and callback.receipt
    assert f"{callback.receipt} Confirmed. Ksh10.00 sent to MPESA LAB PAYBILL" in phone.screen.value
    assert phone.pin.value == ""  # the PIN never stays on screen


def test_wrong_pin_gives_2001(lab, closing):
    phone = closing(VirtualPhone(lab))
    push = lab.push("0708374149", 11, "INV-2", "Order")
    prompt_on(phone)
    for key in "0000":
        phone.press(key)
    tx = phone.send_pin()
    assert tx["result_code"] == "2001"
    assert lab.emulator.transaction(push.checkout_request_id)["result_code"] == "2001"
    assert push.wait(TIMEOUT).result_code == "2001"
    assert "Wrong PIN" in phone.screen.value
    frame = lab.transactions().set_index("checkout_request_id")
    assert str(frame.loc[push.checkout_request_id, "result_code"]) == "2001"
    assert str(frame.loc[push.checkout_request_id, "status"]) == "failed"


def test_cancel_gives_1032(lab, closing):
    phone = closing(VirtualPhone(lab))
    push = lab.push("0708374149", 12, "INV-3", "Order")
    prompt_on(phone)
    phone.cancel.click()
    assert push.wait(TIMEOUT).result_code == "1032"
    assert "You cancelled the payment of Ksh12.00" in phone.screen.value
    assert phone.prompt is None and phone.ok.disabled


def test_ignore_gives_1037(lab, closing):
    phone = closing(VirtualPhone(lab))
    push = lab.push("0708374149", 13, "INV-4", "Order")
    prompt_on(phone)
    phone.ignore.click()
    assert push.wait(TIMEOUT).result_code == "1037"
    assert "expired without an answer" in phone.screen.value


@pytest.mark.parametrize("code", ["1037", "1019", 1036])
def test_every_no_answer_code_reads_as_no_answer_on_the_phone(lab, closing, code):
    # 1019 and 1036 have ended unanswered prompts on live Daraja: the same SMS as 1037.
    phone = closing(VirtualPhone(lab))
    sms = phone._sms({"result_code": code, "amount": 5, "prompt": "", "timeline": []})
    assert "expired without an answer" in sms


def test_form_and_phone_together(lab, closing):
    form, phone = closing(PushForm(lab, amount="14")), closing(VirtualPhone(lab))
    form.click()
    prompt_on(phone)
    phone.press_cancel()
    assert lab.listener.wait_for(form.last_push.checkout_request_id, TIMEOUT).result_code == "1032"


def test_prompt_answered_elsewhere_leaves_the_screen(lab, closing):
    phone = closing(VirtualPhone(lab))
    push = lab.push("0708374149", 15, "INV-5", "Order")
    prompt_on(phone)
    push.answer()  # from code, not from the phone
    eventually(lambda: "Confirmed" in phone.screen.value, what="the phone noticing the answer")
    assert phone.prompt is None and phone.outcome["result_code"] == "0"


def test_ok_without_pin_sends_nothing(lab, closing):
    phone = closing(VirtualPhone(lab))
    push = lab.push("0708374149", 16, "INV-6", "Order")
    prompt_on(phone)
    assert phone.send_pin() is None
    assert "Enter your M-PESA PIN first" in phone.screen.value
    assert not lab.emulator.transaction(push.checkout_request_id)["final"]
    phone.press_cancel()


def test_close_gives_the_number_its_behaviour_back(lab):
    phone = VirtualPhone(lab)
    phone.close()
    push = lab.push("0708374149", 17, "INV-7", "Order")
    # the test number pays by itself again: no prompt waits for anyone
    assert push.wait(TIMEOUT).result_code == "0"
    assert not phone._watcher


def test_phone_refuses_a_lab_without_emulator():
    fake = types.SimpleNamespace(emulator=None, settings=types.SimpleNamespace(environment="sandbox"))
    with pytest.raises(LabError, match="real handset"):
        VirtualPhone(fake)


def test_a_prompt_counts_down_and_a_timeout_clears_the_typed_pin(lab, closing):
    """Issue 18, item 7: letting a prompt lapse was 60 s of silence, then 1037, with the typed
    digits still in the PIN field. The phone counts down (and says what the lab's wait stands
    for), and the prompt's end clears the PIN."""
    import re

    lab.emulator.configure(prompt_timeout=3)
    phone = closing(VirtualPhone(lab))
    push = lab.push("0708374149", 15, "INV-7", "Order")
    prompt_on(phone)
    first = eventually(lambda: re.search(r"(\d+) s left", phone.countdown.value), what="a countdown")
    assert "in this lab the prompt waits 3 s" in phone.countdown.value
    assert "PESA prompt ends about 30 s after the push" in phone.countdown.value
    phone.press("1")
    phone.press("2")
    assert phone.pin.value == "12"
    later = eventually(
        lambda: (
            (m := re.search(r"(\d+) s left", phone.countdown.value)) and int(m.group(1)) < int(first.group(1)) and m
        ),
        what="the countdown going down",
    )
    assert int(later.group(1)) < int(first.group(1))
    assert push.wait(TIMEOUT).result_code == "1037"
    eventually(
        lambda: phone.prompt is None and "expired without an answer" in phone.screen.value,
        what="the timeout on the phone",
    )
    assert phone.pin.value == "", "typed digits stayed after the prompt timed out"
    assert phone.countdown.value == "" and phone.pin.disabled
