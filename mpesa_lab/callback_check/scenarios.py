"""The scenarios: what Daraja (or someone pretending to be Daraja) may post, and what a careful
endpoint does with it. Each is a function of a :class:`Run` returning one ScenarioResult."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mpesa_lab.callback_check.bodies import UNKNOWN_CODE, Callback, Order, new_order
from mpesa_lab.callback_check.report import ScenarioResult
from mpesa_lab.callback_check.run import Delivery, Run, refusal_fix

NO_READBACK = "give --readback (or a hook) so check-callback can read what the endpoint recorded"
STORE_FIRST = (
    "store the callback (commit it) before you answer 200; if the write fails, answer 500: an "
    "acknowledged callback is never sent again"
)
FULFIL_ONCE = "make the handler idempotent by CheckoutRequestID: a second delivery of a final result changes nothing"


def _unacknowledged(name: str, deliveries: list[Delivery], crash_fix: str) -> ScenarioResult | None:
    """A failing result if any POST was not acknowledged with a 2xx, else None."""
    for d in deliveries:
        if not d.acknowledged:
            return ScenarioResult(
                name, "fail", f"not acknowledged: {d.describe()}", refusal_fix(d, crash_fix), d.seconds
            )
    return None


def _answers(deliveries: list[Delivery]) -> str:
    return ", ".join(d.describe() for d in deliveries)


def _record(run: Run, name: str, order: Order) -> tuple[dict[str, Any] | None, ScenarioResult | None]:
    """The endpoint's record of an order it was told about; a result instead when there is none."""
    record = run.lookup(order)
    if isinstance(record, str):
        return None, ScenarioResult(
            name,
            "not verified",
            f"acknowledged, but {record}",
            "answer the read-back protocol (docs/callback-check.md)",
        )
    if record is None:
        return None, ScenarioResult(
            name,
            "fail",
            f"the read-back has no order {order.checkout_request_id}, though it was set up before the callback",
            "keep every push's CheckoutRequestID with its order, and find the order by it when the callback comes",
        )
    return record, None


def _fulfilled(record: dict[str, Any]) -> int | None:
    value = record.get("fulfilled")
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, int) else None


def _paid_like(run: Run, name: str, callback: Callback, crash_fix: str, *, times: int = 1) -> ScenarioResult:
    """Post a genuine paid callback (``times`` times) for an order the endpoint made: it must
    acknowledge, have recorded "paid" by the time it answered, and fulfil the order exactly once."""
    run.register(callback.order)
    body = callback.body()
    deliveries = [run.post(callback, body) for _ in range(times)]
    slowest = max(d.seconds for d in deliveries)
    if refused := _unacknowledged(name, deliveries, crash_fix):
        return refused
    if run.readback is None:
        return ScenarioResult(
            name,
            "pass" if times == 1 else "not verified",
            f"acknowledged ({_answers(deliveries)}); what it recorded: not verified",
            "" if times == 1 else NO_READBACK,
            slowest,
        )
    record, problem = _record(run, name, callback.order)
    if problem:
        return problem
    assert record is not None
    status = str(record.get("status"))
    if status == "pending":
        return ScenarioResult(
            name,
            "fail",
            "acknowledged, but when it answered nothing was recorded (status still pending)",
            STORE_FIRST,
            slowest,
        )
    if status != "paid":
        return ScenarioResult(name, "fail", f"recorded status {status!r} for a paid callback", crash_fix, slowest)
    fulfilled = _fulfilled(record)
    if fulfilled is None:
        return ScenarioResult(
            name, "not verified", 'recorded paid; the read-back gives no "fulfilled" count', NO_READBACK, slowest
        )
    if fulfilled != 1:
        fix = FULFIL_ONCE if fulfilled > 1 else "fulfil an order whose paid callback matches it (amount, phone)"
        return ScenarioResult(
            name, "fail", f"recorded paid, fulfilled {fulfilled} times after {times} deliveries", fix, slowest
        )
    return ScenarioResult(
        name, "pass", f"acknowledged ({_answers(deliveries)}), recorded paid, fulfilled once", "", slowest
    )


def paid(run: Run) -> ScenarioResult:
    return _paid_like(
        run, "paid", Callback(new_order()), "read the paid callback as Daraja sends it (see docs/daraja.md)"
    )


def duplicate(run: Run) -> ScenarioResult:
    return _paid_like(run, "duplicate", Callback(new_order()), FULFIL_ONCE, times=2)


def text_result_code(run: Run) -> ScenarioResult:
    return _paid_like(
        run,
        "text_result_code",
        Callback(new_order(), result_code="0"),
        'compare the ResultCode as text: str(code).strip() == "0" (it comes as 0 or "0")',
    )


def balance_without_value(run: Run) -> ScenarioResult:
    return _paid_like(
        run,
        "balance_without_value",
        Callback(new_order(), balance="empty"),
        'read items with item.get("Value"): Balance often comes as {"Name": "Balance"} with no Value',
    )


