import math
import warnings
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpesa_lab.daraja.errors import CallbackURLWarning, RequestWarning, ValidationError
from mpesa_lab.daraja.requests import (
    BUY_GOODS,
    PAYBILL,
    StkPushRequest,
    StkQueryRequest,
    normalize_phone,
    validate_amount,
    validate_callback_url,
)

GOOD_URL = "https://shop.co.ke/mpesa/callback"


def push(**overrides):
    values = dict(
        business_short_code="174379",
        phone_number="0722000000",
        amount=10,
        account_reference="INV001",
        callback_url=GOOD_URL,
    )
    values.update(overrides)
    return StkPushRequest(**values)


def refused(field, call, *args, **kwargs):
    with pytest.raises(ValidationError) as info:
        call(*args, **kwargs)
    error = info.value
    assert error.field == field
    assert error.rule and error.fix
    assert field in str(error) and "Fix:" in str(error)
    return error


# -- phone numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given_value,expected",
    [
        ("0722000000", "254722000000"),
        ("0722 000 000", "254722000000"),
        ("0722-000-000", "254722000000"),
        ("722000000", "254722000000"),
        ("+254722000000", "254722000000"),
        ("+254 722 000 000", "254722000000"),
        ("254722000000", "254722000000"),
        ("254-722-000000", "254722000000"),
        ("00254722000000", "254722000000"),
        ("+254 (0) 722 000000", "254722000000"),
        (254708374149, "254708374149"),
        ("0708374149", "254708374149"),
        ("0110000000", "254110000000"),
        ("0110 000 000", "254110000000"),
        ("+254 110 000000", "254110000000"),
        ("254-110-000000", "254110000000"),
        ("254-1-10000000", "254110000000"),
        ("  0757123456 ", "254757123456"),
    ],
)
def test_phone_numbers_in_every_common_form(given_value, expected):
    assert normalize_phone(given_value) == expected


@pytest.mark.parametrize(
    "value,words",
    [
        ("0733000000", "Airtel"),  # Airtel
        ("0100000000", "Airtel"),
        ("0770000000", "Telkom"),  # Telkom
        ("0747000000", "JTL"),  # 074x is mostly Safaricom, but not 0747
        ("0201234567", "landline"),  # Nairobi landline
        ("+14155550100", "Kenyan"),  # not Kenyan
        ("+255712345678", "Kenyan"),  # Tanzania (Vodacom)
        ("07220000", "has 8 digits"),  # too short
        ("07220000000000", "has 14 digits"),  # too long
        ("abc", "not a phone number"),
        ("0722O00000", "not a phone number"),  # letter O
        ("", "not a phone number"),
        ("++254722000000", "not a phone number"),
    ],
)
def test_non_safaricom_and_garbage_numbers_are_refused(value, words):
    error = refused("PhoneNumber", normalize_phone, value)
    assert words in error.rule
    assert "Safaricom" in error.fix


@pytest.mark.parametrize("value", [None, 7.22e8, True, ["0722000000"]])
def test_phone_must_be_text_or_integer(value):
    refused("PhoneNumber", normalize_phone, value)


@given(
    st.sampled_from(["70", "71", "72", "79", "11"]),  # wholly Safaricom ranges (074x is mixed)
    st.integers(min_value=0, max_value=9_999_999),
    st.sampled_from(["0{p}{n}", "+254{p}{n}", "254{p}{n}", "{p}{n}", "+254 {p} {n}", "0{p}-{n}"]),
)
def test_any_safaricom_number_normalises_the_same_whatever_the_form(prefix, number, form):
    digits = f"{number:07d}"
    expected = f"254{prefix}{digits}"
    text = form.format(p=prefix, n=digits)
    assert normalize_phone(text) == expected


# -- amount ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        (1, 1),
        (10, 10),
        ("10", 10),
        (" 10 ", 10),
        (10.0, 10),
        ("10.00", 10),
        (Decimal("25"), 25),
        (250_000, 250_000),
        ("250000", 250_000),
    ],
)
def test_good_amounts(value, expected):
    amount = validate_amount(value)
    assert amount == expected and type(amount) is int


