"""The emulator's records: apps, tokens, merchants, subscribers, transactions and their timelines.

Plain dataclasses; the state machine that moves them lives in ``machine.py``. Secrets (consumer
secrets, passkeys, PINs, tokens) are held as ``Secret`` or kept out of reprs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from mpesa_lab.secret import Secret


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment is not None else None


def money(value: float) -> float | int:
    """Whole amounts as ints, the rest rounded to cents (JSON-friendly)."""
    value = round(float(value), 2)
    return int(value) if value.is_integer() else value


class TxStatus(StrEnum):
    """Where a transaction is: accepted -> prompted -> answered | cancelled | timed_out -> completed.

    A ``StrEnum``: each member is its own string, so stored, compared and rendered values are the
    same strings as ever (``TxStatus.PROMPTED == "prompted"``, ``f"{status}"`` is ``prompted``).
    """

    ACCEPTED = "accepted"
    PROMPTED = "prompted"
    ANSWERED = "answered"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    COMPLETED = "completed"


_PROMPTED = TxStatus.PROMPTED  # a global is cheaper to read than an Enum member (see machine.py)


@dataclass
class App:
    """A Daraja app: consumer key and secret, with its request counters for spike arrest and quota."""

    key: str
    secret: Secret = field(repr=False)
    name: str = ""
    used: int = 0
    recent: deque = field(default_factory=deque, repr=False)
    # Which Daraja the app belongs to ("sandbox" or "production"), and whether the M-Pesa Express
    # product is enabled on it (without it every push and query is refused, as live Daraja does).
    environment: str = "sandbox"
    express: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "consumer_key": self.key,
            "consumer_secret": str(self.secret),
            "name": self.name,
            "requests": self.used,
            "environment": self.environment,
            "express": self.express,
        }


@dataclass
class Token:
    """An access token. Its value is the registry key and never part of the repr."""

    app_key: str
    issued_at: datetime
    expires_at: datetime


@dataclass
class Merchant:
    """A shortcode that can receive M-Pesa Express payments (a paybill, or a till's store number)."""

    shortcode: str
    passkey: Secret = field(repr=False)
    kind: str = "paybill"  # paybill | till
    till_number: str | None = None
    name: str = "MPESA LAB"
    balance: float = 0.0
    max_balance: float | None = None

    @property
    def party_b(self) -> str:
        """What PartyB must be: the paybill itself, or the till number."""
        return self.till_number if self.kind == "till" and self.till_number else self.shortcode

    @property
    def transaction_type(self) -> str:
        return "CustomerBuyGoodsOnline" if self.kind == "till" else "CustomerPayBillOnline"

    def to_dict(self) -> dict[str, Any]:
        return {
            "shortcode": self.shortcode,
            "kind": self.kind,
            "till_number": self.till_number,
            "party_b": self.party_b,
            "transaction_type": self.transaction_type,
            "name": self.name,
            "passkey": str(self.passkey),
            "passkey_fingerprint": self.passkey.fingerprint,
            "balance": money(self.balance),
            "max_balance": None if self.max_balance is None else money(self.max_balance),
        }


@dataclass(slots=True)
class Subscriber:
    """An M-Pesa customer: PIN, balance, limits, and how they behave when prompted."""

    phone: str
    pin: Secret = field(repr=False)
    balance: float = 0.0
    profile: str = "pays"
    daily_limit: float = 500_000.0
    max_transaction: float = 250_000.0
    daily_total: float = 0.0
    daily_date: date | None = None
    failed_pins: int = 0
    locked: bool = False
    registered: bool = True
    pushes: int = 0
    open: int = 0  # transactions not yet final: retention never forgets such a subscriber

    def to_dict(self) -> dict[str, Any]:
        return {
            "phone": self.phone,
            "pin": str(self.pin),
            "balance": money(self.balance),
            "profile": self.profile,
            "daily_limit": money(self.daily_limit),
            "max_transaction": money(self.max_transaction),
            "daily_total": money(self.daily_total),
            "failed_pins": self.failed_pins,
            "locked": self.locked,
            "registered": self.registered,
            "pushes": self.pushes,
        }


# One step of a transaction's timeline: (at, event, detail). A plain tuple on purpose: CPython's
# garbage collector stops tracking exact tuples of plain values (not NamedTuples), which matters
# when a lab holds tens of thousands of transactions with a handful of steps each.
Event = tuple[datetime, str, str]


def event_dict(step: Event) -> dict[str, Any]:
    at, name, detail = step
    return {"at": iso(at), "event": name, "detail": detail}


class CallbackAttempt(NamedTuple):
    """One POST (or injected non-POST) of a callback to CallBackURL."""

    checkout_request_id: str
    attempt: int
    at: datetime
    url: str
    status: int | None = None
    error: str | None = None
    elapsed_ms: float | None = None
    fault: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkout_request_id": self.checkout_request_id,
            "attempt": self.attempt,
            "at": iso(self.at),
            "url": self.url,
            "status": self.status,
            "error": self.error,
            "elapsed_ms": self.elapsed_ms,
            "fault": self.fault,
            "delivered": self.delivered,
        }


