"""Intake: an STK push becomes a transaction (or is refused), and the STK query reads one.

Part of ``EmulatorState`` (see core.py). A push's checks beyond its fields (merchant, password,
magic error phones, the subscriber lock), the customer's plan (scenarios.decide: instruction >
magic number > profile > seeded mix), the real conditions that fail it before the prompt
(rule 17, limits, wrong PartyB), then the new transaction is handed to the machine.
"""

from __future__ import annotations

import hmac
import random
import zlib
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from mpesa_lab import codes
from mpesa_lab.constants import MAX_AMOUNT, MIN_AMOUNT
from mpesa_lab.emulator.config import duplicate_rule_applies, effective_pending_style, effective_time_scale
from mpesa_lab.emulator.errors import EmulatorError, EnvelopeError, bad_request
from mpesa_lab.emulator.machine import Machine
from mpesa_lab.emulator.models import Merchant, Subscriber, Transaction
from mpesa_lab.emulator.scenarios import ERROR_PHONES, Plan, decide
from mpesa_lab.emulator.validation import PushRequest, QueryRequest, msisdn
from mpesa_lab.password import build_password, check_password

# The live query answer spells it this way.
QUERY_DESCRIPTION = "The service request has been accepted successsfully"


@lru_cache(maxsize=512)
def _expected_password(shortcode_: str, passkey: str, timestamp: str) -> bytes:
    # Clients reuse one Timestamp for many pushes (the bench, a retry loop): build it once.
    return build_password(shortcode_, passkey, timestamp).encode()


def prompt_prefix(merchant: Merchant, req: PushRequest) -> str:
    """The prompt message prefix the legacy 1101 refusal measured: the merchant's name and the
    AccountReference as the prompt shows them (the reported fix was a shorter account name)."""
    return f"{merchant.name} Account no. {req.account_reference}"


def instruction_view(phone: str | None, code: str, desc: str | None) -> dict[str, Any]:
    """A scripted result waiting for its push, as the control API lists it."""
    view: dict[str, Any] = {"phone": phone, "code": code}
    if desc is not None:
        view["result_desc"] = desc
    return view


class Intake(Machine):
    """STK pushes in, STK queries answered."""

    def _fresh_intake(self) -> None:
        # (phone or None for any, ResultCode, ResultDesc or None for the catalogue's)
        self.instructions: list[tuple[str | None, str, str | None]] = []
        # phone -> ((time, amount), ...): tuples, which the garbage collector need not track
        self.recent_pushes = {}

    # ------------------------------------------------------------------ STK push

    def _merchant_and_credentials(self, code: str, password: Any, timestamp: str) -> Merchant:
        merchant = self.merchants.get(code)
        if merchant is None:
            raise EnvelopeError.named("merchant_does_not_exist")
        if not isinstance(password, str) or not password:
            raise EnvelopeError.named("wrong_credentials")
        # base64 is canonical, so the expected string matches a right password exactly; only a
        # mismatch pays for decoding (which also forgives stray whitespace, as a decoder would).
        expected = _expected_password(merchant.shortcode, merchant.passkey.reveal(), timestamp)
        if (
            not hmac.compare_digest(password.encode(), expected)
            and not check_password(password, merchant.shortcode, merchant.passkey, timestamp).ok
        ):
            raise EnvelopeError.named("wrong_credentials")
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

    def _real_rejection(
        self, req: PushRequest, merchant: Merchant, sub: Subscriber, prompt: str, now: datetime
    ) -> tuple[str, str] | None:
        if req.transaction_type != merchant.transaction_type:
            return "2028", (
                f"{req.transaction_type} is not permitted for {merchant.kind} {merchant.shortcode}: "
                f"use {merchant.transaction_type}"
            )
        if req.party_b != merchant.party_b:
            return "SFC_IC0003", (
                f"PartyB {req.party_b} is not an operator of {merchant.shortcode}: use {merchant.party_b}"
            )
        if req.amount < MIN_AMOUNT:
            return "2", f"Amount {req.amount} is below the minimum of {MIN_AMOUNT}"
        limit = min(float(MAX_AMOUNT), sub.max_transaction)
        if req.amount > limit:
            return "3", f"Amount {req.amount} is above the maximum of {limit:,.0f} per transaction"
        if duplicate_rule_applies(self.config) and self._duplicate(req.phone, req.amount, now):
            return "17", (
                f"the same Amount ({req.amount}) was pushed to {req.phone} less than "
                f"{self.config.duplicate_window:.0f} s ago"
            )
        prefix_limit = self.config.legacy_prompt_prefix_limit
        if prefix_limit is not None and len(prompt_prefix(merchant, req)) > prefix_limit:
            # As captured in 2019 (docs/emulator.md): this text is the callback's ResultDesc.
            return "1101", (
                f"[STK_CB - ]Invalid Input parameter 'Prompt message prefix', length should be less than "
                f"{prefix_limit} characters"
            )
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
                raise EnvelopeError.named(error_name)
            if cfg.enforce_subscriber_lock and req.phone in self.pending_by_phone:
                raise EnvelopeError.named("subscriber_locked")
            now = cfg.clock()
            sub = self._subscriber(req.phone, now)
            if not sub.registered:
                # most recently pushed last: retention forgets from the front
                self.transient[req.phone] = self.transient.pop(req.phone, None)
            # One generator per transaction, seeded by (seed, phone, n-th push of that phone): the
            # outcome does not depend on how pushes to different phones interleave.
            seed = cfg.seed
            assert seed is not None  # validate() draws one when the config is made
            draw_key = f"{seed}|{req.phone}|{sub.pushes}"
            rng = random.Random(zlib.crc32(draw_key.encode()) ^ (seed << 32))
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
            first_step = cfg.prompt_delay
            scale = effective_time_scale(cfg)
            if scale is not None:  # its own generator: timing never changes the seeded outcomes
                first_step = self._plan_timing(tx, scale, random.Random(zlib.crc32(f"{draw_key}|t".encode()) ^ seed))
            self.transactions[checkout] = tx
            self.pending_by_phone[req.phone] = checkout
            sub.open += 1
            if cfg.max_transactions is not None and len(self.transactions) > cfg.max_transactions:
                self._forget_transactions(cfg.max_transactions)
            if cfg.max_subscribers is not None and len(self.transient) > cfg.max_subscribers:
                self._forget_subscribers(cfg.max_subscribers)
        self.engine.call_later(first_step, self._prompt, tx)
        return tx

    def set_next_result(
        self, code: str | int, phone: str | None = None, result_desc: str | None = None
    ) -> dict[str, Any]:
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
            return {"queued": [instruction_view(p, c, d) for p, c, d in self.instructions]}

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
            if effective_pending_style(self.config) == "error":
                # As observed live: this envelope's requestId is the CheckoutRequestID itself.
                raise EnvelopeError.named("transaction_being_processed", request_id=tx.checkout_request_id)
            pending = codes.by_name("still_processing")
            return {**head, "ResultCode": pending.code, "ResultDesc": pending.message}
