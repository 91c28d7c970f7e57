"""Checks for notebook 10, your own callback endpoint: reading a callback, settling an order once,
the endpoint itself (check-callback plus a database that fails), the polling fallback."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from mpesa_lab.callback_check.bodies import UNKNOWN_CODE, Callback, new_order
from mpesa_lab.course.checks._shared import todo, type_name, unanswered, verdict
from mpesa_lab.course.verdict import Verdict
from mpesa_lab.daraja.results import StkQueryResult, read_query_answer


def _failure(what: str, exc: BaseException) -> str:
    return f"{what}: it raised {type(exc).__name__}: {exc}"


def callback_reader(read: Any) -> Verdict:
    """``read(body) -> {"checkout_request_id", "result_code", "amount", "phone", "receipt"}`` on the
    bodies Daraja really sends (text codes, Balance without Value, new items, failures)."""
    name = "Reading a callback"
    if unanswered(read):
        return todo(name, "Write read(body) returning the five fields, with .get() for anything that may be missing.")
    if not callable(read):
        return verdict(name, [f"read should be a function of the body, got {type_name(read)}"])
    order = new_order(amount=10, phone="254708374149")
    with_new_item = Callback(order).as_dict()
    with_new_item["Body"]["stkCallback"]["CallbackMetadata"]["Item"].insert(0, {"Name": "TransactionFee", "Value": 0})
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("a paid callback", Callback(order, receipt="TST0000001").as_dict(), {"result_code": "0", "amount": 10}),
        ('ResultCode "0" as text', Callback(order, result_code="0").as_dict(), {"result_code": "0"}),
        ("Balance with no Value", Callback(order, balance="empty").as_dict(), {"result_code": "0", "amount": 10}),
        ("a new item before Amount", with_new_item, {"amount": 10}),
        (
            "a cancelled callback (no CallbackMetadata)",
            Callback(order, result_code=1032).as_dict(),
            {"result_code": "1032", "amount": None},
        ),
        (
            f"an unknown code ({UNKNOWN_CODE})",
            Callback(order, result_code=UNKNOWN_CODE).as_dict(),
            {"result_code": str(UNKNOWN_CODE)},
        ),
    ]
    problems = []
    for what, body, expected in cases:
        try:
            fields = read(copy.deepcopy(body))
        except Exception as exc:  # a learner's code: any crash is the finding
            hint = {
                "Balance with no Value": ' (read items with item.get("Value"))',
                "a cancelled callback (no CallbackMetadata)": " (a failed callback has no CallbackMetadata: .get() it)",
            }.get(what, "")
            problems.append(_failure(what, exc) + hint)
            continue
        if not isinstance(fields, dict):
            problems.append(f"{what}: read should return a dict, got {type_name(fields)}")
            break
        if fields.get("checkout_request_id") != order.checkout_request_id:
            problems.append(f"{what}: checkout_request_id should be the callback's CheckoutRequestID")
        for key, value in expected.items():
            got = fields.get(key)
            if key == "result_code" and got != value:
                kind = "text" if isinstance(got, str) else type_name(got)
                problems.append(
                    f"{what}: result_code should be the text {value!r}, got {got!r} ({kind}): str(code).strip()"
                )
            elif key == "amount" and got != value and not (value is not None and _number(got) == value):
                where = " (find items by Name, not by position)" if what.startswith("a new item") else ""
                problems.append(f"{what}: amount should be {value!r}, got {got!r}{where}")
        if what == "a paid callback":
            if str(fields.get("phone")) != order.phone:
                problems.append(
                    f"{what}: phone should be {order.phone!r} (PhoneNumber, as text), got {fields.get('phone')!r}"
                )
            if fields.get("receipt") != "TST0000001":
                problems.append(f"{what}: receipt should be the MpesaReceiptNumber, got {fields.get('receipt')!r}")
    return verdict(name, problems, "Daraja's odd bodies are all read: text codes, missing values, new fields.")


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def order_settler(settle_order: Any) -> Verdict:
    """``settle_order(order, fields)`` applies one read callback to its order, once, and fulfils
    only a payment that matches the order."""
    name = "Settling an order"
    if unanswered(settle_order):
        return todo(name, "Write settle_order(order, fields): pending orders only; paid and matching -> fulfil.")
    if not callable(settle_order):
        return verdict(name, [f"settle_order should be a function, got {type_name(settle_order)}"])

    def pending() -> dict[str, Any]:
        return {"status": "pending", "amount": 100, "phone": "254708374149", "fulfilled": 0}

    def fields(code: str = "0", amount: Any = 100, phone: str = "254708374149") -> dict[str, Any]:
        return {
            "checkout_request_id": "ws_CO_X",
            "result_code": code,
            "amount": amount,
            "phone": phone,
            "receipt": "TST1",
        }

    problems = []

    def run(what: str, order: dict[str, Any], *callbacks: dict[str, Any]) -> dict[str, Any] | None:
        try:
            for callback in callbacks:
                settle_order(order, dict(callback))
        except Exception as exc:
            problems.append(_failure(what, exc))
            return None
        return order

    if (o := run("a matching payment", pending(), fields())) is not None:
        if o.get("status") != "paid" or o.get("fulfilled") != 1:
            problems.append(
                f'a matching payment: expected status "paid", fulfilled 1; got {o.get("status")!r}, {o.get("fulfilled")}'
            )
    if (o := run("the same callback twice", pending(), fields(), fields())) is not None and o.get("fulfilled") != 1:
        problems.append(
            f"the same callback twice: fulfilled {o.get('fulfilled')} times; settle only a pending order (Daraja may deliver twice)"
        )
    if (o := run("KES 1 paid for a KES 100 order", pending(), fields(amount=1))) is not None:
        if o.get("fulfilled"):
            problems.append("KES 1 paid for a KES 100 order: fulfilled; compare the paid amount with the order's")
        elif o.get("status") in ("pending", "paid"):
            problems.append(
                f'KES 1 paid for a KES 100 order: status {o.get("status")!r}; record it for review (e.g. "needs_review")'
            )
    if (o := run("100.0 paid for a KES 100 order", pending(), fields(amount=100.0))) is not None and o.get(
        "fulfilled"
    ) != 1:
        problems.append("100.0 paid for a KES 100 order: not fulfilled; compare amounts as numbers (100 == 100.0)")
    if (o := run("another phone paid", pending(), fields(phone="254711111111"))) is not None and o.get("fulfilled"):
        problems.append("another phone paid: fulfilled; compare the PhoneNumber with the order's too")
    for code in ("1032", "1037", str(UNKNOWN_CODE)):
        if (o := run(f"ResultCode {code}", pending(), fields(code=code, amount=None, phone=""))) is not None:
            if o.get("fulfilled") or o.get("status") in ("pending", "paid"):
                problems.append(
                    f'ResultCode {code}: status {o.get("status")!r}, fulfilled {o.get("fulfilled")}; every code but "0" is final and not paid'
                )
    late = run(
        "a cancelled callback after the payment", pending(), fields(), fields(code="1032", amount=None, phone="")
    )
    if late is not None and late.get("status") != "paid":
        problems.append(
            "a cancelled callback after the payment: the order went back from paid; a settled order never changes"
        )
    return verdict(name, problems, "Once per order, and only when the money matches the order.")


def your_endpoint(handle: Any, endpoint: Any, book: Any) -> Verdict:
    """The learner's running endpoint: every check-callback scenario, then a database that fails
    (the endpoint must not acknowledge what it could not store)."""
    from mpesa_lab.callback_check import CallbackCheckError, check_callback

    name = "Your endpoint"
    if unanswered(handle):
        return todo(name, "Write handle(raw): store_raw, read, settle under book.lock, return ACK.")
    if not callable(handle):
        return verdict(name, [f"handle should be a function of the raw body, got {type_name(handle)}"])
    url = getattr(endpoint, "callback_url", None)
    if not isinstance(url, str):
        return verdict(name, [f"expected the served endpoint (serve_asgi's answer), got {type_name(endpoint)}"])
    try:
        report = check_callback(url, readback_url=endpoint.readback_url, budget_s=1.0, timeout_s=5.0)
    except CallbackCheckError as exc:
        return verdict(name, [str(exc)])
    problems = [f"{r.name}: {r.detail} -> {r.fix}" for r in report.results if r.verdict != "pass"]
    problems += _database_down(handle, url, book)
    return verdict(name, problems, f"check-callback: {report.summary()}")


def _database_down(handle: Callable[[bytes], Any], url: str, book: Any) -> list[str]:
    """Make the book's writes fail, then hand ``handle`` a paid callback (it must raise, not
    answer) and post one to the endpoint (anything but a 2xx is right)."""
    import httpx

    if not hasattr(book, "fail_writes"):
        return [f"expected the endpoint's OrderBook as book, got {type_name(book)}"]
    body = Callback(new_order()).body()
    book.fail_writes = True
    try:
        answer = handle(body)
    except Exception:  # the StorageError, as it should: the route turns it into a 500
        pass
    else:
        book.fail_writes = False
        return [
            f"with its database down handle(raw) still returned {answer!r}: let the StorageError propagate (the route answers 500)"
        ]
    try:
        answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=5, trust_env=False)
    except httpx.HTTPError as exc:
        return [f"with its database down the endpoint did not answer ({type(exc).__name__})"]
    finally:
        book.fail_writes = False
    if answer.is_success:
        return [
            f"with its database down the endpoint still answered {answer.status_code}: that callback is lost "
            "(Daraja does not resend); let the StorageError become a 500"
        ]
    return []


def _query_answers() -> list[StkQueryResult]:
    """What an STK query says over time for one push: both pending styles, then a final 1032."""
    cid = "ws_CO_07122026100000000708374149"
    head = {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": cid,
    }
    envelope = {"requestId": cid, "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"}
    return [
        read_query_answer(500, json.dumps(envelope), cid),
        read_query_answer(
            200,
            json.dumps({**head, "ResultCode": "4999", "ResultDesc": "The transaction is still under processing"}),
            cid,
        ),
        read_query_answer(
            200,
            json.dumps({**head, "ResultCode": "4999", "ResultDesc": "The transaction is still under processing"}),
            cid,
        ),
        read_query_answer(
            200, json.dumps({**head, "ResultCode": "1032", "ResultDesc": "Request cancelled by user"}), cid
        ),
    ]


def polling_loop(poll: Any) -> Verdict:
    """``poll(query, checkout_request_id, tries=8, sleep=time.sleep)``: query until a final code,
    waiting longer each time, at most ``tries`` queries."""
    name = "Polling fallback"
    if unanswered(poll):
        return todo(name, "Write poll(query, checkout_request_id, tries=8, sleep=time.sleep).")
    if not callable(poll):
        return verdict(name, [f"poll should be a function, got {type_name(poll)}"])
    answers = _query_answers()
    asked: list[str] = []
    waits: list[float] = []

    def query(checkout_request_id: str) -> StkQueryResult:
        asked.append(checkout_request_id)
        if len(asked) > 50:
            raise RuntimeError("more than 50 queries")
        return answers[min(len(asked) - 1, len(answers) - 1)]

    problems = []
    try:
        result = poll(query, answers[0].checkout_request_id, tries=8, sleep=waits.append)
    except Exception as exc:
        return verdict(name, [_failure("polling", exc)])
    if not isinstance(result, StkQueryResult):
        return verdict(name, [f"poll should return the last StkQueryResult, got {type_name(result)}"])
    if result is answers[1] or result is answers[2]:
        problems.append('stopped on ResultCode 4999 "still under processing": that is pending too (use result.pending)')
    elif result is answers[0]:
        problems.append('stopped on the HTTP 500 500.001.1001 "being processed" answer: that is pending, not final')
    elif result.result_code != "1032":
        problems.append(f"returned {result!r}; expected the first final answer (1032)")
    if len(asked) > 4:
        problems.append(f"queried {len(asked)} times: stop at the first final answer")
    if len(waits) >= 2 and not any(b > a for a, b in zip(waits, waits[1:], strict=False)):
        problems.append(f"waited {waits}: back off, waiting longer each time (Daraja rate-limits queries)")
    if len(waits) >= len(asked) and asked:
        problems.append("waited after the final answer: return as soon as the result is final")
    # A push that never settles: the loop must give up after `tries` queries, with the pending answer.
    asked.clear()
    stuck = answers[1]

    def stays_pending(checkout_request_id: str) -> StkQueryResult:
        asked.append(checkout_request_id)
        if len(asked) > 50:
            raise RuntimeError("more than 50 queries: the loop never gives up")
        return stuck

    try:
        last = poll(stays_pending, "ws_CO_X", tries=5, sleep=lambda seconds: None)
    except Exception as exc:
        problems.append(_failure("a push that stays pending", exc) + " (give up after `tries` queries)")
    else:
        if len(asked) != 5 or last is not stuck:
            problems.append(
                f"a push that stays pending: {len(asked)} queries; make exactly `tries` and return the pending answer"
            )
    return verdict(name, problems, "Pending in both styles, backoff, stops on the first final code.")
