"""The facilitator's controls: faults that end by themselves, a reset that keeps credentials,
late arrivals, and clear answers to bad requests."""

from __future__ import annotations

import csv
import time

import pytest

from mpesa_lab.workshop import RoomError
from tests.workshop.conftest import Participant, assert_envelope


def _boss(server):
    return {"Authorization": f"Bearer {server.facilitator_token}"}


def test_a_fault_turns_itself_off(server, people):
    a = people["p01"]
    server.start_fault("delay", 0.3, delay=1.5)
    server.start_fault("busy", 0.3)
    config = server.room.desk("p02").state.config
    assert config.callback_faults == ("delay",) and config.callback_delay == 1.5
    assert_envelope(a.push(phone="254711000300", amount=30), "500.003.02", 500)
    deadline = time.monotonic() + 10
    while server.room.faults and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.room.faults == {}
    assert server.room.desk("p02").state.config.callback_faults == ()
    assert a.push(phone="254711000300", amount=30).status_code == 200


def test_faults_reach_late_arrivals_too(server):
    server.start_fault("duplicate", None)
    participant = server.add_participant("Late")
    assert server.room.desk(participant.id).state.config.callback_faults == ("duplicate",)
    assert server.stop_fault() == ["duplicate"]
    assert server.room.desk(participant.id).state.config.callback_faults == ()


def test_reset_keeps_credentials_and_tokens(server, people):
    a = people["p01"]
    cid = a.push(phone="254711000301", amount=31).json()["CheckoutRequestID"]
    server.room.desk("p01").state.wait_until_final(cid, 10)
    answer = a.http.post("/_workshop/api/reset", headers=_boss(server))
    assert answer.json() == {"reset": True}
    assert a.http.get("/_lab/transactions", headers=a.bearer).json()["transactions"] == []
    assert server.summary()["participants"][0]["pushes"] == 0
    assert a.push(phone="254711000301", amount=31).status_code == 200  # same token, same paybill


def test_participants_added_over_http_get_cards(server, people):
    a = people["p01"]
    added = a.http.post("/_workshop/api/participants", json={"name": "Akinyi"}, headers=_boss(server))
    assert added.status_code == 200 and added.json()["id"] == "p04"
    rows = list(csv.DictReader(server.files["csv"].open()))
    assert rows[-1]["name"] == "Akinyi"
    late = Participant(server, "p04")
    try:
        assert late.push(phone="254711000302", amount=32).status_code == 200
    finally:
        late.close()


def test_bad_control_requests_say_what_to_send(server, people):
    a = people["p01"]
    boss = _boss(server)
    body = assert_envelope(
        a.http.post("/_workshop/api/faults", json={"kind": "meteor"}, headers=boss), "400.002.02", 400
    )
    assert "busy" in body["errorMessage"] and "drop" in body["errorMessage"]
    assert_envelope(a.http.post("/_workshop/api/faults", json={"seconds": 3}, headers=boss), "400.002.02", 400)
    assert_envelope(
        a.http.post("/_workshop/api/faults", json={"kind": "busy", "color": "red"}, headers=boss), "400.002.02", 400
    )
    assert_envelope(
        a.http.post("/_workshop/api/faults", json={"kind": "busy", "seconds": -1}, headers=boss), "400.002.02", 400
    )
    assert_envelope(a.http.get("/_lab/transactions", params={"participant": "p99"}, headers=boss), "404.001.01", 404)
    assert_envelope(a.http.put("/_workshop/api/reset", headers=boss), "405.001", 405)
    assert_envelope(a.http.get("/_workshop/nothing-here", headers=boss), "404.001.01", 404)
    assert_envelope(a.http.post("/_workshop/progress", json={"exercise": ""}, headers=a.basic), "400.002.02", 400)
    assert_envelope(a.http.post("/_workshop/relay/ack", json={"ids": ["x"]}, headers=a.basic), "400.002.02", 400)
    with pytest.raises(RoomError, match="faults are"):
        server.start_fault("meteor")


def test_notebook_view_shows_the_room_without_secrets(server, people):
    people["p01"].push(phone="254711000303", amount=33)
    view = server._repr_html_() + repr(server)
    assert "p01" in view and "Participant 2" in view
    secrets = [server.facilitator_token] + [p.creds[k] for p in people.values() for k in ("consumer_secret", "passkey")]
    for desk in server.room.desks.values():
        secrets.append(desk.participant.inbox_token.reveal())
    assert not [s for s in secrets if s in view]
