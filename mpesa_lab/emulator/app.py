"""The ASGI app: Daraja's three paths, its envelopes and statuses, and the /_lab/ control API.

Whatever arrives, the answer is JSON: a Daraja envelope for every error (404.001.01 for an
unknown path, 405.001 for a wrong method, 500.003.1001 for anything unexpected), never a stack
trace or an HTML page.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.emulator.control import control_routes
from mpesa_lab.emulator.errors import DarajaError, method_not_allowed
from mpesa_lab.emulator.validation import masked_request, parse_json_object, validate_push, validate_query

if TYPE_CHECKING:
    from mpesa_lab.emulator.state import EmulatorState

log = logging.getLogger("mpesa_lab.emulator")


def error_response(state: "EmulatorState", error: DarajaError) -> Response:
    if error.empty_body:
        return Response(b"", status_code=error.status, media_type="application/json")
    return JSONResponse(error.envelope(state.ids.request_id()), status_code=error.status)


class EnvelopeGuard:
    """Outer safety net: an unexpected exception becomes a 500.003.1001 envelope (logged here,
    never shown to the caller), instead of Starlette's plain-text 500."""

    def __init__(self, app: ASGIApp, state: "EmulatorState") -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.state.engine.attach()  # the clockwork runs on the loop that serves us
        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("emulator error on %s %s", scope.get("method"), scope.get("path"))
            error = DarajaError.named("internal_server_error")
            try:
                await error_response(self.state, error)(scope, receive, send)
            except Exception:
                # The failure came after the answer had started: nothing more can be said.
                log.debug("could not send the error envelope", exc_info=True)


def build_app(state: "EmulatorState") -> Starlette:
    """The emulator's ASGI app over ``state``."""

    async def oauth(request: Request) -> Response:
        state.take_injected("oauth")
        token = state.issue_token(request.headers.get("authorization"), request.query_params.get("grant_type"))
        return JSONResponse(token)

    async def stk_push(request: Request) -> Response:
        app = state.authenticate(request.headers.get("authorization"))
        state.admit(app, "push")
        fields = parse_json_object(request.headers.get("content-type"), await request.body())
        cfg = state.config
        push = validate_push(
            fields,
            require_transaction_desc=cfg.require_transaction_desc,
            strict_lengths=cfg.strict_lengths,
            require_https=cfg.require_https,
        )
        tx = state.accept_push(push, masked_request(fields))
        return JSONResponse({
            "MerchantRequestID": tx.merchant_request_id,
            "CheckoutRequestID": tx.checkout_request_id,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        })

    async def stk_query(request: Request) -> Response:
        app = state.authenticate(request.headers.get("authorization"))
        state.admit(app, "query")
        fields = parse_json_object(request.headers.get("content-type"), await request.body())
        return JSONResponse(state.query(validate_query(fields)))

    async def on_daraja_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DarajaError)
        return error_response(state, exc)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error_response(state, method_not_allowed(request.method))
        if exc.status_code == 404:
            return error_response(state, DarajaError.named("resource_not_found"))
        return error_response(state, DarajaError.named("internal_server_error"))

    routes: list[Any] = [
        Route(OAUTH_PATH, oauth, methods=["GET"]),
        Route(STK_PUSH_PATH, stk_push, methods=["POST"]),
        Route(STK_QUERY_PATH, stk_query, methods=["POST"]),
        *control_routes(state),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={DarajaError: on_daraja_error, HTTPException: on_http_exception},
        middleware=[Middleware(EnvelopeGuard, state=state)],
    )
    # /path/ must be 404 like Daraja, not a redirect to /path.
    app.router.redirect_slashes = False
    return app
