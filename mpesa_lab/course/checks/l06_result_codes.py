"""Checks for notebook 06, errors and result codes: a code triggered for real, the advice function,
a push to a till (Buy Goods)."""

from __future__ import annotations

from typing import Any

from mpesa_lab import codes
from mpesa_lab.course.checks._shared import (
    lab_callback,
    scripted_by,
    todo,
    type_name,
    unanswered,
    verdict,
    with_article,
)
from mpesa_lab.course.verdict import Verdict

# How a lesson asks for each code "the way it happens to a real customer" (the emulator's real
# conditions, docs/emulator.md); a magic number or set_next_result only scripts the code.
_REAL_CONDITIONS = {
    "1": 'register a subscriber with a small balance, lab.emulator.register_subscriber("254711000061", '
    "balance=50), then push more than that balance to that phone (e.g. 51)",
    "2": "push an Amount of 0",
    "3": "push an Amount above 250,000 (or above a subscriber's max_transaction)",
    "17": "push the same Amount to the same phone twice within two minutes",
    "2001": "enter a wrong PIN on the prompt (push.answer(pin='0000'))",
    "1032": "press Cancel on the prompt (push.cancel())",
    "1037": "leave the prompt unanswered (lab.emulator.answer(push.checkout_request_id, ignore=True))",
}


def triggered(callback: Any, code: str | int, *, lab: Any) -> Verdict:
    """A callback (from ``push.wait()`` on ``lab``) whose ResultCode is ``code``, produced by its real
    condition: a magic number or ``set_next_result`` only scripts it, and the exercise forbids that."""
    want = codes.normalize_code(code)
    entry = codes.result_entry(want)
    name = f"Trigger ResultCode {want}"
    real = _REAL_CONDITIONS.get(want, "produce it by its real condition (docs/emulator.md lists them)")
    if unanswered(callback):
        return todo(name, f"Push so that M-PESA answers {want} ({entry.name}): {real}; then push.wait().")
    found = lab_callback(name, callback, lab)
    if isinstance(found, Verdict):
        return found
    callback, tx = found
    if callback.result_code != want:
        got = codes.result_entry(callback.result_code)
        return verdict(
            name,
            [
                f"this callback's ResultCode is {callback.result_code} ({got.name}), not {want} "
                f"({entry.name}): {entry.explanation} To get it: {real}."
            ],
        )
    scripted = scripted_by(tx) if tx is not None else None
    if scripted:
        return verdict(
            name,
            [
                f"right code, wrong way: {scripted}, which a real customer never meets. "
                f"Produce it by its real condition: {real}."
            ],
        )
    return verdict(name, [], f"{entry.name}: {entry.mitigation}")


