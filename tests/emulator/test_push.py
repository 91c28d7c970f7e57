"""POST /mpesa/stkpush/v1/processrequest: validation, credentials, the lock, the ack and its ids."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from mpesa_lab.clock import NAIROBI
from mpesa_lab.constants import SANDBOX_PASSKEY, STK_PUSH_PATH
from mpesa_lab.daraja.password import build_password
from mpesa_lab.emulator.defaults import TILL_NUMBER, TILL_PASSKEY, TILL_SHORTCODE
from mpesa_lab.emulator.ids import CHECKOUT_REQUEST_ID_RE, MERCHANT_REQUEST_ID_RE

from .conftest import TIMESTAMP, assert_envelope


def test_ack_shape_and_types(lab):
    response = lab.push()
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "MerchantRequestID",
        "CheckoutRequestID",
        "ResponseCode",
        "ResponseDescription",
        "CustomerMessage",
    ]
    assert body["ResponseCode"] == "0"  # a string, not a number
    assert body["ResponseDescription"] == "Success. Request accepted for processing"
    assert body["CustomerMessage"] == "Success. Request accepted for processing"
    assert MERCHANT_REQUEST_ID_RE.fullmatch(body["MerchantRequestID"])
    assert CHECKOUT_REQUEST_ID_RE.fullmatch(body["CheckoutRequestID"])


def test_checkout_request_id_encodes_nairobi_time_and_phone_tail(make_lab):
    moment = datetime(2024, 7, 10, 9, 15, 26, 171000, tzinfo=NAIROBI)
    lab = make_lab(clock=lambda: moment)
    cid = lab.push_ok("254723961920")
    assert cid == "ws_CO_10072024091526171723961920"
    # milliseconds are not zero-padded
    lab.emulator.reset()
    early = datetime(2024, 7, 10, 9, 15, 26, 7000, tzinfo=NAIROBI)
    lab2 = make_lab(clock=lambda: early)
    assert lab2.push_ok("254723961920") == "ws_CO_100720240915267723961920"


def test_ids_stay_unique_with_a_frozen_clock(make_lab):
    moment = datetime(2024, 7, 10, 9, 15, 26, 171000, tzinfo=NAIROBI)
    lab = make_lab(clock=lambda: moment, enforce_subscriber_lock=False, enforce_duplicate_rule=False)
    ids = [lab.push_ok("254711000001") for _ in range(5)]
    assert len(set(ids)) == 5
    merchant_ids = {t["merchant_request_id"] for t in lab.emulator.transactions()}
    assert len(merchant_ids) == 5


def test_numbers_may_arrive_as_numbers_or_strings(lab):
    cid = lab.push_ok(254711000002, "5", BusinessShortCode=174379, PartyB=174379, Timestamp=int(TIMESTAMP))
    tx = lab.emulator.transaction(cid)
    assert tx["amount"] == 5 and tx["phone"] == "254711000002"
    assert lab.push_ok("254711000003", 7.0) and lab.push_ok("254711000004", "9.00")


INVALID_FIELDS = [
    ("BusinessShortCode", "abc"),
    ("BusinessShortCode", None),
    ("BusinessShortCode", 1234),
    ("Timestamp", "now"),
    ("Timestamp", "20241301000000"),
    ("Timestamp", None),
    ("TransactionType", "CustomerPayBill"),
    ("TransactionType", None),
    ("Amount", "ten"),
    ("Amount", -1),
    ("Amount", 1.5),
    ("Amount", None),
    ("Amount", True),
    ("PartyA", "0712345678"),
    ("PartyA", None),
    ("PartyB", "12"),
    ("PartyB", None),
    ("PhoneNumber", "+254712345678"),
    ("PhoneNumber", "25471234567"),
    ("PhoneNumber", None),
    ("CallBackURL", "not a url"),
    ("CallBackURL", "https://mydomain.com/path "),
    ("CallBackURL", "<YOUR_CALLBACK_URL>"),
    ("CallBackURL", "ftp://example.com/cb"),
    ("CallBackURL", None),
    ("AccountReference", ""),
    ("AccountReference", None),
    ("AccountReference", {"a": 1}),
]


@pytest.mark.parametrize(("field", "value"), INVALID_FIELDS)
def test_bad_field_is_named(lab, field, value):
    body = lab.push_body()
    if value is None:
        del body[field]
    else:
        body[field] = value
    if field == "Timestamp" and value is not None:
        body["Password"] = build_password("174379", SANDBOX_PASSKEY, str(value))
    response = lab.http.post(STK_PUSH_PATH, json=body, headers=lab.bearer())
    assert_envelope(response, 400, "400.002.02", f"Bad Request - Invalid {field}")


def test_missing_transaction_desc_is_invalid_remarks_as_observed(make_lab):
    lab = make_lab()
    body = lab.push_body()
    del body["TransactionDesc"]
    response = lab.http.post(STK_PUSH_PATH, json=body, headers=lab.bearer())
    assert_envelope(response, 400, "400.002.02", "Bad Request - Invalid Remarks")
    relaxed = make_lab(require_transaction_desc=False)
    body = relaxed.push_body()
    del body["TransactionDesc"]
    assert relaxed.http.post(STK_PUSH_PATH, json=body, headers=relaxed.bearer()).status_code == 200


def test_strict_lengths_reject_long_reference_and_desc(make_lab):
    lab = make_lab(strict_lengths=True)
    assert_envelope(lab.push(AccountReference="A" * 13), 400, "400.002.02", "Bad Request - Invalid AccountReference")
    assert_envelope(lab.push(TransactionDesc="D" * 14), 400, "400.002.02", "Bad Request - Invalid Remarks")
    assert lab.push(AccountReference="A" * 12, TransactionDesc="D" * 13).status_code == 200


def test_https_can_be_required(make_lab):
    lab = make_lab(require_https=True)
    assert_envelope(lab.push(), 400, "400.002.02", "Bad Request - Invalid CallBackURL")


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"BusinessShortCode=174379", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b'{"BusinessShortCode": 174379}', {"Content-Type": "text/plain"}),
        (b'{"BusinessShortCode": 174379}', {}),
        (b"{not json", {"Content-Type": "application/json"}),
        (b"[1, 2, 3]", {"Content-Type": "application/json"}),
        (b"", {"Content-Type": "application/json"}),
        (b"\xff\xfe\x00", {"Content-Type": "application/json"}),
        (b"[" * 100_000, {"Content-Type": "application/json"}),
    ],
)
def test_non_json_or_wrong_content_type_is_invalid_business_short_code(lab, content, headers):
    response = lab.http.post(STK_PUSH_PATH, content=content, headers={**lab.bearer(), **headers})
    assert_envelope(response, 400, "400.002.02", "Bad Request - Invalid BusinessShortCode")


def test_unknown_shortcode_is_merchant_does_not_exist(lab):
    response = lab.push(shortcode="600000", passkey=SANDBOX_PASSKEY)
    assert_envelope(response, 500, "500.001.1001", "Merchant does not exist")


@pytest.mark.parametrize(
    "password",
    [
        build_password("174379", "0" * 64, TIMESTAMP),  # wrong passkey
        build_password("174379", SANDBOX_PASSKEY, "20240710091527"),  # another timestamp
        build_password("174380", SANDBOX_PASSKEY, TIMESTAMP),  # another shortcode
        "not base64 at all",
        "",
        12345,
        None,
    ],
)
def test_password_mismatch_is_wrong_credentials(lab, password):
    body = lab.push_body()
    if password is None:
        del body["Password"]
    else:
        body["Password"] = password
    response = lab.http.post(STK_PUSH_PATH, json=body, headers=lab.bearer())
    assert_envelope(response, 500, "500.001.1001", "Wrong credentials")


def test_old_timestamps_are_fine_when_password_matches(lab):
    # The doc's own sample reuses 2021's timestamp: freshness is not checked.
    assert lab.push(timestamp="20210628092408").status_code == 200


def test_second_push_while_pending_cannot_lock_subscriber(make_lab):
    lab = make_lab(interactive=True)
    first = lab.push_ok("254711000010")
    response = lab.push("254711000010", 2)
    assert_envelope(
        response,
        500,
        "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
    )
    lab.emulator.answer(first, cancel=True)
    lab.emulator.wait_until_final(first, 15)
    assert lab.push("254711000010", 2).status_code == 200


def test_subscriber_lock_can_be_relaxed(make_lab):
    lab = make_lab(interactive=True, enforce_subscriber_lock=False)
    assert lab.push("254711000011", 1).status_code == 200
    assert lab.push("254711000011", 2).status_code == 200


def test_realism_rules_can_be_relaxed_live_in_a_running_lab(make_lab):
    lab = make_lab(interactive=True)
    assert lab.push("254711000012", 5).status_code == 200
    assert_envelope(lab.push("254711000012", 6), 500, "500.001.1001")  # locked: the first is pending
    relaxed = lab.lab("POST", "/config", json={"enforce_subscriber_lock": False, "enforce_duplicate_rule": False})
    assert relaxed.status_code == 200, relaxed.text
    second = lab.push_ok("254711000012", 5)  # same phone, same amount, first still pending
    lab.emulator.answer(second)
    assert lab.emulator.wait_until_final(second, 15)["result_code"] == "0"  # not 17


def test_till_merchant_accepts_buy_goods(lab):
    cid = lab.push_ok(
        shortcode=TILL_SHORTCODE, passkey=TILL_PASSKEY, PartyB=TILL_NUMBER, TransactionType="CustomerBuyGoodsOnline"
    )
    tx = lab.emulator.wait_until_final(cid, 15)
    assert tx["result_code"] == "0" and tx["party_b"] == TILL_NUMBER


def test_password_is_never_kept_in_clear(lab):
    body = lab.push_body()
    cid = lab.push_ok()
    tx = lab.emulator.transaction(cid)
    assert body["Password"] not in str(tx)
    assert SANDBOX_PASSKEY not in str(lab.emulator.transactions())
    assert re.search("hidden", tx["request"]["Password"])
