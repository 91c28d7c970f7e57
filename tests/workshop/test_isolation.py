"""Isolation over HTTP: a participant's token reaches only their own transactions, and no room
control; every refusal is a Daraja-style envelope."""

from __future__ import annotations

import time

import pytest

from tests.workshop.conftest import assert_envelope

ROOM_CONTROLS = [
    ("POST", "/_lab/reset", {}),
    ("POST", "/_lab/scenario", {"name": "flaky"}),
    ("POST", "/_lab/config", {"interactive": True}),
    ("POST", "/_lab/callback-faults", {"kind": "drop"}),
    ("DELETE", "/_lab/callback-faults", None),
    ("POST", "/_lab/errors", {"code": "500.003.02"}),
    ("POST", "/_lab/apps", {"key": "mine", "secret": "x"}),
    ("POST", "/_lab/merchants", {"shortcode": "600002", "passkey": "x"}),
    ("POST", "/_lab/subscribers", {"phone": "254708374149", "balance": 0}),
    ("GET", "/_workshop/", None),
    ("GET", "/_workshop/api/room", None),
    ("POST", "/_workshop/api/faults", {"kind": "busy", "seconds": 5}),
    ("DELETE", "/_workshop/api/faults", None),
    ("POST", "/_workshop/api/reset", None),
    ("POST", "/_workshop/api/participants", {"name": "intruder"}),
]


def test_participant_cannot_touch_another_participants_transaction(server, people):
    a, b = people["p01"], people["p02"]
    pushed = a.push(phone="254711000001", amount=5)
    assert pushed.status_code == 200, pushed.text
    cid = pushed.json()["CheckoutRequestID"]
    server.room.desk("p01").state.wait_until_final(cid, 10)

    # A sees it; B's query, look-up, answer and listing know nothing of it.
    assert a.query(cid).json()["CheckoutRequestID"] == cid
    assert_envelope(b.query(cid), "400.002.02", 400)
    assert_envelope(b.http.get(f"/_lab/transactions/{cid}", headers=b.bearer), "404.001.01", 404)
    assert_envelope(b.http.post(f"/_lab/transactions/{cid}/answer", json={}, headers=b.bearer), "404.001.01", 404)
    assert cid in {
        t["checkout_request_id"] for t in a.http.get("/_lab/transactions", headers=a.bearer).json()["transactions"]
    }
    assert cid not in {
        t["checkout_request_id"] for t in b.http.get("/_lab/transactions", headers=b.bearer).json()["transactions"]
    }
    attempts = b.http.get("/_lab/callback-attempts", headers=b.bearer).json()["attempts"]
    assert all(x["checkout_request_id"] != cid for x in attempts)


def test_own_paybill_only(server, people):
    a, b = people["p01"], people["p02"]
    # B pushing to A's paybill with A's passkey: B's Daraja does not know that merchant.
    answer = b.push(shortcode=a.creds["shortcode"], passkey=a.creds["passkey"])
    body = assert_envelope(answer, "500.001.1001", 500)
    assert body["errorMessage"] == "Merchant does not exist"
    # B's own paybill with A's passkey: wrong credentials.
    answer = b.push(passkey=a.creds["passkey"])
    assert assert_envelope(answer, "500.001.1001", 500)["errorMessage"] == "Wrong credentials"


def test_locks_and_rule_17_are_per_participant(server, people):
    a, b = people["p01"], people["p02"]
    for desk in server.room.desks.values():
        desk.state.configure(interactive=True)
    phone = "254711000002"
    first = a.push(phone=phone, amount=7)
    assert first.status_code == 200
    # A's prompt is pending on this phone: A cannot push to it again, B can.
    assert assert_envelope(a.push(phone=phone, amount=8), "500.001.1001", 500)["errorMessage"].startswith(
        "Unable to lock"
    )
    other = b.push(phone=phone, amount=7)
    assert other.status_code == 200, other.text
    # Rule 17 (same amount, same phone, two minutes) counts A's pushes only.
    a_state, b_state = server.room.desk("p01").state, server.room.desk("p02").state
    a_state.answer(first.json()["CheckoutRequestID"])
    b_state.answer(other.json()["CheckoutRequestID"])
    a_state.wait_until_final(first.json()["CheckoutRequestID"], 10)
    b_state.wait_until_final(other.json()["CheckoutRequestID"], 10)
    again = a.push(phone=phone, amount=7)
    assert again.status_code == 200
    assert a_state.wait_until_final(again.json()["CheckoutRequestID"], 10)["result_code"] == "17"
    fresh = people["p01"].__class__(server, "p03")
    try:
        third = fresh.push(phone=phone, amount=7)
        cid = third.json()["CheckoutRequestID"]
        server.room.desk("p03").state.answer(cid)
        assert server.room.desk("p03").state.wait_until_final(cid, 10)["result_code"] != "17"
    finally:
        fresh.close()


