"""The room: one emulator state per participant, the tokens that pick them, progress and faults.

Isolation is by construction: each participant's app has its own ``EmulatorState`` (its own
transactions, subscribers, rule-17 windows and subscriber locks), so another participant's
CheckoutRequestID is simply unknown to it, as it would be on Daraja. The states share one
``Engine`` (the clockwork runs on the server's loop) and one id space for CheckoutRequestIDs,
so ids stay unique across the room.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mpesa_lab import codes
from mpesa_lab.emulator.config import EmulatorConfig
from mpesa_lab.emulator.engine import Engine
from mpesa_lab.emulator.ids import IdFactory
from mpesa_lab.emulator.state import EmulatorState
from mpesa_lab.workshop.course import CourseProgress, Hints, exercise_view
from mpesa_lab.workshop.limits import OTHER, TokenBucket, WindowCounter, WorkshopLimits, clip, fold
from mpesa_lab.workshop.mailbox import Mailbox, RoomBudget
from mpesa_lab.workshop.roster import Participant, Roster

log = logging.getLogger(__name__)

FAULTS = {
    "busy": "Daraja answers pushes with 500.003.02 'System is busy' (retry after a short wait)",
    "delay": "callbacks arrive late (query instead of waiting forever)",
    "duplicate": "every callback arrives twice (count each payment once)",
    "drop": "each participant's next callback never arrives (query to find out)",
}
DEFAULT_FAULT_SECONDS = 60.0
_FOLDED = "codes beyond the page's limit of distinct codes, counted together"
DEFAULT_CALLBACK_DELAY = 3.0


class RoomError(ValueError):
    """A room control that cannot be done; the message says what to send instead."""


class _RoomIds(IdFactory):
    """A participant's IdFactory, with CheckoutRequestIDs unique across the whole room.

    Everybody pushes to the same test number: two participants pushing in the same millisecond
    would otherwise get the same id (it is made of the time and the phone number).
    """

    def __init__(self, taken: dict[str, None], lock: threading.Lock) -> None:
        super().__init__()
        self._taken = taken
        self._room_lock = lock  # the room's: ``self._lock`` is the factory's own

    def checkout_request_id(self, moment: datetime, phone: str) -> str:
        with self._room_lock:
            cid = super().checkout_request_id(moment, phone)
            while cid in self._taken:
                moment += timedelta(milliseconds=1)
                cid = super().checkout_request_id(moment, phone)
            self._taken[cid] = None
            if len(self._taken) > 500_000:  # old ones cannot come back: time moves on
                for old in list(self._taken)[:100_000]:
                    del self._taken[old]
            return cid


@dataclass
class Progress:
    """What the facilitator sees of one participant.

    ``errors`` and ``results`` count by code over the last ``counter_window_seconds`` (they age
    out), at most ``codes_per_participant`` distinct codes (later ones count as "other"): whatever
    a participant posts to their own inbox, the page's data stays small.
    """

    limits: WorkshopLimits = field(default_factory=WorkshopLimits)
    pushes: int = 0
    accepted: int = 0
    queries: int = 0
    errors: WindowCounter = field(init=False)
    results: WindowCounter = field(init=False)
    last_error: dict[str, Any] | None = None
    exercise: str | None = None
    last_seen: float | None = None
    changes: int = 0
    course: CourseProgress = field(init=False)

    def __post_init__(self) -> None:
        window, most = self.limits.counter_window_seconds, self.limits.codes_per_participant
        self.errors = WindowCounter(window, most)
        self.results = WindowCounter(window, most)
        self.course = CourseProgress(self.limits)

    def note_error(self, code: str, message: str, where: str, mitigation: str | None = None) -> None:
        code, message = clip(code, 40) or "", clip(message, self.limits.text_chars) or ""
        if mitigation is None:
            mitigation = codes.lookup(code, message).mitigation
        self.last_error = {
            "code": code,
            "message": message,
            "where": where,
            "mitigation": clip(mitigation, self.limits.text_chars),
            "at": time.time(),
        }

    def note_success(self, only: tuple[str, ...] | None = None) -> None:
        """The participant succeeded: the last error is history (the page stops showing it).

        A push accepted, a paid callback or a passed check clears any error (``only`` None); a
        token or a query answered clears an error of that same step only (``only=("oauth",)``):
        a token fetched does not mend a failed push.
        """
        error = self.last_error
        if error is not None and (only is None or str(error.get("where", "")).split(" ")[0] in only):
            self.last_error = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pushes": self.pushes,
            "accepted": self.accepted,
            "queries": self.queries,
            "errors": self.errors.totals(),
            "results": self.results.totals(),
            "last_error": self.last_error,
            "exercise": self.exercise,
            "last_seen": self.last_seen,
            **self.course.to_dict(),
        }


class Desk:
    """One participant's corner of the room: their emulator state, ASGI app, mailbox and progress."""

    def __init__(
        self,
        participant: Participant,
        state: EmulatorState,
        limits: WorkshopLimits | None = None,
        budget: RoomBudget | None = None,
    ) -> None:
        from mpesa_lab.emulator.app import build_app

        self.limits = limits or WorkshopLimits()
        self.participant = participant
        self.state = state
        self.app = build_app(state)
        self.mailbox = Mailbox(
            participant.id, max_letters=self.limits.mailbox_letters, max_bytes=self.limits.mailbox_bytes, room=budget
        )
        self.progress = Progress(self.limits)
        # hello's health checks, and callbacks into the inbox, per participant
        self.hellos = TokenBucket(self.limits.hello_per_minute / 60.0, self.limits.hello_per_minute)
        self.inbox_rate = TokenBucket(self.limits.inbox_per_second, self.limits.inbox_burst)
        per_minute = self.limits.course_reports_per_minute
        self.course_rate = TokenBucket(per_minute / 60.0, max(1, min(30, per_minute)))
        self.warned_full = float("-inf")  # when the log last said this mailbox is full
        self.tokens: deque[str] = deque()  # access tokens issued through the room, oldest first

    def register(self) -> None:
        """The participant's app and paybill (again after a reset)."""
        p = self.participant
        self.state.register_app(p.consumer_key, p.consumer_secret, name=p.name)
        self.state.register_merchant(p.shortcode, p.passkey, name=f"{p.name.upper()} PAYBILL"[:40])

    def summary(self) -> dict[str, Any]:
        return {**self.participant.public(), **self.progress.to_dict(), **self.mailbox.summary()}

    def __repr__(self) -> str:
        return f"<Desk {self.participant.id} {self.progress.pushes} pushes>"


