"""The real shapes for troubleshooting (docs/emulator.md) conform to the contract (docs/openapi.yaml).

Each shape is driven on the running emulator over real HTTP: expires_in in each style, a wrong
path in each answer style (a web page with HTTP 200, or the 404 envelope), an app without the
M-Pesa Express product (401.003.01), the production host (sandbox keys refused, http CallBackURL
refused, a sandbox token unknown), expired tokens (404.001.03) and the legacy 1101 refusal of a
long prompt prefix (its callback and its query). Each answer and callback is checked against the
contract, and each request is checked to have produced the shape it asks for, so the battery
cannot pass by getting the ordinary answer every time. The style loops walk the emulator's own
tables (EXPIRES_IN_STYLES, WRONG_PATH_ANSWERS): a style added there must be given its expectation
here.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.emulator.config import EXPIRES_IN_STYLES, WRONG_PATH_ANSWERS
from tests.openapi_contract import check_callback, check_common_answer

from .conftest import Collector, Daraja, callback_of
from .test_contract_answers import conforms

NO_PRODUCT = "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found"
# What each expires_in style puts on the wire.
EXPIRES_IN_TYPE = {"text": str, "number": int}


def test_expires_in_conforms_in_every_style(lab: Daraja) -> None:
    assert set(EXPIRES_IN_STYLES) == set(EXPIRES_IN_TYPE), "give each expires_in style its wire type"
    for style in EXPIRES_IN_STYLES:
        lab.emulator.configure(expires_in_style=style, token_ttl=3599)
        body = conforms(lab.oauth(), 200)
        assert type(body["expires_in"]) is EXPIRES_IN_TYPE[style], (style, body)
        assert int(body["expires_in"]) == 3599, body


def test_a_wrong_path_conforms_in_every_answer_style(lab: Daraja) -> None:
    # What each style answers: (status, media type, the contract's reusable response).
    expected = {
        "envelope": (404, "application/json", "ResourceNotFound"),
        "html": (200, "text/html", "WrongHostPage"),
    }
    assert set(WRONG_PATH_ANSWERS) == set(expected), "give each wrong-path style its expected answer"
    for style in WRONG_PATH_ANSWERS:
        lab.emulator.configure(wrong_path_answer=style)
        status, media, name = expected[style]
        for method, path in (("GET", "/mpesa" + OAUTH_PATH), ("GET", "/v1" + OAUTH_PATH), ("POST", "/x")):
            answer = lab.http.request(method, path, headers=lab.bearer())
            assert answer.status_code == status, (style, path, answer.text)
            assert answer.headers["content-type"].split(";")[0] == media, (style, path, answer.headers)
            check_common_answer(answer, name)
            if style == "html":
                assert answer.text.lstrip().lower().startswith("<!doctype html"), answer.text[:200]
            else:
                assert answer.json()["errorCode"] == "404.001.01", answer.text
        # Daraja's own paths are untouched by the style.
        conforms(lab.oauth(), 200)


def test_an_app_without_the_express_product_conforms(lab: Daraja) -> None:
    cid = lab.push_ok()  # by an app with the product: a real CheckoutRequestID to ask about
    lab.emulator.wait_until_final(cid)
    query_body = json.loads(lab.query(cid).request.content)
    lab.emulator.register_app("k-no-express", "s-no-express", express=False)
    token = conforms(lab.oauth("k-no-express", "s-no-express"), 200)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    push = lab.http.post(STK_PUSH_PATH, json=lab.push_body("254712000201"), headers=headers)
    conforms(push, 401, "401.003.01", NO_PRODUCT)
    query = lab.http.post(STK_QUERY_PATH, json=query_body, headers=headers)
    conforms(query, 401, "401.003.01", NO_PRODUCT)
    assert [t["checkout_request_id"] for t in lab.emulator.transactions()] == [cid]


def test_the_production_host_s_refusals_conform(make_lab: Callable[..., Daraja]) -> None:
    sandbox = make_lab()
    sandbox_token = sandbox.token
    lab = make_lab(environment="production")
    assert lab.emulator is not sandbox.emulator
    # The lab's keys belong to a sandbox app: production answers them as wrong keys (HTTP 400,
    # an envelope or no body at all, as configured).
    for style in ("envelope", "empty"):
        lab.emulator.configure(oauth_wrong_credentials_body=style)
        refused = conforms(lab.oauth(), 400)
        assert (refused is None) == (style == "empty"), (style, refused)
        if refused is not None:
            assert refused["errorCode"] == "400.008.01", refused
    # A sandbox token means nothing to production.
    unknown = {"Authorization": f"Bearer {sandbox_token}"}
    conforms(lab.http.post(STK_PUSH_PATH, json=lab.push_body(), headers=unknown), 404, "404.001.03")
    conforms(lab.http.post(STK_QUERY_PATH, json={}, headers=unknown), 404, "404.001.03")
    # A production app's token, and a CallBackURL that is not https.
    lab.emulator.register_app(LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, environment="production")
    assert lab.callback_url.startswith("http://")
    conforms(lab.push(), 400, "400.002.02", "Bad Request - Invalid CallBackURL")
    conforms(lab.push(CallBackURL="https://shop.mpesa-lab.test/mpesa/cb"), 200)


def test_expired_tokens_conform(lab: Daraja) -> None:
    cid = lab.push_ok()
    assert lab.emulator.expire_tokens() == {"expired": 1}
    conforms(lab.push("254712000202"), 404, "404.001.03", "Invalid Access Token")
    conforms(lab.query(cid), 404, "404.001.03", "Invalid Access Token")
    lab._token = None  # a fresh token works again
    lab.emulator.wait_until_final(cid)
    conforms(lab.query(cid), 200)


def test_the_legacy_1101_refusal_conforms_in_callback_and_query(lab: Daraja, collector: Collector) -> None:
    lab.emulator.configure(legacy_prompt_prefix_limit=20, enforce_duplicate_rule=False)
    accepted = conforms(lab.push(AccountReference="A-VERY-LONG-REF"), 200)
    assert accepted["ResponseCode"] == "0", accepted
    cid = accepted["CheckoutRequestID"]
    (post,) = collector.wait_for(cid)
    check_callback(post["raw"], post["headers"]["content-type"])
    callback = callback_of(post)
    assert callback["ResultCode"] == 1101, callback
    assert callback["ResultDesc"] == (
        "[STK_CB - ]Invalid Input parameter 'Prompt message prefix', length should be less than 20 characters"
    )
    assert "CallbackMetadata" not in callback, callback
    lab.emulator.wait_until_final(cid)
    final = conforms(lab.query(cid), 200)
    assert final["ResultCode"] == "1101", final
