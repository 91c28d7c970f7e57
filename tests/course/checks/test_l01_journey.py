"""Checks of notebook 01, the journey: right answers pass, wrong ones are named."""

from __future__ import annotations

import random

from mpesa_lab.course import check
from mpesa_lab.course.check import JOURNEY
from tests.course.helpers import TEST_PHONE, ok, todo, wrong

CARDS = dict(zip("ABCDEFG", [JOURNEY[i] for i in (4, 2, 5, 0, 6, 3, 1)], strict=True))
RIGHT = ["D", "G", "B", "F", "A", "C", "E"]


def test_sequence_order():
    ok(check.sequence_order(RIGHT, CARDS))
    ok(check.sequence_order("DGBFACE", CARDS))
    todo(check.sequence_order(..., CARDS))
    wrong(check.sequence_order(["D", "G", "F", "A", "C", "B", "E"], CARDS), "step 3 is not F", "that is step 4")
    wrong(check.sequence_order(["D", "G", "B", "F", "C", "A", "E"], CARDS), "step 5 is not C", "comes after the PIN")
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


def test_cards_are_shuffled_in_the_test_and_the_notebook():
    """The exercise's cards must be a permutation of the journey (else the check cannot be met)."""
    assert sorted(CARDS.values()) == sorted(JOURNEY)
    shuffled = list(JOURNEY)
    random.Random(1).shuffle(shuffled)
    cards = dict(zip("ABCDEFG", shuffled, strict=True))
    order = [next(k for k, v in cards.items() if v == step) for step in JOURNEY]
    ok(check.sequence_order(order, cards))
