"""STK push and STK query requests: validated and normalised before anything is sent.

Every refusal is a :class:`~mpesa_lab.daraja.errors.ValidationError` naming Daraja's field, the
value given, the rule and the fix. Nothing is silently changed beyond harmless normalisation
(a phone number's spaces, the spelling of a TransactionType). Texts longer than the documented
limits (AccountReference 12, TransactionDesc 13) get a :class:`RequestWarning` and are sent as they
are, because live Daraja accepts them (15 and 14 were accepted by the sandbox in 2026); with
``strict_lengths=True`` they are refused instead. Never truncated.
"""

from __future__ import annotations

import ipaddress
import math
import numbers
import re
import warnings
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from mpesa_lab._lazy import import_on_first_use
from mpesa_lab.config import BUY_GOODS, PAYBILL, TRANSACTION_TYPES
from mpesa_lab.constants import (
    ACCOUNT_REFERENCE_MAX,
    MAX_AMOUNT,
    MIN_AMOUNT,
    SANDBOX_TEST_MSISDN,
    TRANSACTION_DESC_MAX,
)
from mpesa_lab.daraja.errors import CallbackURLWarning, RequestWarning, ValidationError
from mpesa_lab.secret import mask

_PHONE_FIX = f"give a Safaricom M-PESA number such as 0722000000, 0110000000, +254 722 000000 or {SANDBOX_TEST_MSISDN}"
# The rule every phone refusal states, so a learner never has to read this file to learn it.
_PHONE_RULE = (
    "a Kenyan mobile number is 9 digits starting with 7 or 1, written 2547XXXXXXXX / 2541XXXXXXXX "
    "(12 digits, country code 254, optional +) or 07XXXXXXXX / 01XXXXXXXX (10 digits, local form)"
)
_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")


# --------------------------------------------------------------------------------------------
# Phone numbers


