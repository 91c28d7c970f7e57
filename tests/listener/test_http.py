"""Real HTTP against a running listener: each request gets the documented answer and the store
holds exactly what arrived."""

from __future__ import annotations

import json
import socket
import sqlite3
from decimal import Decimal

import httpx
import pytest

from mpesa_lab.listener import ACCEPTED, CallbackStore, Listener

from .helpers import encode, stk_body, success_items

ACCEPTED_BYTES = json.dumps(ACCEPTED).encode()

# One client for the module: building an httpx client (its TLS context) is the slow part.
http = httpx.Client(timeout=30)


def post(listener: Listener, content: bytes, **kwargs) -> httpx.Response:
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return http.post(listener.callback_url, content=content, headers=headers, **kwargs)


def assert_json(response: httpx.Response) -> dict:
    assert response.headers["content-type"] == "application/json"
    return response.json()


# Every shape in shared/daraja/observed-behaviour.md, as raw bytes on the wire.
VALID_SHAPES = {
    "doc success, Amount 1.00": (
        b'{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":'
        b'"ws_CO_191220191020363925","ResultCode":0,"ResultDesc":"The service request is processed '
        b'successfully.","CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.00},{"Name":'
        b'"MpesaReceiptNumber","Value":"NLJ7RT61SV"},{"Name":"TransactionDate","Value":20191219102115},'
        b'{"Name":"PhoneNumber","Value":254708374149}]}}}}',
        "ws_CO_191220191020363925",
        "0",
        Decimal("1.00"),
    ),
    "Amount 1, Balance absent": (encode(stk_body("ws_CO_A1", metadata=success_items(1))), "ws_CO_A1", "0", Decimal(1)),
    "Amount as string": (encode(stk_body("ws_CO_A2", metadata=success_items("1"))), "ws_CO_A2", "0", Decimal(1)),
    "Balance without Value": (
        encode(stk_body("ws_CO_B1", metadata=success_items(10, balance=None))),
        "ws_CO_B1",
        "0",
        Decimal(10),
    ),
    "Balance with Value": (
        encode(stk_body("ws_CO_B2", metadata=success_items(10, balance=32009.9))),
        "ws_CO_B2",
        "0",
        Decimal(10),
    ),
    "doc cancelled": (
        encode(
            stk_body(
                "ws_CO_21072024125243250722943992",
                result_code=1032,
                result_desc="Request cancelled by user",
                merchant_id="f1e2-4b95-a71d-b30d3cdbb7a7942864",
            )
        ),
        "ws_CO_21072024125243250722943992",
        "1032",
        None,
    ),
    "ResultCode as string": (
        encode(stk_body("ws_CO_S1", result_code="1037", result_desc="DS timeout user cannot be reached")),
        "ws_CO_S1",
        "1037",
        None,
    ),
    "alphanumeric ResultCode": (
        encode(stk_body("ws_CO_S2", result_code="SFC_IC0003", result_desc="The operator does not exist")),
        "ws_CO_S2",
        "SFC_IC0003",
        None,
    ),
    "unknown ResultCode": (
        encode(stk_body("ws_CO_U1", result_code=4242, result_desc="Something new")),
        "ws_CO_U1",
        "4242",
        None,
    ),
    "changed ResultDesc wording": (
        encode(stk_body("ws_CO_W1", result_code=1032, result_desc="Request Canceled by the User.")),
        "ws_CO_W1",
        "1032",
        None,
    ),
    "extra fields": (
        json.dumps(
            {
                "Body": {
                    "stkCallback": {
                        **stk_body("ws_CO_X1", metadata=success_items(5) + [{"Name": "NewItem", "Value": "x"}])["Body"][
                            "stkCallback"
                        ],
                        "Extra": [1, 2],
                    },
                    "Sibling": True,
                },
                "Envelope": "v2",
            }
        ).encode(),
        "ws_CO_X1",
        "0",
        Decimal(5),
    ),
    "older IDs": (
        encode(
            stk_body(
                "ws_CO_191220191020363925x",
                merchant_id="29115-34620561-1",
                result_code=2001,
                result_desc="The initiator information is invalid.",
            )
        ),
        "ws_CO_191220191020363925x",
        "2001",
        None,
    ),
}


