import json
import pickle

import pytest

from mpesa_lab import codes
from mpesa_lab.daraja import errors as E
from mpesa_lab.daraja.errors import error_from_response

from .conftest import DOCUMENTED_ERRORS as DOCUMENTED
from .conftest import envelope


@pytest.mark.parametrize("status,code,message,cls", DOCUMENTED, ids=[d[3].__name__ for d in DOCUMENTED])
@pytest.mark.parametrize("form", ["bytes", "text", "dict"])
def test_every_documented_error_maps_to_its_exception(status, code, message, cls, form):
    body = envelope(code, message)
    given = {"bytes": json.dumps(body).encode(), "text": json.dumps(body), "dict": body}[form]
    error = error_from_response(status, given)
    assert type(error) is cls
    assert isinstance(error, E.DarajaError) and isinstance(error, E.MpesaLabError)
    assert (error.error_code, error.error_message) == (code, message)
    assert error.request_id == body["requestId"]
    assert error.http_status == status
    assert error.entry.known and error.entry.code == code
    assert error.mitigation == error.entry.mitigation and error.mitigation
    assert error.raw == body
    text = str(error)
    assert code in text and message in text and error.mitigation in text and body["requestId"] in text


def test_500_001_1001_is_told_apart_by_message():
    kinds = {
        type(error_from_response(500, envelope("500.001.1001", m)))
        for m in [
            "Merchant does not exist",
            "Wrong credentials",
            "The transaction is being processed",
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        ]
    }
    assert kinds == {E.MerchantDoesNotExist, E.WrongCredentials, E.TransactionBeingProcessed, E.SubscriberLocked}


@pytest.mark.parametrize("field", ["Timestamp", "PhoneNumber", "CallBackURL", "Amount", "AccountReference", "Remarks"])
def test_bad_request_names_the_field(field):
    for dash in ("-", "\u2013"):
        error = error_from_response(400, envelope("400.002.02", f"Bad Request {dash} Invalid {field}"))
        assert isinstance(error, E.BadRequest) and error.field == field


def test_only_busy_and_spike_arrest_are_retryable():
    retryable = {cls for *_, cls in DOCUMENTED if cls.retryable}
    assert retryable == {E.SystemBusy, E.SpikeArrest}


@pytest.mark.parametrize("body", [b"", b"   ", None, b"<html>Bad Request</html>"])
def test_oauth_400_with_empty_or_odd_body_is_authentication_failed(body):
    error = error_from_response(400, body, operation="oauth")
    assert isinstance(error, E.AuthenticationFailed)
    assert error.http_status == 400
    assert "Consumer Key" in str(error)  # the catalogue's mitigation


def test_unknown_code_keeps_everything():
    body = envelope("500.002.77", "Something new happened", "req-9")
    error = error_from_response(503, body)
    assert type(error) is E.UnknownDarajaError
    assert (error.error_code, error.error_message, error.request_id, error.http_status) == (
        "500.002.77",
        "Something new happened",
        "req-9",
        503,
    )
    assert error.raw == body and not error.entry.known
    assert "500.002.77" in str(error) and "STK query" in str(error)


def test_known_code_with_unfamiliar_message_is_unknown_but_keeps_the_words():
    error = error_from_response(500, envelope("500.001.1001", "A brand new reason"))
    assert type(error) is E.UnknownDarajaError
    assert "A brand new reason" in str(error) and error.error_code == "500.001.1001"


def test_non_json_answer_is_kept_raw():
    error = error_from_response(502, b"<html>502 Bad Gateway</html>")
    assert type(error) is E.UnknownDarajaError
    assert error.raw == "<html>502 Bad Gateway</html>" and "502 Bad Gateway" in str(error)


def test_gateway_fault_bodies_are_recognised():
    spike = {
        "fault": {
            "faultstring": "Spike arrest violation. Allowed rate : 5ps",
            "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
        }
    }
    quota = {
        "fault": {
            "faultstring": "Rate limit quota violation. Quota limit exceeded.",
            "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
        }
    }
    assert isinstance(error_from_response(429, spike), E.SpikeArrest)
    assert isinstance(error_from_response(429, quota), E.QuotaViolation)


def test_a_200_with_non_zero_response_code_is_rejected():
    error = error_from_response(200, {"ResponseCode": "1", "ResponseDescription": "Rejected"}, operation="stk_push")
    assert isinstance(error, E.RequestRejected) and error.error_code == "1"


def test_validation_error_names_field_value_rule_and_fix():
    error = E.ValidationError("Amount", 0, "must be at least 1", "send 1 or more")
    assert isinstance(error, ValueError) and isinstance(error, E.MpesaLabError)
    assert (error.field, error.value, error.rule, error.fix) == ("Amount", 0, "must be at least 1", "send 1 or more")
    assert str(error) == "Amount 0 refused: must be at least 1. Fix: send 1 or more"


def test_ambiguous_push_error_says_query_do_not_resend():
    request = {
        "PhoneNumber": "254722000000",
        "Amount": 10,
        "Password": "<secret: 112 chars>",
        "CallBackURL": "https://shop.co.ke/cb",
    }
    error = E.AmbiguousPushError(cause="ReadTimeout: timed out", request=request)
    text = str(error)
    assert "NOT re-sent" in text and "stk_query" in text and "https://shop.co.ke/cb" in text
    known = E.AmbiguousPushError(cause="ReadTimeout", checkout_request_id="ws_CO_1")
    assert "stk_query('ws_CO_1')" in str(known)


def test_errors_survive_pickling_for_multiprocessing_users():
    error = error_from_response(500, envelope("500.001.1001", "Wrong credentials"))
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is E.WrongCredentials and str(back) == str(error)
    ambiguous = pickle.loads(pickle.dumps(E.AmbiguousPushError(cause="ReadError")))
    assert "ReadError" in str(ambiguous)


def test_every_catalogued_error_has_an_exception_class():
    names = {entry.name for entry in codes.error_codes()}
    for name in names:
        assert E.exception_class_for(codes.by_name(name)) is not E.UnknownDarajaError, name
