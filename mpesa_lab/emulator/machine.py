"""The transaction state machine: prompt, answer, timeout, pay, finalize, and the callback.

Part of ``EmulatorState`` (see core.py). A transaction moves

    accepted -> prompted -> answered | cancelled | timed_out -> completed

(``TxStatus``), every step time-stamped in its timeline. Steps are run by the engine's timers
(or by ``answer``), always under the lock, and are idempotent: a step scheduled twice acts once.
The final result hands the stkCallback to the deliverer; every POST made is recorded here.
"""

from __future__ import annotations

import hmac
import random
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from mpesa_lab import codes
from mpesa_lab.emulator.delivery import callback_payload
from mpesa_lab.emulator.errors import EmulatorError, UnknownTransaction
from mpesa_lab.emulator.models import CallbackAttempt, Transaction, TxStatus
from mpesa_lab.emulator.registry import Registry
from mpesa_lab.emulator.scenarios import PRE_PROMPT_CODES
from mpesa_lab.emulator.timing import describe, draw_delay, draw_prompt_delay, outcome_of
from mpesa_lab.emulator.validation import msisdn

# The statuses as module constants: in Python 3.11 ``TxStatus.PROMPTED`` is a descriptor lookup
# (~150 ns), a global ~20 ns, and the push path reads them a dozen times per transaction.
ACCEPTED, PROMPTED, ANSWERED = TxStatus.ACCEPTED, TxStatus.PROMPTED, TxStatus.ANSWERED
CANCELLED, TIMED_OUT, COMPLETED = TxStatus.CANCELLED, TxStatus.TIMED_OUT, TxStatus.COMPLETED

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


@lru_cache(maxsize=256)
def _result_desc(code: str) -> str:
    entry = codes.result_entry(code)
    return entry.message if entry.known else "Unknown result code (set by the lab)"


def prompt_view(tx: Transaction) -> dict[str, Any]:
    """A prompt on a phone, as ``pending_prompts`` lists it."""
    return {
        "checkout_request_id": tx.checkout_request_id,
        "phone": tx.phone,
        "prompt": tx.prompt,
        "amount": tx.amount,
        "business_short_code": tx.business_short_code,
        "account_reference": tx.account_reference,
        "prompted_at": tx.prompted_at.isoformat(timespec="milliseconds") if tx.prompted_at else None,
        "expires_at": tx.prompt_expires_at.isoformat(timespec="milliseconds") if tx.prompt_expires_at else None,
        "time_scale": tx.time_scale,  # None: the quick lab (no timing model)
    }