@pytest.mark.parametrize("name", list(VALID_SHAPES))
def test_valid_shapes_are_stored_raw_then_accepted(listener: Listener, store: CallbackStore, name):
    raw, checkout_id, code, amount = VALID_SHAPES[name]
    response = post(listener, raw)
    assert response.status_code == 200
    assert response.content == ACCEPTED_BYTES
    delivery_id = int(response.headers["x-mpesa-lab-delivery"])
    row = store.delivery(delivery_id)
    assert row is not None
    assert row["body"] == raw
    assert row["outcome"] == "accepted" and row["http_status"] == 200
    assert row["checkout_request_id"] == checkout_id
    assert row["remote_addr"] == "127.0.0.1"
    assert row["headers"]["content-type"] == "application/json"
    parsed = listener.callback(checkout_id)
    assert parsed is not None and parsed.result_code == code and parsed.amount == amount
    assert parsed.delivery_id == delivery_id
    assert store.count_deliveries() == 1 and store.count_callbacks() == 1


def test_duplicate_is_another_delivery_flagged_and_counted_once(listener, store):
    store.record_push(
        {"PhoneNumber": "254708374149", "Amount": 1},
        {"CheckoutRequestID": "ws_CO_D1", "MerchantRequestID": "m-1", "ResponseCode": "0"},
    )
    raw = encode(stk_body("ws_CO_D1", metadata=success_items(1)))
    first, second = post(listener, raw), post(listener, raw)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content == ACCEPTED_BYTES
    assert "x-mpesa-lab-flags" not in first.headers
    assert second.headers["x-mpesa-lab-flags"] == "duplicate"
    assert store.count_deliveries() == 2 and store.count_callbacks("ws_CO_D1") == 2
    callbacks = store.callbacks()
    assert callbacks["duplicate"].tolist() == [False, True]
    assert store.delivery_bodies() == [raw, raw]
    tx = store.transactions()
    assert len(tx) == 1 and tx.loc[0, "callbacks"] == 2 and tx.loc[0, "status"] == "paid"


def test_unknown_checkout_id_is_kept_and_flagged(listener, store):
    raw = encode(stk_body("ws_CO_never_pushed", result_code=1032, result_desc="Request cancelled by user"))
    response = post(listener, raw)
    assert response.status_code == 200 and response.content == ACCEPTED_BYTES
    assert response.headers["x-mpesa-lab-flags"] == "unknown"
    row = store.delivery(int(response.headers["x-mpesa-lab-delivery"]))
    assert row["unknown"] is True and row["body"] == raw
    assert store.callbacks()["unknown"].tolist() == [True]
    assert store.transactions().empty


def test_expected_ids_callable_decides_what_is_unknown(store):
    with Listener(store, expected_ids=lambda cid: cid.startswith("ws_CO_ok"), name="test-exp") as lst:
        ok = post(lst, encode(stk_body("ws_CO_ok_1")))
        other = post(lst, encode(stk_body("ws_CO_other")))
    assert "x-mpesa-lab-flags" not in ok.headers
    assert other.headers["x-mpesa-lab-flags"] == "unknown"


