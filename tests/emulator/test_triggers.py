"""Every documented result code, on purpose: one push per trigger, the callback received by a real
HTTP endpoint, its shape and types checked; then the real conditions behind the same codes."""

from __future__ import annotations

from datetime import datetime

import pytest

from mpesa_lab import codes
from mpesa_lab.clock import NAIROBI
from mpesa_lab.emulator import TRIGGERS
from mpesa_lab.emulator.defaults import TILL_NUMBER, TILL_PASSKEY, TILL_SHORTCODE
from mpesa_lab.emulator.ids import RECEIPT_RE

from .conftest import assert_envelope, callback_of

DOC_RESULT_CODES = {
    "0",
    "1",
    "2",
    "3",
    "4",
    "8",
    "17",
    "1019",
    "1025",
    "1032",
    "1037",
    "2001",
    "2028",
    "8006",
    "SFC_IC0003",
}


def test_one_trigger_per_documented_result_code():
    assert {t.code for t in TRIGGERS} == DOC_RESULT_CODES
    assert {e.code for e in codes.result_codes() if e.source == "doc"} == DOC_RESULT_CODES
    assert len({t.phone for t in TRIGGERS}) == len(TRIGGERS)
    for t in TRIGGERS:
        assert t.phone.startswith("2547") and len(t.phone) == 12 and t.phone.isdigit()
        assert t.how and isinstance(t.amount, int)


def assert_callback_shape(cb: dict, code: str, tx: dict) -> None:
    assert set(cb) >= {"MerchantRequestID", "CheckoutRequestID", "ResultCode", "ResultDesc"}
    assert cb["MerchantRequestID"] == tx["merchant_request_id"]
    assert cb["CheckoutRequestID"] == tx["checkout_request_id"]
    if code.isdigit():
        assert cb["ResultCode"] == int(code) and isinstance(cb["ResultCode"], int)
    else:
        assert cb["ResultCode"] == code  # alphanumeric codes arrive as strings
    assert cb["ResultDesc"] == codes.result_entry(code).message
    if code != "0":
        assert "CallbackMetadata" not in cb
        return
    items = cb["CallbackMetadata"]["Item"]
    assert [i["Name"] for i in items] == ["Amount", "MpesaReceiptNumber", "Balance", "TransactionDate", "PhoneNumber"]
    values = {i["Name"]: i.get("Value") for i in items}
    assert isinstance(values["Amount"], float) and values["Amount"] == float(tx["amount"])
    assert isinstance(values["MpesaReceiptNumber"], str) and RECEIPT_RE.fullmatch(values["MpesaReceiptNumber"])
    assert "Value" not in items[2]  # Balance without a Value, as the sandbox sends it
    assert isinstance(values["TransactionDate"], int) and len(str(values["TransactionDate"])) == 14
    assert isinstance(values["PhoneNumber"], int) and str(values["PhoneNumber"]) == tx["phone"]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: t.code)
def test_trigger_produces_its_code_in_callback_and_query(lab, collector, trigger):
    response = lab.push(
        trigger.phone,
        trigger.amount,
        AccountReference=trigger.account_reference,
        TransactionType=trigger.transaction_type,
        PartyB=trigger.party_b or "174379",
    )
    assert response.status_code == 200, response.text
    cid = response.json()["CheckoutRequestID"]
    [post] = collector.wait_for(cid)
    assert post["headers"]["content-type"] == "application/json"
    tx = lab.emulator.wait_until_final(cid, 15)
    assert tx["result_code"] == trigger.code and tx["decided_by"] == "trigger"
    assert_callback_shape(callback_of(post), trigger.code, tx)
    query = lab.query(cid)
    assert query.status_code == 200
    body = query.json()
    assert body["ResultCode"] == trigger.code and isinstance(body["ResultCode"], str)
    assert body["ResponseCode"] == "0"
    assert "CallbackMetadata" not in body and "MpesaReceiptNumber" not in str(body)


