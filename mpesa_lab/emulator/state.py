"""The Safaricom side's memory and its state machine.

Registries (apps, tokens, merchants, subscribers) and transactions, each moving through
accepted -> prompted -> answered | cancelled | timed_out -> completed, every step time-stamped.
HTTP handlers, the engine thread and Python control calls all come through here under one lock;
nothing in here blocks (timers and callback POSTs are handed to the engine).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import random
import threading
import time
import zlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from mpesa_lab import codes
from mpesa_lab.constants import DAILY_LIMIT, MAX_AMOUNT, MIN_AMOUNT
from mpesa_lab.password import build_password, check_password
from mpesa_lab.emulator import defaults
from mpesa_lab.emulator.config import EmulatorConfig, field_names
from mpesa_lab.emulator.delivery import Deliverer, FaultBook, callback_payload
from mpesa_lab.emulator.engine import Engine
from mpesa_lab.emulator.errors import DarajaError, bad_request, from_code
from mpesa_lab.emulator.ids import IdFactory
from mpesa_lab.emulator.models import (
    App,
    CallbackAttempt,
    Merchant,
    Subscriber,
    Token,
    Transaction,
)
from mpesa_lab.emulator.scenarios import (
    ERROR_PHONES,
    PRE_PROMPT_CODES,
    PROFILES,
    SCENARIOS,
    Plan,
    decide,
    normalize_mix,
)
from mpesa_lab.emulator.validation import PushRequest, QueryRequest, msisdn, shortcode
from mpesa_lab.secret import Secret

ACK_DESCRIPTION = "Success. Request accepted for processing"
# The live query answer spells it this way.
QUERY_DESCRIPTION = "The service request has been accepted successsfully"

_PRE_PROMPT_EVENTS = {
    "2": ("rejected", "the Amount is below the minimum (Ksh 1)"),
    "3": ("rejected", "the Amount is above the maximum per transaction"),
    "17": ("rejected", "rule 17: the same amount to the same customer within two minutes"),
    "1025": ("prompt_failed", "the push prompt could not be sent"),
    "2028": ("rejected", "TransactionType or PartyB is not permitted for this shortcode"),
    "SFC_IC0003": ("rejected", "the operator (PartyB) does not exist"),
    "1037": ("unreachable", "the phone could not be reached (off, out of coverage or busy)"),
}
# Scripted codes told as what the customer did: an action, or a PIN entry that ends it.
_SCRIPTED_ACTIONS = {"1032": "cancel", "1037": "ignore", "1019": "late"}
_SCRIPTED_PIN_RESULTS = {"2001": "wrong PIN", "8006": "the PIN is locked"}


class EmulatorError(ValueError):
    """A control call that cannot be done; the message says why and what to do instead."""


class UnknownTransaction(EmulatorError, KeyError):
    """No transaction has this CheckoutRequestID."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown transaction"


@dataclass
class _InjectedError:
    error: DarajaError
    route: str | None
    remaining: int | None


@lru_cache(maxsize=256)
def _result_desc(code: str) -> str:
    entry = codes.result_entry(code)
    return entry.message if entry.known else "Unknown result code (set by the lab)"


def _instruction_view(phone: str | None, code: str, desc: str | None) -> dict[str, Any]:
    view: dict[str, Any] = {"phone": phone, "code": code}
    if desc is not None:
        view["result_desc"] = desc
    return view


@lru_cache(maxsize=512)
def _expected_password(shortcode_: str, passkey: str, timestamp: str) -> bytes:
    # Clients reuse one Timestamp for many pushes (the bench, a retry loop): build it once.
    return build_password(shortcode_, passkey, timestamp).encode()