@pytest.mark.parametrize(
    "value,words",
    [
        (0, "minimum"),
        (-5, "minimum"),
        ("0", "minimum"),
        ("-5", "not a positive number"),
        (10.5, "whole shillings"),
        ("10.5", "whole shillings"),
        (Decimal("0.5"), "whole shillings"),
        (True, "boolean"),
        (False, "boolean"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (-math.inf, "inf"),
        (Decimal("NaN"), "NaN"),
        (250_001, "maximum"),
        (10**9, "maximum"),
        ("ten", "not a positive number"),
        ("", "not a positive number"),
        ("1e3", "not a positive number"),
        (None, "NoneType"),
        ([10], "list"),
    ],
)
def test_bad_amounts(value, words):
    error = refused("Amount", validate_amount, value)
    assert words in error.rule


def test_numpy_numbers_from_a_dataframe_are_numbers_too():
    np = pytest.importorskip("numpy")
    assert validate_amount(np.int64(10)) == 10 and type(validate_amount(np.int64(10))) is int
    assert validate_amount(np.float64(25.0)) == 25 and validate_amount(np.float32(7)) == 7
    for value, words in [
        (np.int64(0), "minimum"),
        (np.float64("nan"), "nan"),
        (np.float32(1.5), "whole shillings"),
        (np.bool_(True), "bool"),
        (np.int64(250_001), "maximum"),
    ]:
        assert words in refused("Amount", validate_amount, value).rule
    assert normalize_phone(np.int64(254722000000)) == "254722000000"
    refused("PhoneNumber", normalize_phone, np.float64(722000000))


def test_fraction_refusal_suggests_both_roundings():
    error = refused("Amount", validate_amount, 10.5)
    assert "10" in error.fix and "11" in error.fix


# -- texts -----------------------------------------------------------------------------------


def test_account_reference_up_to_12_characters():
    assert push(account_reference="A" * 12).account_reference == "A" * 12
    assert push(account_reference=12345).account_reference == "12345"
    error = refused("AccountReference", push, account_reference="INV-2024-0001", strict_lengths=True)  # 13
    assert "13 characters" in error.rule and "12" in error.rule
    assert "'INV-2024-000'" in error.fix  # suggests, never truncates silently


@pytest.mark.parametrize("value", ["", "   ", None, "line\nbreak", 1.5])
def test_account_reference_bad_values(value):
    refused("AccountReference", push, account_reference=value)


def test_transaction_desc_up_to_13_characters_and_required():
    assert push(transaction_desc="D" * 13).transaction_desc == "D" * 13
    assert push().transaction_desc == "Payment"
    error = refused("TransactionDesc", push, transaction_desc="D" * 14, strict_lengths=True)
    assert "14 characters" in error.rule
    for empty in ("", None, "  "):
        error = refused("TransactionDesc", push, transaction_desc=empty)
        assert "Invalid Remarks" in error.rule


# -- transaction type and PartyB -------------------------------------------------------------


def test_paybill_party_b_is_the_shortcode():
    assert push().party_b == "174379"
    assert push(party_b="174379").party_b == "174379"
    assert push(transaction_type="customerpaybillonline").transaction_type == PAYBILL
    error = refused("PartyB", push, party_b="600000")
    assert "BusinessShortCode" in error.rule and BUY_GOODS in error.fix


def test_buy_goods_party_b_is_the_till():
    request = push(business_short_code="7654321", transaction_type=BUY_GOODS, party_b="123456")
    assert (request.transaction_type, request.party_b, request.business_short_code) == (BUY_GOODS, "123456", "7654321")
    with pytest.warns(RequestWarning, match="till"):
        push(transaction_type=BUY_GOODS)  # PartyB defaults to the store number: suspicious


@pytest.mark.parametrize("value", ["PayBill", "CustomerPayBill", "BuyGoods", "", None, 1])
def test_unknown_transaction_types_are_refused(value):
    error = refused("TransactionType", push, transaction_type=value)
    assert PAYBILL in error.rule and BUY_GOODS in error.rule


@pytest.mark.parametrize(
    "field,kwargs",
    [
        ("BusinessShortCode", {"business_short_code": "1743"}),
        ("BusinessShortCode", {"business_short_code": "17437x"}),
        ("BusinessShortCode", {"business_short_code": True}),
        ("PartyB", {"transaction_type": BUY_GOODS, "party_b": "12"}),
        ("PartyB", {"transaction_type": BUY_GOODS, "party_b": "till-1"}),
    ],
)
def test_shortcodes_are_digits(field, kwargs):
    refused(field, push, **kwargs)


# -- CallBackURL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        GOOD_URL,
        "https://abc123.ngrok-free.app/mpesa/cb/sec-ret",
        "https://api.shop.co.ke:8443/cb?x=1",
    ],
)
def test_good_callback_urls(url):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate_callback_url(url, "sandbox") == url


