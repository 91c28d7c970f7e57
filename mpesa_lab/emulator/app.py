"""The ASGI app: Daraja's three paths, its envelopes and statuses, the /_lab/ control API and
the contract (/_lab/openapi.yaml, contract.py).

Whatever arrives, the answer is JSON: a Daraja envelope for every error (404.001.01 for an
unknown path, 405.001 for a wrong method, 500.003.1001 for anything unexpected), never a stack
trace, and an HTML page only when asked for (``wrong_path_answer="html"``: a wrong host's page).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.emulator.contract import contract_routes
from mpesa_lab.emulator.control import control_routes
from mpesa_lab.emulator.errors import EnvelopeError, method_not_allowed
from mpesa_lab.emulator.validation import (
    masked_request,
    parse_json_object,
    read_bounded,
    validate_push,
    validate_query,
)

if TYPE_CHECKING:
    from mpesa_lab.emulator.state import EmulatorState

log = logging.getLogger("mpesa_lab.emulator")

# Exactly what Starlette's JSONResponse renders (compact, UTF-8, no NaN), built once.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode
_ACK_TAIL = _encode(
    {
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    }
).encode("utf-8")[1:]


# What a wrong host or path answers with wrong_path_answer="html": a web page, not an API.
WRONG_PATH_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Safaricom Developer Portal</title></head>"
    "<body><h1>Welcome</h1><p>This is a web page, not an API. (mpesa-lab emulator: "
    'wrong_path_answer="html")</p></body></html>\n'
)


def push_ack(merchant_request_id: str, checkout_request_id: str) -> bytes:
    """The push's 200 answer, byte for byte what JSONResponse would render, without a dict."""
    return (
        f'{{"MerchantRequestID":{encode_basestring(merchant_request_id)},'
        f'"CheckoutRequestID":{encode_basestring(checkout_request_id)},'
    ).encode() + _ACK_TAIL


async def send_json(send: Send, body: bytes, status: int = 200) -> None:
    """Send pre-encoded JSON with the headers JSONResponse would set."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(body)).encode("latin-1")), (b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    """The first header called ``name`` (lowercase), as Starlette's Headers.get would read it."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def error_response(state: EmulatorState, error: EnvelopeError) -> Response:
    if error.empty_body:
        return Response(b"", status_code=error.status, media_type="application/json")
    return JSONResponse(error.envelope(error.request_id or state.ids.request_id()), status_code=error.status)


class EnvelopeGuard:
    """Outer safety net: an unexpected exception becomes a 500.003.1001 envelope (logged here,
    never shown to the caller), instead of Starlette's plain-text 500.

    It also answers POSTs to the STK push and query paths itself: they are the hot path of
    every lab, and Starlette's routing, Request and middleware layers cost more than the checks.
    Everything else (OAuth, /_lab/, unknown paths, wrong methods) goes through Starlette.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.state.engine.attach()  # the clockwork runs on the loop that serves us
        try:
            if scope["method"] == "POST" and not scope.get("root_path"):
                path = scope["path"]
                if path == STK_PUSH_PATH:
                    await self._daraja(scope, receive, send, "push")
                    return
                if path == STK_QUERY_PATH:
                    await self._daraja(scope, receive, send, "query")
                    return
            await self.app(scope, receive, send)
        except Exception:
            log.exception("emulator error on %s %s", scope.get("method"), scope.get("path"))
            error = EnvelopeError.named("internal_server_error")
            try:
                await error_response(self.state, error)(scope, receive, send)
            except Exception:
                # The failure came after the answer had started: nothing more can be said.
                log.debug("could not send the error envelope", exc_info=True)

    async def _daraja(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        """POST STK push or query, answered without Starlette's layers (same checks, same bytes)."""

        async def read_body() -> bytes:
            body = await read_bounded(receive)  # None: the client went away first
            if body is None:
                raise _ClientGone
            return body

        try:
            payload = await answer_stk(
                self.state, route, _header(scope, b"authorization"), _header(scope, b"content-type"), read_body
            )
        except _ClientGone:
            return  # nobody left to answer
        except EnvelopeError as exc:
            await error_response(self.state, exc)(scope, receive, send)
            return
        await send_json(send, payload)


class _ClientGone(Exception):
    """The client disconnected before its request body arrived."""


async def _bounded(request: Request) -> bytes:
    body = await read_bounded(request.receive)
    if body is None:
        raise _ClientGone
    return body


async def answer_stk(
    state: EmulatorState,
    route: str,
    authorization: str | None,
    content_type: str | None,
    read_body: Callable[[], Awaitable[bytes]],
) -> bytes:
    """The STK push or query answer as JSON bytes; raises EnvelopeError for an error envelope.

    Token, then rate limit / quota / injected errors, then the body, then validation: the order
    in which Daraja reports them.
    """
    app = state.authenticate(authorization)
    state.admit(app, route)
    fields = parse_json_object(content_type, await read_body())
    if route == "query":
        return _encode(state.query(validate_query(fields))).encode("utf-8")
    cfg = state.config
    push = validate_push(
        fields,
        require_transaction_desc=cfg.require_transaction_desc,
        strict_lengths=cfg.strict_lengths,
        # Production requires an https CallBackURL (observed-behaviour.md).
        require_https=cfg.require_https or cfg.environment == "production",
    )
    tx = state.accept_push(push, masked_request(fields))
    return push_ack(tx.merchant_request_id, tx.checkout_request_id)


def build_app(state: EmulatorState) -> Starlette:
    """The emulator's ASGI app over ``state``."""

    async def oauth(request: Request) -> Response:
        state.take_injected("oauth")
        token = state.issue_token(request.headers.get("authorization"), request.query_params.get("grant_type"))
        return JSONResponse(token)

    async def stk_push(request: Request) -> Response:
        # Reached only when EnvelopeGuard's fast path is bypassed (e.g. mounted under a root_path).
        answer = await answer_stk(
            state,
            "push",
            request.headers.get("authorization"),
            request.headers.get("content-type"),
            lambda: _bounded(request),
        )
        return Response(answer, media_type="application/json")

    async def stk_query(request: Request) -> Response:
        answer = await answer_stk(
            state,
            "query",
            request.headers.get("authorization"),
            request.headers.get("content-type"),
            lambda: _bounded(request),
        )
        return Response(answer, media_type="application/json")

    async def on_daraja_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EnvelopeError)
        return error_response(state, exc)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error_response(state, method_not_allowed(request.method))
        if exc.status_code == 404:
            if state.config.wrong_path_answer == "html" and not request.url.path.startswith("/_lab"):
                # A wrong host or path in the base URL: a web page, HTTP 200 (observed-behaviour.md).
                return HTMLResponse(WRONG_PATH_PAGE, status_code=200)
            return error_response(state, EnvelopeError.named("resource_not_found"))
        return error_response(state, EnvelopeError.named("internal_server_error"))

    routes: list[Any] = [
        Route(OAUTH_PATH, oauth, methods=["GET"]),
        Route(STK_PUSH_PATH, stk_push, methods=["POST"]),
        Route(STK_QUERY_PATH, stk_query, methods=["POST"]),
        *contract_routes(state),
        *control_routes(state),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={EnvelopeError: on_daraja_error, HTTPException: on_http_exception},
        middleware=[Middleware(EnvelopeGuard, state=state)],
    )
    # /path/ must be 404 like Daraja, not a redirect to /path.
    app.router.redirect_slashes = False
    return app
