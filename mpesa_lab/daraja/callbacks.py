"""Parse an M-Pesa Express callback (``{"Body": {"stkCallback": {...}}}``) into a flat record.

Tolerant of what live Daraja really sends (see shared/daraja/observed-behaviour.md): ResultCode
as a number or a string (alphanumeric codes such as ``SFC_IC0003``), Amount as ``1`` or ``1.00``
or ``"1"``, Balance absent or present with no Value, unknown ResultCodes, reworded ResultDesc,
extra fields. Strict only where a record would be meaningless (no CheckoutRequestID, no
ResultCode, values of impossible types); those raise :class:`CallbackError` saying exactly what is
wrong. The raw body is always kept on the record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from mpesa_lab.clock import parse_daraja_timestamp
from mpesa_lab.codes import CodeEntry, normalize_code, result_entry

EXPECTED_SHAPE = (
    'Daraja posts {"Body": {"stkCallback": {"MerchantRequestID": ..., "CheckoutRequestID": ..., '
    '"ResultCode": ..., "ResultDesc": ..., "CallbackMetadata": {"Item": [...]}}}}'
)


class CallbackError(ValueError):
    """The body is not a usable stkCallback; the message names what is wrong."""


@dataclass(frozen=True)
class ParsedCallback:
    """One stkCallback as a flat record. ``raw`` is the body exactly as received.

    The store fills ``delivery_id``, ``received_at``, ``duplicate`` and ``unknown`` when the
    record comes back from it; a freshly parsed body leaves them at their defaults.
    """

    merchant_request_id: str | None
    checkout_request_id: str
    result_code: str
    result_desc: str | None
    amount: Decimal | None = None
    receipt: str | None = None
    balance: Decimal | None = None
    transaction_date: datetime | None = None
    phone: str | None = None
    items: dict[str, Any] = field(default_factory=dict)
    entry: CodeEntry | None = None
    raw: bytes | str | dict[str, Any] | None = field(default=None, repr=False)
    delivery_id: int | None = None
    received_at: datetime | None = None
    duplicate: bool = False
    unknown: bool = False

    @property
    def succeeded(self) -> bool:
        """True when M-PESA reports the payment done (ResultCode 0)."""
        return self.result_code == "0"

    @property
    def explanation(self) -> str:
        return self.entry.explanation if self.entry else ""

    @property
    def mitigation(self) -> str:
        return self.entry.mitigation if self.entry else ""

    def __repr__(self) -> str:
        extra = f" receipt={self.receipt}" if self.receipt else ""
        extra += f" amount={self.amount}" if self.amount is not None else ""
        extra += " duplicate" if self.duplicate else ""
        return f"<ParsedCallback {self.checkout_request_id} ResultCode {self.result_code} {self.result_desc!r}{extra}>"

    def to_record(self) -> dict[str, Any]:
        """A flat dict of the parsed fields (no raw body), e.g. for a DataFrame row."""
        return {
            "merchant_request_id": self.merchant_request_id,
            "checkout_request_id": self.checkout_request_id,
            "result_code": self.result_code,
            "result_desc": self.result_desc,
            "amount": self.amount,
            "receipt": self.receipt,
            "balance": self.balance,
            "transaction_date": self.transaction_date,
            "phone": self.phone,
            "result_name": self.entry.name if self.entry else None,
            "explanation": self.explanation,
        }


def parse_callback(body: bytes | bytearray | str | dict[str, Any]) -> ParsedCallback:
    """Parse a callback body (raw bytes, text or an already decoded dict).

    Raises :class:`CallbackError` naming the problem: not JSON, no Body.stkCallback, missing
    CheckoutRequestID or ResultCode, or a field of an impossible type.
    """
    payload = _decode(body)
    if not isinstance(payload, dict):
        raise CallbackError(f"callback body must be a JSON object, got a JSON {_json_type(payload)}. {EXPECTED_SHAPE}")
    envelope = payload.get("Body")
    if envelope is None:
        raise CallbackError(f"callback body has no 'Body' key (top-level keys: {_keys(payload)}). {EXPECTED_SHAPE}")
    if not isinstance(envelope, dict):
        raise CallbackError(f"'Body' must be a JSON object, got a JSON {_json_type(envelope)}")
    stk = envelope.get("stkCallback")
    if stk is None:
        raise CallbackError(
            f"callback body has no 'Body.stkCallback' (keys under Body: {_keys(envelope)}). {EXPECTED_SHAPE}"
        )
    if not isinstance(stk, dict):
        raise CallbackError(f"'Body.stkCallback' must be a JSON object, got a JSON {_json_type(stk)}")

    checkout_id = _identifier(stk, "CheckoutRequestID", required=True)
    assert checkout_id is not None
    merchant_id = _identifier(stk, "MerchantRequestID", required=False)
    result_code = _result_code(stk)
    result_desc = _text(stk, "ResultDesc")
    items = _items(stk)

    amount = _decimal(items, "Amount")
    balance = _decimal(items, "Balance")
    receipt = _optional_str(items, "MpesaReceiptNumber")
    phone = _phone(items)
    transaction_date = _transaction_date(items)

    return ParsedCallback(
        merchant_request_id=merchant_id,
        checkout_request_id=checkout_id,
        result_code=result_code,
        result_desc=result_desc,
        amount=amount,
        receipt=receipt,
        balance=balance,
        transaction_date=transaction_date,
        phone=phone,
        items=items,
        entry=result_entry(result_code),
        raw=bytes(body) if isinstance(body, bytearray) else body,
    )


def _decode(body: bytes | bytearray | str | dict[str, Any]) -> Any:
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray)):
        if not body.strip():
            raise CallbackError(f"callback body is empty. {EXPECTED_SHAPE}")
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CallbackError(
                f"callback body is not UTF-8 text (byte {exc.start}: {exc.reason}); Daraja sends JSON in UTF-8"
            ) from None
    elif isinstance(body, str):
        text = body
    else:
        raise CallbackError(f"cannot parse a callback from {type(body).__name__}; pass bytes, str or dict")
    if not text.strip():
        raise CallbackError(f"callback body is empty. {EXPECTED_SHAPE}")
    try:
        # Decimal keeps Amount 1.00 exactly as sent.
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        snippet = text[:60] + ("..." if len(text) > 60 else "")
        raise CallbackError(
            f"callback body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): {snippet!r}"
        ) from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _keys(mapping: dict[str, Any]) -> str:
    keys = list(mapping)
    return ", ".join(repr(k) for k in keys[:10]) + (", ..." if len(keys) > 10 else "") or "none"


def _identifier(stk: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = stk.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            state = "is empty" if isinstance(value, str) else ("is null" if name in stk else "is missing")
            raise CallbackError(
                f"Body.stkCallback.{name} {state}; it identifies the push this callback answers "
                "(the CheckoutRequestID returned by the STK push request)"
            )
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CallbackError(f"Body.stkCallback.{name} must be a string, got a JSON {_json_type(value)}: {value!r}")
    return str(value).strip()


def _result_code(stk: dict[str, Any]) -> str:
    if "ResultCode" not in stk or stk["ResultCode"] is None:
        state = "is null" if "ResultCode" in stk else "is missing"
        raise CallbackError(f"Body.stkCallback.ResultCode {state}; every callback carries one (0 = success)")
    value = stk["ResultCode"]
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise CallbackError(
            f"Body.stkCallback.ResultCode must be a number or a string, got a JSON {_json_type(value)}: {value!r}"
        )
    if isinstance(value, Decimal):
        value = float(value)
    code = normalize_code(value)
    if not code:
        raise CallbackError("Body.stkCallback.ResultCode is an empty string")
    return code


def _text(stk: dict[str, Any], name: str) -> str | None:
    value = stk.get(name)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise CallbackError(f"Body.stkCallback.{name} must be a string, got a JSON {_json_type(value)}")
    return str(value)


def _items(stk: dict[str, Any]) -> dict[str, Any]:
    metadata = stk.get("CallbackMetadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise CallbackError(
            "Body.stkCallback.CallbackMetadata must be an object with an 'Item' array, got a "
            f"JSON {_json_type(metadata)}"
        )
    raw_items = metadata.get("Item")
    if raw_items is None:
        return {}
    if isinstance(raw_items, dict):
        # Some gateways collapse a one-element array into the element itself.
        raw_items = [raw_items]
    if not isinstance(raw_items, list):
        raise CallbackError(
            f"Body.stkCallback.CallbackMetadata.Item must be an array, got a JSON {_json_type(raw_items)}"
        )
    items: dict[str, Any] = {}
    for index, item in enumerate(raw_items):
        if not isinstance(item, dict):
            raise CallbackError(
                f"CallbackMetadata.Item[{index}] must be an object with Name and Value, got a JSON {_json_type(item)}"
            )
        name = item.get("Name")
        if not isinstance(name, str) or not name:
            raise CallbackError(f"CallbackMetadata.Item[{index}] has no Name: {item!r}")
        # An item without Value (seen for Balance) is kept as None.
        items[name] = item.get("Value")
    return items


def _decimal(items: dict[str, Any], name: str) -> Decimal | None:
    value = items.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise CallbackError(f"CallbackMetadata item {name} must be a number, got {value!r}")
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise CallbackError(f"CallbackMetadata item {name} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise CallbackError(f"CallbackMetadata item {name} must be a finite number, got {value!r}")
    return number


def _optional_str(items: dict[str, Any], name: str) -> str | None:
    value = items.get(name)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise CallbackError(f"CallbackMetadata item {name} must be a string, got {value!r}")
    return str(value)


def _phone(items: dict[str, Any]) -> str | None:
    value = items.get("PhoneNumber")
    if value is None or isinstance(value, bool) or isinstance(value, (dict, list)):
        return None if value is None else str(value)
    if isinstance(value, (float, Decimal)) and value == int(value):
        return str(int(value))
    return str(value).strip()


def _transaction_date(items: dict[str, Any]) -> datetime | None:
    value = items.get("TransactionDate")
    if value is None:
        return None
    if isinstance(value, Decimal):
        value = float(value)
    try:
        return parse_daraja_timestamp(value)
    except (ValueError, TypeError):
        return None
