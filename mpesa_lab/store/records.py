"""What the store is handed and what it gives back: deliveries, callbacks, pushes and queries as
rows, and the text forms the columns hold (JSON, codes as the catalogue spells them, Nairobi time).

The store never parses a callback: the listener hands it one already parsed (any object with the
fields of :class:`CallbackFields`; the listener's is ``mpesa_lab.daraja.callbacks.ParsedCallback``),
and a read gives back the stored row and its raw body (:class:`StoredCallback`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from mpesa_lab.clock import nairobi_now, to_nairobi
from mpesa_lab.codes import normalize_code
from mpesa_lab.secret import mask_secrets

if TYPE_CHECKING:
    from dataclasses import Field

Outcome = Literal["accepted", "quarantined", "forbidden", "too_large"]
#: which CheckoutRequestIDs are ours: a test, a collection, or None (a push in this store)
ExpectedIds = Callable[[str], bool] | Collection[str] | None


class CallbackFields(Protocol):
    """A parsed stkCallback as the store writes it: a dataclass with these fields (the store
    returns a copy with ``delivery_id``, ``received_at``, ``duplicate`` and ``unknown`` filled)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def checkout_request_id(self) -> str: ...
    @property
    def merchant_request_id(self) -> str | None: ...
    @property
    def result_code(self) -> str: ...
    @property
    def result_desc(self) -> str | None: ...
    @property
    def amount(self) -> Decimal | None: ...
    @property
    def receipt(self) -> str | None: ...
    @property
    def balance(self) -> Decimal | None: ...
    @property
    def transaction_date(self) -> datetime | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def items(self) -> dict[str, Any]: ...


@dataclass
class DeliveryIn:
    """One HTTP request that reached the callback path, as received."""

    received_at: datetime
    remote_addr: str | None
    body: bytes | None
    outcome: Outcome
    http_status: int
    client_addr: str | None = None
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    body_size: int | None = None
    reason: str | None = None
    callback: CallbackFields | None = None


@dataclass(frozen=True)
class StoredDelivery:
    """A delivery after its transaction committed."""

    delivery_id: int
    received_at: datetime
    outcome: Outcome
    http_status: int
    remote_addr: str | None
    reason: str | None = None
    duplicate: bool = False
    unknown: bool = False
    callback: Any = None  # the DeliveryIn's callback, with the fields above filled in


@dataclass(frozen=True)
class StoredCallback:
    """The first callback stored for a CheckoutRequestID: the raw body as received, and what the
    store knows about it (``unknown``: no push with this CheckoutRequestID in the store, now)."""

    checkout_request_id: str
    delivery_id: int
    received_at: datetime
    body: bytes
    unknown: bool


def scrub(value: Any) -> Any:
    """A copy of ``value`` with anything that looks like a credential masked (defence in depth:
    the store masks every request again, whatever the caller did)."""
    return mask_secrets(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def dumps(value: Any) -> str | None:
    """A JSON text column (None stays NULL; decimals and times as text)."""
    if value is None:
        return None
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def loads(text: str | float | None) -> Any:
    """A JSON text column back (NULL, or pandas' NaN for it, is None)."""
    # pandas 3 reads a text column holding some NULLs as str with NaN for the missing ones.
    return json.loads(text) if isinstance(text, str) else None


def str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def code_text(value: Any) -> str | None:
    """A Daraja code as the catalogue spells it (0, "0" and 0.0 are all "0"); None if absent."""
    return None if value is None else str_or_none(normalize_code(value))


@dataclass(frozen=True)
class Call:
    """A push or query made through the lab, masked, with the columns both tables share."""

    request: dict[str, Any]
    response: dict[str, Any] | None
    error: dict[str, Any] | None
    moment: datetime

    @classmethod
    def of(
        cls,
        request: dict[str, Any] | None,
        response: dict[str, Any] | None,
        error: dict[str, Any] | None,
        at: datetime | None,
    ) -> Call:
        return cls(
            request=scrub(dict(request or {})),
            response=scrub(dict(response)) if response else None,
            error=scrub(dict(error)) if error else None,
            moment=to_nairobi(at) if at is not None else nairobi_now(),
        )

    @property
    def resp(self) -> dict[str, Any]:
        return self.response or {}

    def leading(self) -> dict[str, Any]:
        return {"at": self.moment.isoformat(), "at_ts": self.moment.timestamp()}

    def trailing(self) -> dict[str, Any]:
        err = self.error or {}
        return {
            "error_code": str_or_none(err.get("errorCode")),
            "error_message": str_or_none(err.get("errorMessage")),
            "request_id": str_or_none(err.get("requestId") or self.resp.get("requestId")),
            "request": dumps(self.request),
            "response": dumps(self.response),
            "error": dumps(self.error),
        }


def push_row(
    call: Call, environment: str | None, phone: str | None = None, time_scale: float | None = None
) -> dict[str, Any]:
    """The ``pushes`` row of an STK push (request, Daraja's answer or error envelope).

    ``phone``: the customer's number as the caller normalised it (one customer, one phone,
    whatever was typed); default, the request's PhoneNumber (or PartyA) as given.
    ``time_scale``: how fast the lab's world ran (1.0 real time; None unknown or the quick lab)."""
    req, resp = call.request, call.resp
    return {
        **call.leading(),
        "environment": environment,
        "checkout_request_id": str_or_none(resp.get("CheckoutRequestID")),
        "merchant_request_id": str_or_none(resp.get("MerchantRequestID")),
        "phone": phone if phone is not None else str_or_none(req.get("PhoneNumber") or req.get("PartyA")),
        "amount": str_or_none(req.get("Amount")),
        "account_reference": str_or_none(req.get("AccountReference")),
        "transaction_type": str_or_none(req.get("TransactionType")),
        "shortcode": str_or_none(req.get("BusinessShortCode")),
        "response_code": code_text(resp.get("ResponseCode")),
        "response_description": str_or_none(resp.get("ResponseDescription")),
        "customer_message": str_or_none(resp.get("CustomerMessage")),
        **call.trailing(),
        "time_scale": None if time_scale is None else float(time_scale),
    }


def query_row(call: Call) -> dict[str, Any]:
    """The ``queries`` row of an STK push query."""
    resp = call.resp
    return {
        **call.leading(),
        "checkout_request_id": str_or_none(resp.get("CheckoutRequestID") or call.request.get("CheckoutRequestID")),
        "response_code": code_text(resp.get("ResponseCode")),
        "result_code": code_text(resp.get("ResultCode")),
        "result_desc": str_or_none(resp.get("ResultDesc")),
        **call.trailing(),
    }