def unknown_fields(run: Run) -> ScenarioResult:
    callback = Callback(
        new_order(),
        extra_fields={"ResultCodeDetails": {"source": "mpesa-lab check-callback"}},
    )
    # a new item first, as well as a new field: position-based reading (items[0] is the Amount) breaks
    body = callback.as_dict()
    body["Body"]["stkCallback"]["CallbackMetadata"]["Item"].insert(0, {"Name": "TransactionFee", "Value": 0})
    run.register(callback.order)
    delivery = run.post(callback, json.dumps(body).encode("ascii"))
    fix = "ignore fields you do not know and find items by Name, never by position"
    if refused := _unacknowledged("unknown_fields", [delivery], fix):
        return refused
    return _check_record(run, "unknown_fields", callback.order, delivery, expect="paid", fix=fix)


def _check_record(run: Run, name: str, order: Order, delivery: Delivery, *, expect: str, fix: str) -> ScenarioResult:
    """After an acknowledged delivery: the record must say ``expect`` ("paid", or "final": any
    final status but paid) and the order fulfilled only when paid."""
    if run.readback is None:
        return ScenarioResult(
            name, "pass", f"acknowledged ({delivery.describe()}); what it recorded: not verified", "", delivery.seconds
        )
    record, problem = _record(run, name, order)
    if problem:
        return problem
    assert record is not None
    status = str(record.get("status"))
    fulfilled = _fulfilled(record)
    if status == "pending":
        return ScenarioResult(
            name,
            "fail",
            "acknowledged, but nothing recorded when it answered (status pending)",
            STORE_FIRST,
            delivery.seconds,
        )
    if expect == "paid":
        if status != "paid":
            return ScenarioResult(name, "fail", f"recorded {status!r} for a paid callback", fix, delivery.seconds)
        if fulfilled is not None and fulfilled != 1:
            return ScenarioResult(
                name, "fail", f"recorded paid, fulfilled {fulfilled} times", FULFIL_ONCE, delivery.seconds
            )
    else:
        if status == "paid" or (fulfilled or 0) > 0:
            return ScenarioResult(
                name,
                "fail",
                f"recorded {status!r}, fulfilled {fulfilled} times, for a result that is not a payment",
                'only ResultCode 0 is a payment: every other code (known or not) is "not paid"',
                delivery.seconds,
            )
    return ScenarioResult(
        name, "pass", f"acknowledged ({delivery.describe()}), recorded {status!r}", "", delivery.seconds
    )


def _failures(name: str, codes: tuple[int, ...], crash_fix: str) -> Callable[[Run], ScenarioResult]:
    def scenario(run: Run) -> ScenarioResult:
        results = []
        for code in codes:
            order = new_order()
            run.register(order)
            delivery = run.post(Callback(order, result_code=code))
            if refused := _unacknowledged(name, [delivery], crash_fix):
                return ScenarioResult(
                    name, "fail", f"ResultCode {code}: {refused.detail}", refused.fix, delivery.seconds
                )
            result = _check_record(run, name, order, delivery, expect="final", fix=crash_fix)
            if result.verdict != "pass":
                return ScenarioResult(
                    name, result.verdict, f"ResultCode {code}: {result.detail}", result.fix, result.seconds
                )
            results.append(f"{code}: {delivery.describe()}")
        tail = ", recorded as not paid" if run.readback is not None else "; what it recorded: not verified"
        return ScenarioResult(name, "pass", "acknowledged " + "; ".join(results) + tail, "")

    scenario.__name__ = name
    return scenario


NO_METADATA = "a failed callback has no CallbackMetadata: read it with .get() and record the failure"
cancelled = _failures("cancelled", (1032,), NO_METADATA)
no_answer = _failures(
    "no_answer", (1037, 1019, 1036), "treat 1037, 1019 and 1036 alike (no answer from the phone): not paid, final"
)
wrong_pin = _failures("wrong_pin", (2001,), NO_METADATA)
insufficient_funds = _failures("insufficient_funds", (1,), NO_METADATA)


def unknown_code(run: Run) -> ScenarioResult:
    order = new_order()
    run.register(order)
    delivery = run.post(Callback(order, result_code=UNKNOWN_CODE))
    fix = "keep the raw callback and record any code you do not know as not paid (never a KeyError, never a 500)"
    if refused := _unacknowledged("unknown_code", [delivery], fix):
        return ScenarioResult(
            "unknown_code", "fail", f"ResultCode {UNKNOWN_CODE}: {refused.detail}", refused.fix, delivery.seconds
        )
    return _check_record(run, "unknown_code", order, delivery, expect="final", fix=fix)


