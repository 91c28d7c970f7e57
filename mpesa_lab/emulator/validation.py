"""Request validation as Daraja does it: the first bad field answers "Bad Request - Invalid <Field>".

Numeric fields arrive as numbers or strings (both are accepted, as live Daraja accepts both).
Fields are checked in the order the doc lists them. Credentials (Password) and the merchant are
checked later, by the state, because they need the registry.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mpesa_lab.emulator.errors import bad_request
from mpesa_lab.emulator.scenarios import TRANSACTION_TYPES
from mpesa_lab.secret import MASKED, looks_secret, mask_secrets

# Daraja's bodies are well under 1 kB: anything near this is not a request, and whatever is kept
# of it (the raw request, listed by /_lab/) must stay small.
MAX_BODY_BYTES = 64 * 1024
# Beyond these, a field is refused as invalid whatever strict_lengths says (live Daraja lets a
# few characters over the documented 12/13 through, not a megabyte).
MAX_TEXT_CHARS = 256
MAX_PASSWORD_CHARS = 1024
_SHORTCODE_RE = re.compile(r"\d{5,7}")
_PHONE_RE = re.compile(r"254(?:7\d{8}|1[01]\d{7})")
_AMOUNT_RE = re.compile(r"(\d{1,12})(?:\.(\d{1,2}))?")
_URL_BAD_CHARS = re.compile(r"[\s<>{}\"|\\^`]")
_CHECKOUT_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MAX_AMOUNT_ACCEPTED = 10**10
_T = TypeVar("_T")


@dataclass(frozen=True)
class PushRequest:
    """A push whose fields passed validation (normalised to strings and an int amount)."""

    business_short_code: str
    password: Any
    timestamp: str
    transaction_type: str
    amount: int
    party_a: str
    party_b: str
    phone: str
    callback_url: str
    account_reference: str
    transaction_desc: str | None


@dataclass(frozen=True)
class QueryRequest:
    business_short_code: str
    password: Any
    timestamp: str
    checkout_request_id: str


def json_object(body: bytes) -> dict[str, Any] | None:
    """The JSON object in ``body``, or None if it holds anything else (or nothing parseable)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


async def read_bounded(receive: Any, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request body from an ASGI ``receive``, but never more than ``limit`` + one chunk: a
    longer body comes back cut short (longer than ``limit``, so it fails any later size check).
    None if the client went away first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False) or size > limit:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def encodable(text: str) -> bool:
    """False for text holding a lone surrogate (no UTF-8 form: it cannot be stored or listed)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json_object(content_type: str | None, body: bytes) -> dict[str, Any]:
    """The JSON object in ``body``. Anything else is what live Daraja calls Invalid BusinessShortCode."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    data = json_object(body) if media == "application/json" and len(body) <= MAX_BODY_BYTES else None
    if data is None:
        raise bad_request("BusinessShortCode")
    return data


def _digits(value: Any, pattern: re.Pattern[str]) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    return text if pattern.fullmatch(text) else None


def shortcode(value: Any) -> str | None:
    """5 to 7 digits (the doc says 5 to 6; till store numbers have 7)."""
    return _digits(value, _SHORTCODE_RE)


def msisdn(value: Any) -> str | None:
    """A Safaricom number in the 2547XXXXXXXX (or 25410/25411...) format."""
    return _digits(value, _PHONE_RE)


_TIMESTAMP_RE = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})")


def timestamp(value: Any) -> str | None:
    """14 digits of a real date and time, YYYYMMDDHHmmss (string or number)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return _real_timestamp(str(value))


@lru_cache(maxsize=64)  # pushes made in the same second share their Timestamp
def _real_timestamp(text: str) -> str | None:
    match = _TIMESTAMP_RE.fullmatch(text)
    if match is None:
        return None
    try:
        # datetime() checks the calendar as strptime would, at a fraction of the cost.
        year, month, day, hour, minute, second = map(int, match.groups())
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return text


def amount(value: Any) -> int | None:
    """Whole shillings, as a number or a string ("1", "1.00"); 0 passes (it fails later as 2)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        number = int(value)
    elif isinstance(value, str):
        match = _AMOUNT_RE.fullmatch(value)
        if not match or (match.group(2) and int(match.group(2)) != 0):
            return None
        number = int(match.group(1))
    else:
        return None
    return number if 0 <= number < MAX_AMOUNT_ACCEPTED else None


def callback_url(value: Any, *, require_https: bool = False) -> str | None:
    """An absolute http(s) URL with a host and no spaces or placeholder brackets."""
    if not isinstance(value, str) or not value or len(value) > 2048:
        return None
    return _checked_url(value, require_https)


