"""GET /oauth/v1/generate: HTTP Basic, grant type, token shape and expiry."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from mpesa_lab.clock import NAIROBI
from mpesa_lab.constants import LAB_CONSUMER_KEY, OAUTH_PATH, STK_PUSH_PATH

from .conftest import assert_envelope


class FakeClock:
    """An injectable clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2024, 7, 10, 9, 15, 26, 171000, tzinfo=NAIROBI)

    def __call__(self) -> datetime:
        return self.now


def test_token_is_shaped_like_darajas(lab):
    response = lab.oauth()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"access_token", "expires_in"}
    assert re.fullmatch(r"[A-Za-z0-9]{28}", body["access_token"])
    assert body["expires_in"] == "3599"  # a string, as live Daraja sends it


def test_wrong_secret_or_key_is_400_with_envelope(lab):
    assert_envelope(lab.oauth(secret="wrong"), 400, "400.008.01", "Invalid Authentication passed")
    assert_envelope(lab.oauth(key="nobody"), 400, "400.008.01", "Invalid Authentication passed")


def test_wrong_credentials_can_answer_an_empty_400(make_lab):
    lab = make_lab(oauth_wrong_credentials_body="empty")
    response = lab.oauth(secret="wrong")
    assert response.status_code == 400
    assert response.content == b""


def test_non_basic_authentication_is_400_008_01(lab):
    for headers in ({}, {"Authorization": "Bearer abc"}, {"Authorization": "Basic"}):
        response = lab.http.get(OAUTH_PATH, params={"grant_type": "client_credentials"}, headers=headers)
        assert_envelope(response, 400, "400.008.01", "Invalid authentication type passed")


def test_garbled_basic_payload_is_wrong_credentials(lab):
    response = lab.http.get(
        OAUTH_PATH, params={"grant_type": "client_credentials"}, headers={"Authorization": "Basic !!!not-base64!!!"}
    )
    assert_envelope(response, 400, "400.008.01", "Invalid Authentication passed")


def test_wrong_or_missing_grant_type_is_400_008_02(lab):
    assert_envelope(lab.oauth(grant_type="password"), 400, "400.008.02", "Invalid grant type passed")
    response = lab.http.get(OAUTH_PATH, auth=(LAB_CONSUMER_KEY, "x"))
    assert_envelope(response, 400, "400.008.02", "Invalid grant type passed")


def test_post_to_oauth_is_405(lab):
    assert_envelope(lab.http.post(OAUTH_PATH), 405, "405.001", "POST Method Not Allowed")


def test_registered_app_gets_tokens_that_work(lab):
    lab.emulator.register_app("my-key", "my-secret")
    response = lab.oauth("my-key", "my-secret")
    assert response.status_code == 200
    token = response.json()["access_token"]
    push = lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers={"Authorization": f"Bearer {token}"})
    assert push.status_code == 200, push.text


def test_unknown_or_missing_token_is_404_001_03(lab):
    body = lab.push_body()
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": f"Basic {lab.token}"}):
        response = lab.http.post(STK_PUSH_PATH, json=body, headers=headers)
        assert_envelope(response, 404, "404.001.03", "Invalid Access Token")


def test_token_expires_by_the_injected_clock(make_lab):
    clock = FakeClock()
    lab = make_lab(clock=clock, token_ttl=3599)
    token = lab.token
    clock.now += timedelta(seconds=3598)
    assert lab.push().status_code == 200
    lab.emulator.configure(enforce_subscriber_lock=False, enforce_duplicate_rule=False)
    clock.now += timedelta(seconds=1)
    response = lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers={"Authorization": f"Bearer {token}"})
    assert_envelope(response, 404, "404.001.03", "Invalid Access Token")
    fresh = lab.oauth().json()["access_token"]
    assert fresh != token
    ok = lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers={"Authorization": f"Bearer {fresh}"})
    assert ok.status_code == 200, ok.text


def test_reset_keeps_tokens_unless_asked(lab):
    token = lab.token
    lab.emulator.reset()
    assert lab.push().status_code == 200
    lab.emulator.reset(keep_tokens=False)
    response = lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers={"Authorization": f"Bearer {token}"})
    assert_envelope(response, 404, "404.001.03")
