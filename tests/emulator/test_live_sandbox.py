"""The live sandbox as teams reported it in 2026, as a named behaviour of the emulator; scripted
results with their own ResultDesc; the pending query's requestId (the CheckoutRequestID)."""

from __future__ import annotations

import pytest

from mpesa_lab.constants import SANDBOX_TEST_MSISDN
from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.lab import Lab

from .conftest import TIMEOUT


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path / "home"))


def _outcome(lab: Lab, phone: str, ref: str = "LIVE", desc: str = "Payment") -> tuple[str, str, str, str]:
    push = lab.push(phone, 10, ref, desc)
    callback = push.wait(TIMEOUT)
    query = push.query()
    return callback.result_code, callback.result_desc, query.result_code, query.result_desc


def test_live_sandbox_2026_nothing_completes(tmp_path):
    # The outcomes, not their timing (the live profile runs in real time unless told otherwise:
    # its 1037 comes ~30 s after the push; test_timing_live.py checks that at time_scale=1).
    config = EmulatorConfig(behaviour="live_sandbox_2026", time_scale=0.01)
    with Lab.start(store=tmp_path / "live.sqlite", emulator_config=config) as lab:
        # the public test number: accepted, then 1037 in its 2026 wording, in callback and query
        assert _outcome(lab, SANDBOX_TEST_MSISDN) == ("1037", "No response from user.") * 2
        # a real number: E3008
        code, desc, qcode, qdesc = _outcome(lab, "0722000000")
        assert (code, desc) == (qcode, qdesc) == ("E3008", "Error, the user has a bad debt contract.")
        # references longer than documented are accepted (15 and 14 characters)
        with pytest.warns(Warning):
            assert _outcome(lab, "0722000001", "ACCOUNT-REF-15C", "Description-14")[0] == "E3008"
        frame = lab.transactions()
        assert list(frame["status"]) == ["failed"] * 3
        assert list(frame["result_code"]) == ["1037", "E3008", "E3008"]
        assert frame["explanation"].str.len().min() > 0  # the catalogue explains E3008 too
        # the lab's own tools still script outcomes on purpose
        lab.emulator.set_next_result(0)
        assert _outcome(lab, "0722000002")[0] == "0"


def test_the_default_behaviour_stays_the_teaching_one(tmp_path):
    assert EmulatorConfig().behaviour == "teaching"
    with Lab.start(store=tmp_path / "teach.sqlite") as lab:
        assert _outcome(lab, SANDBOX_TEST_MSISDN)[0] == "0"


def test_unknown_behaviour_is_a_clear_error():
    with pytest.raises(ValueError, match="behaviour.*live_sandbox_2026"):
        EmulatorConfig(behaviour="live")


def test_a_scripted_result_carries_its_own_result_desc(make_lab, tmp_path):
    with Lab.start(store=tmp_path / "desc.sqlite") as lab:
        lab.emulator.set_next_result("1037", result_desc="No response from user.")
        assert _outcome(lab, "0722000003") == ("1037", "No response from user.") * 2
        lab.emulator.set_next_result("1031")  # without one: the catalogue's wording
        assert _outcome(lab, "0722000004")[:2] == ("1031", "Request cancelled by user")
    # and through the control API
    emu = make_lab()
    answer = emu.http.post("/_lab/next-result", json={"code": "1036", "result_desc": "SMSC ACK timeout"})
    assert answer.status_code == 200, answer.text
    cid = emu.push_ok("254711500009")
    final = emu.emulator.wait_until_final(cid, TIMEOUT)
    assert (final["result_code"], final["result_desc"]) == ("1036", "SMSC ACK timeout")


def test_pending_error_style_request_id_is_the_checkout_request_id(make_lab):
    lab = make_lab(interactive=True)
    cid = lab.push_ok("254711500010")
    body = lab.query(cid).json()
    assert body["errorCode"] == "500.001.1001" and body["requestId"] == cid
