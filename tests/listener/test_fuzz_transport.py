"""Property, at the transport level (test_fuzz.py covers the bodies' content): every listener route
(callback, health, anything else) under any method, with bodies of any size around the limit, sent
whole or chunked, any Content-Type / Content-Encoding / extra headers, answers JSON below 500,
logs no traceback; every acknowledged callback is stored with its exact body; and the listener
still stores an honest callback afterwards."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpesa_lab.constants import LISTENER_MAX_BODY_BYTES
from mpesa_lab.listener import ACCEPTED, CallbackStore, Listener

from .helpers import stk_body, success_items

EXAMPLES = 600
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LIMIT = LISTENER_MAX_BODY_BYTES


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["valid", "padded", "size", "deep", "utf16", "bytes"]))
    cid = f"ws_CO_TR{draw(st.integers(0, 10**9))}"
    if kind == "valid":
        return json.dumps(stk_body(cid, metadata=success_items(draw(st.integers(1, 10**6))))).encode()
    if kind == "padded":  # a valid callback made to land just under, at or over the limit
        body = stk_body(cid, metadata=success_items(5))
        raw = json.dumps(body).encode()
        target = LIMIT + draw(st.integers(-64, 64))
        body["Body"]["stkCallback"]["ResultDesc"] = "x" * max(0, target - len(raw))
        return json.dumps(body).encode()
    if kind == "size":
        return b"a" * draw(st.sampled_from([0, 1, LIMIT - 1, LIMIT, LIMIT + 1, 2 * LIMIT, 3 * 1024 * 1024]))
    if kind == "deep":
        return b"[" * draw(st.integers(1, 300_000))
    if kind == "utf16":
        return json.dumps(stk_body(cid)).encode("utf-16")
    return draw(st.binary(max_size=500))


@st.composite
def requests_(draw: st.DrawFn) -> dict[str, Any]:
    where = draw(st.sampled_from(["callback", "callback", "callback", "health", "other"]))
    method = (
        ("POST" if where == "callback" else "GET")
        if draw(st.booleans())
        else draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
    )
    headers = {}
    if ctype := draw(st.sampled_from([None, "application/json", "text/plain; charset=utf-16", "multipart/form-data"])):
        headers["content-type"] = ctype
    if encoding := draw(st.sampled_from([None, None, "gzip", "br", "identity"])):
        headers["content-encoding"] = encoding
    for n in range(draw(st.integers(0, 3))):
        headers[f"x-junk-{n}"] = "v" * draw(st.integers(0, 4000))
    return {
        "where": where,
        "method": method,
        "headers": headers,
        "body": draw(bodies()),
        "chunked": draw(st.booleans()),
        "other": draw(st.text(alphabet="abc/._-%", max_size=20)),
    }


def test_any_size_and_framing_on_any_listener_route(tmp_path, caplog):
    store = CallbackStore(tmp_path / "transport.sqlite")
    listener = Listener(store, name="test-listener-transport").start()
    http = httpx.Client(timeout=30)
    acked: dict[int, bytes] = {}
    per_route: dict[str, int] = {}

    @SETTINGS
    @given(requests_())
    def run(req: dict[str, Any]) -> None:
        url = {
            "callback": listener.callback_url,
            "health": f"{listener.url}/{listener.path_token}/health",
            "other": f"{listener.url}/{req['other']}",
        }[req["where"]]
        body = req["body"]
        content: Any = body
        if req["chunked"]:
            content = iter([body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""])
        try:
            response = http.request(req["method"], url, headers=req["headers"], content=content)
        except httpx.RemoteProtocolError:
            # an over-limit body cut off mid-send (the listener answered 413 and closed): allowed
            assert len(body) > LIMIT
            return
        per_route[req["where"]] = per_route.get(req["where"], 0) + 1
        assert response.status_code < 500, (response.status_code, response.text[:200])
        if req["method"] != "HEAD":
            assert response.headers["content-type"] == "application/json"
            assert isinstance(response.json(), dict)
        if response.status_code == 200 and req["where"] == "callback":
            assert response.content == json.dumps(ACCEPTED).encode()
            acked[int(response.headers["x-mpesa-lab-delivery"])] = body

    with caplog.at_level(logging.WARNING):
        try:
            run()
            print("listener transport fuzz examples per route:", per_route, "acknowledged:", len(acked))
            assert acked and all(per_route.get(r, 0) >= 50 for r in ("callback", "health", "other")), per_route
            for delivery, body in acked.items():  # nothing acknowledged is lost
                row = store.delivery(delivery)
                assert row is not None and row["outcome"] == "accepted" and row["body"] == body
            # still healthy: an honest callback is stored
            honest = http.post(listener.callback_url, content=json.dumps(stk_body("ws_CO_HONEST")).encode())
            assert honest.status_code == 200
        finally:
            http.close()
            listener.stop()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    store.close()
