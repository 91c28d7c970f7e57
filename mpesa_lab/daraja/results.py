"""Typed results of an STK push and an STK query, and the rules that read Daraja's answers.

The readers are pure functions of (HTTP status, body) so that the sync and async clients, the
Lab and the tests share one interpretation. Every result keeps the raw JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from mpesa_lab import codes
from mpesa_lab.codes import CodeEntry
from mpesa_lab.daraja.errors import (
    TransactionBeingProcessed,
    UnknownDarajaError,
    error_from_response,
    is_error_envelope,
)

QueryStatus = Literal["pending", "success", "failed"]

# Wordings Daraja has used for "no final result yet".
_PENDING_WORDS = re.compile(
    r"being\s+processed|still\s+(under\s+)?process|under\s+processing|in\s+progress|pending", re.I
)


@dataclass(frozen=True)
class StkPushResult:
    """Daraja accepted the push (ResponseCode "0"); the outcome arrives later by callback."""

    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    response_description: str
    customer_message: str
    raw: dict[str, Any] = field(repr=False)
    request: dict[str, Any] = field(repr=False)  # the body sent, with the Password masked
    timestamp: str = ""
    http_status: int = 200

    @property
    def accepted(self) -> bool:
        return self.response_code == "0"


@dataclass(frozen=True)
class StkQueryResult:
    """Where a push stands: ``pending``, ``success`` or ``failed`` (with the catalogue's advice)."""

    status: QueryStatus
    result_code: str | None
    result_desc: str | None
    entry: CodeEntry = field(repr=False)
    raw: Any = field(repr=False)
    http_status: int = 200
    checkout_request_id: str | None = None
    merchant_request_id: str | None = None
    response_code: str | None = None
    response_description: str | None = None

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def success(self) -> bool:
        return self.status == "success"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def final(self) -> bool:
        return self.status != "pending"

    def __repr__(self) -> str:
        code = f" ResultCode {self.result_code}" if self.result_code is not None else ""
        return f"<StkQueryResult {self.status}{code} {self.result_desc!r} {self.checkout_request_id}>"

    def explain(self) -> str:
        """One paragraph: the status, Daraja's words, and what to do next."""
        code = f" {self.result_code}" if self.result_code is not None else ""
        desc = (self.result_desc or self.entry.message).rstrip(". ")
        return f"{self.status}{code}: {desc}. {self.entry.explanation} Next: {self.entry.mitigation}"


def _parse(body: Any) -> Any:
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def read_push_answer(status: int, body: Any, *, request: dict[str, Any], timestamp: str) -> StkPushResult:
    """An STK push answer -> :class:`StkPushResult`, or raise the Daraja error it carries."""
    data = _parse(body)
    if status != 200 or not isinstance(data, dict) or is_error_envelope(data):
        raise error_from_response(status, data, operation="stk_push")
    response_code = codes.normalize_code(data.get("ResponseCode")) if data.get("ResponseCode") is not None else None
    if response_code != "0":
        raise error_from_response(status, data, operation="stk_push")
    checkout = data.get("CheckoutRequestID")
    if not checkout:
        raise UnknownDarajaError(
            error_code=None,
            error_message="push accepted (ResponseCode 0) but the answer has no CheckoutRequestID",
            http_status=status,
            raw=data,
            operation="stk_push",
        )
    return StkPushResult(
        merchant_request_id=str(data.get("MerchantRequestID") or ""),
        checkout_request_id=str(checkout),
        response_code=response_code,
        response_description=str(data.get("ResponseDescription") or ""),
        customer_message=str(data.get("CustomerMessage") or ""),
        raw=data,
        request=request,
        timestamp=timestamp,
        http_status=status,
    )


def classify_result_code(code: Any, desc: str | None = None) -> tuple[QueryStatus, CodeEntry]:
    """A ResultCode (string or number) -> ("success" | "failed" | "pending", catalogue entry).

    Codes the catalogue marks non-final (e.g. 4999) and unknown codes whose words say
    "processing" are pending; any other unknown code is taken as a final failure, because Daraja
    only reports a ResultCode once M-PESA has decided.
    """
    key = codes.normalize_code(code)
    entry = codes.result_entry(key)
    if key == "0":
        return "success", entry
    if entry.known:
        return ("failed" if entry.final is not False else "pending"), entry
    if desc and _PENDING_WORDS.search(desc):
        return "pending", codes.unknown_entry(key, desc)
    return "failed", codes.unknown_entry(key, desc)


def read_query_answer(status: int, body: Any, checkout_request_id: str | None = None) -> StkQueryResult:
    """An STK query answer -> :class:`StkQueryResult`; raise only for real errors.

    Both pending styles are pending: the ``500.001.1001`` "The transaction is being processed"
    envelope and an HTTP 200 whose ResultCode is not final. ResultCode arrives as a string here.
    ``checkout_request_id`` (the one queried) fills in when the answer does not echo it, as the
    error-style pending answer never does.
    """
    data = _parse(body)
    if isinstance(data, dict) and not is_error_envelope(data) and status == 200:
        ids = {
            "checkout_request_id": _str(data.get("CheckoutRequestID")) or checkout_request_id,
            "merchant_request_id": _str(data.get("MerchantRequestID")),
            "response_code": _str(data.get("ResponseCode")),
            "response_description": _str(data.get("ResponseDescription")),
        }
        result_code = data.get("ResultCode")
        result_desc = _str(data.get("ResultDesc"))
        if result_code not in (None, ""):
            outcome, entry = classify_result_code(result_code, result_desc)
            return StkQueryResult(
                status=outcome,
                result_code=codes.normalize_code(result_code),
                result_desc=result_desc,
                entry=entry,
                raw=data,
                http_status=status,
                **ids,
            )
        response_code = data.get("ResponseCode")
        words = " ".join(str(v) for v in (result_desc, ids["response_description"]) if v)
        if (response_code is not None and codes.normalize_code(response_code) == "0") or _PENDING_WORDS.search(words):
            return StkQueryResult(
                status="pending",
                result_code=None,
                result_desc=result_desc or ids["response_description"],
                entry=codes.by_name("transaction_being_processed"),
                raw=data,
                http_status=status,
                **ids,
            )
        raise error_from_response(status, data, operation="stk_query")
    error = error_from_response(status, data, operation="stk_query")
    if isinstance(error, TransactionBeingProcessed):
        return StkQueryResult(
            status="pending",
            result_code=None,
            result_desc=error.error_message,
            entry=error.entry,
            raw=data,
            http_status=status,
            response_code=error.error_code,
            checkout_request_id=checkout_request_id,
        )
    raise error