def _money(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise EmulatorError(f"{name} must be a number >= 0; got {value!r}")
    return float(value)


class EmulatorState:
    """Everything the local Daraja knows, and the rules that move a transaction along."""

    def __init__(self, config: EmulatorConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self.faults = FaultBook()
        self._step_at: datetime | None = None  # the moment of the step being run, if shared
        self._default_pin: Secret | None = None
        # Not reseeded by reset(): ids and receipts must never repeat within one emulator's life.
        self.ids = IdFactory(config.seed)
        self.deliverer = Deliverer(engine, self._record_attempt, lambda: self.config)
        engine.on_new_loop(self._resume)
        self._fresh(keep_tokens=False)

    # ------------------------------------------------------------------ setup and reset

    def _fresh(self, *, keep_tokens: bool) -> None:
        if not keep_tokens:
            self.apps: dict[str, App] = {}
            self.tokens: dict[str, Token] = {}
            self.register_app(defaults.LAB_CONSUMER_KEY, defaults.LAB_CONSUMER_SECRET, name=defaults.LAB_APP_NAME)
        self.merchants: dict[str, Merchant] = {}
        self.subscribers: dict[str, Subscriber] = {}
        # Subscribers made on the fly by a push, least recently pushed first (an ordered set):
        # the ones retention may forget. Registered subscribers are never in here.
        self.transient: dict[str, None] = {}
        self.transactions: dict[str, Transaction] = {}
        self.pending_by_phone: dict[str, str] = {}
        # (phone or None for any, ResultCode, ResultDesc or None for the catalogue's)
        self.instructions: list[tuple[str | None, str, str | None]] = []
        self.injected: list[_InjectedError] = []
        # phone -> ((time, amount), ...): tuples, which the garbage collector need not track
        self.recent_pushes: dict[str, tuple[tuple[datetime, int], ...]] = {}
        self.attempts: list[CallbackAttempt] = []
        self.receipts: set[str] = set()
        self.forgotten_transactions = 0
        self.forgotten_subscribers = 0
        self.faults.clear()
        self.register_merchant(defaults.PAYBILL_SHORTCODE, defaults.PAYBILL_PASSKEY, name=defaults.PAYBILL_NAME)
        self.register_merchant(
            defaults.TILL_SHORTCODE,
            defaults.TILL_PASSKEY,
            kind="till",
            till_number=defaults.TILL_NUMBER,
            name=defaults.TILL_NAME,
        )
        self.register_subscriber(defaults.TEST_MSISDN, pin=defaults.TEST_PIN, balance=defaults.TEST_BALANCE)

    def reset(self, *, keep_tokens: bool = True) -> None:
        """Forget transactions, subscribers, merchants, faults and instructions (defaults come back).

        Apps and access tokens survive unless ``keep_tokens=False``, so a client with a cached
        token keeps working after a reset.
        """
        with self.lock:
            for app in self.apps.values():
                app.used = 0
                app.recent.clear()
            self._fresh(keep_tokens=keep_tokens)
            self._changed.notify_all()

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change live settings (any EmulatorConfig field but ``seed`` and ``clock``)."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise EmulatorError(f"unknown setting(s) {', '.join(unknown)}; settings are: {', '.join(field_names())}")
        if "seed" in changes or "clock" in changes:
            raise EmulatorError("seed and clock are fixed when the emulator is created: make a new Emulator")
        with self.lock:
            candidate = replace(self.config, **changes)  # runs validation
            self.config = candidate
            return candidate

    # ------------------------------------------------------------------ registries

    def register_app(self, key: str, secret: str | Secret, *, name: str = "") -> dict[str, Any]:
        if not isinstance(key, str) or not key or ":" in key:
            raise EmulatorError("a consumer key must be a non-empty string without ':'")
        secret_value = secret.reveal() if isinstance(secret, Secret) else secret
        if not isinstance(secret_value, str) or not secret_value:
            raise EmulatorError("a consumer secret must be a non-empty string")
        with self.lock:
            app = App(key=key, secret=Secret(secret_value), name=name or key)
            self.apps[key] = app
            return app.to_dict()

    def register_merchant(
        self,
        shortcode_: str | int,
        passkey: str | Secret,
        *,
        kind: str = "paybill",
        till_number: str | int | None = None,
        name: str | None = None,
        balance: float = 0.0,
        max_balance: float | None = None,
    ) -> dict[str, Any]:
        code = shortcode(str(shortcode_))
        if code is None:
            raise EmulatorError(f"shortcode must be 5 to 7 digits (e.g. '600000'); got {shortcode_!r}")
        if kind not in ("paybill", "till"):
            raise EmulatorError(f"kind must be 'paybill' or 'till'; got {kind!r}")
        till: str | None = None
        if kind == "till":
            till = shortcode(str(till_number)) if till_number is not None else code
            if till is None:
                raise EmulatorError(f"till_number must be 5 to 7 digits; got {till_number!r}")
        elif till_number is not None:
            raise EmulatorError("till_number is only for kind='till' (a paybill's PartyB is its shortcode)")
        key = passkey.reveal() if isinstance(passkey, Secret) else passkey
        if not isinstance(key, str) or not key:
            raise EmulatorError("passkey must be a non-empty string")
        merchant = Merchant(
            shortcode=code,
            passkey=Secret(key),
            kind=kind,
            till_number=till,
            name=name or f"LAB {kind.upper()} {code}",
            balance=_money(balance, "balance"),
            max_balance=None if max_balance is None else _money(max_balance, "max_balance"),
        )
        with self.lock:
            self.merchants[code] = merchant
            return merchant.to_dict()

    def register_subscriber(
        self,
        phone: str | int,
        *,
        pin: str = "1234",
        balance: float = 10_000.0,
        profile: str = "pays",
        daily_limit: float = float(DAILY_LIMIT),
        max_transaction: float = float(MAX_AMOUNT),
        daily_total: float = 0.0,
        locked: bool = False,
    ) -> dict[str, Any]:
        number = msisdn(str(phone))
        if number is None:
            raise EmulatorError(f"phone must be a Safaricom number like 2547XXXXXXXX; got {phone!r}")
        if profile not in PROFILES:
            raise EmulatorError(f"unknown profile {profile!r}; profiles are: {', '.join(PROFILES)}")
        if not isinstance(pin, (str, int)) or isinstance(pin, bool) or not str(pin):
            raise EmulatorError("pin must be a non-empty string such as '1234'")
        sub = Subscriber(
            phone=number,
            pin=Secret(str(pin)),
            balance=_money(balance, "balance"),
            profile=profile,
            daily_limit=_money(daily_limit, "daily_limit"),
            max_transaction=_money(max_transaction, "max_transaction"),
            daily_total=_money(daily_total, "daily_total"),
            locked=bool(locked),
        )
        with self.lock:
            previous = self.subscribers.get(number)
            if previous is not None:
                sub.pushes = previous.pushes
                sub.open = previous.open
            self.transient.pop(number, None)
            sub.daily_date = self.config.clock().date()
            self.subscribers[number] = sub
            return sub.to_dict()

    def unlock_subscriber(self, phone: str) -> dict[str, Any]:
        with self.lock:
            sub = self._known_subscriber(phone)
            sub.locked = False
            sub.failed_pins = 0
            return sub.to_dict()

    def _known_subscriber(self, phone: str) -> Subscriber:
        sub = self.subscribers.get(str(phone))
        if sub is None:
            raise EmulatorError(f"no subscriber {phone!r}; register_subscriber() it first")
        return sub

    def _subscriber(self, phone: str, now: datetime | None = None) -> Subscriber:
        sub = self.subscribers.get(phone)
        if sub is None:
            cfg = self.config
            pin = self._default_pin
            if pin is None or pin.reveal() != cfg.default_pin:
                # One Secret shared by every subscriber made on the fly (they are many).
                pin = self._default_pin = Secret(cfg.default_pin)
            sub = Subscriber(
                phone=phone,
                pin=pin,
                balance=float(cfg.default_balance),
                profile="mix",
                registered=False,
                daily_date=(now or cfg.clock()).date(),
            )
            self.subscribers[phone] = sub
            self.transient[phone] = None
        return sub

    # ------------------------------------------------------------------ OAuth and admission

    def issue_token(self, authorization: str | None, grant_type: str | None) -> dict[str, str]:
        """GET /oauth/v1/generate: HTTP Basic -> a token shaped like Daraja's."""
        scheme, _, payload = (authorization or "").strip().partition(" ")
        if scheme.lower() != "basic" or not payload.strip():
            raise DarajaError.named("invalid_authentication_type")
        if grant_type != "client_credentials":
            raise DarajaError.named("invalid_grant_type")
        try:
            key, sep, secret = base64.b64decode(payload.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            key, sep, secret = "", "", ""
        cfg = self.config
        with self.lock:
            app = self.apps.get(key) if sep else None
            if app is None or not hmac.compare_digest(app.secret.reveal().encode(), secret.encode()):
                raise DarajaError.named(
                    "invalid_client_credentials", empty_body=cfg.oauth_wrong_credentials_body == "empty"
                )
            now = cfg.clock()
            value = self.ids.access_token()
            expires = now + timedelta(seconds=cfg.token_ttl)
            self.tokens[value] = Token(app_key=app.key, issued_at=now, expires_at=expires)
            if len(self.tokens) > 1000:
                self._prune_tokens(now)
        return {"access_token": value, "expires_in": str(cfg.token_ttl)}

    def _prune_tokens(self, now: datetime) -> None:
        for value in [v for v, t in self.tokens.items() if t.expires_at <= now]:
            del self.tokens[value]

    def authenticate(self, authorization: str | None) -> App:
        """The app behind ``Authorization: Bearer <token>``; 404.001.03 when missing, unknown or expired."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            raise DarajaError.named("invalid_access_token")
        with self.lock:
            token = self.tokens.get(value.strip())
            if token is None:
                raise DarajaError.named("invalid_access_token")
            if self.config.clock() >= token.expires_at:
                del self.tokens[value.strip()]
                raise DarajaError.named("invalid_access_token")
            app = self.apps.get(token.app_key)
            if app is None:
                raise DarajaError.named("invalid_access_token")
            return app

    def admit(self, app: App, route: str) -> None:
        """Apigee's policies: spike arrest, then quota, then any error injected with ``fail_next``."""
        cfg = self.config
        with self.lock:
            if cfg.rate_limit_per_second:
                now = time.monotonic()
                window = app.recent
                while window and now - window[0] >= 1.0:
                    window.popleft()
                if len(window) >= cfg.rate_limit_per_second:
                    raise DarajaError.named("spike_arrest")
                window.append(now)
            app.used += 1
            if cfg.quota is not None and app.used > cfg.quota:
                raise DarajaError.named("quota_violation")
        self.take_injected(route)

    def take_injected(self, route: str) -> None:
        with self.lock:
            for item in self.injected:
                if item.route is None or item.route == route:
                    if item.remaining is not None:
                        item.remaining -= 1
                        if item.remaining <= 0:
                            self.injected.remove(item)
                    raise item.error

    def fail_next(
        self,
        code: str,
        *,
        message: str | None = None,
        count: int | None = 1,
        route: str | None = None,
        status: int | None = None,
    ) -> dict[str, Any]:
        """Answer the next ``count`` requests (on ``route``: oauth | push | query, or any) with an error."""
        if route not in (None, "oauth", "push", "query"):
            raise EmulatorError(f"route must be 'oauth', 'push', 'query' or None (any); got {route!r}")
        if not isinstance(code, str) or not code.strip():
            raise EmulatorError("code must be a Daraja errorCode such as '500.003.02'")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise EmulatorError(f"count must be a whole number >= 1 (or None for 'until reset'); got {count!r}")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
            raise EmulatorError(f"status must be an HTTP error status (400-599); got {status!r}")
        error = from_code(code.strip(), message, status)
        with self.lock:
            self.injected.append(_InjectedError(error, route, count))
        return {"errorCode": error.code, "errorMessage": error.message, "http_status": error.status,
                "route": route, "count": count}

    # ------------------------------------------------------------------ STK push

    def _merchant_and_credentials(self, code: str, password: Any, timestamp: str) -> Merchant:
        merchant = self.merchants.get(code)
        if merchant is None:
            raise DarajaError.named("merchant_does_not_exist")
        if not isinstance(password, str) or not password:
            raise DarajaError.named("wrong_credentials")
        # base64 is canonical, so the expected string matches a right password exactly; only a
        # mismatch pays for decoding (which also forgives stray whitespace, as a decoder would).
        expected = _expected_password(merchant.shortcode, merchant.passkey.reveal(), timestamp)
        if not hmac.compare_digest(password.encode(), expected) and \
                not check_password(password, merchant.shortcode, merchant.passkey, timestamp).ok:
            raise DarajaError.named("wrong_credentials")
        return merchant

    def _take_instruction(self, phone: str) -> tuple[str, str | None] | None:
        for index, (target, code, desc) in enumerate(self.instructions):
            if target == phone:
                del self.instructions[index]
                return code, desc
        for index, (target, code, desc) in enumerate(self.instructions):
            if target is None:
                del self.instructions[index]
                return code, desc
        return None

    @staticmethod
    def prompt_text(merchant: Merchant, req: PushRequest) -> str:
        """What the customer's phone would show."""
        return (
            f"Do you want to pay Ksh{req.amount:,.2f} to {merchant.name} "
            f"Account no. {req.account_reference}? Enter M-PESA PIN:"
        )

    def _duplicate(self, phone: str, amount: int, now: datetime) -> bool:
        if phone not in self.recent_pushes:  # a phone's first push (the common case under load)
            return False
        window = timedelta(seconds=self.config.duplicate_window)
        recent = tuple(p for p in self.recent_pushes.get(phone, ()) if now - p[0] < window)
        self.recent_pushes[phone] = recent
        return any(previous == amount for _, previous in recent)

    def _real_rejection(self, req: PushRequest, merchant: Merchant, sub: Subscriber, prompt: str,
                        now: datetime) -> tuple[str, str] | None:
        if req.transaction_type != merchant.transaction_type:
            return "2028", (f"{req.transaction_type} is not permitted for {merchant.kind} {merchant.shortcode}: "
                            f"use {merchant.transaction_type}")
        if req.party_b != merchant.party_b:
            return "SFC_IC0003", (f"PartyB {req.party_b} is not an operator of {merchant.shortcode}: "
                                  f"use {merchant.party_b}")
        if req.amount < MIN_AMOUNT:
            return "2", f"Amount {req.amount} is below the minimum of {MIN_AMOUNT}"
        limit = min(float(MAX_AMOUNT), sub.max_transaction)
        if req.amount > limit:
            return "3", f"Amount {req.amount} is above the maximum of {limit:,.0f} per transaction"
        if self.config.enforce_duplicate_rule and self._duplicate(req.phone, req.amount, now):
            return "17", (f"the same Amount ({req.amount}) was pushed to {req.phone} less than "
                          f"{self.config.duplicate_window:.0f} s ago")
        if len(prompt) > self.config.prompt_max_chars:
            return "1025", f"the prompt is {len(prompt)} characters, over {self.config.prompt_max_chars}"
        return None

    def accept_push(self, req: PushRequest, raw: dict[str, Any]) -> Transaction:
        """Checks beyond the fields (merchant, password, lock), then the transaction starts."""
        cfg = self.config
        with self.lock:
            merchant = self._merchant_and_credentials(req.business_short_code, req.password, req.timestamp)
            error_name = ERROR_PHONES.get(req.phone)
            if error_name is not None:
                raise DarajaError.named(error_name)
            if cfg.enforce_subscriber_lock and req.phone in self.pending_by_phone:
                raise DarajaError.named("subscriber_locked")
            now = cfg.clock()
            sub = self._subscriber(req.phone, now)
            if not sub.registered:
                # most recently pushed last: retention forgets from the front
                self.transient[req.phone] = self.transient.pop(req.phone, None)
            # One generator per transaction, seeded by (seed, phone, n-th push of that phone): the
            # outcome does not depend on how pushes to different phones interleave.
            rng = random.Random(zlib.crc32(f"{cfg.seed}|{req.phone}|{sub.pushes}".encode()) ^ (cfg.seed << 32))
            sub.pushes += 1
            plan: Plan = decide(
                phone=req.phone,
                instruction=self._take_instruction(req.phone),
                profile=sub.profile,
                interactive=cfg.interactive,
                mix=cfg.mix,
                rng=rng,
                behaviour=cfg.behaviour,
            )
            prompt = self.prompt_text(merchant, req)
            # Instructions and triggers are deterministic on purpose; everything else (profiles and
            # the mix included) meets the real conditions first.
            bypass = plan.source in ("instruction", "trigger")
            rejection = None if bypass else self._real_rejection(req, merchant, sub, prompt, now)
            if rejection is None or rejection[0] != "17":
                self.recent_pushes[req.phone] = (*self.recent_pushes.get(req.phone, ()), (now, req.amount))[-20:]
            moment = now
            checkout = self.ids.checkout_request_id(moment, req.phone)
            while checkout in self.transactions:
                moment += timedelta(milliseconds=1)
                checkout = self.ids.checkout_request_id(moment, req.phone)
            tx = Transaction(
                checkout_request_id=checkout,
                merchant_request_id=self.ids.merchant_request_id(),
                business_short_code=req.business_short_code,
                transaction_type=req.transaction_type,
                amount=req.amount,
                party_a=req.party_a,
                party_b=req.party_b,
                phone=req.phone,
                callback_url=req.callback_url,
                account_reference=req.account_reference,
                transaction_desc=req.transaction_desc,
                prompt=prompt,
                created_at=now,
                plan_source=plan.source,
                plan_action=plan.action,
                plan_code=plan.code,
                plan_desc=plan.desc,
                rejection=rejection[0] if rejection else None,
                rejection_reason=rejection[1] if rejection else "",
                request=raw,
            )
            how = f"{plan.source}: {plan.action}" + (f" {plan.code}" if plan.code else "")
            tx.timeline.append((now, "accepted", f"ResponseCode 0; customer plan by {how}"))
            self.transactions[checkout] = tx
            self.pending_by_phone[req.phone] = checkout
            sub.open += 1
            if cfg.max_transactions is not None and len(self.transactions) > cfg.max_transactions:
                self._forget_transactions(cfg.max_transactions)
            if cfg.max_subscribers is not None and len(self.transient) > cfg.max_subscribers:
                self._forget_subscribers(cfg.max_subscribers)
        self.engine.call_later(cfg.prompt_delay, self._prompt, tx)
        return tx

    # ------------------------------------------------------------------ retention

    @staticmethod
    def _settled(tx: Transaction) -> bool:
        """Final, and every callback POST it is owed has been made (or recorded as dropped)."""
        return tx.final and tx.callbacks_due <= 0

    def _forget_transactions(self, limit: int) -> None:
        """Forget the oldest settled transactions, down to 90 % of ``limit`` (in batches, so the
        cost is spread over many pushes). A transaction still pending, or whose callback is not
        yet out (delayed, held, duplicated), is kept whatever its age."""
        target = max(1, int(limit * 0.9))
        excess = len(self.transactions) - target
        if excess <= 0:
            return
        doomed = []
        for checkout, tx in self.transactions.items():
            if len(doomed) >= excess:
                break
            if self._settled(tx):
                doomed.append(checkout)
        for checkout in doomed:
            receipt = self.transactions.pop(checkout).receipt
            if receipt:
                self.receipts.discard(receipt)
        if doomed:
            self.forgotten_transactions += len(doomed)
            self.attempts = [a for a in self.attempts if a.checkout_request_id in self.transactions]

    def _forget_subscribers(self, limit: int) -> None:
        """Forget the least recently pushed subscribers made on the fly, down to 90 % of
        ``limit``; one with a transaction still open is kept. Registered ones are never forgotten."""
        target = max(1, int(limit * 0.9))
        excess = len(self.transient) - target
        if excess <= 0:
            return
        doomed = []
        for phone in self.transient:
            if len(doomed) >= excess:
                break
            sub = self.subscribers.get(phone)
            if sub is None or sub.open <= 0:
                doomed.append(phone)
        for phone in doomed:
            del self.transient[phone]
            self.subscribers.pop(phone, None)
            self.recent_pushes.pop(phone, None)
        self.forgotten_subscribers += len(doomed)

    # ------------------------------------------------------------------ the state machine

    def _live(self, tx: Transaction) -> bool:
        return not tx.final and self.transactions.get(tx.checkout_request_id) is tx

    def _event(self, tx: Transaction, name: str, detail: str = "", at: datetime | None = None) -> None:
        tx.timeline.append((at or self._step_at or self.config.clock(), name, detail))

    def _prompt(self, tx: Transaction) -> None:
        cfg = self.config
        with self.lock:
            if not self._live(tx) or tx.status != "accepted":
                return
            if tx.rejection:
                self._event(tx, "rejected", tx.rejection_reason)
                self._finalize(tx, tx.rejection)
                return
            queued = tx.queued_answer
            if queued is None and tx.plan_action == "script" and tx.plan_code in PRE_PROMPT_CODES:
                name, detail = _PRE_PROMPT_EVENTS[tx.plan_code]
                self._event(tx, name, detail)
                self._finalize(tx, tx.plan_code)
                return
            if queued is None and tx.plan_action == "unreachable":
                name, detail = _PRE_PROMPT_EVENTS["1037"]
                self._event(tx, name, detail)
                self._finalize(tx, "1037")
                return
            now = cfg.clock()
            tx.status = "prompted"
            tx.prompted_at = now
            self._event(tx, "prompted", tx.prompt, now)
            if queued is not None:
                tx.queued_answer = None
                self._act(tx, *queued)
            elif tx.plan_action == "wait":
                self._wait(tx, cfg.prompt_timeout)
            else:
                self.engine.call_later(cfg.answer_delay, self._customer_acts, tx)
            self._changed.notify_all()

    def _wait(self, tx: Transaction, seconds: float) -> None:
        tx.wait_generation += 1
        tx.prompt_expires_at = self.config.clock() + timedelta(seconds=seconds)
        self.engine.call_later(seconds, self._timeout, tx, tx.wait_generation)

    def _customer_acts(self, tx: Transaction) -> None:
        with self.lock:
            if self._live(tx) and tx.status == "prompted" and tx.plan_action != "wait":
                # One instant for the whole step (PIN, debit, result): one clock read, not three.
                self._step_at = self.config.clock()
                try:
                    self._act(tx, tx.plan_action, None)
                finally:
                    self._step_at = None

    def _timeout(self, tx: Transaction, generation: int) -> None:
        with self.lock:
            if self._live(tx) and tx.status == "prompted" and tx.wait_generation == generation:
                tx.status = "timed_out"
                self._event(tx, "timed_out", f"no answer within {self.config.prompt_timeout:g} s")
                self._finalize(tx, "1037")

    def _act(self, tx: Transaction, action: str, pin: str | None) -> None:
        """The customer does ``action`` on a prompted transaction."""
        if action == "script":
            self._scripted(tx, tx.plan_code or "0")
        elif action == "pay":
            self._pin_entered(tx, self._subscriber(tx.phone).pin.reveal())
        elif action == "pin":
            self._pin_entered(tx, pin or "")
        elif action == "wrong_pin":
            real = self._subscriber(tx.phone).pin.reveal()
            self._pin_entered(tx, "0000" if real != "0000" else "9999")
        elif action == "cancel":
            tx.status = "cancelled"
            self._event(tx, "cancelled", "the customer pressed Cancel")
            self._finalize(tx, "1032")
        elif action in ("ignore", "unreachable"):
            tx.status = "timed_out"
            self._event(tx, "timed_out", "the customer did not answer the prompt")
            self._finalize(tx, "1037")
        elif action == "late":
            tx.status = "answered"
            self._event(tx, "answered_late", "the PIN arrived after the transaction had expired")
            self._finalize(tx, "1019")
        # "wait": nothing to do until answer() or the timeout

    def _scripted(self, tx: Transaction, code: str) -> None:
        """A scripted ResultCode (instruction or trigger), told in the timeline as the customer's steps."""
        if code in _SCRIPTED_ACTIONS:
            self._act(tx, _SCRIPTED_ACTIONS[code], None)
        elif code in _SCRIPTED_PIN_RESULTS:
            self._answered(tx, _SCRIPTED_PIN_RESULTS[code], code)
        elif code == "0":
            self._answered(tx, "correct PIN")
            self._pay(tx, forced=True)
        elif code in ("1", "4", "8"):
            self._answered(tx, "correct PIN")
            self._event(tx, "declined", _result_desc(code))
            self._finalize(tx, code)
        else:
            tx.status = "answered"
            self._event(tx, "scripted", f"ResultCode {code} set by the lab")
            self._finalize(tx, code)

    def _answered(self, tx: Transaction, detail: str, code: str | None = None) -> None:
        """The customer entered a PIN (``detail`` says how it went); a ``code`` ends the transaction."""
        tx.status = "answered"
        self._event(tx, "pin_entered", detail)
        if code is not None:
            self._finalize(tx, code)

    def _pin_entered(self, tx: Transaction, pin: str) -> None:
        sub = self._subscriber(tx.phone)
        limit = self.config.max_pin_attempts
        if sub.locked:
            self._answered(tx, "the PIN is locked after too many wrong attempts", "8006")
            return
        if not hmac.compare_digest(pin.encode(), sub.pin.reveal().encode()):
            sub.failed_pins += 1
            if sub.failed_pins >= limit:
                sub.locked = True
                self._answered(tx, f"wrong PIN ({sub.failed_pins} in a row): the PIN is now locked", "8006")
            else:
                self._answered(tx, f"wrong PIN ({sub.failed_pins} of {limit} before the PIN locks)", "2001")
            return
        sub.failed_pins = 0
        self._answered(tx, "correct PIN")
        self._pay(tx, forced=False)

    def _pay(self, tx: Transaction, *, forced: bool) -> None:
        now = self._step_at or self.config.clock()
        sub = self._subscriber(tx.phone)
        merchant = self.merchants.get(tx.business_short_code)
        if sub.daily_date != now.date():
            sub.daily_date, sub.daily_total = now.date(), 0.0
        if not forced:
            decline = None
            if tx.amount > sub.balance:
                decline = "1", f"balance {sub.balance:,.2f} is below the Amount {tx.amount:,}"
            elif sub.daily_total + tx.amount > sub.daily_limit:
                decline = "4", f"today's total {sub.daily_total:,.2f} + {tx.amount:,} is over the daily limit"
            elif merchant is not None and merchant.max_balance is not None and \
                    merchant.balance + tx.amount > merchant.max_balance:
                decline = "8", f"the merchant's balance would pass its limit of {merchant.max_balance:,.2f}"
            if decline:
                self._event(tx, "declined", decline[1])
                self._finalize(tx, decline[0])
                return
        sub.balance = max(0.0, sub.balance - tx.amount)
        sub.daily_total += tx.amount
        if merchant is not None:
            merchant.balance += tx.amount
        receipt = self.ids.receipt(now)
        while receipt in self.receipts:
            receipt = self.ids.receipt(now)
        self.receipts.add(receipt)
        tx.receipt, tx.transaction_date = receipt, now
        self._event(tx, "paid", f"debited {tx.phone}, credited {tx.business_short_code}; receipt {receipt}", now)
        self._finalize(tx, "0")

    def _finalize(self, tx: Transaction, code: str, desc: str | None = None) -> None:
        tx.final = True
        tx.status = "completed"
        tx.result_code = code
        # A scripted result may carry its own ResultDesc (set_next_result, the live-sandbox behaviour).
        scripted = tx.plan_desc if tx.plan_action == "script" and code == tx.plan_code else None
        tx.result_desc = desc or scripted or _result_desc(code)
        tx.completed_at = self._step_at or self.config.clock()
        self._event(tx, "completed", f"ResultCode {code}: {tx.result_desc}", tx.completed_at)
        if self.pending_by_phone.get(tx.phone) == tx.checkout_request_id:
            del self.pending_by_phone[tx.phone]
        sub = self.subscribers.get(tx.phone)
        if sub is not None and sub.open > 0:
            sub.open -= 1
        merchant = self.merchants.get(tx.business_short_code)
        body = callback_payload(tx, self.config, merchant.balance if merchant else None)
        self.deliverer.deliver(tx, body, self.faults.take(tx))
        self._changed.notify_all()

    def _record_attempt(self, tx: Transaction, url: str, *, status: int | None, error: str | None,
                        elapsed_ms: float | None, fault: str | None) -> None:
        with self.lock:
            attempt = CallbackAttempt(
                checkout_request_id=tx.checkout_request_id,
                attempt=len(tx.callback_attempts) + 1,
                at=self.config.clock(),
                url=url,
                status=status,
                error=error,
                elapsed_ms=elapsed_ms,
                fault=fault,
            )
            tx.callback_attempts.append(attempt)
            if tx.callbacks_due > 0:
                tx.callbacks_due -= 1
            if self.transactions.get(tx.checkout_request_id) is tx:
                self.attempts.append(attempt)
            if fault == "drop":
                self._event(tx, "callback_dropped", "an injected fault dropped the callback", attempt.at)
            elif attempt.delivered:
                self._event(tx, "callback_sent", f"HTTP {status}" + (f" ({fault})" if fault else ""), attempt.at)
            else:
                self._event(tx, "callback_failed", error or f"HTTP {status}", attempt.at)
            self._changed.notify_all()

    def _resume(self) -> None:
        """When the engine moves to a new loop, reschedule every unfinished transaction's next
        step (steps are idempotent: one scheduled twice acts once)."""
        cfg = self.config
        with self.lock:
            for tx in self.transactions.values():
                if tx.final:
                    continue
                if tx.status == "accepted":
                    self.engine.call_later(cfg.prompt_delay, self._prompt, tx)
                elif tx.status == "prompted" and tx.plan_action == "wait":
                    left = cfg.prompt_timeout
                    if tx.prompt_expires_at is not None:
                        left = max(0.0, (tx.prompt_expires_at - cfg.clock()).total_seconds())
                    self._wait(tx, left)
                elif tx.status == "prompted":
                    self.engine.call_later(cfg.answer_delay, self._customer_acts, tx)

    # ------------------------------------------------------------------ STK query

    def query(self, req: QueryRequest) -> dict[str, Any]:
        """POST /mpesa/stkpushquery/v1/query: the state of one CheckoutRequestID."""
        with self.lock:
            self._merchant_and_credentials(req.business_short_code, req.password, req.timestamp)
            tx = self.transactions.get(req.checkout_request_id)
            if tx is None or tx.business_short_code != req.business_short_code:
                raise bad_request("CheckoutRequestID")
            head = {
                "ResponseCode": "0",
                "ResponseDescription": QUERY_DESCRIPTION,
                "MerchantRequestID": tx.merchant_request_id,
                "CheckoutRequestID": tx.checkout_request_id,
            }
            if tx.final:
                return {**head, "ResultCode": str(tx.result_code), "ResultDesc": tx.result_desc}
            if self.config.pending_style == "error":
                # As observed live: this envelope's requestId is the CheckoutRequestID itself.
                raise DarajaError.named("transaction_being_processed", request_id=tx.checkout_request_id)
            pending = codes.by_name("still_processing")
            return {**head, "ResultCode": pending.code, "ResultDesc": pending.message}

    # ------------------------------------------------------------------ control functions

    def get(self, checkout_request_id: str) -> Transaction:
        tx = self.transactions.get(str(checkout_request_id))
        if tx is None:
            hint = ""
            if self.forgotten_transactions:
                hint = (f"; {self.forgotten_transactions} older settled transaction(s) were forgotten "
                        f"beyond max_transactions={self.config.max_transactions}")
            raise UnknownTransaction(
                f"no transaction {checkout_request_id!r}: use the CheckoutRequestID from a push's "
                f"answer (transactions() lists them){hint}"
            )
        return tx

    def answer(self, checkout_request_id: str, *, pin: str | int | None = None, cancel: bool = False,
               ignore: bool = False) -> dict[str, Any]:
        """The customer's answer: a PIN (none given: the right one), Cancel (1032), or no answer
        (1037). Wins over any other plan."""
        if sum([pin is not None, bool(cancel), bool(ignore)]) > 1:
            raise EmulatorError("answer takes one of pin='1234', cancel=True or ignore=True (or nothing: "
                                "the right PIN)")
        if pin is not None and (isinstance(pin, bool) or not isinstance(pin, (str, int))):
            raise EmulatorError(f"pin must be a string of digits such as '1234'; got {pin!r}")
        action: tuple[str, str | None] = (
            ("pin", str(pin)) if pin is not None
            else ("cancel", None) if cancel
            else ("ignore", None) if ignore
            else ("pay", None)
        )
        with self.lock:
            tx = self.get(checkout_request_id)
            if tx.final:
                raise EmulatorError(
                    f"transaction {tx.checkout_request_id} is already final (ResultCode {tx.result_code}): "
                    "push again for a new prompt"
                )
            what = {"pin": "PIN entered", "pay": "the right PIN entered", "cancel": "Cancel pressed",
                    "ignore": "prompt ignored"}[action[0]]
            if tx.status == "accepted":
                tx.queued_answer = action
                self._event(tx, "answer_queued", f"{what} before the prompt arrived")
            else:
                self._event(tx, "answered_by_lab", what)
                self._act(tx, *action)
            self._changed.notify_all()
            return tx.to_dict()

    def pending_prompts(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Prompts on phones waiting for the customer (interactive)."""
        with self.lock:
            out = []
            for tx in self.transactions.values():
                if tx.waiting_for_customer and (phone is None or tx.phone == str(phone)):
                    out.append(self._prompt_view(tx))
            return out

    @staticmethod
    def _prompt_view(tx: Transaction) -> dict[str, Any]:
        return {
            "checkout_request_id": tx.checkout_request_id,
            "phone": tx.phone,
            "prompt": tx.prompt,
            "amount": tx.amount,
            "business_short_code": tx.business_short_code,
            "account_reference": tx.account_reference,
            "prompted_at": tx.prompted_at.isoformat(timespec="milliseconds") if tx.prompted_at else None,
            "expires_at": tx.prompt_expires_at.isoformat(timespec="milliseconds")
            if tx.prompt_expires_at else None,
        }

    def wait_for_prompt(self, phone: str | None = None, timeout: float = 5.0) -> dict[str, Any] | None:
        """The first prompt waiting on ``phone`` (any phone: None), waiting up to ``timeout`` s for
        one to appear; None if none did. Woken by the prompt itself, so a push made a moment
        ago is seen as soon as its prompt is shown (no polling gap)."""
        with self.lock:
            found: list[dict[str, Any]] = []

            def ready() -> bool:
                if phone is None:
                    found[:] = self.pending_prompts()[:1]
                else:  # one phone: its pending transaction, without scanning them all
                    tx = self.transactions.get(self.pending_by_phone.get(str(phone), ""))
                    found[:] = [self._prompt_view(tx)] if tx is not None and tx.waiting_for_customer else []
                return bool(found)

            self._changed.wait_for(ready, max(0.0, timeout))
            return found[0] if found else None

    def set_profile(self, phone: str | int, profile: str) -> dict[str, Any]:
        """Change only how a subscriber behaves (PIN, balance and limits are kept); the number
        becomes a subscriber if it was not one. Returns the subscriber, PIN masked."""
        number = msisdn(str(phone))
        if number is None:
            raise EmulatorError(f"phone must be a Safaricom number like 2547XXXXXXXX; got {phone!r}")
        if profile not in PROFILES:
            raise EmulatorError(f"unknown profile {profile!r}; profiles are: {', '.join(PROFILES)}")
        with self.lock:
            sub = self._subscriber(number)
            previous, sub.profile = sub.profile, profile
            return {**sub.to_dict(), "previous_profile": previous}

    def set_next_result(self, code: str | int, phone: str | None = None,
                        result_desc: str | None = None) -> dict[str, Any]:
        """Script the ResultCode of the next push (to ``phone``, or to any phone), with its own
        ResultDesc if given (else the catalogue's wording)."""
        if result_desc is not None and (not isinstance(result_desc, str) or not result_desc.strip()):
            raise EmulatorError("result_desc must be non-empty text such as 'No response from user.'")
        text = codes.normalize_code(code)
        if not text or isinstance(code, bool):
            raise EmulatorError("code must be a ResultCode such as 0, 1032 or 'SFC_IC0003'")
        if text.upper().startswith("SFC_IC"):
            text = text.upper()
        target = None
        if phone is not None:
            target = msisdn(str(phone))
            if target is None:
                raise EmulatorError(f"phone must be like 2547XXXXXXXX; got {phone!r}")
        with self.lock:
            self.instructions.append((target, text, result_desc))
            return {"queued": [_instruction_view(p, c, d) for p, c, d in self.instructions]}

    def set_scenario(self, name: str | None = None, *, mix: dict[Any, float] | None = None,
                     interactive: bool | None = None) -> dict[str, Any]:
        """Choose a named mix (realistic, happy, flaky, declines) or give one; switch interactive mode."""
        changes: dict[str, Any] = {}
        if name is not None:
            if name not in SCENARIOS:
                raise EmulatorError(f"unknown scenario {name!r}; scenarios are: {', '.join(SCENARIOS)}")
            changes["mix"] = dict(SCENARIOS[name])
        if mix is not None:
            try:
                changes["mix"] = normalize_mix(mix)
            except ValueError as exc:
                raise EmulatorError(str(exc)) from None
        if interactive is not None:
            changes["interactive"] = interactive  # checked by the config: "false" is not False
        config = self.configure(**changes) if changes else self.config
        return {"mix": dict(config.mix), "interactive": config.interactive,
                "scenarios": {k: dict(v) for k, v in SCENARIOS.items()}}

    def transactions_list(self, phone: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [tx.to_dict() for tx in self.transactions.values() if phone is None or tx.phone == str(phone)]

    def callback_attempts(self, checkout_request_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            if checkout_request_id is not None:
                return [a.to_dict() for a in self.get(checkout_request_id).callback_attempts]
            return [a.to_dict() for a in self.attempts]

    def inject_callback_fault(self, kind: str, *, checkout_request_id: str | None = None, phone: str | None = None,
                              count: int | None = 1, seconds: float | None = None, copies: int = 2) -> dict[str, Any]:
        if checkout_request_id is not None:
            with self.lock:
                tx = self.get(checkout_request_id)
                if tx.final:
                    raise EmulatorError(
                        f"transaction {tx.checkout_request_id} is already final and its callback is on its way: "
                        "inject the fault before the customer answers (interactive mode), or by phone/globally"
                    )
        if phone is not None and msisdn(str(phone)) is None:
            raise EmulatorError(f"phone must be like 2547XXXXXXXX; got {phone!r}")
        try:
            fault = self.faults.add(kind, checkout_request_id=checkout_request_id,
                                    phone=None if phone is None else str(phone),
                                    count=count, seconds=seconds, copies=copies)
        except ValueError as exc:
            raise EmulatorError(str(exc)) from None
        return fault.to_dict()

    def wait_until_final(self, checkout_request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Block until the transaction has a final result (not its callback); TimeoutError otherwise."""
        with self.lock:
            tx = self.get(checkout_request_id)
            if not self._changed.wait_for(lambda: tx.final, timeout):
                raise TimeoutError(
                    f"transaction {tx.checkout_request_id} is still {tx.status} after {timeout} s"
                    + (" (interactive: it waits for answer())" if tx.waiting_for_customer else "")
                )
            return tx.to_dict()

    def wait_for_callbacks(self, checkout_request_id: str, count: int = 1,
                           timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until ``count`` callback attempts (sent, failed or dropped) are recorded."""
        with self.lock:
            tx = self.get(checkout_request_id)
            if not self._changed.wait_for(lambda: len(tx.callback_attempts) >= count, timeout):
                raise TimeoutError(
                    f"{len(tx.callback_attempts)} callback attempt(s) for {tx.checkout_request_id} "
                    f"after {timeout} s, wanted {count}"
                )
            return [a.to_dict() for a in tx.callback_attempts]

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "apps": [a.to_dict() for a in self.apps.values()],
                "merchants": [m.to_dict() for m in self.merchants.values()],
                "subscribers": len(self.subscribers),
                "transactions": len(self.transactions),
                "retention": {
                    "max_transactions": self.config.max_transactions,
                    "max_subscribers": self.config.max_subscribers,
                    "subscribers_made_on_the_fly": len(self.transient),
                    "forgotten_transactions": self.forgotten_transactions,
                    "forgotten_subscribers": self.forgotten_subscribers,
                },
                "pending": len(self.pending_by_phone),
                "instructions": [_instruction_view(p, c, d) for p, c, d in self.instructions],
                "callback_faults": [f.to_dict() for f in self.faults.list()],
                "injected_errors": [
                    {"errorCode": i.error.code, "errorMessage": i.error.message, "route": i.route,
                     "remaining": i.remaining}
                    for i in self.injected
                ],
            }