def normalize_phone(value: Any, field_name: str = "PhoneNumber") -> str:
    """A Safaricom number in any common form -> Daraja's ``2547XXXXXXXX`` / ``2541XXXXXXXX``.

    Accepts 0722..., 0110..., 722..., +254 7..., 254-1..., 00254..., with spaces, dashes, dots or
    brackets, as text or an integer. Refuses landlines, other countries, other carriers
    (Airtel, Telkom...: STK pushes reach Safaricom lines only) and anything that is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
        raise ValidationError(
            field_name,
            value,
            f"must be a phone number as text or an integer, not {type(value).__name__}",
            _PHONE_FIX,
        )
    # numbers.Integral: a numpy integer from a DataFrame column is as good as an int.
    return _normalize_phone_text(value if isinstance(value, str) else str(int(value)), field_name)


@lru_cache(maxsize=4096)
def _normalize_phone_text(text: str, field_name: str) -> str:
    # Cached: a shop pushes to the same customers again and again, and phonenumbers' parse and
    # carrier lookup cost more than the rest of building a request together. Imported here, on
    # the first number checked: its metadata and carrier data cost ~40 ms at import time.
    phonenumbers = import_on_first_use("phonenumbers")
    carrier = import_on_first_use("phonenumbers.carrier")
    PhoneNumberType = phonenumbers.PhoneNumberType

    compact = _SEPARATORS.sub("", text.strip())
    if compact.startswith("00") and not compact.startswith("000"):
        compact = "+" + compact[2:]
    if not compact:
        raise ValidationError(field_name, text, f"is empty, not a phone number: {_PHONE_RULE}", _PHONE_FIX)
    strays = sorted({c for c in compact[1:] if not c.isdigit()} | ({compact[0]} - set("+0123456789")))
    if strays or not re.fullmatch(r"\+?\d+", compact):
        shown = ", ".join(repr(c) for c in strays) if strays else "'+' alone"
        raise ValidationError(
            field_name,
            text,
            f"is not a phone number: {shown} cannot be in one (only digits, one leading + or 00, and "
            f"spaces, dashes, dots or brackets between them); {_PHONE_RULE}",
            _PHONE_FIX,
        )
    digits = compact.lstrip("+")
    if not compact.startswith("+") or digits.startswith("254"):
        # A Kenyan form: say which rule failed (length, then prefix) before asking phonenumbers.
        if digits.startswith("254"):
            form, lead, wanted = "with the country code (254 + 9 digits)", "254", 12
            if digits.startswith("2540"):  # +254 (0) 722 ...: the trunk 0 kept in brackets
                form, lead, wanted = "as 254 (0) + 9 digits", "254 (0)", 13
        elif digits.startswith("0"):
            form, lead, wanted = "in local form (0 + 9 digits)", "the leading 0", 10
        else:
            form, lead, wanted = "without 0 or 254 (the 9 digits alone)", "", 9
        if len(digits) != wanted:
            raise ValidationError(
                field_name,
                text,
                f"has {len(digits)} digits, but a Kenyan mobile number written {form} has {wanted}: {_PHONE_RULE}",
                _PHONE_FIX,
            )
        first = digits[-9]
        if first not in "17":
            after = f"after {lead} " if lead else ""
            raise ValidationError(
                field_name,
                text,
                f"is not a mobile number: {after}it starts with {first}, and Kenyan mobile numbers start "
                f"with 7 or 1 there (2 to 6 are landlines and service numbers); {_PHONE_RULE}",
                _PHONE_FIX,
            )
    try:
        parsed = phonenumbers.parse(compact, "KE")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(field_name, text, f"is not a phone number ({exc}); {_PHONE_RULE}", _PHONE_FIX) from None
    if parsed.country_code != 254:
        region = phonenumbers.region_code_for_number(parsed) or f"+{parsed.country_code}"
        raise ValidationError(
            field_name,
            text,
            f"is not a Kenyan number (country {region}): M-PESA Express pushes reach "
            "Kenyan Safaricom lines only, country code 254",
            _PHONE_FIX,
        )
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            field_name,
            text,
            f"is not a valid Kenyan number: the length is right but the prefix 0{str(parsed.national_number)[:3]} "
            f"is not an allocated mobile range; {_PHONE_RULE}",
            _PHONE_FIX,
        )
    kind = phonenumbers.number_type(parsed)
    if kind not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise ValidationError(
            field_name,
            text,
            "is not a mobile number (a landline or service number cannot get a push)",
            _PHONE_FIX,
        )
    operator = carrier.name_for_number(parsed, "en")
    if operator != "Safaricom":
        raise ValidationError(
            field_name,
            text,
            f"belongs to {operator or 'another network'}, not Safaricom: M-PESA Express pushes reach "
            "Safaricom lines only",
            _PHONE_FIX,
        )
    return f"254{parsed.national_number}"


# --------------------------------------------------------------------------------------------
# Amount, texts, codes


_DARAJA_FORM = re.compile(r"254[17]\d{8}")


def stored_phone(value: Any) -> str | None:
    """A phone as a store keeps it, so that one customer is one phone whatever was typed.

    Daraja's ``254XXXXXXXXX`` when ``value`` is a phone number: a Safaricom line as
    :func:`normalize_phone` gives it, any other valid number (an Airtel or Telkom line, another
    country) in its international digits. Text that is not a valid phone number is kept as it
    was given, so nothing typed is lost. ``None`` and empty text give ``None``.
    """
    if value is None or isinstance(value, bool):
        return None if value is None else str(value)
    text = str(value).strip()
    if not text:
        return None
    if _DARAJA_FORM.fullmatch(text):  # what an accepted push sends: already in Daraja's form
        return text
    try:
        return normalize_phone(value if isinstance(value, (str, numbers.Integral)) else text)
    except ValidationError:
        pass
    phonenumbers = import_on_first_use("phonenumbers")
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00") and not compact.startswith("000"):
        compact = "+" + compact[2:]
    if not re.fullmatch(r"\+?\d{6,15}", compact):
        return text
    try:
        parsed = phonenumbers.parse(compact, "KE")
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_valid_number(parsed):
        return text
    return f"{parsed.country_code}{parsed.national_number}"


def validate_amount(value: Any) -> int:
    """A whole number of shillings, 1..250,000. Digit strings ("10") and 10.0 are accepted."""
    rule = f"must be a whole number of shillings from {MIN_AMOUNT} to {MAX_AMOUNT:,}"
    fix = (
        f"send a whole number such as 10 (Daraja limits: minimum {MIN_AMOUNT}, maximum {MAX_AMOUNT:,} per transaction)"
    )
    if isinstance(value, bool):
        raise ValidationError("Amount", value, f"{rule}, not a boolean", fix)
    number: Decimal
    # numbers.Integral / Real also take numpy's int64 and float32, as DataFrame cells arrive.
    if isinstance(value, numbers.Integral):
        number = Decimal(int(value))
    elif isinstance(value, numbers.Real) and not isinstance(value, numbers.Rational):
        as_float = float(value)
        if math.isnan(as_float) or math.isinf(as_float):
            raise ValidationError("Amount", value, f"{rule}, not {value}", fix)
        number = Decimal(repr(as_float))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError("Amount", value, f"{rule}, not {value}", fix)
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d+(\.\d+)?", text):
            raise ValidationError("Amount", value, f"{rule}; this text is not a positive number", fix)
        try:
            number = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the regex already guards
            raise ValidationError("Amount", value, rule, fix) from None
    else:
        raise ValidationError("Amount", value, f"{rule}, not a {type(value).__name__}", fix)
    if number != number.to_integral_value():
        raise ValidationError(
            "Amount",
            value,
            f"{rule}: M-PESA moves whole shillings, no cents",
            f"round it yourself (e.g. {int(number)} or {int(number) + 1}) so the customer sees the amount you meant",
        )
    amount = int(number)
    if amount < MIN_AMOUNT:
        raise ValidationError("Amount", value, f"{rule}: below the minimum of {MIN_AMOUNT}", fix)
    if amount > MAX_AMOUNT:
        raise ValidationError(
            "Amount",
            value,
            f"{rule}: above the per-transaction maximum of {MAX_AMOUNT:,}",
            "split the payment into several pushes of at most 250,000",
        )
    return amount


def _validate_text(field_name: str, value: Any, limit: int, *, what: str, strict: bool = True) -> str:
    rule = f"{field_name} is printable text of 1 to {limit} characters (Daraja's documented limit)"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValidationError(
            field_name, value, f"must be text, not {type(value).__name__}: {rule}", f"pass {what} as a string"
        )
    text = str(value).strip()
    if not text:
        raise ValidationError(field_name, value, f"must not be empty: {rule}", f"pass {what}")
    if not text.isprintable():
        bad = sorted({repr(c) for c in text if not c.isprintable()})
        raise ValidationError(
            field_name,
            value,
            f"contains control characters ({', '.join(bad)}): {rule}",
            "use plain printable text, on one line",
        )
    if len(text) > limit:
        if strict:
            raise ValidationError(
                field_name,
                value,
                f"is {len(text)} characters; Daraja's documentation allows at most {limit} (refused because "
                "strict_lengths is on; it is never truncated here)",
                f"shorten it to {limit} characters or fewer, e.g. {text[:limit]!r}",
            )
        risk = (
            "the customer's prompt may show it cut short, and a prompt over 182 characters ends in 1025"
            if field_name == "AccountReference"
            else "another Daraja deployment may still enforce the limit"
        )
        warnings.warn(
            f"{field_name} {text!r} is {len(text)} characters; Daraja's documentation allows at most "
            f"{limit}. Sent as it is: the live sandbox accepted longer ones in 2026, but {risk}. Shorten "
            f"it (e.g. {text[:limit]!r}), or pass strict_lengths=True to refuse such values.",
            RequestWarning,
            stacklevel=_caller_level(),
        )
    return text


def _caller_level() -> int:
    """The stacklevel of the first frame outside mpesa_lab, so a warning points at the user's line."""
    import sys
    import types

    package = __name__.rsplit(".", 2)[0]
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and (frame.f_globals.get("__name__") or "").split(".")[0] == package:
        frame, level = frame.f_back, level + 1
    return level


