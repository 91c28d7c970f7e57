"""The callbacks check-callback posts: stkCallback bodies shaped exactly as Daraja (and the lab's
emulator) send them, for orders made up on the spot.

Daraja's shape (docs/daraja.md): ``{"Body": {"stkCallback": {MerchantRequestID,
CheckoutRequestID, ResultCode (a JSON number), ResultDesc[, CallbackMetadata: {"Item": [{"Name",
"Value"}, ...]}]}}}``; CallbackMetadata only on success, ``Balance`` often with no ``Value``,
``Amount`` a float (1.0), ``TransactionDate`` and ``PhoneNumber`` numbers. The paid body has no
``Balance`` item (as many live callbacks do); the ``balance_without_value`` scenario adds one.
"""

from __future__ import annotations

import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from mpesa_lab.clock import nairobi_now

# Daraja's own wording for each code the scenarios send (the callback's ResultDesc).
RESULT_DESCS: dict[str, str] = {
    "0": "The service request is processed successfully.",
    "1": "The balance is insufficient for the transaction.",
    "1019": "Transaction has expired.",
    "1032": "Request cancelled by user.",
    "1036": "SMSC ACK timeout",
    "1037": "DS timeout user cannot be reached.",
    "2001": "The initiator information is invalid.",
}
# A code no catalogue lists: Daraja has sent codes nobody documented, and an endpoint must survive them.
UNKNOWN_CODE = 7777
UNKNOWN_DESC = "A result code your endpoint has never seen (sent by mpesa-lab check-callback)."

_serial = itertools.count(1)


@dataclass(frozen=True)
class Order:
    """A push "the endpoint made": what the callback is about, and what a careful endpoint compares."""

    checkout_request_id: str
    merchant_request_id: str
    amount: int
    phone: str  # 2547XXXXXXXX
    account_reference: str = "CHECK"

    def to_json(self) -> dict[str, Any]:
        """The order as the read-back protocol's setup POST sends it (Daraja's field names)."""
        return {
            "CheckoutRequestID": self.checkout_request_id,
            "MerchantRequestID": self.merchant_request_id,
            "Amount": self.amount,
            "PhoneNumber": self.phone,
            "AccountReference": self.account_reference,
        }


def new_order(amount: int = 10, phone: str = "254708374149") -> Order:
    """A fresh order with IDs in Daraja's formats (unique per run and per scenario)."""
    now = nairobi_now()
    n = next(_serial)
    tail = f"{secrets.randbelow(10**6):06d}{n % 10000:04d}"
    return Order(
        checkout_request_id=f"ws_CO_{now:%d%m%Y%H%M%S}{now.microsecond // 1000:03d}{tail}",
        merchant_request_id=f"{secrets.randbelow(90000) + 10000}-{secrets.randbelow(9 * 10**7) + 10**7}-{n}",
        amount=amount,
        phone=phone,
    )


def _receipt() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "T" + "".join(secrets.choice(alphabet) for _ in range(9))


@dataclass
class Callback:
    """One stkCallback to post; ``body()`` is the JSON as Daraja would send it."""

    order: Order
    result_code: int | str = 0
    result_desc: str | None = None
    amount: int | None = None  # None: the order's amount
    phone: str | None = None
    balance: str = "none"  # none (no Balance item) | empty ({"Name": "Balance"}, no Value)
    extra_fields: dict[str, Any] = field(default_factory=dict)
    extra_items: list[dict[str, Any]] = field(default_factory=list)
    receipt: str = field(default_factory=_receipt)

    def paid(self) -> bool:
        return str(self.result_code).strip() == "0"

    def as_dict(self) -> dict[str, Any]:
        desc = self.result_desc or RESULT_DESCS.get(str(self.result_code).strip(), UNKNOWN_DESC)
        callback: dict[str, Any] = {
            "MerchantRequestID": self.order.merchant_request_id,
            "CheckoutRequestID": self.order.checkout_request_id,
            "ResultCode": self.result_code,
            "ResultDesc": desc,
        }
        if self.paid():
            amount = self.order.amount if self.amount is None else self.amount
            items: list[dict[str, Any]] = [
                {"Name": "Amount", "Value": float(amount)},  # Daraja writes it as 1.00: a JSON float
                {"Name": "MpesaReceiptNumber", "Value": self.receipt},
            ]
            if self.balance == "empty":
                items.append({"Name": "Balance"})
            items.append({"Name": "TransactionDate", "Value": int(f"{nairobi_now():%Y%m%d%H%M%S}")})
            items.append({"Name": "PhoneNumber", "Value": int(self.phone or self.order.phone)})
            items.extend(self.extra_items)
            callback["CallbackMetadata"] = {"Item": items}
        callback.update(self.extra_fields)
        return {"Body": {"stkCallback": callback}}

    def body(self) -> bytes:
        return json.dumps(self.as_dict()).encode("ascii")