@pytest.mark.parametrize(
    "url,words",
    [
        ("https://shop.co.ke/cb ", "whitespace"),
        (" https://shop.co.ke/cb", "whitespace"),
        ("https://shop.co.ke/my cb", "whitespace"),
        ("/mpesa/callback", "absolute"),
        ("shop.co.ke/cb", "absolute"),
        ("ftp://shop.co.ke/cb", "absolute"),
        ("https://", "absolute"),
        ("https://mydomain.com/path", "placeholder"),  # the doc's own sample
        ("https://example.com/callback", "placeholder"),
        ("https://api.example.org/cb", "placeholder"),
        ("https://<your-url>/callback", "placeholder"),
        ("https://{CALLBACK_HOST}/cb", "placeholder"),
        ("https://YOUR_CALLBACK_URL", "placeholder"),
        ("https://yourdomain.com/mpesa", "placeholder"),
        ("https://shop.co.ke:99999/cb", "valid URL"),
        ("", "required"),
        (None, "required"),
    ],
)
def test_bad_callback_urls(url, words):
    error = refused("CallBackURL", validate_callback_url, url, "sandbox")
    assert words in error.rule


def test_callback_whitespace_fix_shows_the_cleaned_url():
    error = refused("CallBackURL", validate_callback_url, " https://shop.co.ke/cb ", "sandbox")
    assert "'https://shop.co.ke/cb'" in error.fix


@pytest.mark.parametrize(
    "url,words",
    [
        ("http://shop.co.ke/cb", "plain http"),
        ("https://localhost:8000/cb", "cannot reach"),
        ("https://127.0.0.1/cb", "cannot reach"),
        ("https://192.168.1.20/cb", "cannot reach"),
        ("https://myserver/cb", "cannot reach"),
    ],
)
def test_http_and_local_hosts_warn_outside_local_mode(url, words):
    with pytest.warns(CallbackURLWarning, match=words):
        assert validate_callback_url(url, "sandbox") == url
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert validate_callback_url(url, "local") == url


def test_production_refuses_plain_http():
    error = refused("CallBackURL", validate_callback_url, "http://shop.co.ke/cb", "production")
    assert "https" in error.rule


# -- bodies ----------------------------------------------------------------------------------


def test_push_body_has_daraja_fields_and_normalised_phone():
    request = push(
        phone_number="+254 722 111 111", amount="1", account_reference="accountref", transaction_desc="txndesc"
    )
    body = request.to_body("PASSWORD", "20210628092408")
    assert body == {
        "BusinessShortCode": 174379,
        "Password": "PASSWORD",
        "Timestamp": "20210628092408",
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 1,
        "PartyA": "254722111111",
        "PartyB": "174379",
        "PhoneNumber": "254722111111",
        "CallBackURL": GOOD_URL,
        "AccountReference": "accountref",
        "TransactionDesc": "txndesc",
    }
    masked = request.masked_body("PASSWORD", "20210628092408")
    assert masked["Password"] != "PASSWORD" and "PASSWORD" not in str(masked)


def test_query_body():
    request = StkQueryRequest(174379, " ws_CO_1007202409152617172396192 ")
    assert request.to_body("PW", "20240101000000") == {
        "BusinessShortCode": 174379,
        "Password": "PW",
        "Timestamp": "20240101000000",
        "CheckoutRequestID": "ws_CO_1007202409152617172396192",
    }


@pytest.mark.parametrize("value", ["", "  ", None, 123, "ws CO 1", "ws_CO_1;DROP", "x" * 65])
def test_query_checkout_id_is_checked(value):
    refused("CheckoutRequestID", StkQueryRequest, "174379", value)


def test_models_are_frozen():
    request = push()
    with pytest.raises(AttributeError):
        request.amount = 0  # type: ignore[misc]
