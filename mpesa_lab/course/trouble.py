"""Lesson 11 and docs/troubleshooting.md: the learner's own code, with its classic mistakes.

Two things a troubleshooting session needs besides the emulator (which grows the real shapes
itself, docs/emulator.md): a push body built by hand the way an integrator's code builds it
(so its mistakes can be made on purpose: two timestamps, a wrong passkey, a form-encoded body),
and "your app": a web app whose callback routes make the classic mistakes (GET only, CSRF,
a redirect) next to one that works.
"""

from __future__ import annotations

from typing import Any

from mpesa_lab.clock import daraja_timestamp
from mpesa_lab.constants import SANDBOX_PASSKEY, SANDBOX_SHORTCODE, SANDBOX_TEST_MSISDN, STK_PUSH_PATH
from mpesa_lab.course.endpoints.serve import ServedEndpoint, serve_asgi
from mpesa_lab.password import build_password

__all__ = ["STK_PUSH_PATH", "ClassicApp", "push_body", "your_app"]


def push_body(
    *,
    shortcode: str = SANDBOX_SHORTCODE,
    passkey: str = SANDBOX_PASSKEY,
    timestamp: str | None = None,
    password_timestamp: str | None = None,
    phone: str = SANDBOX_TEST_MSISDN,
    callback_url: str = "https://shop.mpesa-lab.test/mpesa/callback",
    **fields: Any,
) -> dict[str, Any]:
    """An STK push body as hand-written code builds it. ``password_timestamp`` (default: the same
    as ``timestamp``) is the timestamp inside the Password: give another one to make the classic
    "timestamp computed twice" mistake. ``fields`` replace any field (e.g. ``PhoneNumber=...``)."""
    stamp = timestamp or daraja_timestamp()
    body: dict[str, Any] = {
        "BusinessShortCode": shortcode,
        "Password": build_password(shortcode, passkey, password_timestamp or stamp),
        "Timestamp": stamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 1,
        "PartyA": phone,
        "PartyB": shortcode,
        "PhoneNumber": phone,
        "CallBackURL": callback_url,
        "AccountReference": "INV-1",
        "TransactionDesc": "Order",
    }
    body.update(fields)
    return body


class ClassicApp:
    """A running web app with one good callback route and the classic broken ones:

    - ``good``: POST, answers 200 at once;
    - ``get_only``: the route was written for a browser (GET): a POST gets 405;
    - ``csrf``: a framework's CSRF protection left on: a POST without a token gets 403;
    - ``redirect``: the URL moved (http -> https, a trailing slash): 301 to the good route.
    """

    ROUTES = ("good", "get_only", "csrf", "redirect")

    def __init__(self, served: ServedEndpoint) -> None:
        self.served = served

    def url(self, route: str) -> str:
        """The CallBackURL of ``route`` (one of ROUTES)."""
        if route not in self.ROUTES:
            raise ValueError(f"route is one of {', '.join(self.ROUTES)}; got {route!r}")
        return f"{self.served.url}/{route.replace('_', '-')}"

    def stop(self) -> None:
        self.served.stop()


def your_app() -> ClassicApp:
    """Start "your app" (see ClassicApp) on a free loopback port, in the background."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
    from starlette.routing import Route

    async def good(request: Request) -> Response:
        await request.body()
        return JSONResponse({"ResultCode": 0, "ResultDesc": "Accepted"})

    async def page(request: Request) -> Response:
        return PlainTextResponse("This page is for browsers.")

    async def csrf(request: Request) -> Response:
        return PlainTextResponse("Forbidden (403): CSRF verification failed. Request aborted.", status_code=403)

    async def moved(request: Request) -> Response:
        return RedirectResponse("/good", status_code=301)

    app = Starlette(
        routes=[
            Route("/good", good, methods=["POST"]),
            Route("/get-only", page, methods=["GET"]),
            Route("/csrf", csrf, methods=["POST"]),
            Route("/redirect", moved, methods=["POST"]),
        ]
    )
    return ClassicApp(serve_asgi(app, name="lesson-11-your-app"))
