"""Fixtures for workshop mode: a workshop server on loopback with a few participants, and a plain
Daraja client per participant (httpx, so the tests see exactly what goes over the wire)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.daraja.password import build_password
from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.workshop import WorkshopServer

TIMESTAMP = "20240710091526"


@pytest.fixture
def server(tmp_path) -> Iterator[WorkshopServer]:
    srv = WorkshopServer(
        tmp_path / "room", participants=3, title="Test room", config=EmulatorConfig(seed=7), name="workshop-test"
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


class Participant:
    """A participant speaking plain HTTP to the workshop server with their card's credentials."""

    def __init__(self, server: WorkshopServer, participant_id: str) -> None:
        self.id = participant_id
        self.creds = server.credentials(participant_id)
        self.http = httpx.Client(base_url=server.url, timeout=10, trust_env=False)
        basic = base64.b64encode(f"{self.creds['consumer_key']}:{self.creds['consumer_secret']}".encode()).decode()
        self.basic = {"Authorization": f"Basic {basic}"}
        answer = self.http.get(OAUTH_PATH, params={"grant_type": "client_credentials"}, headers=self.basic)
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["access_token"]
        self.bearer = {"Authorization": f"Bearer {self.token}"}

    def push_body(self, phone: str = "254708374149", amount: int = 10, **changes: Any) -> dict[str, Any]:
        code = changes.pop("shortcode", self.creds["shortcode"])
        passkey = changes.pop("passkey", self.creds["passkey"])
        body = {
            "BusinessShortCode": code,
            "Password": build_password(code, passkey, TIMESTAMP),
            "Timestamp": TIMESTAMP,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": amount,
            "PartyA": phone,
            "PartyB": code,
            "PhoneNumber": phone,
            "CallBackURL": "http://127.0.0.1:9/callback",
            "AccountReference": "ws-test",
            "TransactionDesc": "Test",
        }
        body.update(changes)
        return body

    def push(self, **kwargs: Any) -> httpx.Response:
        return self.http.post(STK_PUSH_PATH, json=self.push_body(**kwargs), headers=self.bearer)

    def query(self, checkout_request_id: str) -> httpx.Response:
        code = self.creds["shortcode"]
        body = {
            "BusinessShortCode": code,
            "Password": build_password(code, self.creds["passkey"], TIMESTAMP),
            "Timestamp": TIMESTAMP,
            "CheckoutRequestID": checkout_request_id,
        }
        return self.http.post(STK_QUERY_PATH, json=body, headers=self.bearer)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def people(server) -> Iterator[dict[str, Participant]]:
    made = {pid: Participant(server, pid) for pid in ("p01", "p02")}
    try:
        yield made
    finally:
        for p in made.values():
            p.close()


def assert_envelope(response: httpx.Response, code: str, status: int) -> dict[str, Any]:
    """A Daraja error envelope with this errorCode and HTTP status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"requestId", "errorCode", "errorMessage"}, body
    assert body["errorCode"] == code, body
    return body
