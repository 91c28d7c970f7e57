"""The real shapes troubleshooting needs, each behind a documented option (docs/emulator.md,
"Real shapes for troubleshooting"): a wrong path answering HTML with HTTP 200, an app without the
M-Pesa Express product, expires_in as a number, the legacy 1101 refusal, a production host that
refuses sandbox keys, expired tokens, and callbacks only to what the internet can reach."""

from __future__ import annotations

import httpx

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, OAUTH_PATH, STK_PUSH_PATH

from .conftest import Collector, Daraja, assert_envelope, callback_of

OAUTH = {"grant_type": "client_credentials"}


def test_a_wrong_path_answers_an_html_page_with_http_200_when_asked(make_lab):
    lab = make_lab(wrong_path_answer="html")
    response = lab.http.get("/v1" + OAUTH_PATH, params=OAUTH, auth=(LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().lower().startswith("<!doctype html")
    # Daraja's own paths and the control API are untouched.
    assert lab.oauth().status_code == 200
    assert_envelope(lab.lab("GET", "/nothing-here"), 404, "404.001.01")


def test_a_wrong_path_is_a_json_envelope_by_default(lab):
    assert_envelope(lab.http.get("/v1" + OAUTH_PATH, params=OAUTH), 404, "404.001.01")


def test_an_app_without_the_express_product_gets_a_token_but_every_push_is_refused(lab):
    lab.emulator.register_app("no-express-key", "no-express-secret", express=False)
    token = lab.oauth("no-express-key", "no-express-secret")
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    push = lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers=headers)
    assert_envelope(
        push, 401, "401.003.01", "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found"
    )
    assert lab.emulator.transactions() == []


def test_the_product_can_be_left_out_over_http_too(lab):
    created = lab.lab("POST", "/apps", json={"key": "k2", "secret": "s2", "express": False})
    assert created.status_code == 200, created.text
    assert created.json()["express"] is False
    assert_envelope(lab.lab("POST", "/apps", json={"key": "k3", "secret": "s3", "express": "no"}), 400, "400.002.02")


def test_expires_in_is_text_live_and_a_number_as_the_doc_shows(make_lab):
    assert make_lab().oauth().json()["expires_in"] == "3599"
    numeric = make_lab(expires_in_style="number", token_ttl=120)
    assert numeric.oauth().json()["expires_in"] == 120


def test_the_legacy_1101_refusal_for_a_long_prompt_prefix(make_lab, collector: Collector):
    lab = make_lab(legacy_prompt_prefix_limit=94)
    short = lab.push_ok("254712000101", AccountReference="INV-1")
    long = lab.push_ok("254712000102", AccountReference="A" * 80)
    assert callback_of(collector.wait_for(short)[0])["ResultCode"] == 0
    refused = callback_of(collector.wait_for(long)[0])
    assert refused["ResultCode"] == 1101
    assert refused["ResultDesc"] == (
        "[STK_CB - ]Invalid Input parameter 'Prompt message prefix', length should be less than 94 characters"
    )
    assert "CallbackMetadata" not in refused


def test_the_production_host_refuses_sandbox_keys_and_accepts_production_ones(make_lab):
    lab = make_lab(environment="production")
    refused = lab.oauth()  # the lab's app is a sandbox app
    assert refused.status_code == 400
    lab.emulator.register_app("prod-key", "prod-secret", environment="production")
    assert lab.oauth("prod-key", "prod-secret").status_code == 200


def test_production_requires_an_https_callback(make_lab):
    lab = make_lab(environment="production")
    lab.emulator.register_app(LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, environment="production")
    assert_envelope(lab.push(), 400, "400.002.02", "Bad Request - Invalid CallBackURL")
    assert lab.push(CallBackURL="https://shop.mpesa-lab.test/mpesa/cb").status_code == 200


def test_a_sandbox_token_is_unknown_to_the_production_host(make_lab):
    sandbox = make_lab()
    production = make_lab(environment="production")
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    answer = production.http.post(STK_PUSH_PATH, json=production.push_body(), headers=headers)
    assert_envelope(answer, 404, "404.001.03", "Invalid Access Token")


def test_a_token_issued_before_the_switch_to_production_is_the_sandbox_s(lab):
    # Same emulator, switched live: the token it issued as a sandbox is still a sandbox token.
    assert lab.push().status_code == 200
    lab.emulator.configure(environment="production")
    answer = lab.push("254712000107", CallBackURL="https://shop.example.test/mpesa/callback")
    assert_envelope(answer, 404, "404.001.03", "Invalid Access Token")


def test_expire_tokens_makes_the_next_push_invalid_access_token(lab):
    assert lab.push().status_code == 200
    assert lab.emulator.expire_tokens() == {"expired": 1}
    assert_envelope(lab.push("254712000103"), 404, "404.001.03", "Invalid Access Token")
    lab._token = None  # a fresh token, expired over HTTP this time
    assert lab.push("254712000105").status_code == 200
    assert lab.lab("POST", "/tokens/expire").json() == {"expired": 1}
    assert_envelope(lab.push("254712000106"), 404, "404.001.03", "Invalid Access Token")


def test_a_malformed_bearer_header_is_invalid_access_token(lab):
    for header in (f"Bearer{lab.token}", f'Bearer "{lab.token}"', lab.token, f"Basic {lab.token}"):
        answer = lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers={"Authorization": header})
        assert_envelope(answer, 404, "404.001.03", "Invalid Access Token")


def test_a_wrong_content_type_is_invalid_business_short_code(lab):
    answer = lab.http.post(
        STK_PUSH_PATH,
        content=httpx.Request("POST", "/", json=lab.push_body()).content,
        headers={**lab.bearer(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_envelope(answer, 400, "400.002.02", "Bad Request - Invalid BusinessShortCode")


def test_callbacks_reach_only_the_internet_when_asked(make_lab, collector: Collector):
    lab: Daraja = make_lab(callback_network="internet")
    cid = lab.push_ok("254712000104")
    attempts = lab.emulator.wait_for_callbacks(cid)
    assert attempts[0]["status"] is None
    assert attempts[0]["error"].startswith("not reachable from the internet: 127.0.0.1")
    assert collector.for_checkout(cid) == []


def test_unreachable_hosts_are_named():
    from mpesa_lab.emulator.delivery import unreachable_from_internet as why

    for url in (
        "https://localhost/cb",
        "https://shop.local/cb",
        "http://10.0.0.5/cb",
        "http://192.168.1.2/cb",
        "http://169.254.1.1/cb",
        "http://[::1]/cb",
        "http://myserver/cb",
    ):
        assert why(url), url
    assert why("https://shop.mpesa-lab.test/cb") is None
    assert why("https://196.201.214.200/cb") is None
