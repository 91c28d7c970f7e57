"""The course in the room: what participants' lesson notebooks report, and the facilitator's hints.

A participant's notebook (``mpesa_lab.listener.room_report``) posts small batches of events to
``POST /_workshop/course``: the verdict of each exercise check, each push (accepted or refused,
with Daraja's code), each callback's ResultCode and each room fault that reached it. Here they
become what the facilitator's page shows: per participant, the lesson in progress and its
exercises (passed / failed / not yet); per exercise, how many of the room passed or failed.

Everything a participant sends is bounded (``WorkshopLimits``: lessons, exercises per lesson,
events per report, text length, reports per minute), so a hostile notebook costs the room little.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mpesa_lab.workshop.limits import WorkshopLimits, clip

STATUSES = ("passed", "failed", "not_yet")
EVENT_KINDS = ("check", "push", "callback", "fault")
NAME_CHARS = 80  # a lesson or exercise name as the page keeps it


class CourseError(ValueError):
    """A course report that is not usable; the message says what to send instead."""


def lesson_name(value: Any) -> str:
    """A lesson's name as sent ("04-first-push"): printable text, clipped."""
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise CourseError('"lesson" must be printable text such as "04-first-push"')
    return clip(value.strip(), NAME_CHARS) or ""


@dataclass
class CourseProgress:
    """One participant's lessons: exercise -> latest status, bounded by the room's limits."""

    limits: WorkshopLimits = field(default_factory=WorkshopLimits)
    lesson: str | None = None
    lessons: dict[str, dict[str, str]] = field(default_factory=dict)
    faults_hit: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    reports: int = 0

    def note_check(self, lesson: str, exercise: str, status: str) -> bool:
        """Record a verdict; False when the participant's lessons or exercises are full (ignored)."""
        exercises = self.lessons.get(lesson)
        if exercises is None:
            if len(self.lessons) >= self.limits.lessons_per_participant:
                return False
            exercises = self.lessons[lesson] = {}
        if exercise not in exercises and len(exercises) >= self.limits.exercises_per_lesson:
            return False
        exercises[exercise] = status
        return True

    def to_dict(self) -> dict[str, Any]:
        current = self.lessons.get(self.lesson or "", {})
        counts = {status: sum(1 for s in current.values() if s == status) for status in STATUSES}
        return {
            "lesson": self.lesson,
            "lesson_exercises": [{"exercise": name, "status": status} for name, status in current.items()],
            "lesson_counts": counts,
            "lessons_done": sorted(
                name for name, ex in self.lessons.items() if ex and all(s == "passed" for s in ex.values())
            ),
            "faults_hit": list(self.faults_hit),
            "course_reports": self.reports,
        }


def exercise_view(progresses: list[CourseProgress], most: int) -> list[dict[str, Any]]:
    """Per exercise of the room: how many participants passed, failed, or have not yet (the rest
    of the room); in lesson order, each lesson's exercises in the order first reported."""
    seen: dict[tuple[str, str], dict[str, int]] = {}
    for progress in progresses:
        for lesson, exercises in progress.lessons.items():
            for exercise, status in exercises.items():
                row = seen.setdefault((lesson, exercise), {"passed": 0, "failed": 0})
                if status in row:
                    row[status] += 1
    everyone = len(progresses)
    rows: list[dict[str, Any]] = [
        {
            "lesson": lesson,
            "exercise": exercise,
            "passed": n["passed"],
            "failed": n["failed"],
            "not_yet": everyone - n["passed"] - n["failed"],
        }
        for (lesson, exercise), n in seen.items()
    ]
    # Most reported first when there are too many (a hostile notebook's made-up names fall off).
    if len(rows) > most:
        rows = sorted(rows, key=lambda r: -(r["passed"] + r["failed"]))[:most]
    return sorted(rows, key=lambda r: r["lesson"])  # stable: each lesson's own order kept


class Hints:
    """The facilitator's broadcasts, newest last; each for the whole room or one lesson."""

    def __init__(self, keep: int = 50) -> None:
        self._ids = itertools.count(1)
        self.items: deque[dict[str, Any]] = deque(maxlen=keep)

    def add(self, text: str, lesson: str | None = None) -> dict[str, Any]:
        hint = {"id": next(self._ids), "text": text, "lesson": lesson, "at": time.time()}
        self.items.append(hint)
        return dict(hint)

    def since(self, last_id: int, lesson: str | None, room_wide_for: float = 900.0) -> list[dict[str, Any]]:
        """Hints after ``last_id`` meant for ``lesson``, and room-wide ones of the last
        ``room_wide_for`` seconds (a notebook opened an hour later is not told old news)."""
        fresh = time.time() - room_wide_for
        return [
            dict(h)
            for h in self.items
            if h["id"] > last_id and (h["lesson"] == lesson or (h["lesson"] is None and h["at"] >= fresh))
        ]
