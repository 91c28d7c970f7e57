"""The stkCallback's encoding: the hand-written encoder against the dict Daraja documents."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from mpesa_lab.clock import NAIROBI
from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.emulator.delivery import callback_payload
from mpesa_lab.emulator.models import Transaction

PAID_AT = datetime(2024, 7, 10, 9, 15, 26, tzinfo=NAIROBI)


def documented_callback(tx: Transaction, amount: Any, balance: Any) -> dict[str, Any]:
    """The stkCallback as Daraja's documentation shapes it (``balance``: absent, empty or a value)."""
    code = int(tx.result_code) if tx.result_code.lstrip("-").isdigit() else tx.result_code
    inner: dict[str, Any] = {
        "MerchantRequestID": tx.merchant_request_id,
        "CheckoutRequestID": tx.checkout_request_id,
        "ResultCode": code,
        "ResultDesc": tx.result_desc,
    }
    if tx.result_code == "0":
        items: list[dict[str, Any]] = [
            {"Name": "Amount", "Value": amount},
            {"Name": "MpesaReceiptNumber", "Value": tx.receipt},
        ]
        if balance == "empty":
            items.append({"Name": "Balance"})
        elif balance is not None:
            items.append({"Name": "Balance", "Value": balance})
        items += [{"Name": "TransactionDate", "Value": 20240710091526}, {"Name": "PhoneNumber", "Value": int(tx.phone)}]
        inner["CallbackMetadata"] = {"Item": items}
    return {"Body": {"stkCallback": inner}}


def transaction(code: str, desc: str) -> Transaction:
    return Transaction(
        checkout_request_id="ws_CO_10072024091526123254712345678",
        merchant_request_id="a1b2-c3d4-e5f6-0123456789ab1",
        business_short_code="174379",
        transaction_type="CustomerPayBillOnline",
        amount=150,
        party_a="254712345678",
        party_b="174379",
        phone="254712345678",
        callback_url="http://127.0.0.1:9/cb",
        account_reference="INV1",
        transaction_desc="Pay",
        prompt="",
        created_at=PAID_AT,
        plan_source="mix",
        plan_action="pay",
        final=True,
        result_code=code,
        result_desc=desc,
        receipt="SGA7XJ2ZQK" if code == "0" else None,
        transaction_date=PAID_AT if code == "0" else None,
    )


@pytest.mark.parametrize(
    "code, desc",
    [
        ("0", "The service request is processed successfully."),
        ("1032", "Request cancelled by user"),
        ("SFC_IC0003", "Operator does not exist"),
        ("2001", 'The initiator information is invalid. "quoted" \\ and Kiswahili: asante sana, ñ, \u2013'),
    ],
)
@pytest.mark.parametrize("amount_style", ["int", "float"])
@pytest.mark.parametrize(
    "balance_style, merchant_balance, balance",
    [
        ("absent", 1234.5, None),
        ("empty", 1234.5, "empty"),
        ("value", 1234.567, 1234.57),
        ("value", None, None),
    ],
)
def test_the_encoded_callback_is_json_dumps_of_the_documented_body(
    code, desc, amount_style, balance_style, merchant_balance, balance
):
    config = replace(EmulatorConfig(), callback_amount=amount_style, callback_balance=balance_style)
    tx = transaction(code, desc)
    amount = 150.0 if amount_style == "float" else 150
    expected = json.dumps(documented_callback(tx, amount, balance)).encode("utf-8")
    assert callback_payload(tx, config, merchant_balance) == expected
