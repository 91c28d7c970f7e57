"""Every view tells both durations: the lab's (measured) and the real world's (at the lab's
time_scale), for a timed lab; the quick lab says it is not real-world time."""

from __future__ import annotations

import math
import re

import pytest

from mpesa_lab.emulator.config import COURSE_TIME_SCALE
from mpesa_lab.lab import Lab
from mpesa_lab.widgets import LiveCallbacks, SequenceStepper, VirtualPhone, transaction_steps

from .conftest import TIMEOUT, eventually


@pytest.fixture
def timed_lab(tmp_path):
    lab = Lab.start(store=tmp_path / "timed.sqlite3", time_scale=COURSE_TIME_SCALE)
    yield lab
    lab.stop()


def test_a_timed_push_shows_real_seconds_in_the_stepper_live_table_and_frame(timed_lab, closing):
    push = timed_lab.push("0708374149", 31, "REAL-1", "Timing")
    push.wait(TIMEOUT)
    tx = timed_lab.emulator.transaction(push.checkout_request_id)
    assert 5 <= tx["real_result_s"] <= 40

    steps = transaction_steps(timed_lab, push.checkout_request_id)
    measured = (steps[5].at - steps[2].at).total_seconds()
    assert steps[5].real_seconds_since(steps[2]) == pytest.approx(measured / COURSE_TIME_SCALE)
    # the lab's gap is the model's draw, scaled (the ack is recorded a moment after acceptance)
    assert measured == pytest.approx(tx["real_result_s"] * COURSE_TIME_SCALE, abs=0.3)
    stepper = closing(SequenceStepper(timed_lab, push.checkout_request_id))
    stepper.go(6)
    assert re.search(r"\(real world: <b>[^<]+</b> at time_scale 0\.05\)", stepper.detail.value)

    frame = timed_lab.transactions()
    row = frame[frame["checkout_request_id"] == push.checkout_request_id].iloc[0]
    assert row["real_latency_s"] == pytest.approx(row["latency_s"] / COURSE_TIME_SCALE)
    assert 4 <= row["real_latency_s"] <= 50

    live = closing(LiveCallbacks(timed_lab, watch=False))
    shown = live.rows[0]
    assert shown["real_latency_s"] == pytest.approx(shown["latency_s"] / COURSE_TIME_SCALE)
    assert "(real " in live.table.value


def test_the_phone_counts_down_in_both_times(timed_lab, closing):
    timed_lab.emulator.configure(prompt_timeout=3)
    phone = closing(VirtualPhone(timed_lab))
    timed_lab.push("0708374149", 32, "REAL-2", "Timing")
    eventually(lambda: phone.prompt, what="prompt")
    text = eventually(lambda: "s left" in phone.countdown.value and phone.countdown.value, what="a countdown")
    # 3 lab seconds at 1/20 are a minute of real time; the real prompt's own life beside it
    assert re.search(r"\d+ s left \(real: [^)]+\)", text), text
    assert "1 min of real time" in text and "ends about 30 s after the push" in text


def test_the_quick_lab_says_it_is_not_real_time(lab, closing):
    push = lab.push("0708374149", 33, "QUICK", "Timing")
    push.wait(TIMEOUT)
    assert lab.time_scale is None
    stepper = closing(SequenceStepper(lab, push.checkout_request_id))
    stepper.go(6)
    assert "Quick lab: not real-world time" in stepper.detail.value
    assert "5-40 s" in stepper.detail.value  # the model's range for a payment
    frame = lab.transactions()
    assert math.isnan(frame["real_latency_s"].iloc[-1])