class Room:
    """Everybody's desks, who holds which token, the room-wide faults."""

    def __init__(
        self, roster: Roster, config: EmulatorConfig | None = None, limits: WorkshopLimits | None = None
    ) -> None:
        self.roster = roster
        self.config = config or EmulatorConfig()
        self.limits = limits or WorkshopLimits()
        self.mailbox_budget = RoomBudget(self.limits.room_mailbox_bytes)
        self.inbox_rate = TokenBucket(self.limits.room_inbox_per_second, self.limits.room_inbox_burst)
        self.engine = Engine("workshop")
        self.lock = threading.RLock()
        self._ids_taken: dict[str, None] = {}
        self._ids_lock = threading.Lock()
        self.desks: dict[str, Desk] = {}
        self._by_key: dict[str, Desk] = {}
        self._by_inbox: dict[str, Desk] = {}
        self._tokens: dict[str, Desk] = {}
        self.faults: dict[str, dict[str, Any]] = {}
        self.hints = Hints()
        self._timers: dict[str, threading.Timer] = {}
        self.changes = 0  # bumped on anything the facilitator's page shows
        for participant in roster:
            self._open_desk(participant)

    # ---- desks --------------------------------------------------------------------------

    def _open_desk(self, participant: Participant) -> Desk:
        # A different seed per participant: their outcome mixes and ids differ.
        config = dataclasses.replace(
            self.config, seed=(self.config.seed or 0) + participant.number, mix=dict(self.config.mix)
        )
        state = EmulatorState(config, self.engine)
        state.ids = _RoomIds(self._ids_taken, self._ids_lock)
        desk = Desk(participant, state, self.limits, self.mailbox_budget)
        desk.register()
        with self.lock:
            self.desks[participant.id] = desk
            self._by_key[participant.consumer_key] = desk
            self._by_inbox[participant.inbox_token.reveal()] = desk
            self._apply_faults(desk)
            self.changes += 1
        return desk

    def add_participant(self, name: str | None = None) -> Desk:
        return self._open_desk(self.roster.add(name))

    def desk(self, participant_id: str) -> Desk:
        desk = self.desks.get(participant_id)
        if desk is None:
            raise RoomError(f"no participant {participant_id!r}; participants are {', '.join(self.desks) or 'none'}")
        return desk

    def by_key(self, consumer_key: str) -> Desk | None:
        return self._by_key.get(consumer_key)

    def by_inbox(self, token: str) -> Desk | None:
        return self._by_inbox.get(token)

    def by_token(self, token: str) -> Desk | None:
        return self._tokens.get(token)

    def remember_token(self, token: str, desk: Desk) -> None:
        """A token just issued to ``desk``. Each participant holds at most ``tokens_per_participant``
        live tokens: the oldest is retired (Daraja answers it 404.001.03, as an expired one), so a
        loop fetching tokens costs the server neither memory nor a scan per request."""
        with self.lock:
            self._tokens[token] = desk
            desk.tokens.append(token)
            while len(desk.tokens) > self.limits.tokens_per_participant:
                old = desk.tokens.popleft()
                self._tokens.pop(old, None)
                with desk.state.lock:
                    desk.state.tokens.pop(old, None)

    # ---- room controls ----------------------------------------------------------------------

    def start_fault(
        self,
        kind: str,
        seconds: float | None = DEFAULT_FAULT_SECONDS,
        *,
        delay: float = DEFAULT_CALLBACK_DELAY,
        lesson: str | None = None,
    ) -> dict[str, Any]:
        """Turn a fault on for the whole room (or only those in ``lesson``), for ``seconds``
        (None: until stopped). Course notebooks learn of it in their next report and apply it to
        their own emulator (mpesa_lab.listener.room_report)."""
        if kind not in FAULTS:
            raise RoomError(f"unknown fault {kind!r}; faults are: {', '.join(FAULTS)}")
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 24 * 3600
        ):
            raise RoomError(f"seconds must be a number of seconds above 0 (or null: until stopped); got {seconds!r}")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 600:
            raise RoomError(f"delay must be 0 to 600 seconds; got {delay!r}")
        with self.lock:
            self._cancel_timer(kind)
            self.faults[kind] = {
                "kind": kind,
                "what": FAULTS[kind],
                "started": time.time(),
                "until": None if seconds is None else time.time() + seconds,
                "delay": delay,
                "lesson": lesson,
            }
            for desk in self.desks.values():
                self._apply_faults(desk, fresh=kind)
            if seconds is not None:
                timer = threading.Timer(seconds, self.stop_fault, args=(kind,))
                timer.daemon = True
                self._timers[kind] = timer
                timer.start()
            self.changes += 1
            log.info("room fault %s on for %s", kind, "ever" if seconds is None else f"{seconds:g} s")
            return dict(self.faults[kind])

    def stop_fault(self, kind: str | None = None) -> list[str]:
        """Turn one fault (or all) off; returns the kinds turned off."""
        with self.lock:
            kinds = list(self.faults) if kind is None else [kind] if kind in self.faults else []
            for name in kinds:
                self._cancel_timer(name)
                del self.faults[name]
            for desk in self.desks.values():
                if "busy" in kinds:
                    with desk.state.lock:
                        desk.state.injected.clear()
                if "drop" in kinds:
                    desk.state.faults.clear()
                self._apply_faults(desk)
            if kinds:
                self.changes += 1
            return kinds

    def _cancel_timer(self, kind: str) -> None:
        timer = self._timers.pop(kind, None)
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()

    def faults_for(self, desk: Desk) -> dict[str, dict[str, Any]]:
        """The room's faults that reach ``desk``: room-wide ones, and those for its lesson."""
        lesson = desk.progress.course.lesson
        return {k: f for k, f in self.faults.items() if f.get("lesson") in (None, lesson)}

    def _apply_faults(self, desk: Desk, fresh: str | None = None) -> None:
        """Make one desk's state match the room's faults (``fresh``: the one just turned on)."""
        state = desk.state
        faults = self.faults_for(desk)
        # The room's own settings (EmulatorConfig) stay underneath whatever fault comes and goes.
        active = tuple(k for k in ("delay", "duplicate") if k in faults)
        callback_faults = tuple(dict.fromkeys((*self.config.callback_faults, *active)))
        delay = faults["delay"]["delay"] if "delay" in faults else self.config.callback_delay
        state.configure(callback_faults=callback_faults, callback_delay=delay)
        if fresh in (None, "busy") and "busy" in faults:
            with state.lock:
                state.injected.clear()
            state.fail_next("500.003.02", count=None, route="push")
        if fresh == "drop" and "drop" in faults:
            state.inject_callback_fault("drop", count=1)

    def broadcast(self, text: str, lesson: str | None = None) -> dict[str, Any]:
        """A hint for every participant (or those in ``lesson``): their notebooks show it."""
        if not isinstance(text, str) or not text.strip() or len(text) > self.limits.hint_chars:
            raise RoomError(f"a hint is text of 1 to {self.limits.hint_chars} characters")
        with self.lock:
            hint = self.hints.add(clip(text.strip(), self.limits.hint_chars) or "", lesson)
            self.changes += 1
        return hint

    def reset(self) -> None:
        """Every participant back to a fresh emulator (apps, paybills and tokens kept); faults off."""
        self.stop_fault()
        with self.lock:
            for desk in self.desks.values():
                desk.state.reset(keep_tokens=True)
                desk.register()
                desk.progress = Progress(self.limits)
            self.changes += 1

    # ---- views ------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The facilitator's page data: participants, the room's result codes, active faults."""
        with self.lock:
            desks = list(self.desks.values())
            faults = [dict(f) for f in self.faults.values()]
        room_results: Counter = Counter()
        room_errors: Counter = Counter()
        people = []
        for desk in sorted(desks, key=lambda d: d.participant.number):
            summary = desk.summary()
            room_results.update(summary["results"])
            room_errors.update(summary["errors"])
            people.append(summary)
        now = time.time()
        for fault in faults:
            fault["seconds_left"] = None if fault["until"] is None else max(0.0, round(fault["until"] - now, 1))
        most = self.limits.codes_per_room
        chart = [
            {"code": code, "count": n, "name": _FOLDED if code == OTHER else codes.result_entry(code).message}
            for code, n in fold(room_results, most).items()
        ]
        errors = [
            {"code": code, "count": n, "name": _FOLDED if code == OTHER else codes.error_entry(code).message}
            for code, n in fold(room_errors, most).items()
        ]
        return {
            "title": self.roster.title,
            "participants": people,
            "exercises": exercise_view([d.progress.course for d in desks], self.limits.exercises_in_room_view),
            "lessons": sorted({p["lesson"] for p in people if p["lesson"]}),
            "hints": list(self.hints.items)[-5:],
            "results": chart,
            "errors": errors,
            "faults": faults,
            "available_faults": FAULTS,
            "changes": self.changes,
            "window_seconds": self.limits.counter_window_seconds,
            "totals": {
                "participants": len(people),
                "pushes": sum(p["pushes"] for p in people),
                "callbacks": sum(room_results.values()),
            },
        }

    def close(self) -> None:
        for kind in list(self._timers):
            self._cancel_timer(kind)
        self.engine.stop()

    def __repr__(self) -> str:
        return (
            f"<Room {self.roster.title!r} {len(self.desks)} participants, faults: {', '.join(self.faults) or 'none'}>"
        )
