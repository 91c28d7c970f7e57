"""Callback delivery: recorded attempts, failures, and the injected faults."""

from __future__ import annotations

import pytest

from mpesa_lab.emulator import EmulatorError

from .conftest import TIMEOUT, callback_of

PHONE = "254711400001"


@pytest.fixture
def ilab(make_lab):
    """Interactive, so a fault can be injected before the customer answers."""
    lab = make_lab(interactive=True, enforce_duplicate_rule=False)
    lab.emulator.register_subscriber(PHONE)
    return lab


def pay(lab, cid):
    lab.emulator.answer(cid, pin="1234")


def test_each_attempt_is_recorded(lab, collector):
    cid = lab.push_ok()
    collector.wait_for(cid)
    [attempt] = lab.emulator.wait_for_callbacks(cid, 1, TIMEOUT)
    assert attempt["status"] == 200 and attempt["error"] is None and attempt["delivered"]
    assert attempt["url"] == collector.url and attempt["attempt"] == 1 and attempt["at"]
    assert lab.emulator.callback_attempts(cid) == [attempt]
    assert attempt in lab.emulator.callback_attempts()
    over_http = lab.lab("GET", "/callback-attempts", params={"checkout_request_id": cid}).json()["attempts"]
    assert over_http == [attempt]


def test_unreachable_callback_url_is_recorded_not_retried(lab):
    cid = lab.push_ok(CallBackURL="http://127.0.0.1:9/nothing-listens-here")
    [attempt] = lab.emulator.wait_for_callbacks(cid, 1, TIMEOUT)
    assert attempt["status"] is None and "ConnectError" in attempt["error"] and not attempt["delivered"]
    # the result is still there for the STK query, which is how a merchant recovers
    assert lab.query(cid).json()["ResultCode"] == "0"
    assert lab.emulator.transaction(cid)["timeline"][-1]["event"] == "callback_failed"


def test_error_status_from_callback_endpoint_is_recorded(lab, collector):
    collector.status = 500
    try:
        cid = lab.push_ok()
        [attempt] = lab.emulator.wait_for_callbacks(cid, 1, TIMEOUT)
    finally:
        collector.status = 200
    assert attempt["status"] == 500 and "HTTP 500" in attempt["error"] and not attempt["delivered"]
    assert len(collector.for_checkout(cid)) == 1  # Safaricom does not retry


def test_drop_fault_sends_nothing(ilab, collector):
    cid = ilab.push_ok(PHONE)
    fault = ilab.emulator.inject_callback_fault("drop", cid)
    assert fault["kind"] == "drop" and fault["checkout_request_id"] == cid
    pay(ilab, cid)
    [attempt] = ilab.emulator.wait_for_callbacks(cid, 1, TIMEOUT)
    assert attempt["fault"] == "drop" and attempt["status"] is None
    # a later callback proves the delivery path works, and the dropped one never came
    other = ilab.push_ok(PHONE, 2)
    pay(ilab, other)
    collector.wait_for(other)
    assert collector.for_checkout(cid) == []
    assert ilab.query(cid).json()["ResultCode"] == "0"


def test_duplicate_fault_posts_the_same_body_twice(ilab, collector):
    cid = ilab.push_ok(PHONE)
    ilab.emulator.inject_callback_fault("duplicate", cid, copies=3)
    pay(ilab, cid)
    posts = collector.wait_for(cid, 3)
    assert len({p["raw"] for p in posts}) == 1
    attempts = ilab.emulator.wait_for_callbacks(cid, 3, TIMEOUT)
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["fault"].startswith("duplicate") for a in attempts)


def test_delay_fault_still_delivers(ilab, collector):
    cid = ilab.push_ok(PHONE)
    ilab.emulator.inject_callback_fault("delay", cid, seconds=0.2)
    pay(ilab, cid)
    assert callback_of(collector.wait_for(cid)[0])["ResultCode"] == 0
    assert ilab.emulator.wait_for_callbacks(cid, 1, TIMEOUT)[0]["fault"] == "delay"


def test_out_of_order_fault_holds_a_callback_until_a_later_one(ilab, collector):
    first = ilab.push_ok(PHONE, 1)
    ilab.emulator.configure(out_of_order_hold=30.0)  # only the later callback can release it
    ilab.emulator.inject_callback_fault("out_of_order", first)
    pay(ilab, first)
    ilab.emulator.wait_until_final(first, TIMEOUT)
    second = ilab.push_ok(PHONE, 2)
    pay(ilab, second)
    collector.wait_for(first)
    order = [
        callback_of(p)["CheckoutRequestID"]
        for p in collector.posts
        if callback_of(p)["CheckoutRequestID"] in (first, second)
    ]
    assert order == [second, first]


def test_out_of_order_alone_is_released_after_the_hold(make_lab, collector):
    lab = make_lab(out_of_order_hold=0.1)
    lab.emulator.inject_callback_fault("out_of_order", count=1)
    cid = lab.push_ok()
    assert callback_of(collector.wait_for(cid)[0])["ResultCode"] == 0


def test_global_faults_by_count_and_phone(make_lab, collector):
    lab = make_lab(enforce_duplicate_rule=False, enforce_subscriber_lock=False)
    lab.emulator.inject_callback_fault("drop", count=2)
    lab.emulator.inject_callback_fault("duplicate", phone="254711400009")
    dropped = [lab.push_ok("254708000000", n) for n in (1, 2)]
    kept = lab.push_ok("254708000000", 3)
    assert len(collector.wait_for(kept)) == 1
    for cid in dropped:
        lab.emulator.wait_for_callbacks(cid, 1, TIMEOUT)
        assert collector.for_checkout(cid) == []
    twice = lab.push_ok("254711400009")
    assert len(collector.wait_for(twice, 2)) == 2
    assert lab.emulator.clear_callback_faults() == 0  # both used up


def test_config_level_faults_apply_to_every_callback(make_lab, collector):
    lab = make_lab(callback_faults=("duplicate",))
    cid = lab.push_ok()
    assert len(collector.wait_for(cid, 2)) == 2


def test_fault_mistakes_are_clear(lab):
    with pytest.raises(EmulatorError, match="unknown callback fault 'lose'"):
        lab.emulator.inject_callback_fault("lose")
    with pytest.raises(EmulatorError, match="copies"):
        lab.emulator.inject_callback_fault("duplicate", copies=1)
    cid = lab.push_ok()
    lab.emulator.wait_until_final(cid, TIMEOUT)
    with pytest.raises(EmulatorError, match="already final"):
        lab.emulator.inject_callback_fault("drop", cid)
    response = lab.lab("POST", "/callback-faults", json={"kind": "drop", "count": 0})
    assert response.status_code == 400 and "count" in response.json()["errorMessage"]


def test_faults_over_http(lab, collector):
    response = lab.lab("POST", "/callback-faults", json={"kind": "duplicate", "count": 1})
    assert response.status_code == 200 and response.json()["kind"] == "duplicate"
    assert len(lab.lab("GET", "/callback-faults").json()["faults"]) == 1
    assert lab.lab("DELETE", "/callback-faults").json() == {"cleared": 1}
    cid = lab.push_ok()
    assert len(collector.wait_for(cid)) == 1
