"""``POST /_workshop/course``: one course notebook's report, checked and applied to its desk.

The body (at most ``control_body_bytes``, depth-checked, known fields only)::

    {"lesson": "04-first-push", "since": 3, "events": [
        {"kind": "check", "exercise": "A push the customer paid", "status": "passed"},
        {"kind": "check", "exercise": "...", "status": "failed", "problem": "what to do instead"},
        {"kind": "push", "ok": false, "code": "400.002.02", "message": "Bad Request - Invalid Amount"},
        {"kind": "callback", "result_code": "1032", "desc": "Request cancelled by user"},
        {"kind": "fault", "fault": "delay"}]}

The answer: the hints after ``since`` for this lesson and the room faults that reach it, which
the notebook applies to its own emulator.
"""

from __future__ import annotations

import time
from typing import Any

from mpesa_lab.workshop.course import EVENT_KINDS, NAME_CHARS, STATUSES, CourseError, lesson_name
from mpesa_lab.workshop.limits import clip
from mpesa_lab.workshop.room import FAULTS, Desk, Room


def _text(event: dict[str, Any], key: str, chars: int) -> str:
    value = event.get(key)
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise CourseError(f'"{key}" of a {event.get("kind")} event must be text')
    return clip(str(value).strip(), chars) or ""


def apply_report(room: Room, desk: Desk, body: dict[str, Any]) -> dict[str, Any]:
    """Apply one report to ``desk``; the hints and faults for the notebook. CourseError when the
    report is malformed (nothing of it is applied then)."""
    limits = room.limits
    lesson = lesson_name(body["lesson"]) if body.get("lesson") is not None else desk.progress.course.lesson
    since = body.get("since", 0)
    if isinstance(since, bool) or not isinstance(since, int):
        raise CourseError('"since" must be the id of the last hint received (a whole number)')
    events = body.get("events", [])
    if not isinstance(events, list) or len(events) > limits.course_events_per_report:
        raise CourseError(f'"events" must be a list of at most {limits.course_events_per_report} events')
    checked = [_checked(event, limits.text_chars) for event in events]  # all or nothing

    progress = desk.progress
    moved_lesson = lesson is not None and lesson != progress.course.lesson
    progress.course.lesson = lesson
    progress.course.reports += 1
    progress.last_seen = time.time()
    for event in checked:
        kind = event["kind"]
        if kind == "check":
            if lesson is None:
                continue  # a verdict with no lesson is nowhere to show
            status, name = event["status"], event["exercise"]
            if not progress.course.note_check(lesson, name, status):
                continue
            if status == "passed":
                progress.note_success()
            elif status == "failed":
                progress.note_error("check", name, lesson, event["problem"] or "not yet")
        elif kind == "push":
            progress.pushes += 1
            if event["ok"]:
                progress.accepted += 1
                progress.note_success()
            else:
                progress.errors.add(event["code"] or "?")
                progress.note_error(event["code"] or "?", event["message"], "push")
        elif kind == "callback":
            progress.results.add(event["result_code"] or "?")
            if event["result_code"] == "0":
                progress.note_success()
            else:
                progress.note_error(event["result_code"] or "?", event["desc"], "callback")
        elif kind == "fault" and event["fault"] in FAULTS:
            progress.course.faults_hit.append(event["fault"])
    with room.lock:
        room.changes += 1
        if moved_lesson and any(f.get("lesson") for f in room.faults.values()):
            room._apply_faults(desk)  # a lesson's fault reaches (or leaves) the room's own emulator
        faults = room.faults_for(desk)
    now = time.time()
    return {
        "participant": desk.participant.id,
        "lesson": lesson,
        "hints": room.hints.since(since, lesson),
        "faults": [
            {
                "kind": f["kind"],
                "what": f["what"],
                "started": f["started"],
                "delay": f["delay"],
                "seconds_left": None if f["until"] is None else max(0.0, round(f["until"] - now, 1)),
            }
            for f in faults.values()
        ],
    }


def _checked(event: Any, chars: int) -> dict[str, Any]:
    if not isinstance(event, dict) or event.get("kind") not in EVENT_KINDS:
        raise CourseError(f"each event is an object whose kind is one of {', '.join(EVENT_KINDS)}")
    kind = event["kind"]
    if kind == "check":
        exercise = _text(event, "exercise", NAME_CHARS)
        status = event.get("status")
        if not exercise or not exercise.isprintable() or status not in STATUSES:
            raise CourseError(f'a check event needs "exercise" (printable text) and "status": {" | ".join(STATUSES)}')
        return {"kind": kind, "exercise": exercise, "status": status, "problem": _text(event, "problem", chars)}
    if kind == "push":
        if not isinstance(event.get("ok"), bool):
            raise CourseError('a push event needs "ok": true or false')
        return {
            "kind": kind,
            "ok": event["ok"],
            "code": _text(event, "code", 40),
            "message": _text(event, "message", chars),
        }
    if kind == "callback":
        return {"kind": kind, "result_code": _text(event, "result_code", 40), "desc": _text(event, "desc", chars)}
    return {"kind": kind, "fault": _text(event, "fault", 20)}