def test_receipt_encodes_the_completion_date(make_lab, collector):
    lab = make_lab(clock=lambda: datetime(2019, 12, 19, 10, 21, 15, tzinfo=NAIROBI))
    cid = lab.push_ok()
    cb = callback_of(collector.wait_for(cid)[0])
    values = {i["Name"]: i.get("Value") for i in cb["CallbackMetadata"]["Item"]}
    assert values["MpesaReceiptNumber"][:3] == "NLJ"  # 2019, December, 19th: like the doc's NLJ7RT61SV
    assert values["TransactionDate"] == 20191219102115


def test_public_test_number_pays_by_default(lab, collector):
    cid = lab.push_ok("254708374149", 10)
    assert callback_of(collector.wait_for(cid)[0])["ResultCode"] == 0


def _final(lab, cid):
    return lab.emulator.wait_until_final(cid, 15)


def test_low_balance_is_1(lab):
    lab.emulator.register_subscriber("254711100001", balance=50)
    assert _final(lab, lab.push_ok("254711100001", 51))["result_code"] == "1"
    assert _final(lab, lab.push_ok("254711100001", 50))["result_code"] == "0"


def test_amount_below_minimum_is_2_and_above_maximum_is_3(make_lab):
    lab = make_lab(enforce_duplicate_rule=False)
    lab.emulator.register_subscriber("254711100002", balance=500_000)
    assert _final(lab, lab.push_ok("254711100002", 0))["result_code"] == "2"
    assert _final(lab, lab.push_ok("254711100002", 250_001))["result_code"] == "3"
    lab.emulator.register_subscriber("254711100003", balance=500_000, max_transaction=1000)
    assert _final(lab, lab.push_ok("254711100003", 1001))["result_code"] == "3"


def test_daily_limit_is_4(lab):
    lab.emulator.register_subscriber("254711100004", balance=10_000, daily_limit=100, daily_total=90)
    assert _final(lab, lab.push_ok("254711100004", 11))["result_code"] == "4"
    assert _final(lab, lab.push_ok("254711100004", 10))["result_code"] == "0"


def test_merchant_balance_limit_is_8(lab):
    lab.emulator.register_merchant("600100", "k" * 64, name="SMALL SHOP", max_balance=100)
    cid = lab.push_ok("254711100005", 101, shortcode="600100", passkey="k" * 64)
    assert _final(lab, cid)["result_code"] == "8"


def test_same_amount_twice_within_two_minutes_is_17(make_lab):
    moment = [datetime(2024, 7, 10, 9, 0, 0, tzinfo=NAIROBI)]
    lab = make_lab(clock=lambda: moment[0])
    lab.emulator.register_subscriber("254711100006")
    assert _final(lab, lab.push_ok("254711100006", 20))["result_code"] == "0"
    tx = _final(lab, lab.push_ok("254711100006", 20))
    assert tx["result_code"] == "17" and "prompted" not in [e["event"] for e in tx["timeline"]]
    assert _final(lab, lab.push_ok("254711100006", 21))["result_code"] == "0"  # another amount is fine
    moment[0] = moment[0].replace(minute=2, second=1)
    assert _final(lab, lab.push_ok("254711100006", 20))["result_code"] == "0"


def test_rule_17_can_be_relaxed(make_lab):
    lab = make_lab(enforce_duplicate_rule=False)
    lab.emulator.register_subscriber("254711100007")
    for _ in range(3):
        assert _final(lab, lab.push_ok("254711100007", 20))["result_code"] == "0"


def test_prompt_too_long_is_1025(lab):
    lab.emulator.register_subscriber("254711100008")
    tx = _final(lab, lab.push_ok("254711100008", 1, AccountReference="R" * 150))
    assert tx["result_code"] == "1025" and len(tx["prompt"]) > 182
    lab.emulator.register_merchant("600200", "p" * 64, name="N" * 120)
    tx = _final(lab, lab.push_ok("254711100009", 1, shortcode="600200", passkey="p" * 64, PartyB="600200"))
    assert tx["result_code"] == "1025"


