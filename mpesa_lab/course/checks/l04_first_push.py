"""Checks for notebook 04, the first push: what the customer did on the virtual phone."""

from __future__ import annotations

from typing import Any

from mpesa_lab import codes
from mpesa_lab.constants import SANDBOX_TEST_MSISDN
from mpesa_lab.course.checks._shared import (
    lab_callback,
    scripted_by,
    todo,
    unanswered,
    verdict,
)
from mpesa_lab.course.verdict import Verdict
from mpesa_lab.daraja.results import StkQueryResult

# What the customer did -> the ResultCode M-PESA sends back, and how to do it on the phone.
_ANSWERS = {
    "paid": ("0", "enter the right PIN (push.answer(pin='1234'), or type 1234 on the phone and press OK)"),
    "cancelled": ("1032", "press Cancel (push.cancel(), or Cancel on the phone)"),
    "wrong_pin": ("2001", "enter a wrong PIN (push.answer(pin='0000'), or a wrong PIN and OK on the phone)"),
    "ignored": (
        "1037",
        "ignore the prompt (lab.emulator.answer(push.checkout_request_id, ignore=True), or Ignore on the phone)",
    ),
}
_TEST_PHONE = SANDBOX_TEST_MSISDN
_BY_CODE = {code: what for what, (code, _how) in _ANSWERS.items()}
_DID = {"paid": "paid", "cancelled": "cancelled", "wrong_pin": "entered a wrong PIN", "ignored": "did not answer"}


def customer_answer(callback: Any, wanted: str, *, lab: Any) -> Verdict:
    """The callback of a push of ``lab`` the customer answered as ``wanted`` (paid, cancelled,
    wrong_pin, ignored) on the phone, not a code scripted by a magic number or set_next_result."""
    if wanted not in _ANSWERS:
        raise ValueError(f"wanted must be one of {', '.join(_ANSWERS)}, not {wanted!r}")
    code, how = _ANSWERS[wanted]
    name = (
        f"A push the customer {wanted.replace('_', ' ')}"
        if wanted != "wrong_pin"
        else "A push answered with a wrong PIN"
    )
    if unanswered(callback):
        return todo(name, f"Push to the test phone, then {how}; keep push.wait()'s callback.")
    if isinstance(callback, StkQueryResult):
        return verdict(name, ["this is an STK query result: keep the callback, push.wait()"])
    if type(callback).__name__ == "Push":
        return verdict(
            name, ["this is the push (its acknowledgement): the customer's answer comes in the callback, push.wait()"]
        )
    found = lab_callback(name, callback, lab)
    if isinstance(found, Verdict):
        return found
    callback, tx = found
    got = callback.result_code
    if got == code:
        scripted = scripted_by(tx) if tx is not None else None
        if scripted:
            return verdict(
                name,
                [f"right code, but no customer answered: {scripted}. Push to the test phone {_TEST_PHONE} and {how}"],
            )
        entry = codes.result_entry(code)
        return verdict(name, [], f"ResultCode {code}, {entry.name}: {entry.mitigation}")
    # 1019 and 1036 end an unanswered prompt as 1037 does: the same "no answer" to a handler.
    did = _BY_CODE.get(got) or ("ignored" if codes.is_no_answer(got) else None)
    entry = codes.result_entry(got)
    if got == "17":
        return verdict(
            name,
            ["ResultCode 17: the same amount to the same phone within 2 minutes; change the amount and push again"],
        )
    if did is not None:
        return verdict(
            name,
            [f"this callback says the customer {_DID[did]} (ResultCode {got}, {entry.name}); to get {code}, {how}"],
        )
    return verdict(name, [f"ResultCode {got} ({entry.name}) is not {code}: {how}"])
