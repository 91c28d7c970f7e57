"""Every error of the doc's error table (plus OAuth's 400.008.01/02), produced on purpose by its
documented trigger, with the doc's HTTP status and Daraja's envelope."""

from __future__ import annotations

import pytest

from mpesa_lab import codes
from mpesa_lab.constants import STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.emulator import ERROR_TRIGGERS

from .conftest import assert_envelope


def test_one_error_trigger_per_catalogue_error():
    assert {t.name for t in ERROR_TRIGGERS} == {e.name for e in codes.error_codes()}
    for trigger in ERROR_TRIGGERS:
        entry = codes.by_name(trigger.name)
        assert (trigger.code, trigger.message, trigger.http_status) == (entry.code, entry.message, entry.http_status)


def produce(lab, name):
    """Make the emulator answer with the catalogue error ``name``, as ERROR_TRIGGERS documents."""
    if name == "bad_request":
        return lab.push(Timestamp="now")
    if name == "invalid_authentication_type":
        return lab.http.get("/oauth/v1/generate", params={"grant_type": "client_credentials"})
    if name == "invalid_client_credentials":
        return lab.oauth(secret="wrong")
    if name == "invalid_grant_type":
        return lab.oauth(grant_type="password")
    if name == "invalid_access_token":
        return lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers={"Authorization": "Bearer expired"})
    if name == "resource_not_found":
        return lab.http.post("/mpesa/stkpush/v2/processrequest", json={})
    if name == "method_not_allowed":
        return lab.http.get(STK_PUSH_PATH)
    if name == "merchant_does_not_exist":
        return lab.push(shortcode="600000")
    if name == "wrong_credentials":
        return lab.push(passkey="0" * 64)
    if name == "subscriber_locked":
        lab.emulator.configure(interactive=True)
        lab.push_ok("254711600001")
        return lab.push("254711600001", 2)
    if name == "transaction_being_processed":
        lab.emulator.configure(interactive=True)
        return lab.query(lab.push_ok("254711600002"))
    trigger = next(t for t in ERROR_TRIGGERS if t.name == name)
    assert trigger.phone, f"{name} needs a magic phone"
    return lab.push(trigger.phone)


@pytest.mark.parametrize("trigger", ERROR_TRIGGERS, ids=lambda t: t.name)
def test_error_trigger(lab, trigger):
    response = produce(lab, trigger.name)
    body = assert_envelope(response, trigger.http_status, trigger.code)
    expected = trigger.message
    if trigger.name == "bad_request":
        expected = "Bad Request - Invalid Timestamp"
    if trigger.name == "method_not_allowed":
        expected = "GET Method Not Allowed"
    assert body["errorMessage"] == expected
    assert codes.error_entry(body["errorCode"], body["errorMessage"]).name == trigger.name


def test_spike_arrest_from_a_rate_limit(make_lab):
    lab = make_lab(rate_limit_per_second=1, enforce_subscriber_lock=False, enforce_duplicate_rule=False)
    assert lab.token  # OAuth is not rate limited
    answers = [lab.push("254711600010", n) for n in range(1, 11)]
    refused = [r for r in answers if r.status_code == 500]
    # at most 1 per second: unless each push took over a second, some were refused
    assert refused, [r.text for r in answers]
    for response in refused:
        assert_envelope(response, 500, "500.003.02", "Error Occurred: Spike Arrest Violation")


def test_quota_from_a_request_budget(make_lab):
    lab = make_lab(quota=2, enforce_subscriber_lock=False, enforce_duplicate_rule=False)
    cid = lab.push_ok("254711600011", 1)
    assert lab.query(cid).status_code in (200, 500)
    assert_envelope(lab.push("254711600011", 2), 500, "500.003.03", "Quota Violation")
    assert_envelope(lab.query(cid), 500, "500.003.03", "Quota Violation")
    lab.emulator.configure(quota=None)
    assert lab.push("254711600011", 3).status_code == 200


def test_fail_next_injects_any_error_once_per_count(lab):
    lab.emulator.fail_next("500.003.02", count=2, route="push")
    for _ in range(2):
        assert_envelope(lab.push(), 500, "500.003.02", "System is busy. Please try again in few minutes.")
    assert lab.push().status_code == 200
    lab.emulator.fail_next("500.003.1001", route="query")
    assert_envelope(lab.query("ws_CO_x"), 500, "500.003.1001", "Internal Server Error")
    lab.emulator.fail_next("500.003.02", message="Error Occurred: Spike Arrest Violation", route="oauth")
    assert_envelope(lab.oauth(), 500, "500.003.02", "Error Occurred: Spike Arrest Violation")
    lab.emulator.fail_next("999.999.99", message="Something new", status=503)
    assert_envelope(lab.http.post(STK_QUERY_PATH, json={}, headers=lab.bearer()), 503, "999.999.99", "Something new")


def test_fail_next_over_http(lab):
    response = lab.lab("POST", "/errors", json={"code": "500.003.03", "route": "push"})
    assert response.status_code == 200 and response.json()["http_status"] == 500
    assert_envelope(lab.push(), 500, "500.003.03", "Quota Violation")
    assert lab.lab("POST", "/errors", json={"code": "500.003.02", "route": "nowhere"}).status_code == 400


def test_unknown_paths_and_trailing_slashes_are_404(lab):
    for path in ("/", "/oauth/v1/generate/", "/mpesa/stkpush/v1/processrequest/", "/mpesa", "/_labx"):
        assert_envelope(lab.http.get(path), 404, "404.001.01", "Resource not found")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_wrong_methods_are_405(lab, method):
    for path in (STK_PUSH_PATH, STK_QUERY_PATH, "/oauth/v1/generate"):
        response = lab.http.request(method, path)
        assert_envelope(response, 405, "405.001", f"{method} Method Not Allowed")


def test_head_gets_no_body_and_no_crash(lab):
    response = lab.http.head(STK_PUSH_PATH)
    assert response.status_code == 405 and response.content == b""