def validate_account_reference(value: Any, *, strict_lengths: bool = False) -> str:
    """AccountReference: printable text shown to the customer in the prompt; over 12 characters
    (the documented limit) a RequestWarning, or a ValidationError with ``strict_lengths``."""
    return _validate_text(
        "AccountReference",
        value,
        ACCOUNT_REFERENCE_MAX,
        what="an order or account number (up to 12 characters)",
        strict=strict_lengths,
    )


def validate_transaction_desc(value: Any, *, strict_lengths: bool = False) -> str:
    """TransactionDesc: required text, 13 characters documented (over: as for AccountReference).
    The doc calls it optional but live Daraja refuses it missing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(
            "TransactionDesc",
            value,
            "must not be empty: live Daraja answers 'Bad Request - Invalid Remarks' when it is missing",
            "pass a short description such as 'Payment'",
        )
    return _validate_text(
        "TransactionDesc",
        value,
        TRANSACTION_DESC_MAX,
        what="a short description such as 'Payment'",
        strict=strict_lengths,
    )


def validate_shortcode(field_name: str, value: Any) -> str:
    """A business shortcode, paybill or till: 5 to 7 digits."""
    if isinstance(value, bool):
        raise ValidationError(field_name, value, "must be 5 to 7 digits, not a boolean", "use your paybill/till number")
    text = str(value).strip()
    if not re.fullmatch(r"\d{5,7}", text):
        others = sorted({repr(c) for c in text if not c.isdigit()})
        what = f"it holds {', '.join(others)}, which are not digits" if others else f"it has {len(text)} digits"
        raise ValidationError(
            field_name,
            value,
            f"must be 5 to 7 digits (a paybill, or a till's store number): {what}",
            "use the shortcode from Go Live (sandbox: 174379)"
            if field_name == "BusinessShortCode"
            else "use the paybill number (CustomerPayBillOnline) or the till number (CustomerBuyGoodsOnline)",
        )
    return text


def validate_transaction_type(value: Any) -> str:
    """CustomerPayBillOnline or CustomerBuyGoodsOnline (any letter case, sent in Daraja's spelling)."""
    text = str(value).strip() if isinstance(value, str) else None
    for known in TRANSACTION_TYPES:
        if text is not None and text.lower() == known.lower():
            return known
    raise ValidationError(
        "TransactionType",
        value,
        f"must be {PAYBILL} or {BUY_GOODS}",
        f"use {PAYBILL} for a paybill, {BUY_GOODS} for a till (PartyB = the till number)",
    )


def validate_party_b(transaction_type: str, business_short_code: str, party_b: Any) -> str:
    """PartyB per the doc: the paybill itself for PayBill, the till number for BuyGoods."""
    value = business_short_code if party_b in (None, "") else party_b
    text = validate_shortcode("PartyB", value)
    if transaction_type == PAYBILL and text != business_short_code:
        raise ValidationError(
            "PartyB",
            party_b,
            f"for {PAYBILL} PartyB is the paybill itself and must equal BusinessShortCode "
            f"{business_short_code} (otherwise Daraja answers 2028 / SFC_IC0003)",
            f"set PartyB to {business_short_code}, or use {BUY_GOODS} if {text} is a till number",
        )
    if transaction_type == BUY_GOODS and text == business_short_code:
        warnings.warn(
            f"{BUY_GOODS} with PartyB equal to BusinessShortCode {business_short_code}: for a till, "
            "BusinessShortCode is the store (HO) number and PartyB the till number; if they are really "
            "the same, ignore this warning",
            RequestWarning,
            stacklevel=4,
        )
    return text


# --------------------------------------------------------------------------------------------
# CallBackURL

_PLACEHOLDER_HOSTS = re.compile(
    r"(^|\.)("
    r"example\.(com|org|net|co\.ke)|mydomain\.\w+|my-domain\.\w+|yourdomain\.\w+|your-domain\.\w+"
    r"|domain\.com|website\.com|yoursite\.\w+|your-site\.\w+|yourserver\.\w+|yourapp\.\w+"
    r"|[\w.-]*\.(example|invalid)"
    r")$",
    re.IGNORECASE,
)
_PLACEHOLDER_WORDS = re.compile(
    r"[<>{}]|\$\{|your[-_ ]?(url|callback|domain|server|site|host|app|endpoint|ngrok)|"
    r"ngrok[-_]?url|placeholder",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"\s")
_LOCAL_HOSTS = {"localhost", "localhost.localdomain", "ip6-localhost"}


def validate_callback_url(value: Any, environment: str = "sandbox") -> str:
    """An absolute http(s) URL, no whitespace, no placeholder.

    Outside local mode, plain http and local/private hosts get a :class:`CallbackURLWarning`
    (Daraja cannot reach them); production refuses plain http (live Daraja requires https).
    """
    fix = (
        "pass the public https URL of your callback endpoint (sandbox: e.g. an ngrok URL from "
        "`mpesa-lab listen --expose`; local mode: the listener's URL)"
    )
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError(
            "CallBackURL",
            value,
            "is required: Daraja posts the result of the payment there",
            f"{fix}; or set MPESA_CALLBACK_URL",
        )
    if not isinstance(value, str):
        raise ValidationError("CallBackURL", value, f"must be text, not {type(value).__name__}", fix)
    if _WHITESPACE.search(value):
        stripped = re.sub(r"\s+", "", value)
        raise ValidationError(
            "CallBackURL",
            value,
            "contains whitespace (Daraja answers 'Bad Request - Invalid CallBackURL')",
            f"remove the spaces: {stripped!r}",
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise ValidationError("CallBackURL", value, f"is not a valid URL ({exc})", fix) from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ValidationError("CallBackURL", value, "must be an absolute http:// or https:// URL with a host", fix)
    placeholder = _PLACEHOLDER_WORDS.search(value) or _PLACEHOLDER_HOSTS.search(host)
    if placeholder:
        raise ValidationError(
            "CallBackURL",
            value,
            f"looks like a placeholder copied from an example ({placeholder.group(0).lstrip('.')!r}), "
            "not your endpoint",
            fix,
        )
    if environment not in ("local", "workshop"):  # both call back inside the room
        if parts.scheme.lower() == "http":
            if environment == "production":
                raise ValidationError(
                    "CallBackURL",
                    value,
                    "must use https in production",
                    "serve the callback endpoint over https",
                )
            warnings.warn(
                f"CallBackURL {value!r} uses plain http: callbacks carry payment data and production "
                "Daraja requires https. Use an https URL (e.g. an ngrok tunnel).",
                CallbackURLWarning,
                stacklevel=3,
            )
        if _is_private_host(host):
            warnings.warn(
                f"CallBackURL {value!r} points at {host}, which Daraja cannot reach from the internet: "
                "no callback will arrive. Use a public URL (e.g. `mpesa-lab listen --expose`).",
                CallbackURLWarning,
                stacklevel=3,
            )
    return value


def _is_private_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host in _LOCAL_HOSTS or host.endswith(".localhost") or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A bare name such as "myserver" only resolves on a local network.
        return "." not in host
    return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified


def validate_checkout_request_id(value: Any) -> str:
    """A CheckoutRequestID as returned by the push (e.g. ws_CO_1007202409152617172396192)."""
    fix = "pass the CheckoutRequestID from the push's answer or its callback, e.g. 'ws_CO_1007202409152617172396192'"
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("CheckoutRequestID", value, "must be a non-empty string", fix)
    text = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", text):
        raise ValidationError(
            "CheckoutRequestID",
            value,
            "may hold only letters, digits, '_', '-', '.', ':' (at most 64)",
            fix,
        )
    return text


# --------------------------------------------------------------------------------------------
# Models


class _MaskedBody:
    """``masked_body``: the body with its Password masked, safe to log, store or show."""

    def to_body(self, password: str, timestamp: str) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def masked_body(self, password: str, timestamp: str) -> dict[str, Any]:
        """The body with the Password masked: safe to log, store or show."""
        return dict(self.to_body(password, timestamp), Password=mask(password))


@dataclass(frozen=True, init=False)
class StkPushRequest(_MaskedBody):
    """An STK push, validated on construction. ``to_body`` gives Daraja's JSON body."""

    business_short_code: str
    phone_number: str
    amount: int
    account_reference: str
    callback_url: str
    transaction_desc: str = "Payment"
    transaction_type: str = PAYBILL
    party_b: str = ""
    environment: str = field(default="sandbox", repr=False, compare=False)

    def __init__(
        self,
        business_short_code: str | int,
        phone_number: str | int,
        amount: Any,
        account_reference: str | int,
        callback_url: str | None,  # None is refused with the fix (validate_callback_url)
        transaction_desc: str = "Payment",
        transaction_type: str = PAYBILL,
        party_b: str | int | None = None,
        environment: str = "sandbox",
        *,
        strict_lengths: bool = False,
    ) -> None:
        setattr_ = object.__setattr__
        shortcode = validate_shortcode("BusinessShortCode", business_short_code)
        kind = validate_transaction_type(transaction_type)
        setattr_(self, "business_short_code", shortcode)
        setattr_(self, "phone_number", normalize_phone(phone_number))
        setattr_(self, "amount", validate_amount(amount))
        setattr_(
            self, "account_reference", validate_account_reference(account_reference, strict_lengths=strict_lengths)
        )
        setattr_(self, "transaction_desc", validate_transaction_desc(transaction_desc, strict_lengths=strict_lengths))
        setattr_(self, "transaction_type", kind)
        setattr_(self, "party_b", validate_party_b(kind, shortcode, party_b))
        setattr_(self, "callback_url", validate_callback_url(callback_url, environment))
        setattr_(self, "environment", environment)

    def to_body(self, password: str, timestamp: str) -> dict[str, Any]:
        """Daraja's request body. PartyA and PhoneNumber are both the normalised phone."""
        return {
            "BusinessShortCode": int(self.business_short_code),
            "Password": password,
            "Timestamp": timestamp,
            "TransactionType": self.transaction_type,
            "Amount": self.amount,
            "PartyA": self.phone_number,
            "PartyB": self.party_b,
            "PhoneNumber": self.phone_number,
            "CallBackURL": self.callback_url,
            "AccountReference": self.account_reference,
            "TransactionDesc": self.transaction_desc,
        }


@dataclass(frozen=True, init=False)
class StkQueryRequest(_MaskedBody):
    """An STK push query for one CheckoutRequestID."""

    business_short_code: str
    checkout_request_id: str

    def __init__(self, business_short_code: str | int, checkout_request_id: str) -> None:
        object.__setattr__(self, "business_short_code", validate_shortcode("BusinessShortCode", business_short_code))
        object.__setattr__(self, "checkout_request_id", validate_checkout_request_id(checkout_request_id))

    def to_body(self, password: str, timestamp: str) -> dict[str, Any]:
        return {
            "BusinessShortCode": int(self.business_short_code),
            "Password": password,
            "Timestamp": timestamp,
            "CheckoutRequestID": self.checkout_request_id,
        }