INVALID = {
    "invalid JSON": (b'{"Body": {"stkCallback": ', "not valid JSON"),
    "empty body": (b"", "empty"),
    "not an object": (b'"hello"', "JSON object"),
    "no stkCallback": (b'{"Body": {"callback": {}}}', "Body.stkCallback"),
    "CheckoutRequestID missing": (b'{"Body": {"stkCallback": {"ResultCode": 0}}}', "CheckoutRequestID"),
    "ResultCode missing": (b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_9"}}}', "ResultCode"),
    "ResultCode wrong type": (
        b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_9", "ResultCode": [0]}}}',
        "ResultCode",
    ),
    "Items wrong type": (
        b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_9", "ResultCode": 0, "CallbackMetadata": "x"}}}',
        "CallbackMetadata",
    ),
    "not UTF-8": (b"\xff\xfe{}", "UTF-8"),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_bodies_are_quarantined_raw_and_answered_400(listener, store, name):
    raw, fragment = INVALID[name]
    response = post(listener, raw)
    assert response.status_code == 400
    payload = assert_json(response)
    assert payload["error"] == "invalid_callback"
    assert payload["ResultCode"] == 1
    assert fragment in payload["message"]
    quarantine = store.quarantine()
    assert len(quarantine) == 1
    assert quarantine.loc[0, "body"] == raw
    assert fragment in quarantine.loc[0, "reason"]
    row = store.delivery(int(response.headers["x-mpesa-lab-delivery"]))
    assert row["outcome"] == "quarantined" and row["body"] == raw and row["http_status"] == 400
    assert store.count_callbacks() == 0


def test_body_exactly_at_the_limit_is_accepted(store):
    with Listener(store, max_body_bytes=2048, name="test-limit") as lst:
        base = encode(stk_body("ws_CO_L1"))
        raw = base[:-1] + b" " * (2048 - len(base)) + b"}"
        assert len(raw) == 2048
        assert post(lst, raw).status_code == 200
        over = post(lst, raw + b" ")
        assert over.status_code == 413
    assert store.delivery_bodies() == [raw, None]


def test_huge_body_with_content_length_gets_413_and_is_not_kept(listener, store):
    response = post(listener, b"x" * 300_000)
    assert response.status_code == 413
    payload = assert_json(response)
    assert payload["error"] == "body_too_large" and payload["limit"] == 65536
    rows = store.deliveries()
    assert rows["outcome"].tolist() == ["too_large"]
    assert rows.loc[0, "body"] is None and rows.loc[0, "body_size"] == 300_000


def test_huge_streamed_body_is_counted_while_streaming(listener, store):
    def chunks():
        for _ in range(40):
            yield b"y" * 8192

    response = http.post(listener.callback_url, content=chunks())
    assert response.status_code == 413
    assert assert_json(response)["error"] == "body_too_large"
    rows = store.deliveries()
    assert rows["outcome"].tolist() == ["too_large"] and rows.loc[0, "body"] is None
    assert "chunked" in rows.loc[0, "headers"].get("transfer-encoding", "")


def test_enormous_declared_body_is_refused_without_reading_it(listener, store):
    # Claims 10 GB but sends a few bytes: the answer must come without waiting for the rest.
    path = listener.callback_url.split(str(listener.port), 1)[1]
    with socket.create_connection(("127.0.0.1", listener.port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10 * 1024**3}\r\n\r\n".encode()
            + b"{" * 100
        )
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"] == "body_too_large"
    assert store.deliveries()["body_size"].tolist() == [10 * 1024**3]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405_json(listener, store, method):
    response = http.request(method, listener.callback_url)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert assert_json(response)["error"] == "method_not_allowed"
    assert store.count_deliveries() == 0


@pytest.mark.parametrize(
    "path", ["/", "/callback", "/wrong-token/callback", "/{token}/other", "/{token}", "/{token}/callback/extra"]
)
def test_wrong_path_is_404_json_and_does_not_reveal_the_token(listener, store, path):
    response = http.post(listener.url + path.format(token=listener.path_token), content=encode(stk_body()))
    assert response.status_code == 404
    payload = assert_json(response)
    assert payload["error"] == "not_found"
    assert listener.path_token not in response.text
    assert store.count_deliveries() == 0


def test_trailing_slash_and_health(listener):
    response = http.post(listener.callback_url + "/", content=encode(stk_body("ws_CO_T1")))
    assert response.status_code == 200
    health = http.get(f"{listener.url}/{listener.path_token}/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


def test_only_relevant_headers_are_kept(listener, store):
    response = post(
        listener,
        encode(stk_body("ws_CO_H1")),
        headers={"user-agent": "Safaricom", "cookie": "session=abc", "authorization": "Bearer secret-value"},
    )
    row = store.delivery(int(response.headers["x-mpesa-lab-delivery"]))
    assert row["headers"]["user-agent"] == "Safaricom"
    assert "cookie" not in row["headers"] and "authorization" not in row["headers"]


def test_ip_allowlist(store):
    with Listener(store, allowed_ips=["196.201.214.200"], trusted_proxies=["127.0.0.1"], name="test-ip") as lst:
        refused = post(lst, encode(stk_body("ws_CO_I1")))
        # Behind a proxy the user named (here on loopback), the proxy forwards the sender's address.
        via_proxy = post(lst, encode(stk_body("ws_CO_I2")), headers={"x-forwarded-for": "10.0.0.9, 196.201.214.200"})
        spoofed_first = post(
            lst, encode(stk_body("ws_CO_I3")), headers={"x-forwarded-for": "196.201.214.200, 10.0.0.9"}
        )
    assert refused.status_code == 403 and assert_json(refused)["error"] == "forbidden"
    assert via_proxy.status_code == 200 and via_proxy.content == ACCEPTED_BYTES
    assert spoofed_first.status_code == 403
    rows = store.deliveries()
    assert rows["outcome"].tolist() == ["forbidden", "accepted", "forbidden"]
    # A refused delivery is kept raw: a stale allowlist must not lose a real callback.
    assert rows.loc[0, "body"] == encode(stk_body("ws_CO_I1"))
    assert rows["client_addr"].tolist() == ["127.0.0.1", "196.201.214.200", "10.0.0.9"]
    assert store.count_callbacks() == 1


def test_a_forged_forwarded_for_from_a_local_process_does_not_pass_the_allowlist(store):
    # No proxy named: any process on this machine could write the header, so it is not believed.
    with Listener(store, allowed_ips=["196.201.214.200"], name="test-ip-forged") as lst:
        forged = post(lst, encode(stk_body("ws_CO_I6")), headers={"x-forwarded-for": "196.201.214.200"})
    assert forged.status_code == 403
    row = store.delivery(int(forged.headers["x-mpesa-lab-delivery"]))
    assert row["outcome"] == "forbidden" and row["client_addr"] == "127.0.0.1"
    assert row["headers"]["x-forwarded-for"] == "196.201.214.200"  # kept, for the record


def test_exposing_through_the_tunnel_trusts_its_agent(store):
    lst = Listener(store, allowed_ips=["196.201.214.200"], name="test-ip-tunnel")
    lst.app.trust_tunnel_agent()  # what expose() does before opening the tunnel
    with lst:
        via_agent = post(lst, encode(stk_body("ws_CO_I7")), headers={"x-forwarded-for": "196.201.214.200"})
    assert via_agent.status_code == 200


def test_forwarded_for_is_ignored_when_not_trusted(store):
    with Listener(store, allowed_ips=["196.201.214.200"], trust_forwarded_for=False, name="test-ip2") as lst:
        response = post(lst, encode(stk_body("ws_CO_I4")), headers={"x-forwarded-for": "196.201.214.200"})
    assert response.status_code == 403


def test_allowlist_accepts_networks(store):
    with Listener(store, allowed_ips=["127.0.0.0/8"], name="test-ip3") as lst:
        assert post(lst, encode(stk_body("ws_CO_I5"))).status_code == 200
    with pytest.raises(ValueError, match="not an IP address"):
        Listener(store, allowed_ips=["safaricom"])


def test_a_store_failure_is_never_acknowledged(listener, store):
    with sqlite3.connect(store.path) as conn:
        conn.execute("CREATE TRIGGER boom BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    response = post(listener, encode(stk_body("ws_CO_F1")))
    assert response.status_code == 503
    payload = assert_json(response)
    assert payload["ResultCode"] == 1 and "disk on fire" in payload["message"]
    assert "x-mpesa-lab-delivery" not in response.headers


def test_mixed_sequence_store_holds_exactly_what_arrived(listener, store):
    sent = [
        encode(stk_body("ws_CO_M1", metadata=success_items(1))),
        b"garbage",
        encode(stk_body("ws_CO_M1", metadata=success_items(1))),
        b"",
        encode(stk_body("ws_CO_M2", result_code="1032")),
    ]
    statuses = [post(listener, raw).status_code for raw in sent]
    assert statuses == [200, 400, 200, 400, 200]
    assert store.delivery_bodies() == sent
    assert store.count_callbacks() == 3 and store.count_quarantined() == 2