def advice_function(fn: Any) -> Verdict:
    """``fn(code) -> str``: the catalogue's mitigation for any code, and advice for unknown ones."""
    name = "advice(code)"
    if unanswered(fn) or fn is None:
        return todo(name, "Define advice(code) returning codes.lookup(code).mitigation.")
    if not callable(fn):
        return verdict(name, [f"advice must be a function, not {type_name(fn)}"])
    cases: list[tuple[Any, str]] = [
        ("1032", "a ResultCode as text"),
        (1032, "a ResultCode as a number (callbacks send numbers)"),
        ("2001", "another ResultCode"),
        ("SFC_IC0003", "an alphanumeric ResultCode"),
        ("500.001.1001", "an errorCode"),
        ("4242", "a code outside Daraja's tables"),
        ("E3008", "a code seen live but not documented"),
    ]
    problems = []
    for code, what in cases:
        try:
            got = fn(code)
        except Exception as exc:  # the learner's code: report, never crash the check
            if not codes.lookup(code).known:
                fix = (
                    "unknown codes must still get advice, not an exception: codes.lookup() returns "
                    "an 'unknown' entry with a mitigation for them"
                )
            elif isinstance(code, int):
                fix = (
                    "callbacks send ResultCode as a number: look it up with codes.lookup(code), "
                    "which accepts 1032 and '1032' alike"
                )
            else:
                fix = "your own table lacks this code: the catalogue has it (codes.lookup(code))"
            problems.append(f"advice({code!r}) ({what}) raised {type_name(exc)}: {exc}; {fix}")
            continue
        if got is None:
            problems.append(f"advice({code!r}) returned None: return the advice text")
            continue
        if not isinstance(got, str):
            problems.append(f"advice({code!r}) returned {with_article(got)}: return the mitigation text")
            continue
        expected = codes.lookup(code).mitigation
        if expected not in got:
            if not codes.lookup(code).known:
                problems.append(
                    f"advice({code!r}) ({what}) should still say what to do: keep the raw "
                    "payload and ask with an STK query (codes.lookup(code).mitigation)"
                )
            else:
                problems.append(f"advice({code!r}) ({what}) does not contain the catalogue's mitigation {expected!r}")
    if not problems:
        texts = {code: fn(code) for code in ("1032", "2001")}
        if texts["1032"] == texts["2001"]:
            problems.append(
                "advice('1032') and advice('2001') return the same text: each code gets its "
                "own mitigation, codes.lookup(code).mitigation"
            )
    return verdict(name, problems, "Known codes get their fix; unknown ones never crash the handler.")


# -- a till (Buy Goods) push ---------------------------------------------------------------------

_BUY_GOODS = "CustomerBuyGoodsOnline"
_TILL_FIELDS = (
    "BusinessShortCode = the store (HO) number, PartyB = the till number, TransactionType = "
    f"{_BUY_GOODS}, and the Password from the store number with its passkey"
)


def till_push(callback: Any, *, lab: Any) -> Verdict:
    """The callback of a push to the lab's till (Buy Goods) that the customer paid: the store number
    as BusinessShortCode, the till number as PartyB, CustomerBuyGoodsOnline (Daraja's FAQ 10)."""
    name = "A till (Buy Goods) push"
    if unanswered(callback):
        return todo(name, f"Build a client on the till's settings ({_TILL_FIELDS}), push, keep the callback.")
    found = lab_callback(name, callback, lab)
    if isinstance(found, Verdict):
        return found
    callback, tx = found
    got = callback.result_code
    if tx is None:  # no local emulator to ask: judge by the code alone
        return verdict(name, [] if got == "0" else [f"ResultCode {got}: {codes.result_entry(got).mitigation}"])
    shortcode, kind, party_b = tx.get("business_short_code"), tx.get("transaction_type"), tx.get("party_b")
    scripted = scripted_by(tx)
    if scripted:
        return verdict(name, [f"{scripted}: push to the test phone and let the customer pay the till"])
    if got == "2028":
        return verdict(
            name,
            [
                f"ResultCode 2028, not permitted: TransactionType {kind} does not fit the shortcode "
                f"{shortcode}; a till takes {_BUY_GOODS} (transaction_type= in the settings)"
            ],
        )
    if got == "SFC_IC0003":
        return verdict(
            name,
            [
                f"ResultCode SFC_IC0003, the operator does not exist: PartyB {party_b} is not the till "
                f"of store {shortcode}; PartyB is the till number (party_b=), BusinessShortCode the store number"
            ],
        )
    if got == "17":
        return verdict(name, ["ResultCode 17: the same amount to the same phone within 2 minutes; change the amount"])
    if got != "0":
        entry = codes.result_entry(got)
        return verdict(name, [f"ResultCode {got} ({entry.name}): {entry.mitigation}"])
    if kind != _BUY_GOODS or party_b == shortcode:
        return verdict(
            name,
            [
                f"paid, but to the paybill {shortcode} ({kind}), not a till: build the client on the till's "
                f"settings ({_TILL_FIELDS})"
            ],
        )
    return verdict(name, [], f"paid to till {party_b} of store {shortcode}: {_TILL_FIELDS}.")
