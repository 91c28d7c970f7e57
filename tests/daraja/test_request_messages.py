"""Every refusal states the rule that failed (issue 18, item 5): a learner who types 12345 in the
push form learns the real rule (length, Kenyan prefixes, the 2547/2541 and 07/01 forms) from the
message, not from reading daraja/requests.py."""

from __future__ import annotations

import pytest

from mpesa_lab.daraja.errors import ValidationError
from mpesa_lab.daraja.requests import (
    normalize_phone,
    validate_account_reference,
    validate_amount,
    validate_callback_url,
    validate_checkout_request_id,
    validate_party_b,
    validate_shortcode,
    validate_transaction_desc,
    validate_transaction_type,
)

PHONE_RULE = ("9 digits starting with 7 or 1", "2547XXXXXXXX / 2541XXXXXXXX", "07XXXXXXXX / 01XXXXXXXX")


def rule_of(fn, *args, **kwargs) -> str:
    with pytest.raises(ValidationError) as caught:
        fn(*args, **kwargs)
    return caught.value.rule


@pytest.mark.parametrize(
    "value, says",
    [
        ("12345", "has 5 digits, but a Kenyan mobile number written without 0 or 254 (the 9 digits alone) has 9"),
        ("0712", "has 4 digits, but a Kenyan mobile number written in local form (0 + 9 digits) has 10"),
        ("07123456789", "has 11 digits"),
        (
            "25471234567",
            "has 11 digits, but a Kenyan mobile number written with the country code (254 + 9 digits) has 12",
        ),
        ("+2547123456789", "has 13 digits"),
        ("0201234567", "after the leading 0 it starts with 2, and Kenyan mobile numbers start with 7 or 1"),
        ("254512345678", "after 254 it starts with 5"),
        ("0722-OOO-000", "'O'"),
        ("07#22000000", "'#'"),
        ("", "is empty"),
    ],
)
def test_every_phone_refusal_states_the_rule(value, says):
    rule = rule_of(normalize_phone, value)
    assert says in rule, rule
    for part in PHONE_RULE:
        assert part in rule, f"{part!r} missing from: {rule}"
    assert "only digits, an optional leading +" not in rule or not value.isdigit()


def test_12345_is_not_told_it_has_characters_it_does_not_have():
    rule = rule_of(normalize_phone, "12345")
    assert "not a phone number" not in rule and "has 5 digits" in rule


def test_other_countries_and_networks_say_which_rule():
    assert "country code 254" in rule_of(normalize_phone, "+14155550100")
    assert "Airtel, not Safaricom" in rule_of(normalize_phone, "0733000000")


@pytest.mark.parametrize(
    "value, says",
    [
        (0, "from 1 to 250,000: below the minimum of 1"),
        (250_001, "from 1 to 250,000: above the per-transaction maximum of 250,000"),
        (10.5, "whole number of shillings from 1 to 250,000: M-PESA moves whole shillings"),
        ("ten", "whole number of shillings from 1 to 250,000; this text is not a positive number"),
        (None, "whole number of shillings from 1 to 250,000, not a NoneType"),
    ],
)
def test_amount_refusals_state_the_range(value, says):
    assert says in rule_of(validate_amount, value)


@pytest.mark.parametrize(
    "fn, field, limit",
    [
        (validate_account_reference, "AccountReference", 12),
        (validate_transaction_desc, "TransactionDesc", 13),
    ],
)
@pytest.mark.parametrize(
    "value, says",
    [
        ("   ", "must not be empty"),
        ("INV\n1", "contains control characters ('\\n')"),
        (3.5, "must be text, not float"),
    ],
)
def test_text_refusals_state_the_rule(fn, field, limit, value, says):
    rule = rule_of(fn, value)
    assert says in rule, rule
    assert f"printable text of 1 to {limit} characters" in rule or "Invalid Remarks" in rule, rule


def test_strict_lengths_state_the_limit():
    assert "at most 12" in rule_of(validate_account_reference, "INV-2026-0001-X", strict_lengths=True)


@pytest.mark.parametrize(
    "value, says",
    [
        ("1743", "must be 5 to 7 digits (a paybill, or a till's store number): it has 4 digits"),
        ("17437900", "it has 8 digits"),
        ("17a379", "it holds 'a', which are not digits"),
    ],
)
def test_shortcode_refusals_say_what_is_wrong(value, says):
    assert says in rule_of(validate_shortcode, "BusinessShortCode", value)


def test_transaction_type_party_b_and_query_id_state_their_rules():
    assert "CustomerPayBillOnline or CustomerBuyGoodsOnline" in rule_of(validate_transaction_type, "PayBill")
    assert "must equal BusinessShortCode 174379" in rule_of(
        validate_party_b, "CustomerPayBillOnline", "174379", "600000"
    )
    assert "only letters, digits" in rule_of(validate_checkout_request_id, "ws CO 1")


@pytest.mark.parametrize(
    "value, says",
    [
        (None, "is required"),
        ("https://shop.co.ke/cb path", "contains whitespace"),
        ("ftp://shop.co.ke/cb", "absolute http:// or https:// URL with a host"),
        ("https://example.com/callback", "placeholder"),
    ],
)
def test_callback_url_refusals_state_the_rule(value, says):
    assert says in rule_of(validate_callback_url, value)
    assert "https" in rule_of(validate_callback_url, "http://shop.co.ke/cb", "production")