@lru_cache(maxsize=256)  # a lab sends every push with the same few CallBackURLs
def _checked_url(value: str, require_https: bool) -> str | None:
    if _URL_BAD_CHARS.search(value) or not value.isprintable() or not encodable(value):
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        return None
    allowed = ("https",) if require_https else ("http", "https")
    if parts.scheme.lower() not in allowed or not parts.hostname:
        return None
    return value


def transaction_type(value: Any) -> str | None:
    """CustomerPayBillOnline or CustomerBuyGoodsOnline (whether it suits the shortcode is checked later)."""
    return value if isinstance(value, str) and value in TRANSACTION_TYPES else None


def checkout_request_id(value: Any) -> str | None:
    """A plausible CheckoutRequestID (whether it exists is the state's business)."""
    return value if isinstance(value, str) and _CHECKOUT_ID_RE.fullmatch(value) else None


def _field(fields: dict[str, Any], name: str, check: Callable[[Any], _T | None]) -> _T:
    """The field ``name`` as ``check`` reads it; None from ``check`` is "Bad Request - Invalid <name>"."""
    value = check(fields.get(name))
    if value is None:
        raise bad_request(name)
    return value


def _text(value: Any, max_len: int | None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    if isinstance(value, int) and abs(value) >= 10**MAX_TEXT_CHARS:
        return None
    text = str(value)
    if not text.strip() or len(text) > (max_len or MAX_TEXT_CHARS) or not encodable(text):
        return None
    return text


def password(value: Any) -> Any:
    """The Password as sent; text no real password could be (too long, lone surrogates) becomes
    None, which the state answers "Wrong credentials" like any other bad password."""
    if isinstance(value, str) and (len(value) > MAX_PASSWORD_CHARS or not encodable(value)):
        return None
    return value


def validate_push(
    fields: dict[str, Any],
    *,
    require_transaction_desc: bool = True,
    strict_lengths: bool = False,
    require_https: bool = False,
) -> PushRequest:
    """Check a push body field by field; raise the first ``Bad Request - Invalid <Field>``."""
    code = _field(fields, "BusinessShortCode", shortcode)
    stamp = _field(fields, "Timestamp", timestamp)
    ttype = _field(fields, "TransactionType", transaction_type)
    value = _field(fields, "Amount", amount)
    party_a = _field(fields, "PartyA", msisdn)
    party_b = _field(fields, "PartyB", shortcode)
    phone = _field(fields, "PhoneNumber", msisdn)
    url = _field(fields, "CallBackURL", lambda v: callback_url(v, require_https=require_https))
    reference = _field(fields, "AccountReference", lambda v: _text(v, 12 if strict_lengths else None))
    desc: str | None = None
    if require_transaction_desc or fields.get("TransactionDesc") is not None:
        # Daraja names this field by its internal name, Remarks.
        desc = _text(fields.get("TransactionDesc"), 13 if strict_lengths else None)
        if desc is None:
            raise bad_request("Remarks")
    return PushRequest(
        business_short_code=code,
        password=password(fields.get("Password")),
        timestamp=stamp,
        transaction_type=ttype,
        amount=value,
        party_a=party_a,
        party_b=party_b,
        phone=phone,
        callback_url=url,
        account_reference=reference,
        transaction_desc=desc,
    )


def validate_query(fields: dict[str, Any]) -> QueryRequest:
    """Check an STK query body: BusinessShortCode, Timestamp, CheckoutRequestID."""
    code = _field(fields, "BusinessShortCode", shortcode)
    stamp = _field(fields, "Timestamp", timestamp)
    checkout = _field(fields, "CheckoutRequestID", checkout_request_id)
    return QueryRequest(code, password(fields.get("Password")), stamp, checkout)


def masked_request(fields: dict[str, Any]) -> dict[str, Any]:
    """The raw body as received, for listings: every secret-looking field masked (the Password
    decodes to the passkey; some SDKs send the Passkey itself), and any text or number that JSON
    cannot carry (lone surrogates, NaN, Infinity) replaced by a printable stand-in."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if looks_secret(key):
            value = MASKED if value not in (None, "") else value
        elif not ((type(value) is str and value.isascii()) or type(value) is int):
            value = listable(mask_secrets(value))  # the common case (ASCII text, ints) is as is
        out[key if key.isascii() else listable(key)] = value
    if fields.get("Password") not in (None, ""):
        out["Password"] = "<hidden: it contains the passkey>"
    return out


def listable(value: Any) -> Any:
    """``value`` with lone surrogates replaced (U+FFFD) and non-finite numbers as text, so that
    it always renders as strict JSON."""
    if isinstance(value, str):
        return value if encodable(value) else value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {listable(key) if isinstance(key, str) else key: listable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [listable(item) for item in value]
    return value
