"""Checks for notebook 05, callbacks and the listener: the body, duplicates, the query fallback."""

from __future__ import annotations

from typing import Any

from mpesa_lab import codes
from mpesa_lab.course.checks._shared import as_callback, todo, type_name, unanswered, verdict, with_article
from mpesa_lab.course.verdict import Verdict
from mpesa_lab.daraja.callbacks import ParsedCallback
from mpesa_lab.daraja.results import StkQueryResult


def receipt(value: Any, body: Any) -> Verdict:
    """The MpesaReceiptNumber read from a raw callback body."""
    name = "Receipt from the raw body"
    if unanswered(value):
        return todo(name, "Walk Body -> stkCallback -> CallbackMetadata -> Item and find MpesaReceiptNumber.")
    parsed = as_callback(body)
    expected = parsed.receipt
    if value == expected:
        return verdict(name, [], "Keep it with the order: it is the customer's proof of payment.")
    if isinstance(value, (list, tuple)):
        return verdict(
            name, ["this is the whole Item list: pick the entry whose Name is 'MpesaReceiptNumber' and take its Value"]
        )
    if isinstance(value, dict):
        if value.get("Name") == "MpesaReceiptNumber":
            return verdict(name, ["this is the Item entry: take its 'Value'"])
        return verdict(
            name, ["this is a dict: go down to the Item whose Name is 'MpesaReceiptNumber' and take its Value"]
        )
    for key, item in parsed.items.items():
        if key != "MpesaReceiptNumber" and item is not None and str(value) == str(item):
            return verdict(name, [f"that is the {key} item: the receipt is the item named 'MpesaReceiptNumber'"])
    if value == parsed.checkout_request_id:
        return verdict(
            name,
            [
                "that is the CheckoutRequestID (Daraja's id for the push); the receipt "
                "is M-PESA's id for the payment, in CallbackMetadata"
            ],
        )
    if value == parsed.merchant_request_id:
        return verdict(name, ["that is the MerchantRequestID; the receipt is in CallbackMetadata"])
    return verdict(name, [f"{value!r} is not the MpesaReceiptNumber in this body"])


def result_code(value: Any, body: Any) -> Verdict:
    """The ResultCode of a callback, as text (codes can be alphanumeric, e.g. SFC_IC0003)."""
    name = "ResultCode as text"
    if unanswered(value):
        return todo(name, "Read Body.stkCallback.ResultCode and make it a str.")
    parsed = as_callback(body)
    expected = parsed.result_code
    if isinstance(value, str) and value.strip() == expected:
        entry = codes.result_entry(expected)
        return verdict(name, [], f"{expected} is {entry.name}: {entry.mitigation}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and codes.normalize_code(value) == expected:
        return verdict(
            name,
            [
                f"right code, but {with_article(value)}: keep codes as text (str(...)), "
                "since some are alphanumeric (SFC_IC0003) and the STK query sends them "
                "as strings"
            ],
        )
    if isinstance(value, str) and value == parsed.result_desc:
        return verdict(name, ["that is ResultDesc (the words); the code is ResultCode"])
    return verdict(name, [f"{value!r} is not this callback's ResultCode"])


def distinct_payments(value: Any, deliveries: Any) -> Verdict:
    """How many distinct pushes a list of callback deliveries (with duplicates) is about."""
    name = "Distinct payments"
    if unanswered(value):
        return todo(name, "Count unique CheckoutRequestIDs, not deliveries.")
    ids = [as_callback(d).checkout_request_id for d in deliveries]
    paid = {as_callback(d).checkout_request_id for d in deliveries if as_callback(d).succeeded}
    expected = len(set(ids))
    if isinstance(value, bool) or not isinstance(value, int):
        return verdict(name, [f"answer with a whole number, not {type_name(value)}"])
    if value == expected:
        return verdict(name, [], "Duplicates are kept as deliveries but count once.")
    if value == len(ids):
        return verdict(
            name,
            [
                f"{value} counts every delivery: a duplicate callback is the same payment "
                "again; count unique CheckoutRequestIDs"
            ],
        )
    if value == len(paid):
        return verdict(name, [f"{value} counts only the paid ones: the question asks for every distinct push"])
    if value == len({as_callback(d).merchant_request_id for d in deliveries}) and value != expected:
        return verdict(name, ["count CheckoutRequestIDs (one per push), not MerchantRequestIDs"])
    return verdict(name, [f"{value} is not the number of distinct CheckoutRequestIDs"])


def query_fallback(result: Any, checkout_request_id: str) -> Verdict:
    """The STK query result for a push whose callback never came."""
    name = "STK query fallback"
    if unanswered(result):
        return todo(name, "Call lab.query(checkout_request_id) (or push.query()).")
    if isinstance(result, ParsedCallback):
        return verdict(
            name, ["this is a callback; the point is that none came: ask Daraja with lab.query(...) instead"]
        )
    if isinstance(result, TimeoutError):
        return verdict(name, ["waiting longer is not the fallback: ask Daraja with lab.query(...)"])
    if not isinstance(result, StkQueryResult):
        return verdict(name, [f"expected the StkQueryResult of lab.query(...), got {type_name(result)}"])
    problems = []
    if result.checkout_request_id and result.checkout_request_id != checkout_request_id:
        problems.append("this query is about another push: query the CheckoutRequestID whose callback was lost")
    if result.pending:
        problems.append(
            "the answer is still pending: query again in a few seconds (pending is an answer, not a failure)"
        )
    return verdict(
        name,
        problems,
        f"Daraja says: {result.status} {result.result_code}. Never push again "
        "to find out: the customer would be asked twice.",
    )
