"""The callbacks the emulator POSTs conform to the contract's stkCallback webhook (docs/openapi.yaml).

They are received by a real HTTP endpoint (the ``collector``) and checked as they arrived, raw:
one for every final code of the catalogue (and each live wording, and codes nobody has listed),
every magic trigger, every item style, every scenario, profile and customer answer, every
behaviour, and a duplicated delivery. The final STK query of each catalogued code is checked too.
The sweeps walk the emulator's own tables, so codes, triggers, scenarios and profiles added to
them are checked as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mpesa_lab import codes
from mpesa_lab.emulator import PROFILES, SCENARIOS, TRIGGERS
from mpesa_lab.emulator.config import AMOUNT_STYLES, BALANCE_ITEM_STYLES
from mpesa_lab.emulator.scenarios import BEHAVIOURS
from tests.openapi_contract import check_answer, check_callback

from .conftest import Collector, Daraja, callback_of

PHONE = "254708374149"


def delivered(collector: Collector, cid: str, count: int = 1) -> list[dict[str, Any]]:
    """The callback(s) of ``cid`` as the endpoint received them, each checked against the contract."""
    posts = collector.wait_for(cid, count)
    for post in posts:
        assert post["headers"]["content-type"].startswith("application/json"), post["headers"]
        check_callback(post["raw"], post["headers"]["content-type"])
    return [callback_of(post) for post in posts]


def wire_code(code: str) -> int | str:
    """How a ResultCode travels in a callback: a number, unless it is alphanumeric."""
    return int(code) if code.isdigit() else code


@pytest.fixture
def daraja(make_lab: Callable[..., Daraja]) -> Daraja:
    return make_lab(enforce_duplicate_rule=False)


def test_every_final_code_of_the_catalogue_conforms_in_callback_and_query(daraja: Daraja, collector: Collector) -> None:
    finals = [entry for entry in codes.result_codes() if entry.final]
    assert len(finals) >= 15
    # and codes nobody has listed, which do arrive
    for code in [entry.code for entry in finals] + ["7777", "XB0042"]:
        daraja.emulator.set_next_result(code)
        cid = daraja.push_ok()
        (callback,) = delivered(collector, cid)
        assert callback["ResultCode"] == wire_code(code), callback
        assert ("CallbackMetadata" in callback) == (code == "0"), callback
        answer = daraja.query(cid)
        check_answer(answer)
        assert answer.status_code == 200 and answer.json()["ResultCode"] == code, answer.text


def test_every_live_wording_conforms(daraja: Daraja, collector: Collector) -> None:
    wordings = codes.result_wordings()
    assert wordings
    for row in wordings:
        daraja.emulator.set_next_result(row["code"], result_desc=row["wording"])
        cid = daraja.push_ok()
        (callback,) = delivered(collector, cid)
        assert callback["ResultDesc"] == row["wording"]


def test_every_magic_trigger_s_callback_conforms(daraja: Daraja, collector: Collector) -> None:
    for trigger in TRIGGERS:
        fields: dict[str, Any] = {
            "AccountReference": trigger.account_reference,
            "TransactionType": trigger.transaction_type,
        }
        if trigger.party_b is not None:
            fields["PartyB"] = trigger.party_b
        cid = daraja.push_ok(trigger.phone, trigger.amount, **fields)
        (callback,) = delivered(collector, cid)
        assert callback["ResultCode"] == wire_code(trigger.code), (trigger.code, callback)


def test_every_item_style_conforms(daraja: Daraja, collector: Collector) -> None:
    for balance in BALANCE_ITEM_STYLES:
        for amount in AMOUNT_STYLES:
            daraja.emulator.configure(callback_balance=balance, callback_amount=amount)
            cid = daraja.push_ok(PHONE, 7)
            (callback,) = delivered(collector, cid)
            items = {item["Name"]: item for item in callback["CallbackMetadata"]["Item"]}
            assert ("Balance" in items) == (balance != "absent"), items
            assert ("Value" in items.get("Balance", {})) == (balance == "value"), items
            assert type(items["Amount"]["Value"]) is (float if amount == "float" else int), items


def test_every_scenario_s_callbacks_conform(daraja: Daraja, collector: Collector) -> None:
    phones = iter(f"25472{n:07d}" for n in range(10**6))
    for name in SCENARIOS:
        daraja.emulator.set_scenario(name)
        cids = [daraja.push_ok(next(phones)) for _ in range(6)]
        for cid in cids:
            delivered(collector, cid)


def test_every_profile_and_customer_answer_conforms(daraja: Daraja, collector: Collector) -> None:
    phones = iter(f"25473{n:07d}" for n in range(10**6))
    for profile in PROFILES:
        phone = next(phones)
        daraja.emulator.register_subscriber(phone, profile=profile)
        cid = daraja.push_ok(phone)
        if profile == "interactive":
            assert daraja.emulator.wait_for_prompt(phone) is not None
            daraja.emulator.answer(cid)
        (callback,) = delivered(collector, cid)
        assert "ResultCode" in callback
    # interactive answers: the right PIN, a wrong one (three lock the PIN), Cancel, no answer
    phone = next(phones)
    daraja.emulator.register_subscriber(phone, profile="interactive")
    answers: list[dict[str, Any]] = [{}, {"cancel": True}, {"ignore": True}] + [{"pin": "0000"}] * 3
    seen = []
    for answer in answers:
        cid = daraja.push_ok(phone)
        daraja.emulator.answer(cid, **answer)
        (callback,) = delivered(collector, cid)
        seen.append(callback["ResultCode"])
    assert seen == [0, 1032, 1037, 2001, 2001, 8006]


def test_every_behaviour_s_callbacks_conform(
    make_lab: Callable[..., Daraja], collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The timing model's clock, where the emulator has one (it plays live_sandbox_2026 in real time
    # by default: a 1037 about 30 s after the push); ignored by an emulator without it.
    monkeypatch.setenv("MPESA_LAB_TIME_SCALE", "0.001")
    daraja = make_lab(enforce_duplicate_rule=False)
    for behaviour in BEHAVIOURS:
        daraja.emulator.configure(behaviour=behaviour)
        for cid in [daraja.push_ok(PHONE), daraja.push_ok("254712345678")]:
            delivered(collector, cid)


def test_a_duplicated_callback_conforms_each_time(daraja: Daraja, collector: Collector) -> None:
    daraja.emulator.inject_callback_fault("duplicate", phone=PHONE, copies=2)
    cid = daraja.push_ok(PHONE)
    first, second = delivered(collector, cid, count=2)
    assert first == second


def test_what_the_collector_checks_is_the_raw_body(daraja: Daraja, collector: Collector) -> None:
    """The check reads the bytes as POSTed (a parsed copy could hide a number sent as text)."""
    cid = daraja.push_ok(PHONE)
    (post,) = collector.wait_for(cid)
    assert json.loads(post["raw"]) == post["body"]
    doctored = post["raw"].replace(b'"ResultCode": 0', b'"ResultCode": null')
    assert doctored != post["raw"]
    with pytest.raises(AssertionError, match="callback not in the contract"):
        check_callback(doctored)
