"""What every lesson's checks share: the verdict builders, small value helpers, and what the lab's
emulator knows of a push (so a check can tell a real answer from a scripted one)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from mpesa_lab.course.verdict import Verdict, give
from mpesa_lab.daraja.callbacks import CallbackError, ParsedCallback, parse_callback
from mpesa_lab.secret import Secret


def unanswered(value: Any) -> bool:
    return value is Ellipsis


def verdict(exercise: str, problems: Iterable[str], note: str = "") -> Verdict:
    problems = tuple(problems)
    return give(Verdict(exercise, ok=not problems, problems=problems, note=note if not problems else ""))


def todo(exercise: str, hint: str) -> Verdict:
    return give(Verdict(exercise, ok=False, problems=(hint,), answered=False))


def reveal(value: Any) -> str:
    return value.reveal() if isinstance(value, Secret) else str(value)


def decode_b64_text(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def type_name(value: Any) -> str:
    return type(value).__name__


def with_article(value: Any) -> str:
    """'an int', 'a str': the type of ``value`` with its article."""
    name = type_name(value)
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


# -- what a callback is, and what the lab's emulator knows of its push (lessons 04, 05, 06) -------


def as_callback(body: Any) -> ParsedCallback:
    """``body`` (a raw callback body, or one already parsed) as a :class:`ParsedCallback`."""
    return body if isinstance(body, ParsedCallback) else parse_callback(body)


def lab_transaction(lab: Any, callback: ParsedCallback) -> tuple[dict | None, str | None]:
    """What the lab's emulator knows of the push behind ``callback``: (transaction, None), or
    (None, problem) when it is no push of this lab. (None, None) when there is no local emulator
    to ask (the real sandbox has no magic numbers to take a shortcut with)."""
    emulator = getattr(lab, "emulator", None)
    if emulator is None or not hasattr(emulator, "transaction"):
        return None, None
    try:
        return emulator.transaction(callback.checkout_request_id), None
    except KeyError:  # the emulator's UnknownTransaction
        return None, (
            f"no push of this lab has the CheckoutRequestID {callback.checkout_request_id!r}: "
            "keep the callback that push.wait() returns, not one written by hand"
        )


def lab_callback(exercise: str, callback: Any, lab: Any) -> Verdict | tuple[ParsedCallback, dict | None]:
    """The learner's answer as this lab's callback and the emulator's transaction behind it, or the
    verdict that says why it is not one (not a callback at all; no push of this lab)."""
    if not isinstance(callback, ParsedCallback):
        try:
            callback = as_callback(callback)
        except (CallbackError, TypeError, ValueError, AttributeError):
            return verdict(exercise, [f"expected the callback from push.wait(), got {type_name(callback)}"])
    tx, unknown = lab_transaction(lab, callback)
    if unknown:
        return verdict(exercise, [unknown])
    return callback, tx


def scripted_by(tx: Mapping[str, Any]) -> str | None:
    """How a transaction's result was scripted (a magic number, set_next_result, the random mix), or
    None when the customer or a real condition decided it."""
    answered = any(e.get("event") in ("answered_by_lab", "answer_queued") for e in tx.get("timeline", ()))
    if tx.get("customer_action") != "script" or answered:
        return None
    source = tx.get("decided_by")
    if source == "trigger":
        return f"{tx.get('phone')} is a magic number: the emulator scripts ResultCode {tx.get('scripted_code')} for it"
    if source == "instruction":
        return "lab.emulator.set_next_result(...) scripted this ResultCode"
    return f"the emulator's {source} scripted this ResultCode"
