"""Checks for notebook 01, the journey: the seven steps in order, and the delay between two."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mpesa_lab.course.checks._shared import todo, type_name, unanswered, verdict
from mpesa_lab.course.verdict import Verdict

JOURNEY = (
    "the merchant sends the STK push",
    "Daraja checks and accepts it",
    "the merchant gets the acknowledgement (CheckoutRequestID)",
    "the prompt appears on the customer's phone",
    "the customer enters the PIN",
    "M-PESA POSTs the callback to the merchant",
    "the merchant queries the status (if no callback came)",
)


def sequence_order(order: Any, cards: Mapping[str, str]) -> Verdict:
    """The letters of ``cards`` (letter -> step text, shuffled) put in the order of the journey."""
    name = "The journey, in order"
    if unanswered(order):
        return todo(name, "List the seven letters, first step first, e.g. ['C', 'A', ...].")
    if isinstance(order, str):
        order = [c for c in order if not c.isspace() and c not in ",;-"]
    if not isinstance(order, (list, tuple)):
        return verdict(name, [f"answer with a list of letters, not {type_name(order)}"])
    letters = [str(x).strip().upper() for x in order]
    by_step = {text: letter for letter, text in cards.items()}
    expected = [by_step[text] for text in JOURNEY]
    problems = []
    unknown = [x for x in letters if x not in cards]
    if unknown:
        problems.append(f"{', '.join(map(repr, unknown))} is not one of the cards ({', '.join(sorted(cards))})")
    missing = [x for x in expected if x not in letters]
    if missing:
        problems.append(f"card(s) {', '.join(missing)} missing: all seven steps are in the journey")
    repeated = sorted({x for x in letters if letters.count(x) > 1})
    if repeated:
        problems.append(f"card(s) {', '.join(repeated)} appear more than once")
    if problems:
        return verdict(name, problems)
    if letters == expected:
        return verdict(name, [], "Push, accept, acknowledge, prompt, PIN, callback, query.")
    for index, (got, want) in enumerate(zip(letters, expected, strict=False)):
        if got != want:
            text = cards[got]
            where = JOURNEY.index(text) + 1
            # At the first misplaced card every earlier step is right, so this card came too early.
            hint = {
                JOURNEY[4]: "; the customer can only enter a PIN once the prompt is on the phone",
                JOURNEY[5]: "; the callback carries the customer's answer, so it comes after the PIN",
                JOURNEY[6]: "; the query is the fallback, after the callback should have come",
                JOURNEY[3]: "; Daraja acknowledges the push first, then the phone rings",
            }.get(text, "")
            return verdict(name, [f"step {index + 1} is not {got} ({text!r}): that is step {where}{hint}"])
    return verdict(name, ["the order differs from the journey"])


def step_delay(value: Any, steps: Any, start: int, end: int) -> Verdict:
    """Seconds between two steps of one transaction (``transaction_steps``): ``(end.at - start.at)``."""
    name = f"Seconds from step {start} to step {end}"
    if unanswered(value):
        return todo(name, f"Subtract steps[{start - 1}].at from steps[{end - 1}].at, then .total_seconds().")
    first, last = steps[start - 1].at, steps[end - 1].at
    if first is None or last is None:
        raise ValueError(f"step {start} or {end} has no time in this transaction; push again")
    expected = (last - first).total_seconds()
    if isinstance(value, timedelta):
        if abs(value.total_seconds() - expected) < 1e-3:
            return verdict(name, ["right, but a timedelta: call .total_seconds() to get a number of seconds"])
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return verdict(name, [f"answer with a number of seconds, not {type_name(value)}"])
    if abs(value - expected) < 1e-3:
        return verdict(name, [], f"{expected:.3f} s: the customer's time on the phone is most of it.")
    if abs(value + expected) < 1e-3:
        return verdict(name, [f"{value:.3f} is negative: subtract the earlier step from the later one"])
    if abs(value - expected * 1000) < 1:
        return verdict(name, ["that looks like milliseconds: the answer is in seconds"])
    if abs(value - round(expected)) < 1e-9 and abs(value - expected) >= 1e-3:
        return verdict(name, [f"{value} is rounded: keep the fraction ({expected:.3f} s)"])
    for i, other in enumerate(steps):
        if other.at is not None and i not in (start - 1, end - 1):
            if abs(value - (last - other.at).total_seconds()) < 1e-3:
                return verdict(name, [f"that is from step {i + 1}, not step {start}"])
            if abs(value - (other.at - first).total_seconds()) < 1e-3:
                return verdict(name, [f"that is to step {i + 1}, not step {end}"])
    return verdict(name, [f"{value} s is not the time between step {start} and step {end}"])


def real_delay(value: Any, seconds: float, time_scale: float | None) -> Verdict:
    """The lab's ``seconds`` in real-world seconds: ``seconds / time_scale`` (the lab's speed)."""
    name = "The same gap in real-world seconds"
    if unanswered(value):
        return todo(name, "Divide the lab's seconds by lab.time_scale (0.05 means 1/20 of real time).")
    if not time_scale:
        raise ValueError("this lab runs quick, without a timing model: start it with Lab.start(time_scale=0.05)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return verdict(name, [f"answer with a number of seconds, not {type_name(value)}"])
    expected = seconds / time_scale
    if abs(value - expected) <= 1e-6 * max(1.0, expected):
        return verdict(
            name,
            [],
            f"{expected:.1f} s with the phone in hand: the lab ran {seconds:.3f} s at 1/{1 / time_scale:g} of real time.",
        )
    if abs(value - seconds * time_scale) <= 1e-9 + 1e-6 * seconds:
        return verdict(name, ["you multiplied: the real world is slower than the lab, divide by time_scale"])
    return verdict(name, [f"{value} s is not {seconds:.3f} s of lab time at time_scale {time_scale:g}"])
