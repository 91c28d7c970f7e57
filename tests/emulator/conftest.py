"""Fixtures for the emulator's contract tests: a running emulator, a real callback endpoint, and a
hand-built Daraja client (plain httpx; the merchant client is tested against the emulator elsewhere)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mpesa_lab.background import BackgroundServer
from mpesa_lab.constants import (
    LAB_CONSUMER_KEY,
    LAB_CONSUMER_SECRET,
    OAUTH_PATH,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    STK_PUSH_PATH,
    STK_QUERY_PATH,
)
from mpesa_lab.daraja.password import build_password
from mpesa_lab.emulator import Emulator, EmulatorConfig

TIMEOUT = 15.0  # generous: the machine may be loaded
TIMESTAMP = "20240710091526"
_names = itertools.count()


class Collector:
    """A real HTTP endpoint that keeps every callback POSTed to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        self._cond = threading.Condition()

        async def receive(request: Request) -> JSONResponse:
            raw = await request.body()
            try:
                body = await request.json()
            except ValueError:
                body = None
            with self._cond:
                self.posts.append(
                    {"path": request.url.path, "headers": dict(request.headers), "raw": raw, "body": body}
                )
                self._cond.notify_all()
            return JSONResponse({"ResultCode": 0, "ResultDesc": "Accepted"}, status_code=self.status)

        app = Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
        self.server = BackgroundServer(app, name=f"test-collector-{next(_names)}")

    @property
    def url(self) -> str:
        return self.server.url + "/callback"

    def for_checkout(self, checkout_request_id: str) -> list[dict[str, Any]]:
        with self._cond:
            return [
                p
                for p in self.posts
                if (p["body"] or {}).get("Body", {}).get("stkCallback", {}).get("CheckoutRequestID")
                == checkout_request_id
            ]

    def wait_for(self, checkout_request_id: str, count: int = 1, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.for_checkout(checkout_request_id)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} callback(s) for {checkout_request_id}, wanted {count}")
                self._cond.wait(left)

    def wait_total(self, count: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.posts) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.posts)} callbacks, wanted {count}")
                self._cond.wait(left)
            return list(self.posts)


class Daraja:
    """Requests to the emulator built by hand, as a developer would with curl or Postman."""

    def __init__(self, emulator: Emulator, callback_url: str) -> None:
        self.emulator = emulator
        self.http = httpx.Client(base_url=emulator.url, timeout=TIMEOUT, trust_env=False)
        self.callback_url = callback_url
        self._token: str | None = None

    def oauth(self, key: str = LAB_CONSUMER_KEY, secret: str = LAB_CONSUMER_SECRET, **params: Any) -> httpx.Response:
        return self.http.get(OAUTH_PATH, params={"grant_type": "client_credentials", **params}, auth=(key, secret))

    @property
    def token(self) -> str:
        if self._token is None:
            response = self.oauth()
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def push_body(
        self,
        phone: str = "254708374149",
        amount: Any = 1,
        *,
        shortcode: str = SANDBOX_SHORTCODE,
        passkey: str = SANDBOX_PASSKEY,
        timestamp: str = TIMESTAMP,
        **fields: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "BusinessShortCode": shortcode,
            "Password": build_password(shortcode, passkey, timestamp),
            "Timestamp": timestamp,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": amount,
            "PartyA": phone,
            "PartyB": shortcode,
            "PhoneNumber": phone,
            "CallBackURL": self.callback_url,
            "AccountReference": "LAB",
            "TransactionDesc": "test",
        }
        body.update(fields)
        return body

    def push(self, phone: str = "254708374149", amount: Any = 1, **fields: Any) -> httpx.Response:
        return self.http.post(STK_PUSH_PATH, json=self.push_body(phone, amount, **fields), headers=self.bearer())

    def push_ok(self, phone: str = "254708374149", amount: Any = 1, **fields: Any) -> str:
        response = self.push(phone, amount, **fields)
        assert response.status_code == 200, response.text
        return response.json()["CheckoutRequestID"]

    def query(
        self,
        checkout_request_id: str,
        *,
        shortcode: str = SANDBOX_SHORTCODE,
        passkey: str = SANDBOX_PASSKEY,
        timestamp: str = TIMESTAMP,
    ) -> httpx.Response:
        body = {
            "BusinessShortCode": shortcode,
            "Password": build_password(shortcode, passkey, timestamp),
            "Timestamp": timestamp,
            "CheckoutRequestID": checkout_request_id,
        }
        return self.http.post(STK_QUERY_PATH, json=body, headers=self.bearer())

    def lab(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, "/_lab" + path, **kwargs)


def callback_of(post: dict[str, Any]) -> dict[str, Any]:
    return post["body"]["Body"]["stkCallback"]


def assert_envelope(response: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"requestId", "errorCode", "errorMessage"}, body
    assert all(isinstance(v, str) for v in body.values())
    assert body["errorCode"] == code, body
    if message is not None:
        assert body["errorMessage"] == message, body
    return body


@pytest.fixture(scope="session")
def collector() -> Iterator[Collector]:
    """One callback endpoint for the whole run (tests tell callbacks apart by CheckoutRequestID)."""
    c = Collector()
    c.server.start()
    try:
        yield c
    finally:
        c.server.stop()


# Fast by default: the tests need results quickly, not realism in timing.
FAST = {"prompt_delay": 0.0, "answer_delay": 0.01}


@pytest.fixture(scope="session")
def shared_emulator() -> Iterator[Emulator]:
    """Stopping a uvicorn server costs a few tenths of a second, so most tests share this one and
    get it back reconfigured and reset; a test that needs another seed gets its own."""
    emulator = Emulator(EmulatorConfig(**FAST), name="test-emulator-shared").start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def make_lab(collector: Collector, shared_emulator: Emulator) -> Iterator[Callable[..., Daraja]]:
    started: list[Daraja] = []
    own: list[Emulator] = []

    def make(**config: Any) -> Daraja:
        settings = EmulatorConfig(**{**FAST, **config})
        if "seed" in config or any(lab.emulator is shared_emulator for lab in started):
            emulator = Emulator(settings, name=f"test-emulator-{next(_names)}").start()
            own.append(emulator)
        else:
            emulator = shared_emulator
            emulator.state.config = settings  # the clock too: tests may inject one
            emulator.reset(keep_tokens=False)
        lab = Daraja(emulator, collector.url)
        started.append(lab)
        return lab

    yield make
    for lab in started:
        lab.http.close()
    for emulator in own:
        emulator.stop()


@pytest.fixture
def lab(make_lab: Callable[..., Daraja]) -> Daraja:
    return make_lab()
