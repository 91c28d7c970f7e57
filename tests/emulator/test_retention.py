"""Retention: a long-running emulator keeps a bounded history, and never forgets a transaction
still pending, a callback not yet made, or a subscriber someone registered."""

from __future__ import annotations

import pytest

from mpesa_lab.emulator import EmulatorConfig, UnknownTransaction

from .conftest import TIMEOUT, assert_envelope

PAYS = "254708000000"  # magic number: pays, deterministic


def phone(n: int) -> str:
    return f"2547114{n:05d}"


def push_final(lab, number: str, amount: int = 1) -> str:
    cid = lab.push_ok(number, amount)
    lab.emulator.wait_until_final(cid, TIMEOUT)
    return cid


def wait_settled(lab, cid: str, count: int = 1) -> None:
    lab.emulator.wait_for_callbacks(cid, count, TIMEOUT)


def test_transactions_stay_within_the_limit_and_the_newest_are_kept(make_lab):
    lab = make_lab(max_transactions=10, enforce_duplicate_rule=False, enforce_subscriber_lock=False)
    ids = []
    for n in range(35):
        ids.append(push_final(lab, PAYS, n + 1))
        wait_settled(lab, ids[-1])
    kept = [t["checkout_request_id"] for t in lab.emulator.transactions()]
    assert 9 <= len(kept) <= 10
    assert kept == ids[-len(kept) :]
    summary = lab.lab("GET", "").json()["state"]["retention"]
    assert summary["forgotten_transactions"] == 35 - len(kept)
    # what is gone is gone everywhere: attempts too
    assert {a["checkout_request_id"] for a in lab.emulator.callback_attempts()} <= set(kept)


