"""Interactive mode: the learner is the customer (PIN, Cancel, no answer, wrong PINs)."""

from __future__ import annotations

import pytest

from mpesa_lab.emulator import EmulatorError, UnknownTransaction
from tests.poll import eventually

from .conftest import TIMEOUT, callback_of

PHONE = "254711300001"


@pytest.fixture
def ilab(make_lab):
    lab = make_lab(interactive=True)
    lab.emulator.register_subscriber(PHONE, pin="4321", balance=1_000)
    return lab


def wait_prompt(lab, cid):
    def prompt():
        return next((p for p in lab.emulator.pending_prompts() if p["checkout_request_id"] == cid), None)

    return eventually(prompt, TIMEOUT, what=f"a prompt for {cid}", interval=0.01)


def test_prompt_waits_then_right_pin_pays(ilab, collector):
    cid = ilab.push_ok(PHONE, 100)
    prompt = wait_prompt(ilab, cid)
    assert prompt["phone"] == PHONE and prompt["amount"] == 100
    assert "Ksh100.00" in prompt["prompt"] and "MPESA LAB PAYBILL" in prompt["prompt"]
    assert ilab.emulator.pending_prompts(PHONE) and not ilab.emulator.pending_prompts("254711399999")
    # still pending: the query says so in the default style
    pending = ilab.query(cid)
    assert pending.status_code == 500 and pending.json()["errorMessage"] == "The transaction is being processed"
    tx = ilab.emulator.answer(cid, pin="4321")
    assert tx["final"] and tx["result_code"] == "0"
    events = [e["event"] for e in tx["timeline"]]
    assert events[:3] == ["accepted", "prompted", "answered_by_lab"] and "paid" in events
    cb = callback_of(collector.wait_for(cid)[0])
    assert cb["ResultCode"] == 0
    sub = [s for s in ilab.lab("GET", "/subscribers").json()["subscribers"] if s["phone"] == PHONE][0]
    assert sub["balance"] == 900 and "4321" not in str(sub)


def test_answer_without_a_choice_enters_the_right_pin(ilab):
    cid = ilab.push_ok(PHONE)
    wait_prompt(ilab, cid)
    assert ilab.emulator.answer(cid)["result_code"] == "0"


def test_cancel_is_1032(ilab, collector):
    cid = ilab.push_ok(PHONE)
    wait_prompt(ilab, cid)
    assert ilab.emulator.answer(cid, cancel=True)["result_code"] == "1032"
    assert callback_of(collector.wait_for(cid)[0])["ResultCode"] == 1032


def test_ignore_is_1037(ilab):
    cid = ilab.push_ok(PHONE)
    wait_prompt(ilab, cid)
    assert ilab.emulator.answer(cid, ignore=True)["result_code"] == "1037"


def test_no_answer_times_out_as_1037(make_lab, collector):
    lab = make_lab(interactive=True, prompt_timeout=0.2)
    cid = lab.push_ok("254711300002")
    tx = lab.emulator.wait_until_final(cid, TIMEOUT)
    assert tx["result_code"] == "1037" and tx["status"] == "completed"
    events = [e["event"] for e in tx["timeline"]]
    assert events[:4] == ["accepted", "prompted", "timed_out", "completed"]
    assert callback_of(collector.wait_for(cid)[0])["ResultCode"] == 1037


def test_three_wrong_pins_lock_the_pin(ilab):
    codes = []
    for amount in (1, 2, 3, 4):
        cid = ilab.push_ok(PHONE, amount)
        wait_prompt(ilab, cid)
        codes.append(ilab.emulator.answer(cid, pin="0000")["result_code"])
    assert codes == ["2001", "2001", "8006", "8006"]
    cid = ilab.push_ok(PHONE, 5)
    wait_prompt(ilab, cid)
    assert ilab.emulator.answer(cid, pin="4321")["result_code"] == "8006"  # locked even with the right PIN
    ilab.emulator.unlock_subscriber(PHONE)
    cid = ilab.push_ok(PHONE, 6)
    wait_prompt(ilab, cid)
    assert ilab.emulator.answer(cid, pin="4321")["result_code"] == "0"


def test_a_right_pin_resets_the_wrong_pin_count(ilab):
    results = []
    for amount, pin in ((1, "0000"), (2, "0000"), (3, "4321"), (4, "0000")):
        cid = ilab.push_ok(PHONE, amount)
        wait_prompt(ilab, cid)
        results.append(ilab.emulator.answer(cid, pin=pin)["result_code"])
    assert results == ["2001", "2001", "0", "2001"]


def test_answer_before_the_prompt_is_queued(make_lab):
    lab = make_lab(interactive=True, prompt_delay=0.3)
    cid = lab.push_ok("254711300003")
    tx = lab.emulator.answer(cid, cancel=True)
    assert not tx["final"] and tx["timeline"][-1]["event"] == "answer_queued"
    assert lab.emulator.wait_until_final(cid, TIMEOUT)["result_code"] == "1032"


