"""The shop's side of a callback, framework-free: the order book (the shop's database) and
``settle``, what a careful handler does with an stkCallback before it answers.

What ``settle`` gets right, one classic bug each (lesson 10, and check-callback's scenarios):
the raw body is stored first, whatever it is; the order is found by CheckoutRequestID and settled
once (a second delivery changes nothing); ResultCode is read as text (0 or "0"); items are found by
Name with ``.get`` (Balance may have no Value); only ResultCode 0 is a payment, any other code
(known or not) is "not paid"; a payment is fulfilled only when its amount and phone match the
order; a callback for a push the shop never made fulfils nothing.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}


class StorageError(RuntimeError):
    """The order book could not write (a full disk, a lost database connection)."""


def read_callback(body: Any) -> dict[str, Any]:
    """The fields a shop needs from an stkCallback body (a dict), read tolerantly."""
    callback = body.get("Body", {}).get("stkCallback", {}) if isinstance(body, dict) else {}
    if not isinstance(callback, dict):
        callback = {}
    metadata = callback.get("CallbackMetadata") or {}
    items = (metadata.get("Item") or []) if isinstance(metadata, dict) else []
    values = {item.get("Name"): item.get("Value") for item in items if isinstance(item, dict)}
    return {
        "checkout_request_id": callback.get("CheckoutRequestID"),
        "result_code": str(callback.get("ResultCode")).strip(),  # 0 and "0" alike
        "result_desc": callback.get("ResultDesc"),
        "amount": values.get("Amount"),
        "receipt": values.get("MpesaReceiptNumber"),
        "phone": None if values.get("PhoneNumber") is None else str(values.get("PhoneNumber")),
    }


def _same_amount(paid: Any, ordered: Any) -> bool:
    try:
        return float(paid) == float(ordered)
    except (TypeError, ValueError):
        return False


def settle_order(order: dict[str, Any], fields: dict[str, Any]) -> str:
    """Apply one read callback (``read_callback``'s fields) to its order, in place, once: only a
    pending order changes; only ResultCode "0" with the order's amount and phone is fulfilled."""
    if order["status"] != "pending":
        return "duplicate: already settled"
    order["result_code"] = fields["result_code"]
    if fields["result_code"] != "0":
        order["status"] = "failed"  # cancelled, no answer, wrong PIN, an unknown code: not paid
        return "not paid"
    if not (_same_amount(fields["amount"], order["amount"]) and fields["phone"] == order["phone"]):
        order["status"] = "needs_review"  # money came, but not what the order says
        return "paid, but not as ordered: needs review"
    order["status"] = "paid"
    order["receipt"] = fields["receipt"]
    order["fulfilled"] += 1  # cheap here; real fulfilment (shipping, email) runs after the answer
    return "paid: fulfilled"


@dataclass
class OrderBook:
    """The shop's database, in memory (a table in your real app). Thread-safe: a server answers
    callbacks on several threads. ``fail_writes`` makes every write fail, as a full disk would."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[bytes] = field(default_factory=list)  # every callback body, raw
    fail_writes: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_order(self, push: dict[str, Any]) -> None:
        """An order whose push Daraja accepted: CheckoutRequestID, Amount, PhoneNumber (pending)."""
        with self.lock:
            self.orders[str(push["CheckoutRequestID"])] = {
                "status": "pending",
                "amount": push.get("Amount"),
                "phone": str(push.get("PhoneNumber")),
                "fulfilled": 0,
                "callbacks": 0,
                "receipt": None,
                "result_code": None,
            }

    def order(self, checkout_request_id: str) -> dict[str, Any] | None:
        """The order's record (a copy), or None: what the read-back protocol's GET answers."""
        with self.lock:
            record = self.orders.get(checkout_request_id)
            return None if record is None else dict(record)

    def store_raw(self, raw: bytes) -> None:
        """Keep a delivery as it came, before anything else (an audit trail and a second chance)."""
        with self.lock:
            if self.fail_writes:
                raise StorageError("the order book cannot write (disk full?)")
            self.deliveries.append(raw)

    def settle(self, fields: dict[str, Any]) -> str:
        """Apply one callback to its order, once; returns what happened (for a log line)."""
        with self.lock:
            if self.fail_writes:
                raise StorageError("the order book cannot write (disk full?)")
            record = self.orders.get(str(fields["checkout_request_id"]))
            if record is None:
                return "unknown push: kept raw, nothing fulfilled"
            record["callbacks"] += 1
            return settle_order(record, fields)


def settle(book: OrderBook, raw: bytes) -> dict[str, Any]:
    """The whole handler, framework-free: store the raw body, settle the order, return the answer.

    A write that fails raises StorageError: the route answers 500, so nothing is acknowledged
    that was not stored (Daraja does not resend; the STK query recovers the result later).
    """
    book.store_raw(raw)
    try:
        body = json.loads(raw)
    except ValueError:
        return ACK  # not JSON: kept raw above, nothing to settle
    book.settle(read_callback(body))
    return ACK
