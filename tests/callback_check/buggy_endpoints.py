"""Callback endpoints with one classic bug each (FastAPI, as a learner writes them), and what
check-callback must say about each: the scenarios that fail and words its fix must contain.

Each keeps the read-back protocol of the reference endpoint (mpesa_lab.course.endpoints), so only
the callback route differs from the lesson's solution.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mpesa_lab.course.endpoints.orders import ACK, OrderBook, read_callback, settle

SLOW_S = 0.4  # the slow endpoint's work before it answers; the tests' budget is below it
Handler = Callable[[OrderBook, bytes], Any]


def not_idempotent(book: OrderBook, raw: bytes) -> Any:
    """Fulfils on every paid delivery: the second copy ships the order again."""
    book.store_raw(raw)
    fields = read_callback(json.loads(raw))
    with book.lock:
        order = book.orders.get(fields["checkout_request_id"])
        if order is not None and order["status"] == "paid" and fields["result_code"] == "0":
            order["fulfilled"] += 1  # BUG: "already paid" should change nothing
            return ACK
    book.settle(fields)
    return ACK


def slow(book: OrderBook, raw: bytes) -> Any:
    """Does the slow work (an email, a call to the warehouse) before answering."""
    result = settle(book, raw)
    time.sleep(SLOW_S)  # BUG: the work belongs after the answer
    return result


def trusts_amount(book: OrderBook, raw: bytes) -> Any:
    """Fulfils any paid callback for a known order, whatever the amount."""
    book.store_raw(raw)
    fields = read_callback(json.loads(raw))
    with book.lock:
        order = book.orders.get(fields["checkout_request_id"])
        if order is None or order["status"] != "pending":
            return ACK
        if fields["result_code"] == "0":
            order["status"], order["fulfilled"] = "paid", order["fulfilled"] + 1  # BUG: amount never compared
        else:
            order["status"] = "failed"
    return ACK


def crashes_on_text_code(book: OrderBook, raw: bytes) -> Any:
    """Compares ResultCode as a number: "0" > 0 raises a TypeError (HTTP 500)."""
    body = json.loads(raw)
    if body["Body"]["stkCallback"]["ResultCode"] > 0:  # BUG: the code may come as text
        pass
    return settle(book, raw)


STATUS = {0: "paid", 1: "failed", 1019: "failed", 1032: "failed", 1036: "failed", 1037: "failed", 2001: "failed"}


def unknown_code_500(book: OrderBook, raw: bytes) -> Any:
    """Maps every ResultCode through a table: a code it does not list is a KeyError (HTTP 500)."""
    code = json.loads(raw)["Body"]["stkCallback"]["ResultCode"]
    STATUS[int(code)]  # BUG: codes nobody documented do arrive
    return settle(book, raw)


def acks_before_storing(book: OrderBook, raw: bytes) -> Any:
    """Answers 200 and stores afterwards, in a background task; the database write then fails
    (disk full) and the acknowledged callback is gone."""

    def store_later() -> None:
        try:
            settle(book, raw)  # this endpoint's book has fail_writes set: the database is down
        except Exception:
            pass  # BUG: the answer already said "Accepted"; Daraja will not send it again

    return JSONResponse(ACK, background=BackgroundTask(store_later))


def fulfils_forged(book: OrderBook, raw: bytes) -> Any:
    """Takes any paid callback as a payment: an unknown CheckoutRequestID becomes a new paid order."""
    fields = read_callback(json.loads(raw))
    with book.lock:
        if fields["checkout_request_id"] not in book.orders and fields["result_code"] == "0":
            book.orders[fields["checkout_request_id"]] = {  # BUG: a push this shop never made
                "status": "pending",
                "amount": fields["amount"],
                "phone": fields["phone"],
                "fulfilled": 0,
                "callbacks": 0,
            }
    return settle(book, raw)


def balance_crash(book: OrderBook, raw: bytes) -> Any:
    """Reads the items as item["Value"]: Balance with no Value is a KeyError (HTTP 500)."""
    callback = json.loads(raw)["Body"]["stkCallback"]
    {item["Name"]: item["Value"] for item in callback.get("CallbackMetadata", {}).get("Item", [])}  # BUG
    return settle(book, raw)


@dataclass(frozen=True)
class Buggy:
    handler: Handler
    failing: frozenset[str]  # the scenarios check-callback must fail
    fix_words: str  # words the failing scenario's fix must contain
    scenarios: tuple[str, ...] | None = None  # None: all of them
    db_down: bool = False  # the endpoint's database refuses every write


BUGGY: dict[str, Buggy] = {
    "not_idempotent": Buggy(not_idempotent, frozenset({"duplicate"}), "idempotent by CheckoutRequestID"),
    "slow": Buggy(slow, frozenset({"answer_time"}), "answer at once", ("paid", "duplicate", "answer_time")),
    "trusts_amount": Buggy(trusts_amount, frozenset({"amount_differs"}), "compare the paid Amount"),
    "crashes_on_text_code": Buggy(crashes_on_text_code, frozenset({"text_result_code"}), 'str(code).strip() == "0"'),
    "unknown_code_500": Buggy(unknown_code_500, frozenset({"unknown_code"}), "never a KeyError, never a 500"),
    "acks_before_storing": Buggy(
        acks_before_storing,
        frozenset(
            {
                "paid",
                "cancelled",
                "no_answer",
                "wrong_pin",
                "insufficient_funds",
                "duplicate",
                "text_result_code",
                "balance_without_value",
                "amount_differs",
                "unknown_fields",
                "unknown_code",
            }
        ),
        "before you answer 200",
        db_down=True,
    ),
    "fulfils_forged": Buggy(fulfils_forged, frozenset({"forged"}), "confirm with an STK query"),
    "balance_crash": Buggy(balance_crash, frozenset({"balance_without_value"}), 'item.get("Value")'),
}


def buggy_app(book: OrderBook, handler: Handler) -> Starlette:
    """The read-back protocol of the reference endpoint around a buggy callback route."""

    async def callback(request: Request) -> Response:
        raw = await request.body()
        answer = handler(book, raw)  # an exception is Starlette's plain 500, as a crashing app gives
        return answer if isinstance(answer, Response) else JSONResponse(answer)

    async def add_order(request: Request) -> Response:
        book.add_order(await request.json())
        return JSONResponse({"ok": True})

    async def read_order(request: Request) -> Response:
        record = book.order(request.path_params["checkout_request_id"])
        return JSONResponse({"error": "no such order"}, status_code=404) if record is None else JSONResponse(record)

    return Starlette(
        routes=[
            Route("/mpesa/callback", callback, methods=["POST"]),
            Route("/orders", add_order, methods=["POST"]),
            Route("/orders/{checkout_request_id}", read_order, methods=["GET"]),
        ]
    )
