"""Checks of notebook 05, callbacks and the listener: right answers pass, wrong ones are named."""

from __future__ import annotations

import json

from mpesa_lab.course import check
from mpesa_lab.daraja.results import read_query_answer
from tests.course.helpers import callback_body, ok, todo, wrong


def test_receipt():
    body = callback_body("ws_CO_1")
    ok(check.receipt("UL2XEPYMS1", body))
    ok(check.receipt("UL2XEPYMS1", json.dumps(body).encode()))
    todo(check.receipt(..., body))
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    wrong(check.receipt(items, body), "whole Item list")
    wrong(check.receipt(items[1], body), "take its 'Value'")
    wrong(check.receipt(254708000000, body), "PhoneNumber item")
    wrong(check.receipt("ws_CO_1", body), "CheckoutRequestID")
    wrong(check.receipt("m-ws_CO_1", body), "MerchantRequestID")
    wrong(check.receipt("NOPE", body), "not the MpesaReceiptNumber")


def test_result_code():
    body = callback_body("ws_CO_2", 1032)
    ok(check.result_code("1032", body))
    todo(check.result_code(..., body))
    wrong(check.result_code(1032, body), "keep codes as text")
    wrong(check.result_code("Request cancelled by user.", body), "ResultDesc")
    wrong(check.result_code("0", body), "not this callback's ResultCode")


def test_distinct_payments():
    deliveries = [
        callback_body("a"),
        callback_body("a"),
        callback_body("b", 1032),
        callback_body("b", 1032),
        callback_body("c"),
    ]
    ok(check.distinct_payments(3, deliveries))
    todo(check.distinct_payments(..., deliveries))
    wrong(check.distinct_payments(5, deliveries), "counts every delivery")
    wrong(check.distinct_payments(2, deliveries), "only the paid ones")
    wrong(check.distinct_payments("3", deliveries), "whole number")
    wrong(check.distinct_payments(4, deliveries), "not the number of distinct")


def test_query_fallback():
    final = read_query_answer(
        200,
        {
            "ResponseCode": "0",
            "ResponseDescription": "ok",
            "MerchantRequestID": "m",
            "CheckoutRequestID": "ws_CO_9",
            "ResultCode": "0",
            "ResultDesc": "The service request is processed successfully.",
        },
    )
    pending = read_query_answer(
        500,
        {"requestId": "ws_CO_9", "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"},
        "ws_CO_9",
    )
    ok(check.query_fallback(final, "ws_CO_9"))
    todo(check.query_fallback(..., "ws_CO_9"))
    wrong(check.query_fallback(pending, "ws_CO_9"), "still pending")
    wrong(check.query_fallback(final, "ws_CO_other"), "another push")
    wrong(check.query_fallback(TimeoutError("late"), "ws_CO_9"), "waiting longer")
    wrong(check.query_fallback({"ResultCode": "0"}, "ws_CO_9"), "StkQueryResult")