def test_participant_may_answer_own_phone(server, people):
    a = people["p01"]
    server.room.desk("p01").state.configure(interactive=True)
    cid = a.push(phone="254711000003", amount=9).json()["CheckoutRequestID"]
    deadline = time.monotonic() + 10
    while True:  # the prompt reaches the phone a moment after the push is accepted
        prompts = a.http.get("/_lab/prompts", headers=a.bearer).json()["prompts"]
        if prompts or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert [p["checkout_request_id"] for p in prompts] == [cid]
    answered = a.http.post(f"/_lab/transactions/{cid}/answer", json={"cancel": True}, headers=a.basic)
    assert answered.status_code == 200, answered.text
    assert server.room.desk("p01").state.wait_until_final(cid, 10)["result_code"] == "1032"


@pytest.mark.parametrize("method,path,body", ROOM_CONTROLS)
def test_room_controls_refuse_participant_tokens(server, people, method, path, body):
    a = people["p01"]
    for headers in (a.bearer, a.basic):
        answer = a.http.request(method, path, json=body, headers=headers)
        envelope = assert_envelope(answer, "401.003.01", 401)
        assert "facilitator" in envelope["errorMessage"]
    # No token at all: Daraja's invalid access token.
    assert_envelope(a.http.request(method, path, json=body), "404.001.03", 404)


def test_facilitator_token_opens_the_room(server, people):
    a = people["p01"]
    cid = a.push(phone="254711000004", amount=11).json()["CheckoutRequestID"]
    boss = {"Authorization": f"Bearer {server.facilitator_token}"}
    seen = a.http.get("/_lab/transactions", params={"participant": "p01"}, headers=boss).json()["transactions"]
    assert cid in {t["checkout_request_id"] for t in seen}
    assert_envelope(a.http.get("/_lab/transactions", headers=boss), "400.002.02", 400)
    room = a.http.get("/_workshop/api/room", headers=boss).json()
    assert [p["id"] for p in room["participants"]] == ["p01", "p02", "p03"]
    assert room["participants"][0]["pushes"] == 1
    assert server.facilitator_token not in str(room) and a.creds["consumer_secret"] not in str(room)
    fault = a.http.post("/_workshop/api/faults", json={"kind": "busy", "seconds": 30}, headers=boss)
    assert fault.status_code == 200, fault.text
    assert_envelope(a.push(phone="254711000005", amount=12), "500.003.02", 500)
    assert a.http.delete("/_workshop/api/faults", headers=boss).json() == {"stopped": ["busy"]}
    assert a.push(phone="254711000005", amount=12).status_code == 200
    page = a.http.get("/_workshop/", params={"token": server.facilitator_token})
    assert page.status_code == 200 and "Room faults" in page.text
    assert_envelope(a.http.get("/_workshop/", params={"token": "guess"}), "404.001.03", 404)


def test_unknown_credentials_and_inbox(server, people):
    a = people["p01"]
    import base64

    wrong = base64.b64encode(f"{a.creds['consumer_key']}:nope".encode()).decode()
    answer = a.http.get(
        "/oauth/v1/generate", params={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {wrong}"}
    )
    assert answer.status_code == 400
    assert server.room.desk("p01").progress.last_error["code"] == "400.008.01"
    lab_app = base64.b64encode(b"mpesa-lab-consumer-key:mpesa-lab-consumer-secret").decode()
    answer = a.http.get(
        "/oauth/v1/generate", params={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {lab_app}"}
    )
    assert_envelope(answer, "400.008.01", 400)
    assert_envelope(a.http.post("/_workshop/inbox/not-a-token", content=b"{}"), "404.001.01", 404)
    assert_envelope(
        a.http.post("/mpesa/stkpush/v1/processrequest", json={}, headers={"Authorization": "Bearer nope"}),
        "404.001.03",
        404,
    )