def test_answer_overrides_an_automatic_plan(make_lab):
    lab = make_lab(prompt_delay=0.3)
    cid = lab.push_ok("254708000000")  # the success trigger
    lab.emulator.answer(cid, cancel=True)
    tx = lab.emulator.wait_until_final(cid, TIMEOUT)
    assert tx["result_code"] == "1032"


def test_answer_mistakes_are_clear(ilab):
    cid = ilab.push_ok(PHONE)
    wait_prompt(ilab, cid)
    with pytest.raises(EmulatorError, match="one of pin="):
        ilab.emulator.answer(cid, pin="1", cancel=True)
    with pytest.raises(EmulatorError, match="pin must be"):
        ilab.emulator.answer(cid, pin=["1"])
    with pytest.raises(UnknownTransaction, match="no transaction 'ws_CO_nope'"):
        ilab.emulator.answer("ws_CO_nope", pin="1")
    ilab.emulator.answer(cid, cancel=True)
    with pytest.raises(EmulatorError, match="already final"):
        ilab.emulator.answer(cid, pin="4321")


def test_profile_interactive_waits_even_when_mode_is_off(lab):
    lab.emulator.register_subscriber("254711300004", profile="interactive")
    cid = lab.push_ok("254711300004")
    assert wait_prompt(lab, cid)
    assert lab.emulator.transaction(cid)["waiting_for_customer"]
    assert lab.emulator.answer(cid, pin="1234")["result_code"] == "0"


def test_triggers_do_not_wait_in_interactive_mode(ilab):
    cid = ilab.push_ok("254708001032")
    assert ilab.emulator.wait_until_final(cid, TIMEOUT)["result_code"] == "1032"


def test_answer_over_http_control_api(ilab, collector):
    cid = ilab.push_ok(PHONE)
    wait_prompt(ilab, cid)
    prompts = ilab.lab("GET", "/prompts", params={"phone": PHONE}).json()["prompts"]
    assert [p["checkout_request_id"] for p in prompts] == [cid]
    response = ilab.lab("POST", f"/transactions/{cid}/answer", json={"pin": "4321"})
    assert response.status_code == 200 and response.json()["result_code"] == "0"
    again = ilab.lab("POST", f"/transactions/{cid}/answer", json={"pin": "4321"})
    assert again.status_code == 400 and "already final" in again.json()["errorMessage"]
    missing = ilab.lab("POST", "/transactions/ws_CO_nope/answer", json={"cancel": True})
    assert missing.status_code == 404 and missing.json()["errorCode"] == "404.001.01"


def test_wait_until_final_times_out_clearly(ilab):
    cid = ilab.push_ok(PHONE)
    with pytest.raises(TimeoutError, match="waits for answer"):
        wait_prompt(ilab, cid)
        ilab.emulator.wait_until_final(cid, 0.05)


def test_wait_for_prompt_sees_a_prompt_right_after_the_push(ilab):
    # No polling gap: called straight after the push is accepted, it returns the prompt as soon
    # as it is shown (pending_prompts() alone is briefly empty here).
    cid = ilab.push_ok(PHONE, 5)
    prompt = ilab.emulator.wait_for_prompt(PHONE, timeout=TIMEOUT)
    assert prompt is not None and prompt["checkout_request_id"] == cid
    assert "Ksh5.00" in prompt["prompt"]
    ilab.emulator.answer(cid, cancel=True)
    # nothing waiting any more: None after the timeout, not an exception
    assert ilab.emulator.wait_for_prompt(PHONE, timeout=0.05) is None


def test_set_profile_keeps_pin_and_balance(make_lab, collector):
    lab = make_lab()
    lab.emulator.register_subscriber(PHONE, pin="4321", balance=1_000)
    sub = lab.emulator.set_profile(PHONE, "interactive")
    assert sub["profile"] == "interactive" and sub["previous_profile"] == "pays"
    assert sub["balance"] == 1_000 and "4321" not in str(sub)
    cid = lab.push_ok(PHONE, 100)
    assert lab.emulator.wait_for_prompt(PHONE, timeout=TIMEOUT)["checkout_request_id"] == cid
    assert lab.emulator.answer(cid, pin="4321")["result_code"] == "0"
    with pytest.raises(EmulatorError, match="unknown profile"):
        lab.emulator.set_profile(PHONE, "sleepy")


def test_triggers_route_lists_error_triggers(make_lab):
    body = make_lab().lab("GET", "/triggers").json()
    names = {t["name"] for t in body["error_triggers"]}
    assert {"wrong_credentials", "system_busy", "subscriber_locked"} <= names
    assert all(t["how"] for t in body["error_triggers"])