def amount_differs(run: Run) -> ScenarioResult:
    """A paid callback whose Amount is not the order's: record it, never fulfil it."""
    order = new_order(amount=100)
    run.register(order)
    delivery = run.post(Callback(order, amount=1))
    fix = "compare the paid Amount (and PhoneNumber) with the order before fulfilling; flag a mismatch for review"
    if refused := _unacknowledged("amount_differs", [delivery], fix):
        return refused
    if run.readback is None:
        return ScenarioResult(
            "amount_differs",
            "not verified",
            f"acknowledged ({delivery.describe()}); whether it fulfilled KES 1 for a KES 100 order: not verified",
            NO_READBACK,
        )
    record, problem = _record(run, "amount_differs", order)
    if problem:
        return problem
    assert record is not None
    fulfilled = _fulfilled(record)
    if fulfilled is None:
        return ScenarioResult("amount_differs", "not verified", 'the read-back gives no "fulfilled" count', NO_READBACK)
    if fulfilled:
        return ScenarioResult(
            "amount_differs", "fail", "fulfilled a KES 100 order paid with KES 1", fix, delivery.seconds
        )
    if record.get("status") == "pending":
        return ScenarioResult(
            "amount_differs", "fail", "nothing recorded when it answered (status pending)", STORE_FIRST
        )
    return ScenarioResult(
        "amount_differs", "pass", f"KES 1 for a KES 100 order: recorded {record.get('status')!r}, not fulfilled", ""
    )


def forged(run: Run) -> ScenarioResult:
    """A "paid" callback for a push the endpoint never made (callbacks are unsigned: anyone who
    finds the URL can post one). Any answer will do; fulfilling is the failure."""
    order = new_order(amount=5000)  # never registered
    delivery = run.post(Callback(order))
    fix = (
        "fulfil only orders you pushed (known CheckoutRequestID) whose amount and phone match, and confirm "
        "with an STK query before fulfilling; a source-IP allow-list helps but is no guarantee"
    )
    if run.readback is None:
        return ScenarioResult(
            "forged",
            "not verified",
            f"answered {delivery.describe()}; whether it fulfilled the forged payment: not verified",
            NO_READBACK,
        )
    record = run.lookup(order)
    if isinstance(record, str):
        return ScenarioResult(
            "forged", "not verified", record, "answer the read-back protocol (docs/callback-check.md)"
        )
    if record is not None and ((_fulfilled(record) or 0) > 0 or record.get("status") == "paid"):
        return ScenarioResult(
            "forged", "fail", "a paid callback for a push it never made was taken as a payment", fix, delivery.seconds
        )
    return ScenarioResult(
        "forged",
        "pass",
        f"answered {delivery.describe()}, fulfilled nothing. Not checked from here: a forgery copying a real pending "
        "order's ID, amount and phone (confirm with an STK query before fulfilling)",
        "",
        delivery.seconds,
    )


def answer_time(run: Run) -> ScenarioResult:
    """The slowest answer of the run (this scenario's paid callback included) within the budget."""
    order = new_order()
    run.register(order)
    delivery = run.post(Callback(order))
    slowest = max(run.slowest, delivery.seconds)
    fix = "answer at once: store the callback, answer 200, then do slow work (email, fulfilment, queries) in a background task or queue"
    if not delivery.acknowledged and delivery.status is not None:
        return ScenarioResult(
            "answer_time",
            "fail",
            f"not acknowledged: {delivery.describe()}",
            refusal_fix(delivery, fix),
            delivery.seconds,
        )
    if slowest > run.budget_s:
        return ScenarioResult(
            "answer_time", "fail", f"slowest answer {slowest:.2f} s, over the {run.budget_s:g} s budget", fix, slowest
        )
    return ScenarioResult(
        "answer_time", "pass", f"slowest answer {slowest:.2f} s (budget {run.budget_s:g} s)", "", slowest
    )


SCENARIOS: dict[str, Callable[[Run], ScenarioResult]] = {
    "paid": paid,
    "cancelled": cancelled,
    "no_answer": no_answer,
    "wrong_pin": wrong_pin,
    "insufficient_funds": insufficient_funds,
    "duplicate": duplicate,
    "text_result_code": text_result_code,
    "balance_without_value": balance_without_value,
    "amount_differs": amount_differs,
    "unknown_fields": unknown_fields,
    "unknown_code": unknown_code,
    "forged": forged,
    "answer_time": answer_time,
}

DESCRIPTIONS: dict[str, str] = {
    "paid": "a paid callback (ResultCode 0) for an order the endpoint made: acknowledged, stored before the answer, fulfilled once",
    "cancelled": "1032, the customer cancelled: acknowledged, recorded as not paid",
    "no_answer": "1037, 1019 and 1036 (no answer from the phone): all acknowledged, all not paid",
    "wrong_pin": "2001, wrong PIN: acknowledged, not paid",
    "insufficient_funds": "1, insufficient funds: acknowledged, not paid",
    "duplicate": "the same paid callback twice: fulfilled once",
    "text_result_code": 'ResultCode "0" as text: still a payment',
    "balance_without_value": "a Balance item with no Value: still a payment, no crash",
    "amount_differs": "KES 1 paid for a KES 100 order: recorded, not fulfilled",
    "unknown_fields": "new fields and a new item first: ignored, still a payment",
    "unknown_code": f"an unknown ResultCode ({UNKNOWN_CODE}): acknowledged, not paid",
    "forged": "a paid callback for a push the endpoint never made: not fulfilled",
    "answer_time": "every answer within the budget",
}