def test_an_aged_out_id_is_answered_like_one_daraja_never_saw(make_lab):
    lab = make_lab(max_transactions=3, enforce_duplicate_rule=False, enforce_subscriber_lock=False)
    first = push_final(lab, PAYS, 1)
    wait_settled(lab, first)
    assert lab.query(first).json()["ResultCode"] == "0"
    for n in range(5):
        wait_settled(lab, push_final(lab, PAYS, n + 2))
    aged = lab.query(first)
    never = lab.query(first[:-1] + ("0" if first[-1] != "0" else "1"))
    assert_envelope(aged, 400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
    assert_envelope(never, 400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
    strip = lambda r: {k: v for k, v in r.json().items() if k != "requestId"}  # noqa: E731
    assert strip(aged) == strip(never) and dict(aged.headers)["content-type"] == dict(never.headers)["content-type"]
    with pytest.raises(UnknownTransaction, match="forgotten beyond max_transactions=3"):
        lab.emulator.transaction(first)
    assert lab.lab("GET", f"/transactions/{first}").status_code == 404


def test_pending_transactions_are_never_forgotten(make_lab):
    lab = make_lab(max_transactions=4, interactive=True, enforce_duplicate_rule=False)
    waiting = [lab.push_ok(phone(n)) for n in range(6)]  # six prompts waiting: over the limit
    for n in range(10):
        lab.emulator.register_subscriber(phone(100 + n), profile="pays")
        cid = lab.push_ok(phone(100 + n))
        lab.emulator.answer(cid)
        lab.emulator.wait_until_final(cid, TIMEOUT)
        wait_settled(lab, cid)
    kept = {t["checkout_request_id"] for t in lab.emulator.transactions()}
    assert set(waiting) <= kept
    # and they still work: the customer answers one, it pays
    lab.emulator.answer(waiting[0])
    assert lab.emulator.wait_until_final(waiting[0], TIMEOUT)["result_code"] == "0"
    assert len(kept) - len(waiting) <= 4


def test_a_callback_not_yet_made_keeps_its_transaction(make_lab, collector):
    lab = make_lab(max_transactions=3, enforce_duplicate_rule=False, enforce_subscriber_lock=False)
    lab.emulator.inject_callback_fault("delay", phone="254708000000", seconds=1.5)
    late = push_final(lab, PAYS, 1)
    assert lab.emulator.callback_attempts(late) == []  # final, callback not made yet
    for n in range(8):
        wait_settled(lab, push_final(lab, "254711499999", n + 2))
    assert late in {t["checkout_request_id"] for t in lab.emulator.transactions()}
    # the delayed callback still arrives, and its attempt is recorded on the kept transaction
    collector.wait_for(late)
    attempts = lab.emulator.wait_for_callbacks(late, 1, TIMEOUT)
    assert attempts[0]["delivered"] and attempts[0]["fault"] == "delay"
    # settled now: the next batch may forget it
    for n in range(8):
        wait_settled(lab, push_final(lab, "254711499998", n + 20))
    assert late not in {t["checkout_request_id"] for t in lab.emulator.transactions()}


def test_duplicated_callback_keeps_the_transaction_until_every_copy_is_out(make_lab, collector):
    lab = make_lab(max_transactions=2, enforce_duplicate_rule=False, enforce_subscriber_lock=False)
    lab.emulator.inject_callback_fault("duplicate", phone=PAYS, copies=3)
    lab.emulator.inject_callback_fault("delay", phone=PAYS, seconds=1.0)
    cid = push_final(lab, PAYS, 1)
    tx = lab.emulator.state.transactions[cid]
    assert tx.callbacks_due == 3
    for n in range(5):
        wait_settled(lab, push_final(lab, "254711499997", n + 2))
    assert cid in lab.emulator.state.transactions
    assert len(lab.emulator.wait_for_callbacks(cid, 3, TIMEOUT)) == 3
    assert tx.callbacks_due == 0
    assert len(collector.wait_for(cid, 3)) >= 3


def test_subscribers_made_on_the_fly_are_bounded_registered_ones_kept(make_lab):
    lab = make_lab(max_subscribers=5, mix={"0": 1})
    lab.emulator.register_subscriber("254711488888", balance=77)
    for n in range(30):
        wait_settled(lab, push_final(lab, phone(200 + n)))
    state = lab.emulator.state
    assert len(state.transient) <= 5
    assert len(state.recent_pushes) <= 5 + 2  # rule-17 memory goes with the subscriber
    assert "254711488888" in state.subscribers and "254708374149" in state.subscribers
    assert state.subscribers["254711488888"].balance == 77
    # the most recent ones are the ones kept
    assert phone(229) in state.subscribers and phone(200) not in state.subscribers
    assert lab.lab("GET", "").json()["state"]["retention"]["forgotten_subscribers"] >= 25
    # a forgotten number pushing again starts afresh with the default balance
    wait_settled(lab, push_final(lab, phone(200), 10))
    assert state.subscribers[phone(200)].balance == EmulatorConfig().default_balance - 10


def test_a_subscriber_with_an_open_transaction_is_not_forgotten(make_lab):
    lab = make_lab(max_subscribers=3, interactive=True)
    waiting = lab.push_ok(phone(300))  # the oldest on-the-fly subscriber, its prompt open
    for n in range(8):
        cid = lab.push_ok(phone(301 + n))
        lab.emulator.answer(cid)
        lab.emulator.wait_until_final(cid, TIMEOUT)
    state = lab.emulator.state
    assert phone(301) not in state.subscribers  # older and settled: forgotten
    assert phone(300) in state.subscribers and state.subscribers[phone(300)].open == 1
    lab.emulator.answer(waiting, pin="1234")
    assert lab.emulator.wait_until_final(waiting, TIMEOUT)["result_code"] == "0"
    assert state.subscribers[phone(300)].open == 0


def test_retention_is_live_and_can_be_switched_off(make_lab):
    lab = make_lab(max_transactions=None, enforce_duplicate_rule=False, enforce_subscriber_lock=False)
    for n in range(15):
        wait_settled(lab, push_final(lab, PAYS, n + 1))
    assert len(lab.emulator.transactions()) == 15
    response = lab.lab("POST", "/config", json={"max_transactions": 5})
    assert response.status_code == 200, response.text
    wait_settled(lab, push_final(lab, PAYS, 100))
    assert len(lab.emulator.transactions()) <= 5
    with pytest.raises(ValueError, match="max_subscribers"):
        EmulatorConfig(max_subscribers=0)


def test_defaults_are_bounded():
    config = EmulatorConfig()
    assert config.max_transactions is not None and config.max_subscribers is not None
