"""The workshop server's own routes (``/_workshop``): what is not Daraja.

- the facilitator's page and its API (room view, faults, reset, participants), facilitator token;
- a participant's relay (hello, long-poll pull, ack), progress and course reports
  (:mod:`mpesa_lab.workshop.course_report`), participant token.

Bodies are capped before they are read and depth-checked before they are parsed
(:mod:`mpesa_lab.workshop.limits`); every refusal is one line in Daraja's envelope. The router
that sends requests here is :mod:`mpesa_lab.workshop.app`.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mpesa_lab.emulator.errors import EnvelopeError, method_not_allowed
from mpesa_lab.workshop.course import CourseError, lesson_name
from mpesa_lab.workshop.course_report import apply_report
from mpesa_lab.workshop.limits import BodyTooLarge, clip, parse_json, read_capped
from mpesa_lab.workshop.page import facilitator_page
from mpesa_lab.workshop.room import Desk, RoomError

if TYPE_CHECKING:
    from mpesa_lab.workshop.app import WorkshopApp

PREFIX = "/_workshop"
MAX_NAME_CHARS = 80
MAX_PULL_WAIT = 30.0


def forbidden(what: str) -> EnvelopeError:
    """A participant's token used on a room control (lab-specific code, Daraja's envelope)."""
    return EnvelopeError(
        "401.003.01", f"Invalid API call as no apiproduct match found: {what} needs the facilitator's token", 401
    )


def bad_request(what: str) -> EnvelopeError:
    """``400.002.02 Bad Request - <what>``: one line saying what to send instead."""
    return EnvelopeError("400.002.02", f"Bad Request - {what}", 400)


def too_large(limit: int) -> EnvelopeError:
    """A body over its cap (lab-specific code in Daraja's envelope; nothing past the cap was read)."""
    return EnvelopeError("413.001.01", f"Payload Too Large - this route takes at most {limit} bytes", 413)


def control_app(workshop: WorkshopApp) -> Starlette:
    """The /_workshop routes: the facilitator's page and room API, the relay (hello, pull, ack)
    and progress reports; each refusal in Daraja's envelope."""
    room = workshop.room

    def facilitator_only(request: Request) -> None:
        token = workshop._bearer(request.headers.get("authorization")) or request.query_params.get("token")
        if not workshop.is_facilitator(token):
            if workshop.participant(request.headers.get("authorization")) is not None:
                raise forbidden(request.url.path)
            raise EnvelopeError.named("invalid_access_token")

    def participant_only(request: Request) -> Desk:
        desk = workshop.participant(request.headers.get("authorization"))
        if desk is None:
            raise EnvelopeError.named(
                "invalid_access_token",
                "Invalid Access Token - use the consumer key and secret from your card (HTTP Basic) or an access token",
            )
        return desk

    async def body_of(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
        # Capped before reading (Content-Length) and while reading: never more held than the cap.
        raw = await read_capped(request.scope, request.receive, workshop.limits.control_body_bytes)
        if raw is None:
            raise ClientDisconnect()
        try:
            data = parse_json(raw, workshop.limits.json_depth) if raw.strip() else {}
        except ValueError as exc:
            raise bad_request(f"send a JSON object ({exc})") from None
        if not isinstance(data, dict):
            raise bad_request("send a JSON object")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise EnvelopeError(
                "400.002.02", f"Bad Request - unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}", 400
            )
        return data

    async def page(request: Request) -> Response:
        facilitator_only(request)
        return HTMLResponse(facilitator_page(room.roster.title))

    async def room_view(request: Request) -> Response:
        facilitator_only(request)
        return JSONResponse(room.summary())

    async def faults(request: Request) -> Response:
        facilitator_only(request)
        if request.method == "DELETE":
            return JSONResponse({"stopped": room.stop_fault(request.query_params.get("kind"))})
        if request.method == "GET":
            return JSONResponse({"faults": room.summary()["faults"]})
        body = await body_of(request, ("kind", "seconds", "delay", "lesson"))
        if not isinstance(body.get("kind"), str):
            raise EnvelopeError(
                "400.002.02", 'Bad Request - send {"kind": "busy" | "delay" | "duplicate" | "drop", "seconds": 60}', 400
            )
        try:
            lesson = lesson_name(body["lesson"]) if body.get("lesson") else None
            fault = room.start_fault(
                body["kind"], body.get("seconds", 60.0), delay=body.get("delay", 3.0), lesson=lesson
            )
        except (RoomError, CourseError) as exc:
            raise EnvelopeError("400.002.02", f"Bad Request - {exc}", 400) from None
        return JSONResponse(fault)

    async def hints(request: Request) -> Response:
        facilitator_only(request)
        if request.method == "GET":
            return JSONResponse({"hints": list(room.hints.items)})
        body = await body_of(request, ("text", "lesson"))
        try:
            lesson = lesson_name(body["lesson"]) if body.get("lesson") else None
            return JSONResponse(room.broadcast(body.get("text"), lesson))  # type: ignore[arg-type]
        except (RoomError, CourseError) as exc:
            raise bad_request(str(exc)) from None

    async def course(request: Request) -> Response:
        desk = participant_only(request)
        if not desk.course_rate.take():
            raise EnvelopeError(
                "429.001.01",
                f"Too Many Requests - at most {workshop.limits.course_reports_per_minute} course reports a minute",
                429,
            )
        body = await body_of(request, ("lesson", "events", "since"))
        try:
            answer = apply_report(room, desk, body)
        except CourseError as exc:
            raise bad_request(str(exc)) from None
        return JSONResponse(answer)

    async def reset(request: Request) -> Response:
        facilitator_only(request)
        room.reset()
        return JSONResponse({"reset": True})

    async def participants(request: Request) -> Response:
        facilitator_only(request)
        if request.method == "POST":
            body = await body_of(request, ("name",))
            name = body.get("name")
            if name is not None and (
                not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS or not name.isprintable()
            ):
                raise bad_request(f"name must be text of 1 to {MAX_NAME_CHARS} printable characters (or leave it out)")
            desk = room.add_participant(name.strip() if name else None)
            room.roster.save(str(request.base_url).rstrip("/"))
            return JSONResponse(desk.participant.public())
        return JSONResponse({"participants": [d.participant.public() for d in room.desks.values()]})

    async def hello(request: Request) -> Response:
        desk = participant_only(request)
        body = await body_of(request, ("direct_url", "health_url"))
        direct, reason = None, "no direct URL offered: callbacks come through the relay"
        if body.get("direct_url") or body.get("health_url"):
            direct, reason = await workshop._direct(request, desk, body.get("direct_url"), body.get("health_url"))
        desk.mailbox.direct_url = direct
        desk.mailbox.failures_in_a_row = 0
        desk.mailbox.new_relay()
        desk.progress.last_seen = time.time()
        p = desk.participant
        return JSONResponse(
            {
                "participant": p.id,
                "name": p.name,
                "shortcode": p.shortcode,
                "inbox_path": f"{PREFIX}/inbox/{p.inbox_token.reveal()}",
                "delivery": "direct" if direct else "relay",
                "reason": reason,
            }
        )

    async def pull(request: Request) -> Response:
        desk = participant_only(request)
        try:
            wait = min(MAX_PULL_WAIT, max(0.0, float(request.query_params.get("wait", "20"))))
            limit = min(1000, max(1, int(request.query_params.get("max", "100"))))
            acks = [int(i) for i in request.query_params.get("ack", "").split(",") if i.strip()]
        except ValueError:
            raise EnvelopeError(
                "400.002.02",
                "Bad Request - wait (seconds) and max must be numbers, ack a comma-separated list of letter ids",
                400,
            ) from None
        # The relay acknowledges what it stored with its next pull: one request per round, not two.
        acknowledged = desk.mailbox.ack(acks) if acks else 0
        letters = await _pull_while_connected(request, desk.mailbox, wait, limit)
        if desk.mailbox.closed and not letters:
            # Stopping: tell the relay to back off (and close the connection) rather than
            # have it ask again at once, which would keep the server from finishing.
            error = EnvelopeError("503.001.01", "Service Unavailable - the workshop server is stopping", 503)
            return JSONResponse(
                error.envelope(workshop.ids.request_id()), status_code=503, headers={"connection": "close"}
            )
        return JSONResponse({"acknowledged": acknowledged, "letters": [letter.to_wire() for letter in letters]})

    async def ack(request: Request) -> Response:
        desk = participant_only(request)
        body = await body_of(request, ("ids",))
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise EnvelopeError("400.002.02", 'Bad Request - send {"ids": [1, 2, ...]}', 400)
        return JSONResponse({"acknowledged": desk.mailbox.ack(ids)})

    async def progress(request: Request) -> Response:
        desk = participant_only(request)
        body = await body_of(request, ("exercise",))
        exercise = body.get("exercise")
        if not isinstance(exercise, (str, int, float)) or isinstance(exercise, bool) or not str(exercise).strip():
            raise EnvelopeError("400.002.02", 'Bad Request - send {"exercise": "09.3"}', 400)
        desk.progress.exercise = clip(str(exercise).strip(), 60)
        desk.progress.last_seen = time.time()
        return JSONResponse({"participant": desk.participant.id, "exercise": desk.progress.exercise})

    async def on_daraja_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EnvelopeError)
        return workshop.envelope(exc)

    async def on_too_large(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyTooLarge)
        return workshop.envelope(too_large(exc.limit))

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return workshop.envelope(method_not_allowed(request.method))
        return workshop.envelope(EnvelopeError.named("resource_not_found"))

    routes = [
        Route(PREFIX, page, methods=["GET"]),
        Route(PREFIX + "/", page, methods=["GET"]),
        Route(PREFIX + "/api/room", room_view, methods=["GET"]),
        Route(PREFIX + "/api/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(PREFIX + "/api/reset", reset, methods=["POST"]),
        Route(PREFIX + "/api/participants", participants, methods=["GET", "POST"]),
        Route(PREFIX + "/relay/hello", hello, methods=["POST"]),
        Route(PREFIX + "/relay/pull", pull, methods=["GET"]),
        Route(PREFIX + "/relay/ack", ack, methods=["POST"]),
        Route(PREFIX + "/progress", progress, methods=["POST"]),
        Route(PREFIX + "/course", course, methods=["POST"]),
        Route(PREFIX + "/api/hints", hints, methods=["GET", "POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            EnvelopeError: on_daraja_error,
            BodyTooLarge: on_too_large,
            HTTPException: on_http_exception,
        },
    )
    app.router.redirect_slashes = False
    return app


async def _pull_while_connected(request: Request, mailbox: Any, wait: float, limit: int) -> list[Any]:
    """The mailbox's long poll, abandoned as soon as the relay hangs up: a pull held for a relay
    that is gone would lease the next letter to nobody (until the lease runs out)."""
    pulling = asyncio.ensure_future(mailbox.pull(wait, limit))
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({pulling, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not pulling.done():
        pulling.cancel()
        return []
    letters = pulling.result()
    if gone.done() and not gone.cancelled() and gone.result():
        mailbox.unlease(letters)
        return []
    return letters


async def _disconnected(request: Request) -> bool:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return True