class Machine(Registry):
    """Transactions, moved from their prompt to their result and callback."""

    def _fresh_machine(self) -> None:
        self.transactions: dict[str, Transaction] = {}
        self.pending_by_phone: dict[str, str] = {}
        self.attempts: list[CallbackAttempt] = []
        self.receipts: set[str] = set()
        self.forgotten_transactions = 0
        self.faults.clear()

    # ------------------------------------------------------------------ the steps

    def _live(self, tx: Transaction) -> bool:
        return not tx.final and self.transactions.get(tx.checkout_request_id) is tx

    def _event(self, tx: Transaction, name: str, detail: str = "", at: datetime | None = None) -> None:
        tx.timeline.append((at or self._step_at or self.config.clock(), name, detail))

    def _plan_timing(self, tx: Transaction, scale: float, rng: random.Random) -> float:
        """Draw the transaction's real-world delays from the timing model (emulator/timing.py);
        return the seconds until its first step (the prompt, or a refusal) at ``scale``."""
        profile = "live_sandbox_2026" if self.config.behaviour == "live_sandbox_2026" else "teaching"
        code = tx.rejection or outcome_of(tx.plan_action, tx.plan_code)
        prompt = draw_prompt_delay(rng)
        result = None if code is None else draw_delay(code, rng, profile=profile)
        pre_prompt = (
            tx.rejection is not None
            or tx.plan_action == "unreachable"
            or (tx.plan_action == "script" and tx.plan_code in PRE_PROMPT_CODES)
        )
        if result is not None:
            prompt = result if pre_prompt else min(prompt, result)
        tx.time_scale, tx.real_prompt_s, tx.real_result_s = scale, prompt, result
        return prompt * scale

    def _answer_delay(self, tx: Transaction) -> float:
        """Seconds from the prompt to the customer's act: the model's, scaled, or answer_delay."""
        if tx.time_scale is None or tx.real_result_s is None or tx.real_prompt_s is None:
            return self.config.answer_delay
        return max(0.0, tx.real_result_s - tx.real_prompt_s) * tx.time_scale

    def _prompt(self, tx: Transaction) -> None:
        cfg = self.config
        with self.lock:
            if not self._live(tx) or tx.status is not ACCEPTED:
                return
            if tx.rejection:
                self._event(tx, "rejected", tx.rejection_reason)
                # The legacy 1101 refusal's reason is its own ResultDesc (no catalogue text).
                self._finalize(tx, tx.rejection, tx.rejection_reason if tx.rejection == "1101" else None)
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
            tx.status = PROMPTED
            tx.prompted_at = now
            self._event(tx, "prompted", tx.prompt, now)
            if queued is not None:
                tx.queued_answer = None
                self._act(tx, *queued)
            elif tx.plan_action == "wait":
                self._wait(tx, cfg.prompt_timeout)
            else:
                self.engine.call_later(self._answer_delay(tx), self._customer_acts, tx)
            self._changed.notify_all()

    def _wait(self, tx: Transaction, seconds: float) -> None:
        tx.wait_generation += 1
        tx.prompt_expires_at = self.config.clock() + timedelta(seconds=seconds)
        self.engine.call_later(seconds, self._timeout, tx, tx.wait_generation)

    def _customer_acts(self, tx: Transaction) -> None:
        with self.lock:
            if self._live(tx) and tx.status is PROMPTED and tx.plan_action != "wait":
                # One instant for the whole step (PIN, debit, result): one clock read, not three.
                self._step_at = self.config.clock()
                try:
                    self._act(tx, tx.plan_action, None)
                finally:
                    self._step_at = None

    def _timeout(self, tx: Transaction, generation: int) -> None:
        with self.lock:
            if self._live(tx) and tx.status is PROMPTED and tx.wait_generation == generation:
                tx.status = TIMED_OUT
                waited = f"{self.config.prompt_timeout:g} s"
                if tx.time_scale:
                    waited += f" (real world: {describe(self.config.prompt_timeout / tx.time_scale)})"
                self._event(tx, "timed_out", f"no answer within {waited}")
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
            tx.status = CANCELLED
            self._event(tx, "cancelled", "the customer pressed Cancel")
            self._finalize(tx, "1032")
        elif action in ("ignore", "unreachable"):
            tx.status = TIMED_OUT
            self._event(tx, "timed_out", "the customer did not answer the prompt")
            self._finalize(tx, "1037")
        elif action == "late":
            tx.status = ANSWERED
            self._event(tx, "answered_late", "the PIN arrived after the transaction had expired")
            self._finalize(tx, "1019")

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
            tx.status = ANSWERED
            self._event(tx, "scripted", f"ResultCode {code} set by the lab")
            self._finalize(tx, code)

    def _answered(self, tx: Transaction, detail: str, code: str | None = None) -> None:
        """The customer entered a PIN (``detail`` says how it went); a ``code`` ends the transaction."""
        tx.status = ANSWERED
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
            elif (
                merchant is not None
                and merchant.max_balance is not None
                and merchant.balance + tx.amount > merchant.max_balance
            ):
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
        tx.status = COMPLETED
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

    def _record_attempt(
        self,
        tx: Transaction,
        url: str,
        *,
        status: int | None,
        error: str | None,
        elapsed_ms: float | None,
        fault: str | None,
    ) -> None:
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
                if tx.status is ACCEPTED:
                    first = cfg.prompt_delay
                    if tx.time_scale is not None and tx.real_prompt_s is not None:
                        first = tx.real_prompt_s * tx.time_scale
                    self.engine.call_later(first, self._prompt, tx)
                elif tx.status is PROMPTED and tx.plan_action == "wait":
                    left = cfg.prompt_timeout
                    if tx.prompt_expires_at is not None:
                        left = max(0.0, (tx.prompt_expires_at - cfg.clock()).total_seconds())
                    self._wait(tx, left)
                elif tx.status is PROMPTED:
                    self.engine.call_later(self._answer_delay(tx), self._customer_acts, tx)

    # ------------------------------------------------------------------ the customer, from outside

    def get(self, checkout_request_id: str) -> Transaction:
        tx = self.transactions.get(str(checkout_request_id))
        if tx is None:
            hint = ""
            if self.forgotten_transactions:
                hint = (
                    f"; {self.forgotten_transactions} older settled transaction(s) were forgotten "
                    f"beyond max_transactions={self.config.max_transactions}"
                )
            raise UnknownTransaction(
                f"no transaction {checkout_request_id!r}: use the CheckoutRequestID from a push's "
                f"answer (transactions() lists them){hint}"
            )
        return tx

    def answer(
        self, checkout_request_id: str, *, pin: str | int | None = None, cancel: bool = False, ignore: bool = False
    ) -> dict[str, Any]:
        """The customer's answer: a PIN (none given: the right one), Cancel (1032), or no answer
        (1037). Wins over any other plan."""
        if sum([pin is not None, bool(cancel), bool(ignore)]) > 1:
            raise EmulatorError(
                "answer takes one of pin='1234', cancel=True or ignore=True (or nothing: the right PIN)"
            )
        if pin is not None and (isinstance(pin, bool) or not isinstance(pin, (str, int))):
            raise EmulatorError(f"pin must be a string of digits such as '1234'; got {pin!r}")
        action: tuple[str, str | None] = (
            ("pin", str(pin))
            if pin is not None
            else ("cancel", None)
            if cancel
            else ("ignore", None)
            if ignore
            else ("pay", None)
        )
        with self.lock:
            tx = self.get(checkout_request_id)
            if tx.final:
                raise EmulatorError(
                    f"transaction {tx.checkout_request_id} is already final (ResultCode {tx.result_code}): "
                    "push again for a new prompt"
                )
            what = {
                "pin": "PIN entered",
                "pay": "the right PIN entered",
                "cancel": "Cancel pressed",
                "ignore": "prompt ignored",
            }[action[0]]
            if tx.status is ACCEPTED:
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
                    out.append(prompt_view(tx))
            return out

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
                    found[:] = [prompt_view(tx)] if tx is not None and tx.waiting_for_customer else []
                return bool(found)

            self._changed.wait_for(ready, max(0.0, timeout))
            return found[0] if found else None

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

    def wait_for_callbacks(
        self, checkout_request_id: str, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until ``count`` callback attempts (sent, failed or dropped) are recorded."""
        with self.lock:
            tx = self.get(checkout_request_id)
            if not self._changed.wait_for(lambda: len(tx.callback_attempts) >= count, timeout):
                raise TimeoutError(
                    f"{len(tx.callback_attempts)} callback attempt(s) for {tx.checkout_request_id} "
                    f"after {timeout} s, wanted {count}"
                )
            return [a.to_dict() for a in tx.callback_attempts]

    def inject_callback_fault(
        self,
        kind: str,
        *,
        checkout_request_id: str | None = None,
        phone: str | None = None,
        count: int | None = 1,
        seconds: float | None = None,
        copies: int = 2,
    ) -> dict[str, Any]:
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
            fault = self.faults.add(
                kind,
                checkout_request_id=checkout_request_id,
                phone=None if phone is None else str(phone),
                count=count,
                seconds=seconds,
                copies=copies,
            )
        except ValueError as exc:
            raise EmulatorError(str(exc)) from None
        return fault.to_dict()

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
        doomed: list[str] = []
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
