"""The whole journey through the Lab façade: emulator + listener + client, real HTTP throughout."""

from __future__ import annotations

import pytest

from mpesa_lab import codes
from mpesa_lab.emulator import TRIGGERS, EmulatorConfig
from mpesa_lab.lab import Lab, active_lab


@pytest.fixture
def lab(tmp_path):
    lab = Lab.start(store=tmp_path / "lab.sqlite3")
    yield lab
    lab.stop()


def test_every_trigger_gives_its_result_code_in_transactions(lab):
    pushes = {}
    for trigger in TRIGGERS:
        options = {}
        if trigger.transaction_type:
            options["transaction_type"] = trigger.transaction_type
        if trigger.party_b:
            options["party_b"] = trigger.party_b
        push = lab.push(trigger.phone, trigger.amount, trigger.account_reference or "E2E", "e2e", **options)
        pushes[push.checkout_request_id] = trigger.code
    for checkout_id, code in pushes.items():
        callback = lab.listener.wait_for(checkout_id, 20)
        assert callback.result_code == code, (checkout_id, code)

    frame = lab.transactions().set_index("checkout_request_id")
    assert len(frame) == len(TRIGGERS)
    for checkout_id, code in pushes.items():
        assert str(frame.loc[checkout_id, "result_code"]) == code
    # every trigger's code is explained by the catalogue
    assert all(codes.lookup(code).known for code in pushes.values())


def test_push_wait_and_query_agree(lab):
    push = lab.push("0708374149", 7, "E2E", "e2e")
    callback = push.wait(timeout=20)
    assert callback.result_code == "0"
    assert callback.receipt and len(callback.receipt) == 10
    assert float(callback.amount) == 7
    query = push.query()
    assert query.status == "success" and query.result_code == "0"
    pushes = lab.pushes()
    assert push.checkout_request_id in set(pushes["checkout_request_id"])
    row = pushes.set_index("checkout_request_id").loc[push.checkout_request_id]
    # the stored request carries no secret
    assert "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919" not in str(row.to_dict())


def test_interactive_phone_answered_from_the_lab(tmp_path):
    with Lab.start(store=tmp_path / "i.sqlite3", emulator_config=EmulatorConfig(interactive=True)) as lab:
        paid, cancelled = lab.push("0708374149", 3, "E2E", "e2e"), lab.push("0722000001", 3, "E2E", "e2e")
        assert paid.query().status == "pending"
        paid.answer()
        cancelled.cancel()
        assert paid.wait(20).result_code == "0"
        assert cancelled.wait(20).result_code == "1032"


def test_starting_again_replaces_the_previous_lab(tmp_path):
    first = Lab.start(store=tmp_path / "a.sqlite3")
    second = Lab.start(store=tmp_path / "b.sqlite3")
    try:
        assert active_lab() is second
        assert not first.listener.running and not first.emulator.running
        assert second.push("0708374149", 2, "E2E", "e2e").wait(20).result_code == "0"
    finally:
        second.stop()
    assert active_lab() is None


def test_secrets_absent_from_the_lab_repr(lab):
    text = repr(lab) + repr(lab.settings) + str(lab.settings)
    assert "mpesa-lab-consumer-secret" not in text
    assert "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919" not in text


def test_a_lab_leaves_hand_started_servers_alone(tmp_path):
    from mpesa_lab.emulator import Emulator

    own = Emulator().start()
    try:
        with Lab.start(store=tmp_path / "c.sqlite3") as lab:
            assert own.running and lab.emulator is not own
            assert lab.push("0708374149", 4, "E2E", "e2e").wait(20).result_code == "0"
        assert own.running
    finally:
        own.stop()
