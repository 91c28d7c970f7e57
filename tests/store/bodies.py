"""stkCallback bodies as Daraja posts them, for the store's and the listener's tests."""

from __future__ import annotations

import json
from typing import Any


def stk_body(
    checkout_id: str = "ws_CO_1007202409152617172396192",
    *,
    result_code: Any = 0,
    result_desc: str = "The service request is processed successfully.",
    merchant_id: str = "2654-4b64-97ff-b827b542881d3130",
    metadata: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    stk: dict[str, Any] = {
        "MerchantRequestID": merchant_id,
        "CheckoutRequestID": checkout_id,
        "ResultCode": result_code,
        "ResultDesc": result_desc,
    }
    if metadata is not None:
        stk["CallbackMetadata"] = {"Item": metadata}
    return {"Body": {"stkCallback": stk}}


def success_items(
    amount: Any = 1,
    *,
    balance: Any = ...,
    receipt: str = "NLJ7RT61SV",
    date: Any = 20191219102115,
    phone: Any = 254708374149,
) -> list[dict[str, Any]]:
    items = [{"Name": "Amount", "Value": amount}, {"Name": "MpesaReceiptNumber", "Value": receipt}]
    if balance is None:
        items.append({"Name": "Balance"})
    elif balance is not ...:
        items.append({"Name": "Balance", "Value": balance})
    items += [{"Name": "TransactionDate", "Value": date}, {"Name": "PhoneNumber", "Value": phone}]
    return items


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
