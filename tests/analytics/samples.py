"""Callbacks the analytics tests share: the messy sample, a callback body, a paid one's items."""

from __future__ import annotations

from pathlib import Path

from mpesa_lab.store import frames

ROOT = Path(__file__).resolve().parents[2]
MESSY = ROOT / "data" / "messy_callbacks.jsonl"
WEEK = ROOT / "data" / "week"


def body(cid: str, code, desc: str = "d", items: list | None = None) -> dict:
    stk = {"MerchantRequestID": "m", "CheckoutRequestID": cid, "ResultCode": code, "ResultDesc": desc}
    if items is not None:
        stk["CallbackMetadata"] = {"Item": items}
    return {"Body": {"stkCallback": stk}}


PAID = [
    {"Name": "Amount", "Value": 1.0},
    {"Name": "MpesaReceiptNumber", "Value": "TG1A2B3C4D"},
    {"Name": "Balance"},
    {"Name": "TransactionDate", "Value": 20260601090005},
    {"Name": "PhoneNumber", "Value": 254708374149},
]


def schema_ok(out) -> None:
    for frame, schema in ((out.transactions, frames.TRANSACTIONS), (out.callbacks, frames.CALLBACKS)):
        assert list(frame.columns) == [c.name for c in schema]
        assert {c: str(t) for c, t in frame.dtypes.items()} == {c.name: c.dtype for c in schema}
