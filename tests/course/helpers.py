"""What the course's check tests share: asserting a verdict, and a callback body."""

from __future__ import annotations

import base64
from pathlib import Path

from mpesa_lab.course import Verdict

ROOT = Path(__file__).resolve().parents[2]
TEST_PHONE = "254708374149"


def ok(verdict: Verdict) -> None:
    assert isinstance(verdict, Verdict)
    assert verdict.ok, str(verdict)
    assert str(verdict).startswith("✔")


def wrong(verdict: Verdict, *fragments: str) -> None:
    """Not ok, answered, and the message names the problem (every fragment appears)."""
    assert not verdict.ok and verdict.answered, str(verdict)
    text = str(verdict)
    assert text.startswith("✘")
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


def todo(verdict: Verdict) -> None:
    assert not verdict.ok and not verdict.answered
    assert "not answered yet" in str(verdict)


def b64(text: str) -> str:
    """``text`` base64-encoded, as text."""
    return base64.b64encode(text.encode()).decode()


def callback_body(cid: str, code: int | str = 0, receipt: str = "UL2XEPYMS1") -> dict:
    """A raw stkCallback body: paid (with its metadata) when ``code`` is 0, else cancelled-like."""
    stk = {
        "MerchantRequestID": "m-" + cid,
        "CheckoutRequestID": cid,
        "ResultCode": code,
        "ResultDesc": "The service request is processed successfully." if code == 0 else "Request cancelled by user.",
    }
    if code == 0:
        stk["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": 10.0},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": 20261202170348},
                {"Name": "PhoneNumber", "Value": 254708000000},
            ]
        }
    return {"Body": {"stkCallback": stk}}
