"""Each exercise check passes on the solution and fails, saying what is wrong, on wrong answers."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from datetime import datetime, timezone

import pandas as pd
import pytest

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, SANDBOX_PASSKEY
from mpesa_lab.course import ExerciseFailed, Verdict, check
from mpesa_lab.course.verdict import STRICT_ENV, history
from mpesa_lab.daraja.password import build_password
from mpesa_lab.daraja.results import read_query_answer


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)


def ok(verdict: Verdict) -> None:
    assert isinstance(verdict, Verdict)
    assert verdict.ok, str(verdict)
    assert str(verdict).startswith("✔")


def wrong(verdict: Verdict, *fragments: str) -> None:
    """Not ok, answered, and the message names the problem (every fragment appears)."""
    assert not verdict.ok and verdict.answered, str(verdict)
    text = str(verdict)
    assert text.startswith("✘")
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


def todo(verdict: Verdict) -> None:
    assert not verdict.ok and not verdict.answered
    assert "not answered yet" in str(verdict)


# -- the verdict itself ---------------------------------------------------------------------------


def test_verdicts_render_as_text_and_html_and_are_recorded():
    before = len(history())
    verdict = check.token_refresh(3600, expires_in="3599", margin=60)
    assert len(history()) == before + 1 and history()[-1] is verdict
    assert not verdict and "<li>" in verdict._repr_html_() and "✘" in repr(verdict)
    good = check.token_refresh(3539.0, expires_in="3599", margin=60)
    assert good and "correct" in good._repr_html_()


def test_strict_mode_raises_with_the_message(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseFailed, match="added the margin"):
        check.token_refresh(3659, expires_in="3599", margin=60)
    with pytest.raises(ExerciseFailed, match="not answered yet"):
        check.token_refresh(..., expires_in="3599", margin=60)
    ok(check.token_refresh(3539, expires_in="3599", margin=60))


# -- 02 -------------------------------------------------------------------------------------------

KEY, SECRET = LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_basic_auth():
    ok(check.basic_auth("Basic " + _b64(f"{KEY}:{SECRET}"), KEY, SECRET))
    todo(check.basic_auth(..., KEY, SECRET))
    wrong(check.basic_auth(_b64(f"{KEY}:{SECRET}"), KEY, SECRET), "must start with 'Basic '")
    wrong(check.basic_auth("Bearer " + _b64(f"{KEY}:{SECRET}"), KEY, SECRET), "'Bearer' is for the access token")
    wrong(check.basic_auth("basic " + _b64(f"{KEY}:{SECRET}"), KEY, SECRET), "exactly 'Basic'")
    wrong(check.basic_auth("Basic " + _b64(f"{SECRET}:{KEY}"), KEY, SECRET), "swapped")
    wrong(check.basic_auth("Basic " + _b64(f"{KEY}{SECRET}"), KEY, SECRET), "one colon")
    wrong(check.basic_auth("Basic " + _b64(f"{KEY}:{SECRET}\n"), KEY, SECRET), "whitespace")
    wrong(check.basic_auth(f"Basic {KEY}:{SECRET}", KEY, SECRET), "not base64-encoded")
    wrong(check.basic_auth(f"Basic {base64.b64encode(f'{KEY}:{SECRET}'.encode())}", KEY, SECRET), "b'...'")
    wrong(check.basic_auth(b"Basic abc", KEY, SECRET), "bytes")
    wrong(check.basic_auth("Basic " + _b64(f"{KEY}:other"), KEY, SECRET), "consumer secret inside is not")
    verdict = check.basic_auth("Basic " + _b64(f"{KEY}:wrong-secret"), KEY, SECRET)
    assert SECRET not in str(verdict) and "wrong-secret" not in str(verdict)


def test_token_refresh():
    ok(check.token_refresh(3539, expires_in="3599", margin=60))
    ok(check.token_refresh(3539.0, expires_in=3599, margin=60))
    todo(check.token_refresh(..., expires_in="3599", margin=60))
    wrong(check.token_refresh("3539", expires_in="3599", margin=60), "expires_in as a string")
    wrong(check.token_refresh(3599, expires_in="3599", margin=60), "404.001.03")
    wrong(check.token_refresh(3659, expires_in="3599", margin=60), "added the margin")
    wrong(check.token_refresh(58.98333333333333, expires_in="3599", margin=60), "minutes")
    wrong(check.token_refresh(100, expires_in="3599", margin=60), "not expires_in")


# -- 03 -------------------------------------------------------------------------------------------

SHORTCODE, TS = "174379", "20260315003005"
MOMENT = datetime(2026, 3, 14, 21, 30, 5, tzinfo=timezone.utc)


def test_password():
    good = build_password(SHORTCODE, SANDBOX_PASSKEY, TS)
    ok(check.password(good, SHORTCODE, SANDBOX_PASSKEY, TS))
    todo(check.password(..., SHORTCODE, SANDBOX_PASSKEY, TS))
    wrong(check.password(good.encode(), SHORTCODE, SANDBOX_PASSKEY, TS), "bytes", ".decode()")
    wrong(check.password(SHORTCODE + SANDBOX_PASSKEY + TS, SHORTCODE, SANDBOX_PASSKEY, TS), "did not base64-encode")
    wrong(check.password(_b64(SANDBOX_PASSKEY + SHORTCODE + TS), SHORTCODE, SANDBOX_PASSKEY, TS),
          "passkey + shortcode + timestamp", "shortcode + passkey + timestamp")
    wrong(check.password(_b64(f"{SHORTCODE}:{SANDBOX_PASSKEY}:{TS}"), SHORTCODE, SANDBOX_PASSKEY, TS), "separators")
    wrong(check.password(build_password(SHORTCODE, SANDBOX_PASSKEY, "20260314213005"), SHORTCODE, SANDBOX_PASSKEY, TS),
          "timestamp inside the Password is '20260314213005'")
    wrong(check.password(build_password("600000", SANDBOX_PASSKEY, TS), SHORTCODE, SANDBOX_PASSKEY, TS), "shortcode inside")
    other = "f" * 64
    verdict = check.password(build_password(SHORTCODE, other, TS), SHORTCODE, SANDBOX_PASSKEY, TS)
    wrong(verdict, "passkey inside the Password is not the passkey given")
    assert other not in str(verdict) and SANDBOX_PASSKEY not in str(verdict), "a check must never print a passkey"
    wrong(check.password("not base64!", SHORTCODE, SANDBOX_PASSKEY, TS), "not valid base64")


def test_timestamp():
    ok(check.timestamp("20260315003005", MOMENT))
    todo(check.timestamp(..., MOMENT))
    wrong(check.timestamp("20260314213005", MOMENT), "UTC time", "3 hours")
    wrong(check.timestamp(20260315003005, MOMENT), "as a number")
    wrong(check.timestamp("2026-03-15 00:30:05", MOMENT), "separators")
    wrong(check.timestamp("2026-03-14 21:30:05", MOMENT), "UTC time")
    wrong(check.timestamp("20261503003005", MOMENT), "day and month are swapped")
    wrong(check.timestamp("20260315003005"[:-4] + "0530", MOMENT), "minutes and seconds are swapped")
    wrong(check.timestamp("20260314223005", MOMENT), "2 hour(s) behind")
    wrong(check.timestamp("2026031500", MOMENT), "not 14 digits")
    wrong(check.timestamp("20261399003005", MOMENT), "not a real date")
    afternoon = datetime(2026, 3, 14, 11, 30, 5, tzinfo=timezone.utc)  # 14:30 in Nairobi
    wrong(check.timestamp("20260314023005", afternoon), "12-hour clock")
    wrong(check.timestamp("20260314143007", afternoon), "0:00:02")


def test_wrong_part():
    theirs = build_password(SHORTCODE, SANDBOX_PASSKEY, "20260314213005")
    ok(check.wrong_part("timestamp", theirs, SHORTCODE, SANDBOX_PASSKEY, TS))
    ok(check.wrong_part(" Timestamp ", theirs, SHORTCODE, SANDBOX_PASSKEY, TS))
    todo(check.wrong_part(..., theirs, SHORTCODE, SANDBOX_PASSKEY, TS))
    wrong(check.wrong_part("passkey", theirs, SHORTCODE, SANDBOX_PASSKEY, TS), "passkey inside the password matches")
    wrong(check.wrong_part("none", theirs, SHORTCODE, SANDBOX_PASSKEY, TS), "does not match the request")
    wrong(check.wrong_part("the clock", theirs, SHORTCODE, SANDBOX_PASSKEY, TS), "answer one of")
    fine = build_password(SHORTCODE, SANDBOX_PASSKEY, TS)
    ok(check.wrong_part("none", fine, SHORTCODE, SANDBOX_PASSKEY, TS))
    wrong(check.wrong_part("shortcode", fine, SHORTCODE, SANDBOX_PASSKEY, TS), "this password is right")
    other_key = build_password(SHORTCODE, "a" * 64, TS)
    ok(check.wrong_part("passkey", other_key, SHORTCODE, SANDBOX_PASSKEY, TS))


# -- 05 -------------------------------------------------------------------------------------------


def _callback(cid: str, code: int | str = 0, receipt: str = "UL2XEPYMS1") -> dict:
    stk = {"MerchantRequestID": "m-" + cid, "CheckoutRequestID": cid, "ResultCode": code,
           "ResultDesc": "The service request is processed successfully." if code == 0 else "Request cancelled by user."}
    if code == 0:
        stk["CallbackMetadata"] = {"Item": [
            {"Name": "Amount", "Value": 10.0}, {"Name": "MpesaReceiptNumber", "Value": receipt},
            {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20261202170348},
            {"Name": "PhoneNumber", "Value": 254708000000}]}
    return {"Body": {"stkCallback": stk}}


def test_receipt():
    body = _callback("ws_CO_1")
    ok(check.receipt("UL2XEPYMS1", body))
    ok(check.receipt("UL2XEPYMS1", json.dumps(body).encode()))
    todo(check.receipt(..., body))
    items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    wrong(check.receipt(items, body), "whole Item list")
    wrong(check.receipt(items[1], body), "take its 'Value'")
    wrong(check.receipt(254708000000, body), "PhoneNumber item")
    wrong(check.receipt("ws_CO_1", body), "CheckoutRequestID")
    wrong(check.receipt("m-ws_CO_1", body), "MerchantRequestID")
    wrong(check.receipt("NOPE", body), "not the MpesaReceiptNumber")


def test_result_code():
    body = _callback("ws_CO_2", 1032)
    ok(check.result_code("1032", body))
    todo(check.result_code(..., body))
    wrong(check.result_code(1032, body), "keep codes as text")
    wrong(check.result_code("Request cancelled by user.", body), "ResultDesc")
    wrong(check.result_code("0", body), "not this callback's ResultCode")


def test_distinct_payments():
    deliveries = [_callback("a"), _callback("a"), _callback("b", 1032), _callback("b", 1032), _callback("c")]
    ok(check.distinct_payments(3, deliveries))
    todo(check.distinct_payments(..., deliveries))
    wrong(check.distinct_payments(5, deliveries), "counts every delivery")
    wrong(check.distinct_payments(2, deliveries), "only the paid ones")
    wrong(check.distinct_payments("3", deliveries), "whole number")
    wrong(check.distinct_payments(4, deliveries), "not the number of distinct")


def test_query_fallback():
    final = read_query_answer(200, {"ResponseCode": "0", "ResponseDescription": "ok", "MerchantRequestID": "m",
                                    "CheckoutRequestID": "ws_CO_9", "ResultCode": "0",
                                    "ResultDesc": "The service request is processed successfully."})
    pending = read_query_answer(500, {"requestId": "ws_CO_9", "errorCode": "500.001.1001",
                                      "errorMessage": "The transaction is being processed"}, "ws_CO_9")
    ok(check.query_fallback(final, "ws_CO_9"))
    todo(check.query_fallback(..., "ws_CO_9"))
    wrong(check.query_fallback(pending, "ws_CO_9"), "still pending")
    wrong(check.query_fallback(final, "ws_CO_other"), "another push")
    wrong(check.query_fallback(TimeoutError("late"), "ws_CO_9"), "waiting longer")
    wrong(check.query_fallback({"ResultCode": "0"}, "ws_CO_9"), "StkQueryResult")


# -- 06 -------------------------------------------------------------------------------------------


def test_triggered():
    sandbox = SimpleNamespace(emulator=None)  # no local emulator to ask how the code came about
    ok(check.triggered(_callback("x", 1), "1", lab=sandbox))
    ok(check.triggered(_callback("x", 1), 1, lab=sandbox))
    todo(check.triggered(..., "1", lab=sandbox))
    wrong(check.triggered(_callback("x", 0), "1", lab=sandbox), "ResultCode is 0 (success), not 1 (insufficient_balance)",
          "register_subscriber")
    wrong(check.triggered(42, "1", lab=sandbox), "expected the callback")
    with pytest.raises(TypeError):
        check.triggered(_callback("x", 1), "1")  # the lab is needed to tell a magic number from a customer


def test_advice_function():
    from mpesa_lab import codes

    ok(check.advice_function(lambda code: codes.lookup(code).mitigation))
    ok(check.advice_function(lambda code: "Do this: " + codes.lookup(code).mitigation))
    todo(check.advice_function(...))
    table = {"0": "Nothing to fix: fulfil the order and keep the MpesaReceiptNumber.",
             "1032": codes.lookup("1032").mitigation}
    verdict = check.advice_function(lambda code: table[code])
    wrong(verdict, "advice(1032)", "as a number", "advice('9999')", "unknown codes must still get advice",
          "advice('2001')", "your own table lacks this code")
    wrong(check.advice_function(lambda code: None), "returned None")
    wrong(check.advice_function(lambda code: 0), "returned an int")
    wrong(check.advice_function(lambda code: codes.lookup(str(code)).mitigation if codes.lookup(str(code)).known else "ok"),
          "should still say what to do")
    wrong(check.advice_function("not a function"), "must be a function")


# -- 08 -------------------------------------------------------------------------------------------

GOOD_ENV = """
# sandbox app
MPESA_ENV=sandbox
MPESA_CONSUMER_KEY=paste-your-consumer-key
MPESA_CONSUMER_SECRET="paste-your-consumer-secret"
NGROK_AUTHTOKEN=paste-your-ngrok-authtoken
"""


def test_env_file():
    ok(check.env_file(GOOD_ENV))
    ok(check.env_file(GOOD_ENV.replace("NGROK_AUTHTOKEN=paste-your-ngrok-authtoken", "MPESA_CALLBACK_URL=https://shop.example.com/cb")))
    todo(check.env_file(...))
    wrong(check.env_file(GOOD_ENV.replace("MPESA_ENV=sandbox", "")), "MPESA_ENV must be 'sandbox' (it is missing)")
    wrong(check.env_file(GOOD_ENV.replace("=sandbox", "=production")), "(it is 'production')")
    wrong(check.env_file(GOOD_ENV.replace("MPESA_CONSUMER_SECRET", "# ")), "MPESA_CONSUMER_SECRET is missing")
    wrong(check.env_file(GOOD_ENV.replace("NGROK_AUTHTOKEN=paste-your-ngrok-authtoken", "")), "public URL", "NGROK_AUTHTOKEN")
    wrong(check.env_file(GOOD_ENV + "MPESA_CALLBACK_URL=http://127.0.0.1:8000/cb\n"), "https://")
    wrong(check.env_file(GOOD_ENV + "MPESA_SHORTCODE=600000\n"), "174379")
    wrong(check.env_file(GOOD_ENV + "MPESA_PASSKEY=" + "e" * 64 + "\n"), "not the sandbox's public passkey")
    wrong(check.env_file(GOOD_ENV + "mpesa_timeout=30\n"), "upper case")
    wrong(check.env_file(GOOD_ENV + "MPESA_TIMEOUT 30\n"), "no '='")
    secret = "Zq8wE3rT6yU1iO4pA7sD"
    verdict = check.env_file(GOOD_ENV.replace("=sandbox", "=local").replace("paste-your-consumer-secret", secret))
    assert secret not in str(verdict)


def test_callback_url():
    public, path = "https://example-tunnel.ngrok-free.app", "/tok3n/callback"
    ok(check.callback_url(public + path, public, path))
    todo(check.callback_url(..., public, path))
    wrong(check.callback_url("http://127.0.0.1:8000" + path, public, path), "only reachable from this machine")
    wrong(check.callback_url(public, public, path), "secret callback path is missing")
    wrong(check.callback_url(public.replace("https", "http") + path, public, path), "use https")
    wrong(check.callback_url(public + "/" + path, public, path), "double slash")
    wrong(check.callback_url(public + path + " ", public, path), "whitespace")


# -- 09 -------------------------------------------------------------------------------------------


def _room(rows):
    return pd.DataFrame(rows, columns=["status", "result_code", "phone"])


def test_room_rehearsal():
    phones = ["254711009001", "254711009002"]
    ok(check.room_rehearsal(_room([("paid", "0", phones[0]), ("paid", "0", phones[1])]), phones))
    todo(check.room_rehearsal(..., phones))
    wrong(check.room_rehearsal(_room([("paid", "0", phones[0])]), phones), "254711009002: no push at all")
    wrong(check.room_rehearsal(_room([("paid", "0", phones[0]), ("failed", "1032", phones[1])]), phones),
          "254711009002: no paid push (last: failed 1032")


def test_struggling_participant():
    frame = _room([("paid", "0", "254711009001"), ("failed", "2001", "254711009004"),
                   ("paid", "0", "254711009001"), ("failed", "2001", "254711009004"),
                   ("failed", "8006", "254711009004")])
    ok(check.struggling_participant(("254711009004", "2001"), frame))
    ok(check.struggling_participant(["254711009004", 2001], frame))
    todo(check.struggling_participant(..., frame))
    wrong(check.struggling_participant(("254711009001", "0"), frame), "has a paid push")
    wrong(check.struggling_participant(("254711009004", "8006"), frame), "not the code this phone gets most")
    wrong(check.struggling_participant(("0711009004", "2001"), frame), "not in the frame")
    wrong(check.struggling_participant("254711009004", frame), "a pair")


def _room_data(errors: list[tuple[str, int]], results: list[tuple[str, int]], people: int = 4) -> dict:
    """Shaped like GET /_workshop/api/room (WorkshopServer.summary())."""
    return {"participants": [{"id": f"p{n:02d}"} for n in range(1, people + 1)],
            "errors": [{"code": c, "count": n, "name": ""} for c, n in errors],
            "results": [{"code": c, "count": n, "name": ""} for c, n in results]}


def test_room_fault():
    room = _room_data([("500.003.02", 16), ("400.002.02", 1)], [("0", 8)])
    ok(check.room_fault(("500.003.02", 16), room))
    ok(check.room_fault(["500.003.02", 16], room))
    assert "Retry the request after a short wait" in str(check.room_fault(("500.003.02", 16), room))
    todo(check.room_fault(..., room))
    wrong(check.room_fault(("0", 8), room), "0 is a ResultCode from the callbacks", "'errors' chart")
    wrong(check.room_fault(("400.002.02", 1), room), "not the one the most pushes got")
    wrong(check.room_fault(("500.003.01", 16), room), "not in the room's errors chart")
    wrong(check.room_fault(("500.003.02", 4), room), "not the count next to 500.003.02",
          "the number of participants", "retries included")
    wrong(check.room_fault(("500.003.02", 15), room), "not the count next to 500.003.02")
    wrong(check.room_fault(("500.003.02", "16"), room), "whole number, not str")
    wrong(check.room_fault("500.003.02", room), "a pair (error_code, pushes)")
    with pytest.raises(ValueError, match="no errors"):
        check.room_fault(("500.003.02", 16), _room_data([], [("0", 4)]))