def test_wrong_transaction_type_for_the_shortcode_is_2028(lab):
    paybill = lab.push_ok("254711100010", TransactionType="CustomerBuyGoodsOnline")
    assert _final(lab, paybill)["result_code"] == "2028"
    till = lab.push_ok(
        "254711100011",
        shortcode=TILL_SHORTCODE,
        passkey=TILL_PASSKEY,
        PartyB=TILL_NUMBER,
        TransactionType="CustomerPayBillOnline",
    )
    assert _final(lab, till)["result_code"] == "2028"


def test_wrong_party_b_is_sfc_ic0003(lab, collector):
    cid = lab.push_ok(
        "254711100012",
        shortcode=TILL_SHORTCODE,
        passkey=TILL_PASSKEY,
        PartyB=TILL_SHORTCODE,
        TransactionType="CustomerBuyGoodsOnline",
    )
    assert _final(lab, cid)["result_code"] == "SFC_IC0003"
    assert callback_of(collector.wait_for(cid)[0])["ResultCode"] == "SFC_IC0003"
    assert _final(lab, lab.push_ok("254711100013", PartyB="174380"))["result_code"] == "SFC_IC0003"


def test_profiles_drive_ordinary_subscribers(make_lab):
    lab = make_lab(enforce_duplicate_rule=False)
    expected = {
        "cancels": "1032",
        "ignores": "1037",
        "unreachable": "1037",
        "wrong_pin": "2001",
        "late": "1019",
        "pays": "0",
    }
    for i, (profile, code) in enumerate(expected.items()):
        phone = f"2547112000{i:02d}"
        lab.emulator.register_subscriber(phone, profile=profile)
        tx = _final(lab, lab.push_ok(phone))
        assert (tx["result_code"], tx["decided_by"]) == (code, "profile"), profile


def test_next_result_instruction_beats_trigger_and_profile(lab, collector):
    lab.emulator.set_next_result("1032", phone="254708000000")
    tx = _final(lab, lab.push_ok("254708000000"))
    assert tx["result_code"] == "1032" and tx["decided_by"] == "instruction"
    lab.emulator.set_next_result(2001)
    assert _final(lab, lab.push_ok("254711100014"))["result_code"] == "2001"
    assert _final(lab, lab.push_ok("254711100015"))["decided_by"] == "mix"  # used up


def test_an_unknown_code_can_be_scripted_and_arrives_as_sent(lab, collector):
    lab.emulator.set_next_result("4242")
    cid = lab.push_ok("254711100016")
    cb = callback_of(collector.wait_for(cid)[0])
    assert cb["ResultCode"] == 4242 and "CallbackMetadata" not in cb


OBSERVED_FINAL = [e.code for e in codes.result_codes() if not e.documented and e.final]


@pytest.mark.parametrize("code", OBSERVED_FINAL)
def test_every_observed_code_can_be_scripted_and_arrives_as_daraja_sends_it(lab, collector, code):
    """Codes seen live beyond the doc table (1001, 26, 9999, 1031, 1036, E3008) have no magic
    number; set_next_result produces each, with the catalogue's words, numeric codes as numbers."""
    phone = f"2547113{OBSERVED_FINAL.index(code):05d}"
    lab.emulator.set_next_result(code, phone=phone)
    cid = lab.push_ok(phone)
    tx = _final(lab, cid)
    assert tx["result_code"] == code and tx["decided_by"] == "instruction"
    assert_callback_shape(callback_of(collector.wait_for(cid)[0]), code, tx)


def test_the_till_number_as_business_short_code_is_merchant_does_not_exist(lab):
    # The classic till mix-up before any callback: Daraja's mitigation for "Merchant does not
    # exist" is the short code used on Go Live, i.e. the store number, as BusinessShortCode.
    response = lab.push(
        "254711100018",
        1,
        shortcode=TILL_NUMBER,
        passkey=TILL_PASSKEY,
        PartyB=TILL_NUMBER,
        TransactionType="CustomerBuyGoodsOnline",
    )
    assert_envelope(response, 500, "500.001.1001", "Merchant does not exist")
