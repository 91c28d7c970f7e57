"""Property: whatever arrives (method, path, headers, body), the answer is a Daraja envelope or a
valid success, as JSON, never a traceback or an internal error; and the server keeps answering."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.emulator import Emulator, EmulatorConfig
from mpesa_lab.emulator.errors import is_envelope

from .conftest import TIMEOUT, Daraja

PUSH_FIELDS = [
    "BusinessShortCode",
    "Password",
    "Timestamp",
    "TransactionType",
    "Amount",
    "PartyA",
    "PartyB",
    "PhoneNumber",
    "CallBackURL",
    "AccountReference",
    "TransactionDesc",
]
QUERY_FIELDS = ["BusinessShortCode", "Password", "Timestamp", "CheckoutRequestID"]
ACK_KEYS = {"MerchantRequestID", "CheckoutRequestID", "ResponseCode", "ResponseDescription", "CustomerMessage"}
QUERY_KEYS = {
    "ResponseCode",
    "ResponseDescription",
    "MerchantRequestID",
    "CheckoutRequestID",
    "ResultCode",
    "ResultDesc",
}
KNOWN_ERRORS = {
    "400.002.02",
    "400.008.01",
    "400.008.02",
    "404.001.01",
    "404.001.03",
    "405.001",
    "500.001.1001",
    "500.003.02",
    "500.003.03",
}

SETTINGS = settings(
    max_examples=800,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def fuzz(collector) -> Iterator[Daraja]:
    config = EmulatorConfig(prompt_delay=0.0, answer_delay=0.0, seed=99)
    emulator = Emulator(config, name="test-emulator-fuzz").start()
    lab = Daraja(emulator, collector.url)
    lab.token  # noqa: B018 - fetch it once
    try:
        yield lab
    finally:
        lab.http.close()
        emulator.stop()


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "174379",
            "254708374149",
            "CustomerPayBillOnline",
            "20240710091526",
            "1",
            "0",
            "",
            "http://127.0.0.1:9/cb",
            "ws_CO_1",
        ]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=6,
)
keys = st.one_of(st.sampled_from(PUSH_FIELDS + QUERY_FIELDS), st.text(max_size=12))
url_chars = string.ascii_letters + string.digits + "-._~/%"
paths = st.one_of(
    st.sampled_from(
        [
            OAUTH_PATH,
            STK_PUSH_PATH,
            STK_QUERY_PATH,
            "/",
            "/oauth/v1/generate/",
            "/mpesa/stkpush/v1",
            "/_lab",
            "/_lab/transactions",
            "/_lab/prompts",
            "/_lab/triggers",
            "/_lab/scenario",
            "/_lab/next-result",
            "/_lab/callback-attempts",
            "/_lab/transactions/ws_CO_x/answer",
        ]
    ),
    st.text(alphabet=url_chars, max_size=40).map(lambda s: "/" + s),
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
header_text = st.text(alphabet=string.printable.strip("\r\n\t\x0b\x0c"), max_size=40)


def valid_basic() -> str:
    return "Basic " + base64.b64encode(f"{LAB_CONSUMER_KEY}:{LAB_CONSUMER_SECRET}".encode()).decode()


@st.composite
def requests_(draw: st.DrawFn, lab: Daraja) -> dict[str, Any]:
    headers: dict[str, str] = {}
    auth = draw(st.sampled_from(["valid_bearer", "valid_basic", "random", "none", "bearer_junk", "basic_junk"]))
    if auth == "valid_bearer":
        headers["Authorization"] = f"Bearer {lab.token}"
    elif auth == "valid_basic":
        headers["Authorization"] = valid_basic()
    elif auth == "random":
        headers["Authorization"] = draw(header_text)
    elif auth == "bearer_junk":
        headers["Authorization"] = "Bearer " + draw(header_text)
    elif auth == "basic_junk":
        headers["Authorization"] = "Basic " + draw(header_text)
    ctype = draw(st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", None, "random"]))
    if ctype == "random":
        headers["Content-Type"] = draw(header_text)
    elif ctype is not None:
        headers["Content-Type"] = ctype
    kind = draw(st.sampled_from(["bytes", "object", "mutated_push", "mutated_query", "json_value"]))
    if kind == "bytes":
        content = draw(st.binary(max_size=200))
    elif kind == "json_value":
        content = json.dumps(draw(json_values)).encode()
    elif kind == "object":
        content = json.dumps(draw(st.dictionaries(keys, json_values, max_size=8))).encode()
    else:
        base = lab.push_body(
            draw(st.sampled_from(["254708374149", "254711000001", "254708001032"])), draw(st.integers(0, 300_000))
        )
        if kind == "mutated_query":
            base = {
                "BusinessShortCode": "174379",
                "Password": base["Password"],
                "Timestamp": base["Timestamp"],
                "CheckoutRequestID": draw(st.text(max_size=40)),
            }
        for _ in range(draw(st.integers(0, 3))):
            field = draw(st.sampled_from(sorted(base)))
            if draw(st.booleans()):
                base[field] = draw(json_values)
            else:
                base.pop(field, None)
        content = json.dumps(base).encode()
    # h11 refuses to send values with surrounding whitespace: a client-side rule, not the server's.
    headers = {name: value.strip() for name, value in headers.items()}
    params = {}
    if draw(st.booleans()):
        params["grant_type"] = draw(st.sampled_from(["client_credentials", "password", ""]) | header_text)
    if draw(st.booleans()):
        # Half the examples get past the gates (token, path, method, media type), so that random
        # bodies reach the field validation and the state instead of stopping at the door.
        headers.update({"Authorization": f"Bearer {lab.token}", "Content-Type": "application/json"})
        return {
            "method": "POST",
            "url": draw(st.sampled_from([STK_PUSH_PATH, STK_QUERY_PATH])),
            "headers": headers,
            "content": content,
            "params": params,
        }
    return {"method": draw(methods), "url": draw(paths), "headers": headers, "content": content, "params": params}


def check(response: httpx.Response, request: dict[str, Any]) -> None:
    text = response.text
    assert "Traceback" not in text and "<html" not in text.lower()
    assert response.status_code in (200, 400, 404, 405, 500), (response.status_code, text)
    if request["method"] == "HEAD":
        assert response.content == b""
        return
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    if response.status_code != 200:
        assert is_envelope(body), body
        assert body["errorCode"] in KNOWN_ERRORS, body  # never 500.003.1001: nothing unexpected happened
        return
    path = response.request.url.path
    if path == OAUTH_PATH:
        assert set(body) == {"access_token", "expires_in"}
    elif path == STK_PUSH_PATH:
        assert set(body) == ACK_KEYS and body["ResponseCode"] == "0"
    elif path == STK_QUERY_PATH:
        assert set(body) == QUERY_KEYS and isinstance(body["ResultCode"], str)
    else:
        assert path.startswith("/_lab") and isinstance(body, dict)


@st.composite
def _requests_for(draw: st.DrawFn) -> dict[str, Any]:
    return draw(requests_(_FUZZ_LAB[0]))


_FUZZ_LAB: list[Daraja] = []


def test_anything_gets_an_envelope_or_a_valid_success(fuzz):
    _FUZZ_LAB[:] = [fuzz]

    @settings(SETTINGS, max_examples=1500)
    @given(_requests_for())
    def run(request: dict[str, Any]) -> None:
        response = fuzz.http.request(
            request["method"],
            request["url"],
            headers=request["headers"],
            content=request["content"],
            params=request["params"],
        )
        check(response, request)

    run()
    # still serving, and still right
    cid = fuzz.push_ok("254711000077", 3)
    assert fuzz.emulator.wait_until_final(cid, TIMEOUT)["final"]


@st.composite
def push_bodies(draw: st.DrawFn) -> dict[str, Any]:
    lab = _FUZZ_LAB[0]
    body = lab.push_body(draw(st.sampled_from(["254708000000", "254711000002"])), 1)
    for field in draw(st.lists(st.sampled_from(PUSH_FIELDS), max_size=3, unique=True)):
        body[field] = draw(json_scalars)
    return body


def test_push_errors_name_a_real_field(fuzz):
    _FUZZ_LAB[:] = [fuzz]
    fuzz.emulator.configure(enforce_subscriber_lock=False, enforce_duplicate_rule=False)
    names = {f"Bad Request - Invalid {f}" for f in PUSH_FIELDS if f not in ("Password", "TransactionDesc")}
    names.add("Bad Request - Invalid Remarks")

    @SETTINGS
    @given(push_bodies())
    def run(body: dict[str, Any]) -> None:
        response = fuzz.http.post(
            STK_PUSH_PATH,
            content=json.dumps(body).encode(),  # NaN and Infinity too
            headers={**fuzz.bearer(), "Content-Type": "application/json"},
        )
        assert response.headers["content-type"].startswith("application/json")
        data = response.json()
        if response.status_code == 200:
            assert set(data) == ACK_KEYS
        elif response.status_code == 400:
            assert data["errorMessage"] in names, data
        else:
            assert response.status_code == 500, data
            assert data["errorMessage"] in ("Wrong credentials", "Merchant does not exist"), data

    run()


# ---- the control API, and inputs JSON cannot carry (NaN, Infinity, 1e999, lone surrogates) ------

CONTROL_PATHS = [
    "",
    "/transactions",
    "/transactions/{cid}",
    "/transactions/{cid}/answer",
    "/prompts",
    "/next-result",
    "/scenario",
    "/config",
    "/merchants",
    "/subscribers",
    "/subscribers/254711000001/unlock",
    "/apps",
    "/callback-faults",
    "/callback-attempts",
    "/errors",
    "/triggers",
    "/transactions/ws_CO_%ED%BF%BF",
    "/subscribers/%FF/unlock",
]
CONTROL_FIELDS = sorted(
    {f.name for f in dataclasses.fields(EmulatorConfig)}
    | {
        "pin",
        "cancel",
        "ignore",
        "code",
        "phone",
        "name",
        "mix",
        "interactive",
        "shortcode",
        "passkey",
        "kind",
        "till_number",
        "balance",
        "max_balance",
        "profile",
        "daily_limit",
        "max_transaction",
        "daily_total",
        "locked",
        "key",
        "secret",
        "checkout_request_id",
        "count",
        "seconds",
        "copies",
        "message",
        "route",
        "status",
    }
)
lone_surrogates = st.sampled_from(["\ud800", "ref\udfff", "\udc00x"])
hostile_scalars = st.one_of(
    json_scalars,
    lone_surrogates,
    st.sampled_from([1e308, -1e308, 10**30, "false", "true", "0", 0, 1]),
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6) | lone_surrogates, kids, max_size=3),
    max_leaves=6,
)


def _raw_json(value: Any) -> bytes:
    # allow_nan writes NaN / Infinity as bare words; lone surrogates go out as \\u escapes.
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def control_requests(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(st.sampled_from(CONTROL_PATHS)).replace("{cid}", draw(st.sampled_from(_CIDS or ["ws_CO_1"])))
    method = draw(st.sampled_from(["GET", "POST", "POST", "POST", "DELETE", "PUT"]))
    kind = draw(st.sampled_from(["fields", "fields", "value", "bytes", "huge_number"]))
    if kind == "fields":
        content = _raw_json(draw(st.dictionaries(st.sampled_from(CONTROL_FIELDS), hostile_values, max_size=4)))
    elif kind == "value":
        content = _raw_json(draw(hostile_values))
    elif kind == "huge_number":
        content = b'{"' + draw(st.sampled_from(CONTROL_FIELDS)).encode() + b'": 1e999}'
    else:
        content = draw(st.binary(max_size=100))
    return {
        "method": method,
        "url": "/_lab" + path,
        "content": content,
        "headers": {"Content-Type": "application/json"},
    }


@st.composite
def hostile_pushes(draw: st.DrawFn) -> bytes:
    lab = _FUZZ_LAB[0]
    body = lab.push_body(draw(st.sampled_from(["254708000000", "254711000002", "254711000003"])), 1)
    for field in draw(st.lists(st.sampled_from(PUSH_FIELDS + ["Passkey", "Extra"]), max_size=3, unique=True)):
        body[field] = draw(hostile_scalars)
    return _raw_json(body)


_CIDS: list[str] = []


def strict_json(response: httpx.Response) -> Any:
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    return json.loads(response.content, parse_constant=lambda name: pytest.fail(f"{name} in an answer"))


def test_control_api_and_non_finite_input_always_get_strict_json(fuzz, caplog):
    _FUZZ_LAB[:] = [fuzz]
    emulator = fuzz.emulator
    emulator.configure(enforce_subscriber_lock=False, enforce_duplicate_rule=False)
    _CIDS[:] = [fuzz.push_ok("254711000004", 2)]
    emulator.wait_until_final(_CIDS[0], TIMEOUT)

    @settings(SETTINGS, max_examples=1200)
    @given(
        st.one_of(
            control_requests(),
            hostile_pushes().map(
                lambda raw: {
                    "method": "POST",
                    "url": STK_PUSH_PATH,
                    "content": raw,
                    "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {fuzz.token}"},
                }
            ),
        )
    )
    def run(request: dict[str, Any]) -> None:
        response = fuzz.http.request(
            request["method"], request["url"], headers=request["headers"], content=request["content"]
        )
        assert "Traceback" not in response.text and "<html" not in response.text.lower()
        assert response.status_code in (200, 400, 404, 405, 500), (response.status_code, response.text)
        body = strict_json(response)
        if response.status_code != 200:
            assert is_envelope(body), body
            assert body["errorCode"] != "500.003.1001", body  # nothing unexpected happened
        # the listing survives whatever was stored
        if not emulator.config.control_api:
            emulator.configure(control_api=True)
        listing = fuzz.lab("GET", "/transactions")
        assert listing.status_code == 200
        strict_json(listing)

    with caplog.at_level(logging.WARNING, logger="mpesa_lab"):
        run()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    # still serving, and still right
    emulator.state.config = EmulatorConfig(prompt_delay=0.0, answer_delay=0.0, seed=99)
    emulator.reset()
    cid = fuzz.push_ok("254711000078", 3)
    assert emulator.wait_until_final(cid, TIMEOUT)["final"]
