"""The timing model in the running emulator: real time (one ~30 s 1037), the course's scale, the
quick lab unchanged, and the live-sandbox profile's pending style and rule-17 option."""

from __future__ import annotations

import time

import pytest

from mpesa_lab.constants import SANDBOX_TEST_MSISDN
from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.emulator.config import COURSE_TIME_SCALE, TIME_SCALE_ENV
from mpesa_lab.lab import Lab

from .conftest import TIMEOUT


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(TIME_SCALE_ENV, raising=False)


def _pending_body(emu, checkout_request_id: str) -> tuple[int, dict]:
    response = emu.query(checkout_request_id)
    return response.status_code, response.json()


@pytest.mark.slow
def test_live_sandbox_1037_comes_about_30_s_after_the_push_in_real_time(tmp_path):
    """observed-behaviour.md (2026): the sandbox ends an unanswered test push with 1037 ~30 s
    after the push; meanwhile the query answers HTTP 200 ResultCode 4999 (pending)."""
    config = EmulatorConfig(behaviour="live_sandbox_2026")  # time_scale None: real time for this profile
    with Lab.start(store=tmp_path / "live.sqlite", emulator_config=config) as lab:
        assert lab.time_scale == 1.0
        push = lab.push(SANDBOX_TEST_MSISDN, 10, "LIVE", "Payment")
        acked = time.monotonic()
        status = push.query()  # a few ms after the push: nobody has answered yet
        assert status.pending and not status.failed
        assert (status.http_status, status.result_code) == (200, "4999")
        assert status.result_desc == "The transaction is still under processing"
        callback = push.wait(45)
        elapsed = time.monotonic() - acked
        assert (callback.result_code, callback.result_desc) == ("1037", "No response from user.")
        assert 27.5 <= elapsed <= 34, elapsed
        tx = lab.emulator.transaction(push.checkout_request_id)
        assert tx["time_scale"] == 1.0 and 28 <= tx["real_result_s"] <= 32
        assert push.query().failed


def test_live_sandbox_1037_at_the_course_scale(make_lab, collector):
    emu = make_lab(behaviour="live_sandbox_2026", time_scale=COURSE_TIME_SCALE)
    started = time.monotonic()
    cid = emu.push_ok(SANDBOX_TEST_MSISDN)
    code, body = _pending_body(emu, cid)
    assert code == 200 and body["ResultCode"] == "4999", body
    assert body["ResultDesc"] == "The transaction is still under processing"
    assert set(body) == {
        "ResponseCode",
        "ResponseDescription",
        "MerchantRequestID",
        "CheckoutRequestID",
        "ResultCode",
        "ResultDesc",
    }
    post = collector.wait_for(cid, timeout=TIMEOUT)[0]
    elapsed = time.monotonic() - started
    assert post["body"]["Body"]["stkCallback"]["ResultCode"] == 1037
    tx = emu.emulator.transaction(cid)
    assert 28 <= tx["real_result_s"] <= 32
    # 30 s of real time at 1/20 is 1.5 s here (engine buckets and a loaded machine: some slack)
    assert 28 * COURSE_TIME_SCALE - 0.05 <= elapsed <= 32 * COURSE_TIME_SCALE + 1.0, elapsed


def test_a_paid_push_at_the_course_scale_takes_the_models_think_time(make_lab, collector):
    emu = make_lab(time_scale=COURSE_TIME_SCALE)
    started = time.monotonic()
    cid = emu.push_ok(SANDBOX_TEST_MSISDN, 3)
    collector.wait_for(cid, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    tx = emu.emulator.transaction(cid)
    assert tx["result_code"] == "0" and tx["time_scale"] == COURSE_TIME_SCALE
    assert 5 <= tx["real_result_s"] <= 40 and 1 <= tx["real_prompt_s"] <= 3
    expected = tx["real_result_s"] * COURSE_TIME_SCALE
    assert expected - 0.02 <= elapsed <= expected + 1.0, (elapsed, expected)


def test_the_quick_lab_is_unchanged_and_timing_never_changes_the_seeded_outcomes(make_lab):
    phones = [f"2547115000{n:02d}" for n in range(12)]

    def outcomes(**config):
        emu = make_lab(seed=4242, **config)
        cids = [emu.push_ok(phone, 5) for phone in phones]
        return [emu.emulator.wait_until_final(cid, TIMEOUT) for cid in cids]

    quick = outcomes()
    assert {tx["time_scale"] for tx in quick} == {None} and {tx["real_result_s"] for tx in quick} == {None}
    timed = outcomes(time_scale=0.002)
    again = outcomes(time_scale=0.002)
    assert [tx["result_code"] for tx in timed] == [tx["result_code"] for tx in quick]
    assert [tx["real_result_s"] for tx in timed] == [tx["real_result_s"] for tx in again]  # seeded


def test_pending_style_follows_the_behaviour_unless_set(make_lab):
    teaching = make_lab(interactive=True)
    cid = teaching.push_ok("254711500030")
    assert teaching.query(cid).status_code == 500  # teaching keeps 500.001.1001
    live = make_lab(behaviour="live_sandbox_2026", time_scale=1.0, pending_style="error")
    cid = live.push_ok(SANDBOX_TEST_MSISDN)
    code, body = _pending_body(live, cid)
    assert code == 500 and body["errorCode"] == "500.001.1001"


def test_rule_17_under_the_live_profile_is_an_option_off_by_default(make_lab, collector):
    def second_result(**extra):
        emu = make_lab(behaviour="live_sandbox_2026", time_scale=0.002, **extra)
        first = emu.push_ok(SANDBOX_TEST_MSISDN, 7)
        emu.emulator.wait_until_final(first, TIMEOUT)
        return emu.emulator.wait_until_final(emu.push_ok(SANDBOX_TEST_MSISDN, 7), TIMEOUT)["result_code"]

    assert second_result() == "1037"  # unevidenced on the 2026 sandbox: off
    assert second_result(live_duplicate_rule=True) == "17"


def test_time_scale_from_the_environment_and_its_bounds(monkeypatch):
    from mpesa_lab.course import lessons

    assert lessons.COURSE_TIME_SCALE == COURSE_TIME_SCALE and lessons.course_time_scale() == COURSE_TIME_SCALE
    monkeypatch.setenv(TIME_SCALE_ENV, "1/20")
    assert lessons.course_time_scale() is None  # the lesson leaves it to the emulator's default: the env
    assert EmulatorConfig().time_scale == pytest.approx(0.05)
    monkeypatch.setenv(TIME_SCALE_ENV, "1")
    assert EmulatorConfig().time_scale == 1.0
    assert EmulatorConfig(time_scale=0.5).time_scale == 0.5  # an explicit value wins
    monkeypatch.setenv(TIME_SCALE_ENV, "fast")
    with pytest.raises(ValueError, match="MPESA_LAB_TIME_SCALE must be a number"):
        EmulatorConfig()
    monkeypatch.delenv(TIME_SCALE_ENV)
    assert EmulatorConfig().time_scale is None
    with pytest.raises(ValueError, match="time_scale must be at most 10"):
        EmulatorConfig(time_scale=20)
    with pytest.raises(ValueError, match="time_scale must be >= 0.001"):
        EmulatorConfig(time_scale=0)
