"""Shared test fixtures for the merchant-side client: Daraja's documented bodies, a small
Daraja stand-in served for real over HTTP (BackgroundServer), and anyio's backend."""

from __future__ import annotations

import asyncio
import base64
import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mpesa_lab.background import BackgroundServer
from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.daraja import errors as E

# -- Daraja's documented bodies (../shared/daraja/mpesa-express-api.md, observed-behaviour.md) --

PUSH_OK = {
    "MerchantRequestID": "2654-4b64-97ff-b827b542881d3130",
    "CheckoutRequestID": "ws_CO_1007202409152617172396192",
    "ResponseCode": "0",
    "ResponseDescription": "Success. Request accepted for processing",
    "CustomerMessage": "Success. Request accepted for processing",
}


def envelope(code: str, message: str, request_id: str = "1c5b-4ba8-815c-ac45c57a3db01495926") -> dict[str, str]:
    return {"requestId": request_id, "errorCode": code, "errorMessage": message}


def query_final(result_code: Any, desc: str) -> dict[str, Any]:
    return {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": "22205-34066-1",
        "CheckoutRequestID": "ws_CO_13012021093521236557",
        "ResultCode": result_code,
        "ResultDesc": desc,
    }


# Every error in the doc's "Common Error Codes" table (and the observed OAuth ones), as Daraja
# sends it, with the exception it must become.
DOCUMENTED_ERRORS: list[tuple[int, str, str, type[E.DarajaError]]] = [
    (400, "400.002.02", "Bad Request - Invalid BusinessShortCode", E.BadRequest),
    (404, "404.001.03", "Invalid Access Token", E.InvalidAccessToken),
    (404, "404.001.01", "Resource not found", E.ResourceNotFound),
    (405, "405.001", "Method Not Allowed", E.MethodNotAllowed),
    (500, "500.001.1001", "Merchant does not exist", E.MerchantDoesNotExist),
    (500, "500.001.1001", "Wrong credentials", E.WrongCredentials),
    (
        500,
        "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        E.SubscriberLocked,
    ),
    (500, "500.001.1001", "The transaction is being processed", E.TransactionBeingProcessed),
    (500, "500.003.02", "System is busy. Please try again in few minutes.", E.SystemBusy),
    (500, "500.003.1001", "Internal Server Error", E.InternalServerError),
    (500, "500.003.02", "Error Occurred: Spike Arrest Violation", E.SpikeArrest),
    (500, "500.003.03", "Quota Violation", E.QuotaViolation),
    (400, "400.008.02", "Invalid grant type passed", E.InvalidGrantType),
    (400, "400.008.01", "Invalid authentication type passed", E.InvalidAuthenticationType),
    (400, "400.008.01", "Invalid Authentication passed", E.AuthenticationFailed),
]


# Secrets distinctive enough to search for in logs and messages.
CONSUMER_SECRET = "cs-TOPSECRET-8f2a7c1e9b"
PASSKEY = "ab" * 32  # 64 characters, like a real passkey


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class FakeDaraja:
    """A Daraja stand-in with counters and knobs; served for real by BackgroundServer."""

    oauth_delay: float = 0.0
    token_lifetime: Any = "3599"
    push_hold: float = 0.0  # seconds the push handler holds the request before answering
    push_answers: list[tuple[int, Any]] = field(default_factory=list)  # consumed in order
    query_answers: list[tuple[int, Any]] = field(default_factory=list)
    oauth_count: int = 0
    push_count: int = 0
    query_count: int = 0
    push_bodies: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(OAUTH_PATH, self._oauth, methods=["GET"]),
                Route(STK_PUSH_PATH, self._push, methods=["POST"]),
                Route(STK_QUERY_PATH, self._query, methods=["POST"]),
            ]
        )

    async def _oauth(self, request: Request) -> Response:
        self.oauth_count += 1
        if self.oauth_delay:
            await asyncio.sleep(self.oauth_delay)
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic ") or request.query_params.get("grant_type") != "client_credentials":
            return Response(status_code=400)
        base64.b64decode(header[6:])
        token = f"tok{next(self._ids):025d}"  # 28 characters, like Daraja's
        self.issued.append(token)
        return JSONResponse({"access_token": token, "expires_in": self.token_lifetime})

    def _token_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        self.auth_headers.append(header)
        token = header.removeprefix("Bearer ")
        return header.startswith("Bearer ") and token in self.issued and token not in self.revoked

    async def _push(self, request: Request) -> Response:
        self.push_count += 1
        body = await request.json()
        self.push_bodies.append(body)
        if not self._token_ok(request):
            return JSONResponse(envelope("404.001.03", "Invalid Access Token"), status_code=404)
        if self.push_hold:
            deadline = time.monotonic() + self.push_hold
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        if self.push_answers:
            status, answer = self.push_answers.pop(0)
            return JSONResponse(answer, status_code=status)
        return JSONResponse(PUSH_OK)

    async def _query(self, request: Request) -> Response:
        self.query_count += 1
        await request.json()
        if not self._token_ok(request):
            return JSONResponse(envelope("404.001.03", "Invalid Access Token"), status_code=404)
        if self.query_answers:
            status, answer = self.query_answers.pop(0)
            return JSONResponse(answer, status_code=status)
        return JSONResponse(query_final("0", "The service request is processed successfully."))


@pytest.fixture
def fake_daraja(request: pytest.FixtureRequest) -> Any:
    """A running FakeDaraja: yields (fake, base_url); stopped (and released) afterwards."""
    fake = FakeDaraja()
    server = BackgroundServer(fake.app(), name=f"test-fake-daraja-{request.node.name}").start()
    try:
        yield fake, server.url
    finally:
        fake.release.set()
        server.stop()


def assert_no_secret_shown(secrets: set[str], shown: list[str], failures: list[BaseException]) -> None:
    """No secret appears in ``shown`` texts, nor anywhere an exception shows itself."""
    texts = list(shown)
    for error in failures:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error)), repr(vars(error))]
    for text in texts:
        for secret in secrets:
            assert secret not in text
