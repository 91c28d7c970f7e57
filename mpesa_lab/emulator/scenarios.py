"""What the customer does: magic test numbers, behaviour profiles and the seeded random mix.

The decision for each transaction is taken in this order (first match wins):

1. an explicit instruction through the control API (``set_next_result``; ``answer`` later on),
2. a deterministic trigger (a magic PhoneNumber from ``TRIGGERS``),
2b. the emulator's behaviour, when it is ``"live_sandbox_2026"`` (see ``BEHAVIOURS``),
3. interactive mode (the config's ``interactive`` or a subscriber with profile ``"interactive"``):
   the phone waits for ``answer()`` and times out as 1037,
4. the subscriber's behaviour profile (registered subscribers default to ``"pays"``),
5. the seeded random mix (unregistered numbers), reproducible with the seed.

Instructions and triggers *script* a result code and bypass the real conditions (balance, limits,
rule 17); profiles and the mix describe what the customer does, and the real conditions apply.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from mpesa_lab.codes import by_name
from mpesa_lab.constants import SANDBOX_TEST_MSISDN

PAYBILL = "CustomerPayBillOnline"
BUY_GOODS = "CustomerBuyGoodsOnline"
TRANSACTION_TYPES = (PAYBILL, BUY_GOODS)

MAGIC_PREFIX = "254708"


@dataclass(frozen=True)
class Trigger:
    """One documented result code and how to produce it on purpose."""

    code: str
    how: str
    phone: str
    amount: int = 1
    account_reference: str = "LAB"
    transaction_type: str = PAYBILL
    party_b: str | None = None  # None: the merchant's own (174379 for the default paybill)


def magic_phone(code: str) -> str:
    """The magic number whose digits name ``code``: 254708 + the code zero-padded to 6 digits.

    Alphanumeric ``SFC_IC`` codes use 99 followed by their four digits (SFC_IC0003 -> 254708990003).
    """
    if code.upper().startswith("SFC_IC"):
        return f"{MAGIC_PREFIX}99{code[-4:]}"
    return f"{MAGIC_PREFIX}{int(code):06d}"


def _t(code: str, how: str) -> Trigger:
    return Trigger(code=code, how=how, phone=magic_phone(code))


TRIGGERS: tuple[Trigger, ...] = (
    _t(
        "0",
        "The customer enters the right PIN and pays. Also: any registered subscriber with "
        "enough balance, and the public test number 254708374149.",
    ),
    _t(
        "1",
        "The customer's balance is too low. Real condition: register a subscriber whose balance is below the Amount.",
    ),
    _t("2", "The Amount is below the minimum. Real condition: Amount 0."),
    _t(
        "3",
        "The Amount is over the per-transaction maximum. Real condition: Amount above "
        "250,000 (or above a subscriber's max_transaction).",
    ),
    _t(
        "4",
        "The payment would pass the customer's daily limit. Real condition: a subscriber "
        "whose daily_total + Amount exceeds daily_limit (500,000 by default).",
    ),
    _t(
        "8",
        "The payment would pass the merchant's account limit. Real condition: register a "
        "merchant with max_balance and push past it.",
    ),
    _t(
        "17",
        "Rule limited. Real condition: the same Amount to the same PhoneNumber twice within "
        "two minutes (enforce_duplicate_rule).",
    ),
    _t("1019", "The customer answers after the transaction expired. Profile 'late'."),
    _t(
        "1025",
        "The prompt could not be sent. Real condition: a prompt over 182 characters (a "
        "very long AccountReference or merchant name).",
    ),
    _t("1032", "The customer cancels the prompt. Interactive: answer(..., cancel=True); profile 'cancels'."),
    _t(
        "1037",
        "The phone cannot be reached. Interactive: no answer within prompt_timeout, or "
        "answer(..., ignore=True); profiles 'ignores' and 'unreachable'.",
    ),
    _t("2001", "The customer enters a wrong PIN. Interactive: answer(..., pin='0000'); profile 'wrong_pin'."),
    _t(
        "2028",
        "Not permitted by product assignment. Real condition: TransactionType does not "
        "match the shortcode (CustomerBuyGoodsOnline to the paybill 174379, or PayBill to a till).",
    ),
    _t(
        "8006",
        "The customer's PIN is locked. Real condition: a third wrong PIN in a row "
        "(2001, 2001, 8006), and every push to that subscriber after it.",
    ),
    _t(
        "SFC_IC0003",
        "The operator does not exist. Real condition: PartyB is not the merchant's "
        "(paybill: its shortcode; till: its till number).",
    ),
)

TRIGGER_BY_PHONE: dict[str, str] = {t.phone: t.code for t in TRIGGERS}


@dataclass(frozen=True)
class ErrorTrigger:
    """One documented Daraja error (catalogue ``name``) and how to produce it on purpose."""

    name: str
    code: str
    message: str
    http_status: int
    how: str
    phone: str | None = None  # a magic PhoneNumber for errors that only real load would cause


# Errors no ordinary request would cause get a magic PhoneNumber (254709 + digits of the code).
ERROR_PHONES: dict[str, str] = {
    "254709500302": "system_busy",
    "254709500320": "spike_arrest",
    "254709500303": "quota_violation",
    "254709531001": "internal_server_error",
}
_PHONE_FOR_ERROR = {name: phone for phone, name in ERROR_PHONES.items()}


def _e(name: str, how: str) -> ErrorTrigger:
    entry = by_name(name)
    return ErrorTrigger(name, entry.code, entry.message, entry.http_status or 500, how, _PHONE_FOR_ERROR.get(name))


ERROR_TRIGGERS: tuple[ErrorTrigger, ...] = (
    _e(
        "bad_request",
        "Any bad field names itself: Timestamp 'now' gives Invalid Timestamp, PhoneNumber "
        "'0712345678' Invalid PhoneNumber; a body that is not JSON or lacks Content-Type: application/json "
        "gives Invalid BusinessShortCode; no TransactionDesc gives Invalid Remarks; an unknown "
        "CheckoutRequestID in a query gives Invalid CheckoutRequestID.",
    ),
    _e("invalid_authentication_type", "OAuth without HTTP Basic (no Authorization, or Bearer ...)."),
    _e(
        "invalid_client_credentials",
        "OAuth with a wrong consumer key or secret (HTTP 400; with "
        "oauth_wrong_credentials_body='empty' the body is empty, as live Daraja sometimes does).",
    ),
    _e("invalid_grant_type", "OAuth with grant_type missing or not client_credentials."),
    _e(
        "invalid_access_token",
        "Push or query without a Bearer token, with an unknown one, or with one "
        "older than token_ttl (3599 s) by the emulator's clock.",
    ),
    _e("resource_not_found", "Any path the emulator does not serve, e.g. /mpesa/stkpush/v2/processrequest."),
    _e("method_not_allowed", 'A wrong method on a Daraja path, e.g. GET on the push path ("GET Method Not Allowed").'),
    _e("merchant_does_not_exist", "A BusinessShortCode that is not registered, e.g. 600000."),
    _e(
        "wrong_credentials",
        "A Password that is missing or is not base64(BusinessShortCode + Passkey + "
        "Timestamp) of this request (wrong passkey, or another Timestamp).",
    ),
    _e(
        "subscriber_locked",
        "A second push to a PhoneNumber while its first is still pending "
        "(enforce_subscriber_lock=True; interactive mode makes it easy).",
    ),
    _e(
        "transaction_being_processed",
        "STK query on a pending transaction with pending_style='error' (the "
        "default); pending_style='result' answers 200 with ResultCode '4999' instead.",
    ),
    _e("system_busy", "Push to PhoneNumber 254709500302, or fail_next('500.003.02')."),
    _e(
        "internal_server_error",
        "Push to PhoneNumber 254709531001, or fail_next('500.003.1001'); also the "
        "answer to anything unexpected inside the emulator.",
    ),
    _e(
        "spike_arrest",
        "rate_limit_per_second=N and more than N requests in one second from one app; or "
        "push to PhoneNumber 254709500320.",
    ),
    _e("quota_violation", "quota=N and request N+1 from one app; or push to PhoneNumber 254709500303."),
)

# Behaviour profiles a subscriber can have.
PROFILES: dict[str, str] = {
    "pays": "enters the right PIN; the real balance and limit checks decide (0, 1, 4, 8)",
    "mix": "draws from the seeded random mix (the default for unregistered numbers)",
    "interactive": "waits for answer(); times out as 1037 after prompt_timeout",
    "cancels": "cancels every prompt (1032)",
    "ignores": "lets every prompt time out (1037)",
    "unreachable": "the phone is off: no prompt is delivered (1037)",
    "wrong_pin": "enters a wrong PIN (2001; the third in a row locks the PIN: 8006)",
    "late": "answers after the transaction expired (1019)",
}

# Named mixes for set_scenario(name). Keys are result codes; values are relative weights.
SCENARIOS: dict[str, dict[str, float]] = {
    "realistic": {"0": 0.80, "1032": 0.08, "1037": 0.05, "1": 0.03, "2001": 0.025, "1019": 0.015},
    "happy": {"0": 1.0},
    "flaky": {"0": 0.5, "1032": 0.15, "1037": 0.15, "1": 0.05, "2001": 0.05, "1019": 0.10},
    "declines": {"1": 0.4, "1032": 0.3, "2001": 0.2, "1037": 0.1},
}
DEFAULT_SCENARIO = "realistic"

# What a customer action means when a mix draws it; other codes are scripted outright.
_CODE_ACTIONS = {"0": "pay", "1032": "cancel", "1037": "ignore", "2001": "wrong_pin", "1019": "late"}
_PROFILE_ACTIONS = {
    "pays": "pay",
    "cancels": "cancel",
    "ignores": "ignore",
    "unreachable": "unreachable",
    "wrong_pin": "wrong_pin",
    "late": "late",
}

# Scripted codes that fail before any prompt reaches the phone.
PRE_PROMPT_CODES = frozenset({"2", "3", "17", "1025", "2028", "SFC_IC0003", "1037"})


@dataclass(frozen=True)
class Plan:
    """What the customer will do. ``action`` is one of: pay, wrong_pin, cancel, ignore, late,
    unreachable, wait (interactive) or script (``code`` forced)."""

    source: str  # instruction | trigger | behaviour | interactive | profile | mix
    action: str
    code: str | None = None
    desc: str | None = None  # a scripted code's own ResultDesc (None: the catalogue's wording)

    @property
    def scripted(self) -> bool:
        return self.action == "script"


def normalize_mix(mix: Mapping[object, float]) -> dict[str, float]:
    """Validate a mix: result codes to non-negative weights with a positive sum."""
    from mpesa_lab.codes import normalize_code

    if not isinstance(mix, Mapping) or not mix:
        raise ValueError("a mix maps result codes to weights, e.g. {'0': 0.9, '1032': 0.1}")
    out: dict[str, float] = {}
    for code, weight in mix.items():
        try:
            value = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"mix weight for code {code!r} is not a number: {weight!r}") from None
        if value < 0 or value != value:
            raise ValueError(f"mix weight for code {code!r} must be >= 0, got {weight!r}")
        out[normalize_code(code)] = value
    if sum(out.values()) <= 0:
        raise ValueError("mix weights add up to 0: give at least one code a positive weight")
    return out


def draw(mix: Mapping[str, float], rng: random.Random) -> str:
    """One result code drawn from the mix."""
    codes, cumulative = _cumulative(tuple(mix.items()))
    return rng.choices(codes, cum_weights=cumulative, k=1)[0]


@lru_cache(maxsize=32)
def _cumulative(items: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    total, cumulative = 0.0, []
    for _, weight in items:
        total += weight
        cumulative.append(total)
    return [code for code, _ in items], cumulative


def live_sandbox_2026(phone: str) -> Plan:
    """The live sandbox as teams reported it in 2026: the test number never completes (1037,
    "No response from user."); any other number ends in E3008 "Error, the user has a bad debt
    contract."."""
    from mpesa_lab.codes import live_wording

    if phone == SANDBOX_TEST_MSISDN:
        return Plan("behaviour", "script", "1037", live_wording("1037"))
    return Plan("behaviour", "script", "E3008", live_wording("E3008"))


