"""POST /mpesa/stkpushquery/v1/query: pending in both styles, final answers, mistakes."""

from __future__ import annotations

from mpesa_lab.constants import STK_QUERY_PATH
from mpesa_lab.emulator.defaults import TILL_PASSKEY, TILL_SHORTCODE

from .conftest import TIMEOUT, assert_envelope


def test_pending_as_error_envelope_by_default(make_lab):
    lab = make_lab(interactive=True)
    cid = lab.push_ok("254711500001")
    assert_envelope(lab.query(cid), 500, "500.001.1001", "The transaction is being processed")


def test_pending_as_still_processing_result(make_lab):
    lab = make_lab(interactive=True, pending_style="result")
    ack = lab.push("254711500002").json()
    response = lab.query(ack["CheckoutRequestID"])
    assert response.status_code == 200
    assert response.json() == {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": ack["MerchantRequestID"],
        "CheckoutRequestID": ack["CheckoutRequestID"],
        "ResultCode": "4999",
        "ResultDesc": "The transaction is still under processing",
    }


def test_final_answer_has_string_result_code_and_no_metadata(lab):
    ack = lab.push("254708001032").json()
    lab.emulator.wait_until_final(ack["CheckoutRequestID"], TIMEOUT)
    body = lab.query(ack["CheckoutRequestID"]).json()
    assert body == {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": ack["MerchantRequestID"],
        "CheckoutRequestID": ack["CheckoutRequestID"],
        "ResultCode": "1032",
        "ResultDesc": "Request cancelled by user.",
    }


def test_unknown_or_foreign_checkout_request_id(lab):
    assert_envelope(
        lab.query("ws_CO_10072024091526171723961920"), 400, "400.002.02", "Bad Request - Invalid CheckoutRequestID"
    )
    cid = lab.push_ok()
    # another merchant cannot read this transaction
    assert_envelope(
        lab.query(cid, shortcode=TILL_SHORTCODE, passkey=TILL_PASSKEY),
        400,
        "400.002.02",
        "Bad Request - Invalid CheckoutRequestID",
    )


def test_oldest_final_transactions_are_forgotten_beyond_the_cap(make_lab):
    lab = make_lab(max_transactions=10, enforce_duplicate_rule=False, enforce_subscriber_lock=False)
    ids = []
    for n in range(12):
        ids.append(lab.push_ok("254708000000", n + 1))
        lab.emulator.wait_until_final(ids[-1], TIMEOUT)
    kept = [t["checkout_request_id"] for t in lab.emulator.transactions()]
    assert len(kept) <= 10 and kept == ids[-len(kept) :]
    # a forgotten transaction is unknown to the query, as it would be to Daraja eventually
    assert_envelope(lab.query(ids[0]), 400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
    assert lab.query(ids[-1]).json()["ResultCode"] == "0"


def test_query_checks_token_fields_and_password(lab):
    cid = lab.push_ok()
    no_token = lab.http.post(STK_QUERY_PATH, json={"CheckoutRequestID": cid})
    assert_envelope(no_token, 404, "404.001.03")
    assert_envelope(lab.query(cid, passkey="0" * 64), 500, "500.001.1001", "Wrong credentials")
    assert_envelope(lab.query(cid, shortcode="600000"), 500, "500.001.1001", "Merchant does not exist")
    for field, value in (
        ("BusinessShortCode", "x"),
        ("Timestamp", "x"),
        ("CheckoutRequestID", 5),
        ("CheckoutRequestID", "has space"),
    ):
        body = {
            "BusinessShortCode": "174379",
            "Password": "p",
            "Timestamp": "20240710091526",
            "CheckoutRequestID": cid,
            field: value,
        }
        response = lab.http.post(STK_QUERY_PATH, json=body, headers=lab.bearer())
        assert_envelope(response, 400, "400.002.02", f"Bad Request - Invalid {field}")
    bad_body = lab.http.post(STK_QUERY_PATH, content=b"nope", headers=lab.bearer())
    assert_envelope(bad_body, 400, "400.002.02", "Bad Request - Invalid BusinessShortCode")
    assert_envelope(lab.http.get(STK_QUERY_PATH), 405, "405.001", "GET Method Not Allowed")
