"""parse_callback: every real-world variant from observed-behaviour.md, and clear errors."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from mpesa_lab.clock import NAIROBI
from mpesa_lab.daraja.callbacks import CallbackError, ParsedCallback, parse_callback


def stk(**fields):
    base = {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": "ws_CO_191220191020363925",
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
    }
    base.update(fields)
    return {"Body": {"stkCallback": {k: v for k, v in base.items() if v is not ...}}}


def items(*pairs):
    out = []
    for pair in pairs:
        out.append({"Name": pair[0]} if len(pair) == 1 else {"Name": pair[0], "Value": pair[1]})
    return {"Item": out}


DOC_SUCCESS = stk(
    CallbackMetadata=items(
        ("Amount", 1.00),
        ("MpesaReceiptNumber", "NLJ7RT61SV"),
        ("TransactionDate", 20191219102115),
        ("PhoneNumber", 254708374149),
    )
)


def test_doc_success_sample_as_bytes():
    raw = json.dumps(DOC_SUCCESS).encode()
    cb = parse_callback(raw)
    assert isinstance(cb, ParsedCallback)
    assert cb.checkout_request_id == "ws_CO_191220191020363925"
    assert cb.merchant_request_id == "29115-34620561-1"
    assert cb.result_code == "0" and cb.succeeded
    assert cb.amount == Decimal("1")
    assert cb.receipt == "NLJ7RT61SV"
    assert cb.phone == "254708374149"
    assert cb.transaction_date == datetime(2019, 12, 19, 10, 21, 15, tzinfo=NAIROBI)
    assert cb.transaction_date.utcoffset().total_seconds() == 3 * 3600
    assert cb.balance is None
    assert cb.entry is not None and cb.entry.name == "success"
    assert cb.raw == raw


def test_amount_1_00_is_kept_exactly_from_raw_json():
    cb = parse_callback(
        b'{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_1","ResultCode":0,'
        b'"CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.00}]}}}}'
    )
    assert cb.amount == Decimal("1.00") and str(cb.amount) == "1.00"


@pytest.mark.parametrize("value", [1, 1.0, "1", "1.00", 1.00])
def test_amount_variants(value):
    cb = parse_callback(stk(CallbackMetadata=items(("Amount", value))))
    assert cb.amount == Decimal(1)


def test_doc_cancelled_sample_has_no_metadata():
    cb = parse_callback(
        json.dumps(
            stk(
                MerchantRequestID="f1e2-4b95-a71d-b30d3cdbb7a7942864",
                CheckoutRequestID="ws_CO_21072024125243250722943992",
                ResultCode=1032,
                ResultDesc="Request cancelled by user",
            )
        )
    )
    assert cb.result_code == "1032" and not cb.succeeded
    assert cb.entry.name == "cancelled"
    assert cb.amount is None and cb.receipt is None and cb.items == {}
    assert "cancel" in cb.explanation.lower()


@pytest.mark.parametrize(
    "code, expected, name",
    [
        (1032, "1032", "cancelled"),
        ("1032", "1032", "cancelled"),
        (1032.0, "1032", "cancelled"),
        ("SFC_IC0003", "SFC_IC0003", "operator_does_not_exist"),
        (0, "0", "success"),
        ("0", "0", "success"),
    ],
)
def test_result_code_number_or_string(code, expected, name):
    cb = parse_callback(stk(ResultCode=code))
    assert cb.result_code == expected
    assert cb.entry.name == name


def test_unknown_result_code_and_changed_wording_do_not_crash():
    cb = parse_callback(stk(ResultCode=4242, ResultDesc="Something brand new happened"))
    assert cb.result_code == "4242"
    assert cb.entry.kind == "unknown"
    assert cb.result_desc == "Something brand new happened"
    assert "STK query" in cb.mitigation

    reworded = parse_callback(stk(ResultCode=1032, ResultDesc="Request canceled by the user."))
    assert reworded.entry.name == "cancelled"
    assert reworded.result_desc == "Request canceled by the user."


def test_balance_absent_or_without_value_or_present():
    assert parse_callback(stk(CallbackMetadata=items(("Amount", 5)))).balance is None
    no_value = parse_callback(stk(CallbackMetadata=items(("Amount", 5), ("Balance",))))
    assert no_value.balance is None and "Balance" in no_value.items
    present = parse_callback(stk(CallbackMetadata=items(("Balance", 32009.9))))
    assert present.balance == Decimal("32009.9")


def test_extra_fields_and_unknown_items_are_kept():
    body = stk(CallbackMetadata=items(("Amount", 10), ("SomethingNew", "x")), Extra={"a": 1})
    body["Body"]["Other"] = 1
    cb = parse_callback(body)
    assert cb.items["SomethingNew"] == "x"
    assert cb.raw is body


def test_phone_and_date_as_strings_and_invalid_date():
    cb = parse_callback(
        stk(CallbackMetadata=items(("PhoneNumber", "254708374149"), ("TransactionDate", "20240710091526")))
    )
    assert cb.phone == "254708374149"
    assert cb.transaction_date == datetime(2024, 7, 10, 9, 15, 26, tzinfo=NAIROBI)
    bad = parse_callback(stk(CallbackMetadata=items(("TransactionDate", 20241399999999))))
    assert bad.transaction_date is None
    assert bad.items["TransactionDate"] == 20241399999999


def test_newer_and_older_identifier_formats():
    cb = parse_callback(
        stk(MerchantRequestID="2654-4b64-97ff-b827b542881d3130", CheckoutRequestID="ws_CO_1007202409152617172396192")
    )
    assert cb.checkout_request_id == "ws_CO_1007202409152617172396192"
    assert cb.merchant_request_id == "2654-4b64-97ff-b827b542881d3130"


def test_missing_merchant_request_id_is_tolerated():
    assert parse_callback(stk(MerchantRequestID=...)).merchant_request_id is None


def test_text_and_utf8_bom_are_accepted():
    text = json.dumps(DOC_SUCCESS)
    assert parse_callback(text).raw == text
    assert parse_callback(b"\xef\xbb\xbf" + text.encode()).receipt == "NLJ7RT61SV"


def test_single_item_object_instead_of_array():
    cb = parse_callback(stk(CallbackMetadata={"Item": {"Name": "Amount", "Value": 3}}))
    assert cb.amount == Decimal(3)


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "JSON object, got a JSON array"),
        (b'{"body": {}}', "no 'Body' key"),
        (b'{"Body": []}', "'Body' must be a JSON object"),
        (b'{"Body": {"stkcallback": {}}}', "no 'Body.stkCallback'"),
        (b'{"Body": {"stkCallback": "x"}}', "'Body.stkCallback' must be a JSON object"),
        (b'{"Body": {"stkCallback": {"ResultCode": 0}}}', "CheckoutRequestID is missing"),
        (b'{"Body": {"stkCallback": {"CheckoutRequestID": "", "ResultCode": 0}}}', "CheckoutRequestID is empty"),
        (b'{"Body": {"stkCallback": {"CheckoutRequestID": ["a"], "ResultCode": 0}}}', "must be a string"),
        (b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1"}}}', "ResultCode is missing"),
        (b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": null}}}', "ResultCode is null"),
        (b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": true}}}', "number or a string"),
        (b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": {}}}}', "number or a string"),
        (b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": " "}}}', "empty string"),
        (
            b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0, "ResultDesc": {}}}}',
            "ResultDesc must be a string",
        ),
        (
            b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0, "CallbackMetadata": []}}}',
            "CallbackMetadata must be an object",
        ),
        (
            b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0, '
            b'"CallbackMetadata": {"Item": 5}}}}',
            "Item must be an array",
        ),
        (
            b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0, '
            b'"CallbackMetadata": {"Item": [{"Value": 1}]}}}}',
            "Item[0] has no Name",
        ),
        (
            b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": 0, '
            b'"CallbackMetadata": {"Item": [{"Name": "Amount", "Value": "ten"}]}}}}',
            "Amount must be a number",
        ),
    ],
)
def test_errors_say_what_is_wrong(body, fragment):
    with pytest.raises(CallbackError, match=None) as info:
        parse_callback(body)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_wrong_python_type():
    with pytest.raises(CallbackError, match="pass bytes, str or dict"):
        parse_callback(42)  # type: ignore[arg-type]
