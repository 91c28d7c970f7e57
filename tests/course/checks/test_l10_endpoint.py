"""Checks of notebook 10, your own endpoint: the reference answers pass, classic bugs are named."""

from __future__ import annotations

import time

import pytest

from mpesa_lab.course import check
from mpesa_lab.course.endpoints import OrderBook, fastapi_app, read_callback, serve_asgi, settle_order
from tests.course.helpers import ok, todo, wrong


def test_callback_reader():
    ok(check.callback_reader(read_callback))
    todo(check.callback_reader(...))
    wrong(check.callback_reader("read"), "should be a function")

    def by_position(body):
        callback = body["Body"]["stkCallback"]
        items = (callback.get("CallbackMetadata") or {}).get("Item") or []
        return {
            "checkout_request_id": callback["CheckoutRequestID"],
            "result_code": str(callback["ResultCode"]),
            "amount": items[0].get("Value") if items else None,
            "phone": str(items[-1].get("Value")) if items else None,
            "receipt": items[1].get("Value") if items else None,
        }

    wrong(check.callback_reader(by_position), "a new item before Amount", "by Name")


def test_order_settler():
    ok(check.order_settler(settle_order))
    todo(check.order_settler(...))

    def no_amount_check(order, fields):
        if order["status"] != "pending":
            return
        if fields["result_code"] == "0":
            order["status"], order["fulfilled"] = "paid", order["fulfilled"] + 1
        else:
            order["status"] = "failed"

    wrong(check.order_settler(no_amount_check), "KES 1 paid for a KES 100 order: fulfilled", "another phone paid")


def _reference_poll(query, checkout_request_id, tries=8, sleep=time.sleep):
    delay = 1.0
    for attempt in range(tries):
        result = query(checkout_request_id)
        if not result.pending or attempt == tries - 1:
            return result
        sleep(delay)
        delay = min(delay * 2, 15)


def test_polling_loop():
    ok(check.polling_loop(_reference_poll))
    todo(check.polling_loop(...))

    def same_wait(query, checkout_request_id, tries=8, sleep=time.sleep):
        for _ in range(tries):
            result = query(checkout_request_id)
            if not result.pending:
                return result
            sleep(2)
        return result

    wrong(check.polling_loop(same_wait), "back off")

    def forever(query, checkout_request_id, tries=8, sleep=time.sleep):
        while True:
            result = query(checkout_request_id)
            if not result.pending:
                return result

    wrong(check.polling_loop(forever), "a push that stays pending", "give up after `tries`")


@pytest.fixture
def served():
    book = OrderBook()
    endpoint = serve_asgi(fastapi_app(book), name="test-l10-check")
    yield endpoint, book
    endpoint.stop()


def test_your_endpoint(served):
    endpoint, book = served
    from mpesa_lab.course.endpoints import settle

    ok(check.your_endpoint(lambda raw: settle(book, raw), endpoint, book))
    todo(check.your_endpoint(..., endpoint, book))
    wrong(check.your_endpoint(len, "http://x", book), "expected the served endpoint")