# How the emulator's customers behave overall: ``EmulatorConfig.behaviour``.
BEHAVIOURS: dict[str, str] = {
    "teaching": "the lab's default: the test number pays, magic numbers give every code, other "
    "numbers follow the seeded mix",
    "live_sandbox_2026": "the live Daraja sandbox as reported in 2026: the test number ends in 1037 "
    "'No response from user.', any other number in E3008 (magic numbers and "
    "set_next_result still work)",
}
DEFAULT_BEHAVIOUR = "teaching"


def decide(
    *,
    phone: str,
    instruction: str | tuple[str, str | None] | None,
    profile: str | None,
    interactive: bool,
    mix: Mapping[str, float],
    rng: random.Random,
    behaviour: str = DEFAULT_BEHAVIOUR,
) -> Plan:
    """The plan for one transaction, in the documented order of precedence."""
    if instruction is not None:
        code, desc = (instruction, None) if isinstance(instruction, str) else instruction
        return Plan("instruction", "script", code, desc)
    trigger = TRIGGER_BY_PHONE.get(phone)
    if trigger is not None:
        return Plan("trigger", "script", trigger)
    if behaviour == "live_sandbox_2026":
        return live_sandbox_2026(phone)
    if interactive or profile == "interactive":
        return Plan("interactive", "wait")
    if profile in _PROFILE_ACTIONS:
        return Plan("profile", _PROFILE_ACTIONS[profile])
    code = draw(mix, rng)
    action = _CODE_ACTIONS.get(code)
    return Plan("mix", action, None) if action else Plan("mix", "script", code)
