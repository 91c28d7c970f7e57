"""Checks of notebooks 00, 01, 04 and 07: pass on the right answer, name the problem in wrong ones.

The lab-bound checks run against a real lab (emulator + listener) and real transactions; the
analytics checks against the committed week in data/week.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from mpesa_lab.course import check, dataset
from mpesa_lab.course.check import JOURNEY
from mpesa_lab.course.verdict import STRICT_ENV
from tests.course.test_check import _callback, ok, todo, wrong

ROOT = Path(__file__).resolve().parents[2]
TEST_PHONE = "254708374149"


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    import os

    from mpesa_lab.lab import Lab

    home = tmp_path_factory.mktemp("lab-home")
    saved = os.environ.get("MPESA_LAB_HOME")
    os.environ["MPESA_LAB_HOME"] = str(home)
    lab = Lab.start(store=home / "checks.sqlite")
    yield lab
    lab.stop()
    if saved is None:
        os.environ.pop("MPESA_LAB_HOME", None)
    else:
        os.environ["MPESA_LAB_HOME"] = saved


# -- 00 -------------------------------------------------------------------------------------------


def test_msisdn():
    ok(check.msisdn(TEST_PHONE, TEST_PHONE))
    todo(check.msisdn(..., TEST_PHONE))
    wrong(check.msisdn("0708374149", TEST_PHONE), "local format", "254")
    wrong(check.msisdn("+254708374149", TEST_PHONE), "drop the '+'")
    wrong(check.msisdn(254708374149, TEST_PHONE), "as text")
    wrong(check.msisdn("254 708 374 149", TEST_PHONE), "spaces or dashes")
    wrong(check.msisdn("708374149", TEST_PHONE), "lacks the country code")
    wrong(check.msisdn(" 254708374149", TEST_PHONE), "whitespace")
    wrong(check.msisdn("254700000000", TEST_PHONE), "is not the test phone")


def test_callback_target(lab):
    ok(check.callback_target(lab.callback_url, lab))
    todo(check.callback_target(..., lab))
    wrong(check.callback_target(lab.settings.base_url, lab), "Daraja's (the emulator's) address")
    wrong(check.callback_target(lab.settings.base_url + "/mpesa/stkpush/v1/processrequest", lab), "emulator")
    listener_root = lab.callback_url.rsplit("/", 1)[0]
    wrong(check.callback_target(listener_root, lab), "without its secret path")
    wrong(check.callback_target(42, lab), "a URL is a str")
    wrong(check.callback_target("https://example.com/cb", lab), "not this lab's CallBackURL")


# -- 01 -------------------------------------------------------------------------------------------

CARDS = dict(zip("ABCDEFG", [JOURNEY[i] for i in (4, 2, 5, 0, 6, 3, 1)]))
RIGHT = ["D", "G", "B", "F", "A", "C", "E"]


def test_sequence_order():
    ok(check.sequence_order(RIGHT, CARDS))
    ok(check.sequence_order("DGBFACE", CARDS))
    todo(check.sequence_order(..., CARDS))
    wrong(check.sequence_order(["D", "G", "F", "A", "C", "B", "E"], CARDS), "step 3 is not F", "that is step 4")
    wrong(check.sequence_order(["D", "G", "B", "F", "C", "A", "E"], CARDS), "step 5 is not C",
          "comes after the PIN")
    wrong(check.sequence_order(["D", "G", "B", "A", "F", "C", "E"], CARDS), "once the prompt is on the phone")
    wrong(check.sequence_order(RIGHT[:-1], CARDS), "card(s) E missing")
    wrong(check.sequence_order(RIGHT + ["D"], CARDS), "more than once")
    wrong(check.sequence_order(RIGHT[:-1] + ["Z"], CARDS), "'Z' is not one of the cards")
    wrong(check.sequence_order({"D": 1}, CARDS), "list of letters")


def test_step_delay_on_a_real_transaction(lab):
    from mpesa_lab.widgets import transaction_steps

    push = lab.push(TEST_PHONE, 31, "CHK", "Checks")
    push.wait(timeout=15)
    steps = transaction_steps(lab, push.checkout_request_id)
    seconds = (steps[5].at - steps[2].at).total_seconds()
    assert seconds > 0
    ok(check.step_delay(seconds, steps, 3, 6))
    todo(check.step_delay(..., steps, 3, 6))
    wrong(check.step_delay(steps[5].at - steps[2].at, steps, 3, 6), "call .total_seconds()")
    wrong(check.step_delay(-seconds, steps, 3, 6), "is negative")
    wrong(check.step_delay(seconds * 1000, steps, 3, 6), "milliseconds")
    wrong(check.step_delay(str(seconds), steps, 3, 6), "number of seconds")
    wrong(check.step_delay((steps[5].at - steps[0].at).total_seconds(), steps, 3, 6), "from step 1, not step 3")
    wrong(check.step_delay(seconds + 100, steps, 3, 6), "is not the time between step 3 and step 6")


# -- 04 -------------------------------------------------------------------------------------------


def test_customer_answer_on_real_callbacks(lab):
    from mpesa_lab.widgets import VirtualPhone

    phone = VirtualPhone(lab, TEST_PHONE, watch=False)  # interactive: prompts wait for an answer
    try:
        got = {}
        for amount, (what, answer) in enumerate({
            "paid": lambda p: p.answer(pin="1234"),
            "cancelled": lambda p: p.cancel(),
            "wrong_pin": lambda p: p.answer(pin="0000"),
            "ignored": lambda p: lab.emulator.answer(p.checkout_request_id, ignore=True),
        }.items(), start=41):
            push = lab.push(TEST_PHONE, amount, "CHK", "Checks")
            answer(push)
            got[what] = (push, push.wait(timeout=15))
    finally:
        phone.close()
    for what, (push, callback) in got.items():
        ok(check.customer_answer(callback, what, lab=lab))
        todo(check.customer_answer(..., what, lab=lab))
    wrong(check.customer_answer(got["cancelled"][1], "wrong_pin", lab=lab), "the customer cancelled (ResultCode 1032",
          "to get 2001, enter a wrong PIN")
    wrong(check.customer_answer(got["paid"][1], "ignored", lab=lab), "the customer paid (ResultCode 0", "ignore the prompt")
    wrong(check.customer_answer(got["wrong_pin"][1], "paid", lab=lab), "entered a wrong PIN (ResultCode 2001", "right PIN")
    wrong(check.customer_answer(got["paid"][0], "paid", lab=lab), "this is the push (its acknowledgement)")
    wrong(check.customer_answer(got["paid"][0].query(), "paid", lab=lab), "STK query result")
    wrong(check.customer_answer(_callback("x", 17), "paid", lab=SimpleNamespace(emulator=None)), "same amount to the same phone")
    wrong(check.customer_answer("nonsense", "paid", lab=lab), "expected the callback")
    with pytest.raises(ValueError, match="wanted must be one of"):
        check.customer_answer(got["paid"][1], "refunded", lab=lab)


# -- 07 -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def week():
    from mpesa_lab import analytics

    return analytics.load(ROOT / "data" / "week").transactions


def test_dataset_finds_the_week_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dataset("week") == ROOT / "data" / "week"
    monkeypatch.chdir(ROOT / "notebooks")
    assert dataset("week").resolve() == (ROOT / "data" / "week").resolve()
    with pytest.raises(FileNotFoundError, match="ships with the repository"):
        dataset("no-such-set")
    # An installed wheel's course copy: data/ beside the notebooks, the kernel in that folder.
    copy = tmp_path / "course"
    (copy / "data" / "other-set").mkdir(parents=True)
    monkeypatch.chdir(copy)
    assert dataset("other-set") == copy / "data" / "other-set"


def test_paid_rows(week):
    tx = week
    ok(check.paid_rows(tx[tx.result_code == "0"], tx))
    todo(check.paid_rows(..., tx))
    wrong(check.paid_rows(tx[tx.result_code == 0], tx), "result_code is text", "compare with the text \"0\"")
    wrong(check.paid_rows(tx, tx), "nothing was filtered out")
    wrong(check.paid_rows(tx[tx.status == "paid"], tx), "another result_code than \"0\"")
    wrong(check.paid_rows(int((tx.result_code == "0").sum()), tx), "is a number")
    wrong(check.paid_rows(tx.result_code == "0", tx), "this is the mask")
    wrong(check.paid_rows(tx[tx.result_code == "0"].head(5), tx), "5 rows, but")


def test_top_failure(week):
    tx = week
    counts = tx[tx.status == "failed"].result_code.value_counts()
    top, second = counts.index[0], counts.index[1]
    ok(check.top_failure(top, tx))
    todo(check.top_failure(..., tx))
    wrong(check.top_failure(int(top), tx), "result codes are text")
    wrong(check.top_failure("0", tx), "0 is success")
    wrong(check.top_failure(second, tx), f"{second} failed", "number 2 among the failures")
    wrong(check.top_failure("SFC_NOPE", tx), "not a result code of these transactions")
    wrong(check.top_failure(["1032"], tx), "as a str")


def test_cards_are_shuffled_in_the_test_and_the_notebook():
    """The exercise's cards must be a permutation of the journey (else the check cannot be met)."""
    assert sorted(CARDS.values()) == sorted(JOURNEY)
    shuffled = list(JOURNEY)
    random.Random(1).shuffle(shuffled)
    cards = dict(zip("ABCDEFG", shuffled))
    order = [next(k for k, v in cards.items() if v == step) for step in JOURNEY]
    ok(check.sequence_order(order, cards))


def test_top_failure_counts_as_the_notebook_shows(week):
    """Issue 18, item 10: 07's summary counted 1032 as 222 while the check said 218. The check's
    count is the summary's (callback, else STK query), and says how it splits."""
    from mpesa_lab import analytics

    tx = week
    top = tx[tx.status == "failed"].result_code.value_counts().index[0]
    summary = analytics.summary(tx)
    shown = int(summary.loc[summary.result_code == top, "count"].iloc[0])
    verdict = check.top_failure(top, tx)
    ok(verdict)
    assert f"failed {shown} times" in str(verdict), (shown, str(verdict))
    by_callback = int((tx[tx.status == "failed"].result_code == top).sum())
    assert f"{by_callback} told by the callback" in str(verdict)
