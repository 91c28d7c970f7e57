"""The workshop server's ASGI app: one Daraja for the room, routed to each participant's own app.

=================================  ==========================================================
request                            goes to
=================================  ==========================================================
``GET /oauth/v1/generate``         the app whose consumer key is in the Basic header
``POST`` STK push / query          the app that issued the Bearer token
``/_lab/...`` (participant token)  their own app, read-only routes and answering their phone
``/_lab/...`` (facilitator token)  any participant's app, with ``?participant=p01``
``POST /_workshop/inbox/<token>``  a participant's mailbox (the CallBackURL of their pushes)
``/_workshop/relay/...``           hello, long-poll pull and ack for the participant's relay
``/_workshop/progress``            a notebook reports which exercise it has reached
``/_workshop/course``              a course notebook reports checks, pushes, callbacks
``/_workshop/`` and ``/api/...``   the facilitator's page and room controls
=================================  ==========================================================

Every refusal answers in Daraja's ``{requestId, errorCode, errorMessage}`` envelope.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.emulator.contract import CONTRACT_JSON_PATH, CONTRACT_YAML_PATH
from mpesa_lab.emulator.errors import EnvelopeError, method_not_allowed
from mpesa_lab.emulator.ids import IdFactory
from mpesa_lab.emulator.poster import KeepAlivePoster
from mpesa_lab.emulator.validation import MAX_BODY_BYTES, read_bounded
from mpesa_lab.workshop import outbound
from mpesa_lab.workshop.control import PREFIX, control_app, forbidden, too_large
from mpesa_lab.workshop.files import cards_response, is_install_path
from mpesa_lab.workshop.limits import BodyTooLarge, LimitsError, clip, content_length, read_capped, too_deep
from mpesa_lab.workshop.mailbox import DELIVERY_AGENT, LOOP_DETECTED
from mpesa_lab.workshop.room import Desk, Room, RoomError
from mpesa_lab.workshop.roster import CARDS_FILE

log = logging.getLogger(__name__)

INBOX = PREFIX + "/inbox/"
_ACCEPTED = b'{"ResultCode":0,"ResultDesc":"Accepted"}'
# Control routes a participant may use on their own app: looking, and playing their own phone
# (and reading the contract, docs/openapi.yaml: the same document for everyone, no secret in it).
PARTICIPANT_LAB_ROUTES = (
    ("GET", "/_lab"),
    ("GET", "/_lab/"),
    ("GET", "/_lab/transactions"),
    ("GET", "/_lab/prompts"),
    ("GET", "/_lab/callback-attempts"),
    ("GET", "/_lab/triggers"),
    ("GET", CONTRACT_YAML_PATH),
    ("GET", CONTRACT_JSON_PATH),
    ("POST", "/_lab/next-result"),
)


def _participant_may(method: str, path: str) -> bool:
    if (method, path.rstrip("/") or "/") in PARTICIPANT_LAB_ROUTES or (method, path) in PARTICIPANT_LAB_ROUTES:
        return True
    parts = path.strip("/").split("/")
    # /_lab/transactions/{cid} and /_lab/transactions/{cid}/answer: their own state decides
    # whether the id exists (another participant's is unknown there).
    if len(parts) == 3 and parts[:2] == ["_lab", "transactions"] and method == "GET":
        return True
    return len(parts) == 4 and parts[:2] == ["_lab", "transactions"] and parts[3] == "answer" and method == "POST"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _basic_key(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, payload = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not payload.strip():
        return None
    try:
        key, sep, secret = base64.b64decode(payload.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (key, secret) if sep else None


class WorkshopApp:
    """The room's single ASGI app (see the module's table)."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.limits = room.limits
        try:
            self.direct_networks = outbound.parse_networks(self.limits.direct_networks)
        except ValueError as exc:
            raise LimitsError(str(exc)) from None
        self.ids = IdFactory(None)
        self._poster: KeepAlivePoster | None = None
        self._poster_loop: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the serving loop, once a request came
        self.control = control_app(self)
        self.install: Any = None  # the wheelhouse's /install routes (files.InstallFiles), if served

    # ---- helpers ------------------------------------------------------------------------------

    def envelope(self, error: EnvelopeError) -> Response:
        if error.empty_body:
            return Response(b"", status_code=error.status, media_type="application/json")
        # A body refused as too large is not read: close the connection rather than let the
        # server swallow the rest of it (a 1 GiB body would otherwise still cross the loop).
        headers = {"connection": "close"} if error.status == 413 else None
        return JSONResponse(error.envelope(self.ids.request_id()), status_code=error.status, headers=headers)

    def is_facilitator(self, token: str | None) -> bool:
        expected = self.room.roster.facilitator_token.reveal().encode()
        return token is not None and token != "" and hmac.compare_digest(token.strip().encode(), expected)

    def _bearer(self, authorization: str | None) -> str | None:
        scheme, _, value = (authorization or "").strip().partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def participant(self, authorization: str | None) -> Desk | None:
        """The desk behind a Bearer access token or Basic consumer key and secret."""
        token = self._bearer(authorization)
        if token is not None:
            desk = self.room.by_token(token)
            if desk is None:
                return None
            try:
                desk.state.authenticate(authorization)  # known to that app and not expired
            except EnvelopeError:
                return None
            return desk
        pair = _basic_key(authorization)
        if pair is None:
            return None
        desk = self.room.by_key(pair[0])
        if desk is None or not hmac.compare_digest(
            pair[1].encode(), desk.participant.consumer_secret.reveal().encode()
        ):
            return None
        return desk

    def poster(self) -> KeepAlivePoster:
        loop = asyncio.get_running_loop()
        if self._poster is None or self._poster_loop is not loop:
            self._poster, self._poster_loop = KeepAlivePoster(), loop
        return self._poster

    def run_on_loop(self, factory: Any, timeout: float = 5.0) -> None:
        """Run a coroutine on the serving loop from another thread and wait for it."""
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return
        try:
            asyncio.run_coroutine_threadsafe(factory(), loop).result(timeout)
        except Exception:
            log.debug("could not run on the serving loop", exc_info=True)

    async def aclose(self) -> None:
        for desk in list(self.room.desks.values()):
            desk.mailbox.close()  # open long polls answer now, not when uvicorn cancels them
        if self._poster is not None:
            await self._poster.aclose()
            self._poster = None

    async def _direct(self, request: Request, desk: Desk, direct_url: Any, health_url: Any) -> tuple[str | None, str]:
        """Hello's direct offer: vetted (outbound.py's rule), rate-limited, then probed once."""
        client = request.scope.get("client") or (None, None)
        server = request.scope.get("server") or (None, None)
        try:
            aim = await outbound.vet(
                direct_url,
                health_url,
                source=client[0],
                server_port=server[1],
                proxy=outbound.proxied(request.scope["headers"]),
                networks=self.direct_networks,
            )
        except outbound.Refused as exc:
            return None, str(exc)
        if not desk.hellos.take():
            return None, (
                f"health checks are limited to {self.limits.hello_per_minute} a minute per participant; "
                "using the relay (say hello again in a minute for direct delivery)"
            )
        if not await outbound.probe(aim):
            return None, outbound.PROBE_FAILED
        return aim.direct_url, "the server reached the listener: callbacks are posted to it directly"

    # ---- the router -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        self.loop = asyncio.get_running_loop()
        path, method = scope["path"], scope["method"]
        try:
            if path == STK_PUSH_PATH or path == STK_QUERY_PATH:
                await self._daraja(scope, receive, send, "push" if path == STK_PUSH_PATH else "query")
            elif path == OAUTH_PATH:
                await self._oauth(scope, receive, send)
            elif path == "/_lab" or path.startswith("/_lab/"):
                await self._lab(scope, receive, send)
            elif method == "POST" and path.startswith(INBOX):
                await self._inbox(scope, receive, send, path[len(INBOX) :])
            elif is_install_path(path) and self.install is not None:
                await self.install(scope, receive, send)
            elif path == PREFIX + "/cards":
                await self._cards(scope, receive, send)
            elif path == PREFIX or path.startswith(PREFIX + "/"):
                await self.control(scope, receive, send)
            else:
                await self.envelope(EnvelopeError.named("resource_not_found"))(scope, receive, send)
        except EnvelopeError as exc:
            await self.envelope(exc)(scope, receive, send)
        except BodyTooLarge as exc:
            await self.envelope(too_large(exc.limit))(scope, receive, send)
        except ClientDisconnect:
            return  # nobody left to answer
        except Exception:
            log.exception("workshop server error on %s %s", method, path)
            await self.envelope(EnvelopeError.named("internal_server_error"))(scope, receive, send)

    async def _oauth(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method != "GET":
            raise method_not_allowed(request.method)
        authorization = request.headers.get("authorization")
        pair = _basic_key(authorization)
        desk = self.room.by_key(pair[0]) if pair else None
        if desk is None:
            if pair is None:
                raise EnvelopeError.named("invalid_authentication_type")
            raise EnvelopeError.named("invalid_client_credentials")
        try:
            desk.state.take_injected("oauth")
            token = desk.state.issue_token(authorization, request.query_params.get("grant_type"))
        except EnvelopeError as exc:
            desk.progress.note_error(exc.code, exc.message, "oauth")
            desk.progress.errors.add(exc.code)
            raise
        self.room.remember_token(token["access_token"], desk)
        desk.progress.note_success(only=("oauth",))  # a token at last: an OAuth error is mended
        await JSONResponse(token)(scope, receive, send)

    async def _daraja(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        token = self._bearer(_header(scope, b"authorization"))
        desk = self.room.by_token(token) if token else None
        if desk is None:
            raise EnvelopeError.named("invalid_access_token")
        progress = desk.progress
        captured: dict[str, Any] = {}
        if route == "push":
            receive = await self._vetted_push(scope, receive, desk)

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
            elif message["type"] == "http.response.body" and captured.get("status", 200) >= 400:
                captured["body"] = captured.get("body", b"") + message.get("body", b"")
            await send(message)

        await desk.app(scope, receive, watch)
        progress.last_seen = time.time()
        if route == "push":
            progress.pushes += 1
        else:
            progress.queries += 1
        status = captured.get("status", 500)
        if status < 400:
            if route == "push":
                progress.accepted += 1
                progress.note_success()
            else:
                progress.note_success(only=("query",))
            return
        try:
            body = json.loads(captured.get("body") or b"{}")
            code, message = str(body.get("errorCode", status)), str(body.get("errorMessage", ""))
        except (ValueError, AttributeError):
            code, message = str(status), ""
        if route == "push" or code != "500.001.1001":  # a pending query is not an error worth showing
            progress.errors.add(clip(code, 40) or "")
            progress.note_error(code, message, route)

    async def _vetted_push(self, scope: Scope, receive: Receive, desk: Desk) -> Receive:
        """Read the push (bounded as the emulator reads it), refuse a CallBackURL the server may not
        post to (outbound.callback_refusal), and hand the same bytes on to the participant's app."""
        body = await read_bounded(receive)
        if body is None:
            raise ClientDisconnect()
        url = None
        if len(body) <= MAX_BODY_BYTES and not too_deep(body, self.limits.json_depth):
            try:
                data = json.loads(body)
                url = data.get("CallBackURL") if isinstance(data, dict) else None
            except (ValueError, RecursionError):
                url = None
        if url is not None:
            client, server = scope.get("client") or (None, None), scope.get("server") or (None, None)
            why = await outbound.callback_refusal(
                url, source=client[0], server_port=server[1], networks=self.direct_networks
            )
            if why is not None:
                desk.progress.pushes += 1
                desk.progress.errors.add("400.002.02")
                desk.progress.note_error("400.002.02", f"Bad Request - Invalid CallBackURL: {why}", "push")
                raise EnvelopeError("400.002.02", f"Bad Request - Invalid CallBackURL: {why}", 400)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _inbox(self, scope: Scope, receive: Receive, send: Send, token: str) -> None:
        """A callback for a participant (the CallBackURL of their pushes): kept, then 200.

        Answered without Starlette's layers: every callback of the room passes here.
        """
        desk = self.room.by_inbox(token)
        if desk is None:
            raise EnvelopeError.named("resource_not_found")

        async def refuse(status: int, why: str) -> None:
            # Refused callbacks close the connection: a flood pays for a new connection each time.
            await JSONResponse(
                {"ResultCode": 1, "ResultDesc": f"Not kept: {why}"}, status_code=status, headers={"connection": "close"}
            )(scope, receive, send)

        if DELIVERY_AGENT in (_header(scope, b"user-agent") or ""):
            # A workshop server's own direct post came back to an inbox: keeping it would post it
            # again, for ever (a direct URL aimed at the server). Refused; the letter goes by relay.
            await refuse(LOOP_DETECTED, "a workshop server's delivery cannot be posted to an inbox (loop)")
            return
        if not desk.inbox_rate.take():
            await refuse(429, f"more than {self.limits.inbox_per_second:g} callbacks a second for this participant")
            return
        if not self.room.inbox_rate.take():
            await refuse(429, f"more than {self.limits.room_inbox_per_second:g} callbacks a second for the room")
            return
        limit = self.limits.callback_body_bytes
        declared = content_length(scope)
        why = desk.mailbox.refuses(declared) if declared is not None and declared <= limit else None
        if why is not None:  # full already: refused before the body is read
            await refuse(503, why)
            return
        try:
            body = await read_capped(scope, receive, limit)
        except BodyTooLarge:
            await refuse(413, f"body over {limit} bytes")
            return
        if body is None:
            return
        why = desk.mailbox.refuses(len(body))
        if why is not None:
            if desk.warned_full + 60 < time.monotonic():  # once a minute, not once a callback
                desk.warned_full = time.monotonic()
                log.warning("participant %s: %s; refusing callbacks", desk.participant.id, why)
            await refuse(503, why)
            return
        letter = desk.mailbox.put(body, self.poster())
        if letter.result_code is not None:
            desk.progress.results.add(clip(letter.result_code, 40) or "")
            if letter.result_code != "0":
                desk.progress.note_error(letter.result_code, letter.result_desc or "", "callback")
            else:
                desk.progress.note_success()  # paid: whatever went wrong before is mended
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_ACCEPTED)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": _ACCEPTED})

    async def _cards(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The printable cards, for the facilitator only (each card holds a participant's secrets)."""
        request = Request(scope)
        if scope["method"] not in ("GET", "HEAD"):
            raise method_not_allowed(scope["method"])
        token = self._bearer(_header(scope, b"authorization")) or request.query_params.get("token")
        if not self.is_facilitator(token):
            if self.participant(_header(scope, b"authorization")) is not None:
                raise forbidden(scope["path"])
            raise EnvelopeError.named("invalid_access_token")
        await cards_response(self.room.roster.folder / CARDS_FILE)(scope, receive, send)

    async def _lab(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = _header(scope, b"authorization")
        request = Request(scope)
        if self.is_facilitator(self._bearer(authorization)) or self.is_facilitator(request.query_params.get("token")):
            pid = request.query_params.get("participant")
            if not pid:
                raise EnvelopeError(
                    "400.002.02",
                    "Bad Request - add ?participant=p01 to say whose emulator "
                    "(room-wide controls are under /_workshop/api/)",
                    400,
                )
            try:
                desk = self.room.desk(pid)
            except RoomError as exc:
                raise EnvelopeError("404.001.01", f"Resource not found - {exc}", 404) from None
            await desk.app(scope, receive, send)
            return
        own = self.participant(authorization)
        if own is None:
            raise EnvelopeError.named("invalid_access_token")
        if not _participant_may(scope["method"], scope["path"]):
            raise forbidden(f"{scope['method']} {scope['path']}")
        if scope["method"] == "POST":
            receive = await self._participant_post(scope, receive, own)
        await own.app(scope, receive, send)

    async def _participant_post(self, scope: Scope, receive: Receive, desk: Desk) -> Receive:
        """A participant's POST to their emulator's controls: body capped like the room's own
        routes, and no more than ``queued_results`` scripted results waiting (each call answers
        the whole queue, so an endless queue would cost memory and time on every call)."""
        body = await read_capped(scope, receive, self.limits.control_body_bytes)
        if body is None:
            raise ClientDisconnect()
        if scope["path"].rstrip("/") == "/_lab/next-result":
            waiting = len(desk.state.instructions)
            if waiting >= self.limits.queued_results:
                raise EnvelopeError(
                    "429.001.01",
                    f"Too Many Requests - {waiting} scripted results are already "
                    "waiting for your next pushes: push to use them first",
                    429,
                )
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
