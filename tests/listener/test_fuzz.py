"""Property: whatever reaches the listener over HTTP (method, path, headers, body: valid callbacks,
mutated ones, non-finite numbers, lone surrogates, raw bytes), the answer is JSON, never a
traceback or an internal error; every acknowledged callback is in the store with its raw body,
and whatever was refused as invalid is kept raw in quarantine with the reason."""

from __future__ import annotations

import json
import logging
import string
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpesa_lab.listener import ACCEPTED, CallbackStore, Listener

from .helpers import stk_body, success_items

ACCEPTED_BYTES = json.dumps(ACCEPTED).encode()
SETTINGS = settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

surrogates = st.sampled_from(["\ud800", "ws_CO_\udfff", "a\udc80b"])
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1032, "1032", "SFC_IC0003", 1.0, "1.00", 10**400]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20), surrogates)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8) | surrogates, kids, max_size=3),
    max_leaves=6,
)
STK_FIELDS = ["MerchantRequestID", "CheckoutRequestID", "ResultCode", "ResultDesc", "CallbackMetadata"]
ITEM_NAMES = ["Amount", "MpesaReceiptNumber", "Balance", "TransactionDate", "PhoneNumber"]


def _dumps(value: Any) -> bytes:
    # NaN and Infinity as the bare words some senders write; lone surrogates as \\u escapes.
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["valid", "mutated", "items", "value", "bytes", "deep"]))
    cid = f"ws_CO_FZ{draw(st.integers(0, 10**9))}"
    if kind == "valid":
        return _dumps(stk_body(cid, metadata=success_items(draw(st.integers(1, 10**6)))))
    if kind == "mutated":
        body = stk_body(cid, metadata=success_items(5))
        stk = body["Body"]["stkCallback"]
        for _ in range(draw(st.integers(1, 3))):
            field = draw(st.sampled_from(STK_FIELDS))
            if draw(st.booleans()):
                stk[field] = draw(values)
            else:
                stk.pop(field, None)
        return _dumps(body)
    if kind == "items":
        items = [
            {"Name": draw(st.sampled_from(ITEM_NAMES)), "Value": draw(values)} for _ in range(draw(st.integers(1, 5)))
        ]
        return _dumps(stk_body(cid, metadata=items))
    if kind == "value":
        return _dumps(draw(values))
    if kind == "deep":
        depth = draw(st.integers(900, 20_000))
        return b'{"Body":' + b"[" * depth + b"]" * depth + b"}"
    return draw(st.binary(max_size=300))


url_chars = string.ascii_letters + string.digits + "-._~/%"


@st.composite
def requests_(draw: st.DrawFn) -> dict[str, Any]:
    method = "POST" if draw(st.integers(0, 9)) < 8 else draw(st.sampled_from(["GET", "PUT", "DELETE", "HEAD"]))
    where = draw(st.sampled_from(["callback", "callback", "callback", "health", "random"]))
    path = draw(st.text(alphabet=url_chars, max_size=30)) if where == "random" else where
    ctype = draw(st.sampled_from(["application/json", "text/plain", None]))
    headers = {"content-type": ctype} if ctype else {}
    if draw(st.booleans()):
        headers["x-forwarded-for"] = draw(st.sampled_from(["196.201.214.200", "junk", "1.2.3.4, 5.6.7.8"]))
    return {"method": method, "where": where, "path": path, "headers": headers, "content": draw(bodies())}


def test_anything_gets_json_and_no_acknowledged_callback_is_lost(tmp_path, caplog):
    store = CallbackStore(tmp_path / "fuzz.sqlite")
    listener = Listener(store, name="test-listener-fuzz").start()
    http = httpx.Client(timeout=30)
    acked: dict[int, bytes] = {}
    refused: dict[int, bytes] = {}
    posts_to_callback = 0

    @SETTINGS
    @given(requests_())
    def run(request: dict[str, Any]) -> None:
        nonlocal posts_to_callback
        if request["where"] == "callback":
            url = listener.callback_url
        elif request["where"] == "health":
            url = f"{listener.url}/{listener.path_token}/health"
        else:
            url = f"{listener.url}/{request['path']}"
        response = http.request(request["method"], url, headers=request["headers"], content=request["content"])
        assert "Traceback" not in response.text and "<html" not in response.text.lower()
        assert response.status_code in (200, 400, 404, 405, 413), (response.status_code, response.text)
        if request["method"] == "HEAD":
            return
        assert response.headers["content-type"] == "application/json"
        payload = json.loads(
            response.content, parse_constant=lambda name: (_ for _ in ()).throw(AssertionError(f"{name} in an answer"))
        )
        assert isinstance(payload, dict)
        if request["where"] == "callback" and request["method"] == "POST":
            posts_to_callback += 1
            delivery = int(response.headers["x-mpesa-lab-delivery"])  # stored, whatever the answer
            if response.status_code == 200:
                assert response.content == ACCEPTED_BYTES
                acked[delivery] = request["content"]
            else:
                assert response.status_code == 400 and payload["error"] == "invalid_callback"
                refused[delivery] = request["content"]

    with caplog.at_level(logging.WARNING):
        try:
            run()
        finally:
            http.close()
            listener.stop()
    assert acked and refused  # the run reached both sides
    # 0 acknowledged callbacks lost: each is stored, with its exact body, as a parsed callback
    for delivery, body in acked.items():
        row = store.delivery(delivery)
        assert row is not None and row["outcome"] == "accepted" and row["body"] == body
    assert store.count_callbacks() == len(acked)
    # what was refused is kept raw, with the reason, never as data
    quarantine = store.quarantine()
    assert dict(zip(quarantine["delivery_id"], quarantine["body"], strict=True)) == refused
    assert quarantine["reason"].str.len().min() > 0
    assert store.count_deliveries() == posts_to_callback
    # no tracebacks in the log
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    store.close()