@dataclass(slots=True)
class Transaction:
    """One accepted STK push and everything that happened to it."""

    checkout_request_id: str
    merchant_request_id: str
    business_short_code: str
    transaction_type: str
    amount: int
    party_a: str
    party_b: str
    phone: str
    callback_url: str
    account_reference: str
    transaction_desc: str | None
    prompt: str
    created_at: datetime
    plan_source: str
    plan_action: str
    plan_code: str | None = None
    plan_desc: str | None = None  # a scripted result's own ResultDesc
    rejection: str | None = None  # a real condition that fails it before the prompt
    rejection_reason: str = ""
    status: TxStatus = TxStatus.ACCEPTED
    final: bool = False
    result_code: str | None = None
    result_desc: str | None = None
    receipt: str | None = None
    transaction_date: datetime | None = None
    prompted_at: datetime | None = None
    prompt_expires_at: datetime | None = None
    completed_at: datetime | None = None
    queued_answer: tuple[str, str | None] | None = field(default=None, repr=False)
    wait_generation: int = 0
    # The timing model (None in the quick lab): the scale the clockwork ran at, and the
    # real-world seconds from the acknowledgement to the prompt and to the result (callback).
    time_scale: float | None = None
    real_prompt_s: float | None = None
    real_result_s: float | None = None
    # Callback POSTs owed and not yet made (set when the result is final): retention keeps the
    # transaction until this is back to 0.
    callbacks_due: int = 0
    timeline: list[Event] = field(default_factory=list)
    callback_attempts: list[CallbackAttempt] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def waiting_for_customer(self) -> bool:
        return self.status is _PROMPTED and not self.final and self.plan_action == "wait"

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkout_request_id": self.checkout_request_id,
            "merchant_request_id": self.merchant_request_id,
            "business_short_code": self.business_short_code,
            "transaction_type": self.transaction_type,
            "amount": self.amount,
            "party_a": self.party_a,
            "party_b": self.party_b,
            "phone": self.phone,
            "callback_url": self.callback_url,
            "account_reference": self.account_reference,
            "transaction_desc": self.transaction_desc,
            "prompt": self.prompt,
            "status": str(self.status),  # a plain str in what is rendered
            "final": self.final,
            "result_code": self.result_code,
            "result_desc": self.result_desc,
            "receipt": self.receipt,
            "decided_by": self.plan_source,
            "customer_action": self.plan_action,
            "scripted_code": self.plan_code,
            "waiting_for_customer": self.waiting_for_customer,
            "created_at": iso(self.created_at),
            "prompted_at": iso(self.prompted_at),
            "prompt_expires_at": iso(self.prompt_expires_at),
            "completed_at": iso(self.completed_at),
            "time_scale": self.time_scale,
            "real_prompt_s": self.real_prompt_s,
            "real_result_s": self.real_result_s,
            "timeline": [event_dict(e) for e in self.timeline],
            "callback_attempts": [a.to_dict() for a in self.callback_attempts],
            "request": dict(self.request),
        }
