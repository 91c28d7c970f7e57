"""The emulator's answers conform to the contract (docs/openapi.yaml), over real HTTP.

A battery of good and bad requests: OAuth in every way it can be refused, every field error the
push and the query can name, every error the emulator offers (its error phones, and each entry of
the error catalogue injected on each route), both pending styles under each behaviour, wrong
methods and paths. Each answer's status and body are checked against the contract, and each
request is checked to have produced the variant it is meant to (so the battery cannot pass by
producing the same answer over and over). It walks the emulator's own tables (ERROR_PHONES, the
catalogue, BEHAVIOURS, PENDING_STYLES, the contract's required fields), so what is added to them
is checked too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from mpesa_lab import codes
from mpesa_lab.clock import nairobi_now
from mpesa_lab.constants import (
    LAB_CONSUMER_KEY,
    LAB_CONSUMER_SECRET,
    OAUTH_PATH,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    STK_PUSH_PATH,
    STK_QUERY_PATH,
)
from mpesa_lab.daraja.password import build_password
from mpesa_lab.emulator import ERROR_PHONES
from mpesa_lab.emulator.config import PENDING_STYLES, WRONG_CREDENTIAL_BODIES
from mpesa_lab.emulator.scenarios import BEHAVIOURS
from tests.openapi_contract import check_answer, check_common_answer, document

from .conftest import TIMESTAMP, Daraja

PHONE = "254708374149"


def conforms(response: httpx.Response, status: int, code: str | None = None, message: str | None = None) -> Any:
    """Check ``response`` against the contract, and that it is the answer the battery asked for."""
    check_answer(response)
    assert response.status_code == status, response.text
    body = response.json() if response.content else None
    if code is not None:
        assert body["errorCode"] == code, body
    if message is not None:
        assert body["errorMessage"] == message, body
    return body


# --------------------------------------------------------------------------- OAuth


def test_oauth_answers_conform(lab: Daraja) -> None:
    token = conforms(lab.oauth(), 200)
    assert isinstance(token["expires_in"], str)
    for style in WRONG_CREDENTIAL_BODIES:
        lab.emulator.configure(oauth_wrong_credentials_body=style)
        for wrong in (lab.oauth(secret="not-the-secret"), lab.oauth(key="nobody")):
            conforms(wrong, 400)
            assert (wrong.content == b"") == (style == "empty"), (style, wrong.content)
    lab.emulator.configure(oauth_wrong_credentials_body="envelope")
    grant = {"grant_type": "client_credentials"}
    conforms(lab.http.get(OAUTH_PATH, params=grant), 400, "400.008.01", "Invalid authentication type passed")
    conforms(
        lab.http.get(OAUTH_PATH, params=grant, headers={"Authorization": "Bearer abc"}),
        400,
        "400.008.01",
        "Invalid authentication type passed",
    )
    conforms(lab.oauth(grant_type="password"), 400, "400.008.02", "Invalid grant type passed")
    conforms(lab.http.get(OAUTH_PATH, auth=(LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET)), 400, "400.008.02")


# --------------------------------------------------------------------------- the push's field errors

# A value each field refuses (the contract's required fields must all be here: a field added to
# the contract gets a bad value too). Password is checked later, with the merchant.
BAD_VALUES: dict[str, Any] = {
    "BusinessShortCode": "17437X",
    "Timestamp": "now",
    "TransactionType": "CustomerPayBill",
    "Amount": "1.50",
    "PartyA": "0712345678",
    "PartyB": "PARTY-B",
    "PhoneNumber": "+254712345678",
    "CallBackURL": "https://<your-domain>/callback",
    "AccountReference": " ",
    "TransactionDesc": "",
}
# Daraja names TransactionDesc by its internal name.
WIRE_NAME = {"TransactionDesc": "Remarks"}


def _required(schema: str) -> list[str]:
    return list(document()["components"]["schemas"][schema]["required"])


def test_every_push_field_error_conforms(lab: Daraja) -> None:
    fields = _required("StkPushRequest")
    assert set(fields) - {"Password"} == set(BAD_VALUES), "give each required field a bad value"
    for field in fields:
        without = lab.push_body()
        del without[field]
        answer = lab.http.post(STK_PUSH_PATH, json=without, headers=lab.bearer())
        if field == "Password":
            conforms(answer, 500, "500.001.1001", "Wrong credentials")
            continue
        expected = f"Bad Request - Invalid {WIRE_NAME.get(field, field)}"
        conforms(answer, 400, "400.002.02", expected)
        bad = lab.http.post(STK_PUSH_PATH, json=lab.push_body(**{field: BAD_VALUES[field]}), headers=lab.bearer())
        conforms(bad, 400, "400.002.02", expected)


@pytest.mark.parametrize(
    "content, content_type",
    [
        (b"BusinessShortCode=174379", "application/x-www-form-urlencoded"),
        (b'{"BusinessShortCode": 174379}', "text/plain"),
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"", "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_object_conforms(lab: Daraja, content: bytes, content_type: str) -> None:
    headers = {**lab.bearer(), "Content-Type": content_type}
    answer = lab.http.post(STK_PUSH_PATH, content=content, headers=headers)
    conforms(answer, 400, "400.002.02", "Bad Request - Invalid BusinessShortCode")


def test_field_errors_of_the_strict_settings_conform(lab: Daraja) -> None:
    lab.emulator.configure(strict_lengths=True, require_https=True)
    too_long = lab.push_body(AccountReference="A" * 13, CallBackURL="https://example.com/cb")
    conforms(
        lab.http.post(STK_PUSH_PATH, json=too_long, headers=lab.bearer()),
        400,
        "400.002.02",
        "Bad Request - Invalid AccountReference",
    )
    too_long = lab.push_body(TransactionDesc="D" * 14, CallBackURL="https://example.com/cb")
    conforms(
        lab.http.post(STK_PUSH_PATH, json=too_long, headers=lab.bearer()),
        400,
        "400.002.02",
        "Bad Request - Invalid Remarks",
    )
    conforms(lab.push(), 400, "400.002.02", "Bad Request - Invalid CallBackURL")  # plain http


# --------------------------------------------------------------------------- the query's field errors


def test_every_query_field_error_conforms(lab: Daraja) -> None:
    cid = lab.push_ok()
    lab.emulator.wait_until_final(cid)
    good = {
        "BusinessShortCode": "174379",
        "Password": build_password(SANDBOX_SHORTCODE, SANDBOX_PASSKEY, TIMESTAMP),
        "Timestamp": TIMESTAMP,
        "CheckoutRequestID": cid,
    }
    bad_values = {"BusinessShortCode": "1", "Timestamp": "2024-07-10", "CheckoutRequestID": "ws CO 1"}
    for field in _required("StkQueryRequest"):
        for body in ({k: v for k, v in good.items() if k != field}, {**good, field: bad_values.get(field, "")}):
            answer = lab.http.post(STK_QUERY_PATH, json=body, headers=lab.bearer())
            if field == "Password":
                conforms(answer, 500, "500.001.1001", "Wrong credentials")
            else:
                conforms(answer, 400, "400.002.02", f"Bad Request - Invalid {field}")
    unknown = {**good, "CheckoutRequestID": "ws_CO_0101202400000000708374149"}
    conforms(
        lab.http.post(STK_QUERY_PATH, json=unknown, headers=lab.bearer()),
        400,
        "400.002.02",
        "Bad Request - Invalid CheckoutRequestID",
    )
    conforms(lab.query(cid, shortcode="600000"), 500, "500.001.1001", "Merchant does not exist")
    conforms(lab.query(cid, passkey="0" * 64), 500, "500.001.1001", "Wrong credentials")
    conforms(lab.query(cid), 200)


# --------------------------------------------------------------------------- tokens, merchants, limits


def test_token_merchant_and_credential_errors_conform(make_lab: Callable[..., Daraja]) -> None:
    now = [nairobi_now()]
    lab = make_lab(clock=lambda: now[0])
    conforms(lab.http.post(STK_PUSH_PATH, json=lab.push_body()), 404, "404.001.03", "Invalid Access Token")
    for header in ("Bearer not-a-token", f"Bearer{lab.token}", lab.token, f"Basic {lab.token}"):
        answer = lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers={"Authorization": header})
        conforms(answer, 404, "404.001.03")
    expired = lab.token
    now[0] += timedelta(seconds=3600)  # past expires_in
    conforms(
        lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers={"Authorization": f"Bearer {expired}"}),
        404,
        "404.001.03",
    )
    conforms(lab.http.post(STK_QUERY_PATH, json={}, headers={"Authorization": f"Bearer {expired}"}), 404, "404.001.03")
    lab._token = None
    conforms(lab.push(shortcode="600000", PartyB="600000"), 500, "500.001.1001", "Merchant does not exist")
    conforms(lab.push(passkey="0" * 64), 500, "500.001.1001", "Wrong credentials")
    conforms(lab.push(timestamp="20240710091527", Timestamp=TIMESTAMP), 500, "500.001.1001", "Wrong credentials")


def test_the_error_phones_answers_conform(lab: Daraja) -> None:
    assert ERROR_PHONES, "the emulator offers no error phones"
    for phone, name in ERROR_PHONES.items():
        entry = codes.by_name(name)
        conforms(lab.push(phone), entry.http_status or 500, entry.code, entry.message)


def test_the_subscriber_lock_rate_limit_and_quota_answers_conform(lab: Daraja) -> None:
    lab.emulator.configure(interactive=True)
    cid = lab.push_ok()
    conforms(lab.push(), 500, "500.001.1001", codes.by_name("subscriber_locked").message)
    lab.emulator.answer(cid, cancel=True)
    lab.emulator.configure(interactive=False, rate_limit_per_second=1)
    for n in range(10):  # two within a second are enough; a slow machine may need a few more
        answer = lab.push(f"25471100{n:04d}")
        if answer.status_code != 200:
            break
    conforms(answer, 500, "500.003.02", codes.by_name("spike_arrest").message)
    lab.emulator.configure(rate_limit_per_second=None)
    lab.emulator.reset()
    lab.emulator.configure(quota=1)
    conforms(lab.push("254708000000"), 200)
    conforms(lab.push("254708000001"), 500, "500.003.03", codes.by_name("quota_violation").message)


def _operation_statuses(path: str, method: str) -> set[str]:
    return set(document()["paths"][path][method]["responses"])


def test_every_catalogued_error_injected_on_each_route_conforms(lab: Daraja) -> None:
    """fail_next puts each error of the catalogue on the wire as the emulator would send it: the
    push and the query must be able to answer every one, OAuth every one of its statuses."""
    entries = codes.error_codes()
    assert len(entries) >= 15
    cid = lab.push_ok()
    lab.emulator.wait_until_final(cid)
    oauth_statuses = _operation_statuses(OAUTH_PATH, "get")
    for entry in entries:
        status = entry.http_status or 500
        lab.emulator.fail_next(entry.code, entry.message, route="push")
        conforms(lab.push(), status, entry.code, entry.message)
        lab.emulator.fail_next(entry.code, entry.message, route="query")
        conforms(lab.query(cid), status, entry.code, entry.message)
        if str(status) in oauth_statuses:
            lab.emulator.fail_next(entry.code, entry.message, route="oauth")
            conforms(lab.oauth(), status, entry.code, entry.message)


# --------------------------------------------------------------------------- the query: pending and final


def _is_pending(answer: httpx.Response) -> str:
    """Which pending style ``answer`` is in (AssertionError if it is not pending)."""
    body = answer.json()
    if answer.status_code == 500:
        assert body["errorCode"] == "500.001.1001" and body["errorMessage"] == "The transaction is being processed", (
            body
        )
        return "error"
    assert answer.status_code == 200 and codes.status_of(body["ResultCode"]) == codes.STATUS_PENDING, body
    return "result"


def test_pending_queries_conform_in_every_style_and_behaviour(lab: Daraja) -> None:
    # The push stays before its prompt for as long as the query needs (and the lock must not
    # refuse the next push to the same phone).
    lab.emulator.configure(prompt_delay=60, enforce_subscriber_lock=False)
    seen = set()
    for behaviour in BEHAVIOURS:
        for style in PENDING_STYLES:
            lab.emulator.configure(behaviour=behaviour, pending_style=style)
            for phone in (PHONE, "254712345678"):
                cid = lab.push_ok(phone)
                answer = lab.query(cid)
                check_answer(answer)
                seen.add(_is_pending(answer))
                if style in ("error", "result"):
                    assert _is_pending(answer) == style, (behaviour, style, answer.text)
                # a pending envelope's requestId has been the CheckoutRequestID itself
                if answer.status_code == 500:
                    assert answer.json()["requestId"] == cid
    assert seen == {"error", "result"}
    lab.emulator.reset()


def test_final_queries_conform(lab: Daraja) -> None:
    lab.emulator.configure(enforce_duplicate_rule=False)
    for code in ("0", "1032", "SFC_IC0003"):
        lab.emulator.set_next_result(code)
        cid = lab.push_ok()
        lab.emulator.wait_until_final(cid)
        body = conforms(lab.query(cid), 200)
        assert body["ResultCode"] == code and isinstance(body["ResultCode"], str)
        assert "CallbackMetadata" not in body


# --------------------------------------------------------------------------- methods and paths


@pytest.mark.parametrize("path", [OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH])
def test_wrong_methods_on_daraja_s_paths_conform(lab: Daraja, path: str) -> None:
    served = set(document()["paths"][path])
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        if method.lower() in served:
            continue
        answer = lab.http.request(method, path, headers=lab.bearer())
        assert answer.status_code == 405, answer.text
        check_common_answer(answer, "MethodNotAllowed")
        assert answer.json()["errorMessage"] == f"{method} Method Not Allowed"


@pytest.mark.parametrize(
    "path", ["/", "/mpesa/stkpush/v2/processrequest", STK_PUSH_PATH + "/", OAUTH_PATH + "/", "/mpesa/stkpushquery/v1"]
)
def test_paths_that_are_not_daraja_s_conform(lab: Daraja, path: str) -> None:
    for method in ("GET", "POST"):
        answer = lab.http.request(method, path, headers=lab.bearer())
        assert answer.status_code == 404, answer.text
        check_common_answer(answer, "ResourceNotFound")
