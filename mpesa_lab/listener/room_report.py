"""The course in the room, participant side: a lesson notebook reports to the workshop server.

Set once, for every kernel (``mpesa-lab lab --room CARD`` does it): ``MPESA_LAB_ROOM`` names a
*card file*, the lines of the participant's card (``MPESA_BASE_URL``, ``MPESA_CONSUMER_KEY``,
``MPESA_CONSUMER_SECRET``; other lines are ignored). Then, with no change to any notebook:

- ``Lab.start()`` (local mode, as every lesson calls it) keeps its own emulator on this laptop
  and attaches the room's :class:`RoomReporter`: each push (accepted or refused, with Daraja's
  code) and each callback's ResultCode is reported, and the room's faults are applied to the
  lesson's own emulator while they last;
- every exercise check (``mpesa_lab.course``) reports its verdict: passed, failed (with the
  first problem, which says what to do) or not yet;
- the facilitator's hints are shown under the next cell that runs.

Fire and forget: events go on a bounded queue that one daemon thread sends in small batches with
a short timeout; an unreachable room costs the notebook nothing (events are dropped, counted in
``dropped``). Nothing secret is sent: exercise names, verdict texts, codes and ResultDescs
(checks never quote a secret). The reports are authenticated with the card's consumer key and
secret (HTTP Basic), as the relay is.

Why the lesson keeps its local emulator rather than the room's: the lessons drive their emulator
(subscribers, scripted results, callback faults), which a shared room does not let a participant
do; and a lesson that needs no Wi-Fi cannot be stopped by the venue's.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpesa_lab.daraja.errors import MpesaLabError
from mpesa_lab.secret import Secret

log = logging.getLogger(__name__)

ROOM_ENV = "MPESA_LAB_ROOM"
LESSON_ENV = "MPESA_LAB_LESSON"  # a launcher may name the lesson (else the notebook's own name)
TIMEOUT = 2.0  # seconds one report may take; the notebook never waits for it
HEARTBEAT = 5.0  # seconds between reports when nothing happens (hints and faults arrive with them)
MAX_BACKOFF = 30.0
MAX_QUEUE = 500
BATCH = 50
GATHER = 0.1  # seconds the sender lets a burst of events gather into one report
_CARD_KEYS = ("MPESA_BASE_URL", "MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET")
_LESSON_RE = re.compile(r"^(\d{2})[-_ ]?(.*)$")


class RoomCardError(MpesaLabError):
    """The room card cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class RoomCard:
    """Where the room is and who this participant is (the consumer secret stays a Secret)."""

    base_url: str
    consumer_key: str
    consumer_secret: Secret

    def __repr__(self) -> str:
        return f"<RoomCard {self.consumer_key} at {self.base_url}>"


def read_card(path: str | os.PathLike[str]) -> RoomCard:
    """The card's lines (``KEY=VALUE``, as printed on the facilitator's cards) from a file."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RoomCardError(
            f"cannot read the room card {file} ({exc.strerror or exc}): save your card's lines in that file"
        ) from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and key.strip() in _CARD_KEYS:
            values[key.strip()] = value.strip().strip("'\"")
    missing = [k for k in _CARD_KEYS if not values.get(k)]
    if missing:
        raise RoomCardError(f"the room card {file} has no {', '.join(missing)}: copy every line of your card")
    url = values["MPESA_BASE_URL"].rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise RoomCardError(f"MPESA_BASE_URL in {file} must start with http:// or https://, not {url[:40]!r}")
    return RoomCard(url, values["MPESA_CONSUMER_KEY"], Secret(values["MPESA_CONSUMER_SECRET"]))


def lesson_of(name: str | os.PathLike[str] | None) -> str | None:
    """A lesson's name from a store or notebook file name: ``04-first-push.ipynb`` -> ``04-first-push``."""
    if not name:
        return None
    stem = Path(str(name)).name
    for suffix in (".ipynb", ".sqlite", ".py"):
        stem = stem.removesuffix(suffix)
    match = _LESSON_RE.match(stem)
    if match is None:
        return None
    rest = re.sub(r"[^A-Za-z0-9]+", "-", match.group(2)).strip("-").lower()
    return f"{match.group(1)}-{rest}" if rest else match.group(1)


class RoomReporter:
    """One notebook's reports to the room: a queue and the daemon thread that sends it."""

    def __init__(self, card: RoomCard, *, timeout: float = TIMEOUT, heartbeat: float = HEARTBEAT) -> None:
        self.card = card
        self.timeout = timeout
        self.heartbeat = heartbeat
        self.lesson: str | None = lesson_of(os.environ.get(LESSON_ENV)) or lesson_of(
            os.environ.get("JPY_SESSION_NAME")  # Jupyter Server names the notebook of the kernel
        )
        self.participant: str | None = None
        self.hints: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.sent = 0
        self.dropped = 0
        self.reachable: bool | None = None
        self.on_faults: Any = None  # set by the Lab: applies the room's faults to its emulator
        self._unshown: deque[dict[str, Any]] = deque(maxlen=20)
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- what the notebook calls (never blocks) ----------------------------------------------

    def note(self, kind: str, **fields: Any) -> None:
        """Queue one event (a check, push, callback or fault) and wake the sender."""
        with self._lock:
            if len(self._queue) >= MAX_QUEUE:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append({"kind": kind, **fields})
            self._idle.clear()
        self._start()
        self._wake.set()

    def set_lesson(self, lesson: str | None) -> None:
        if lesson and lesson != self.lesson:
            self.lesson = lesson
            self._start()
            self._wake.set()  # the room learns the lesson now (its faults may be for it)

    def take_hints(self) -> list[dict[str, Any]]:
        """Hints received and not shown yet (each once)."""
        with self._lock:
            hints = list(self._unshown)
            self._unshown.clear()
        return hints

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was sent (or dropped); for tests and the rehearsal."""
        self._wake.set()
        return self._idle.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    # ---- the sender thread -------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, daemon=True, name="mpesa-lab-room-report")
            self._thread.start()

    def _run(self) -> None:
        import httpx

        backoff = self.heartbeat
        with httpx.Client(
            base_url=self.card.base_url,
            auth=(self.card.consumer_key, self.card.consumer_secret.reveal()),
            timeout=self.timeout,
            trust_env=False,
        ) as client:
            while not self._stopping.is_set():
                self._wake.clear()  # before taking the batch: a note() after this wakes us again
                if self._queue and len(self._queue) < BATCH:
                    time.sleep(GATHER)  # a cell that pushes ten times sends one report, not ten
                with self._lock:
                    batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                ok = self._send(client, batch)
                with self._lock:
                    if not self._queue:
                        self._idle.set()
                    more = bool(self._queue)
                if more and ok:
                    continue
                backoff = self.heartbeat if ok else min(MAX_BACKOFF, backoff * 2)
                self._wake.wait(backoff)

    def _send(self, client: Any, events: list[dict[str, Any]]) -> bool:
        last = self.hints[-1]["id"] if self.hints else 0
        body: dict[str, Any] = {"events": events, "since": last}
        if self.lesson:
            body["lesson"] = self.lesson
        try:
            response = client.post("/_workshop/course", json=body)
            answer = response.json() if response.status_code == 200 else None
        except Exception as exc:  # the room is unreachable or answered nonsense: drop, go on
            answer, response = None, None
            if self.reachable is not False:
                log.info("the workshop room did not take a report (%s); the lesson goes on", type(exc).__name__)
        if response is not None and response.status_code == 429:
            with self._lock:  # the room's rate limit: these go again with the next report
                room_left = MAX_QUEUE - len(self._queue)
                self._queue.extendleft(reversed(events[:room_left]))
                self.dropped += len(events) - min(len(events), room_left)
            return False
        if not isinstance(answer, dict):
            self.reachable = False
            self.dropped += len(events)
            return False
        self.reachable = True
        self.sent += len(events)
        self.participant = answer.get("participant")
        hints = [h for h in answer.get("hints", []) if isinstance(h, dict) and isinstance(h.get("id"), int)]
        with self._lock:
            for hint in hints:
                if not self.hints or hint["id"] > self.hints[-1]["id"]:
                    self.hints.append(hint)
                    self._unshown.append(hint)
        faults = answer.get("faults", [])

        def ids(items: list[dict[str, Any]]) -> set[tuple[Any, Any]]:
            return {(f.get("kind"), f.get("started")) for f in items if isinstance(f, dict)}

        if isinstance(faults, list) and ids(faults) != ids(self.faults):
            fresh = {kind for kind, _ in ids(faults) - ids(self.faults)}
            self.faults = faults
            with self._lock:
                for fault in faults:
                    if fault.get("kind") in fresh:
                        self._unshown.append({"fault": fault.get("kind"), "text": f"room fault: {fault.get('what')}"})
            if self.on_faults is not None:
                try:
                    self.on_faults(faults)
                except Exception:
                    log.exception("could not apply the room's faults")
        return True

    def __repr__(self) -> str:
        return (
            f"<RoomReporter {self.participant or self.card.consumer_key} lesson={self.lesson} "
            f"sent={self.sent} dropped={self.dropped}>"
        )


class LocalFaults:
    """The room's faults, applied to this lesson's own emulator while they last (the same four
    kinds and effects as on the room's server: mpesa_lab.workshop.room.FAULTS).

    Only what the fault changed is undone when it ends: a lesson's own callback faults and
    settings stay as the lesson set them. ``emulator`` is the lab's (duck-typed: the listener
    never imports the emulator)."""

    def __init__(self, emulator: Any, room: RoomReporter) -> None:
        self.emulator = emulator
        self.room = room
        self.active: dict[str, dict[str, Any]] = {}
        self._saved_delay: float | None = None
        self._lock = threading.Lock()

    def __call__(self, faults: list[dict[str, Any]]) -> None:
        now = {str(f.get("kind")): f for f in faults if isinstance(f, dict)}
        with self._lock:
            for kind in [k for k in self.active if k not in now]:
                self._off(kind)
                del self.active[kind]
            for kind, fault in now.items():
                if kind not in ("busy", "delay", "duplicate", "drop"):
                    continue
                if kind in self.active:
                    if self.active[kind].get("started") == fault.get("started"):
                        continue
                    self._off(kind)  # turned off and on again between two reports: a new fault
                self._on(kind, fault)
                self.active[kind] = fault
                self.room.note("fault", fault=kind)

    def _callback_faults(self, add: str | None = None, remove: str | None = None) -> None:
        kinds = [k for k in self.emulator.state.config.callback_faults if k != remove]
        if add is not None and add not in kinds:
            kinds.append(add)
        self.emulator.configure(callback_faults=tuple(kinds))

    def _on(self, kind: str, fault: dict[str, Any]) -> None:
        em = self.emulator
        if kind == "busy":
            em.fail_next("500.003.02", count=None, route="push")
        elif kind == "delay":
            self._saved_delay = em.state.config.callback_delay
            delay = fault.get("delay")
            em.configure(callback_delay=float(delay) if isinstance(delay, (int, float)) else 3.0)
            self._callback_faults(add="delay")
        elif kind == "duplicate":
            self._callback_faults(add="duplicate")
        elif kind == "drop":
            em.inject_callback_fault("drop", count=1)

    def _off(self, kind: str) -> None:
        em = self.emulator
        if kind == "busy":
            with em.state.lock:  # only the room's open-ended busy answers; a lesson's own stay
                em.state.injected[:] = [
                    i for i in em.state.injected if not (i.error.code == "500.003.02" and i.remaining is None)
                ]
        elif kind == "delay":
            self._callback_faults(remove="delay")
            if self._saved_delay is not None:
                em.configure(callback_delay=self._saved_delay)
        elif kind == "duplicate":
            self._callback_faults(remove="duplicate")


_reporter: RoomReporter | None = None
_reporter_from: str | None = None
_reporter_lock = threading.Lock()


def reporter() -> RoomReporter | None:
    """This process's reporter when ``MPESA_LAB_ROOM`` names a card, else None (one per process:
    a notebook's kernel is one participant). A card that cannot be read is said once, as a
    warning, and the lesson goes on unreported."""
    global _reporter, _reporter_from
    where = os.environ.get(ROOM_ENV, "").strip()
    if not where or where.lower() in ("0", "off", "no", "none"):
        return None
    with _reporter_lock:
        if _reporter is not None and _reporter_from == where:
            return _reporter
        if _reporter_from == where:
            return None  # this card was already refused
        _reporter_from = where
        if _reporter is not None:
            _reporter.stop()
            _reporter = None
        try:
            _reporter = RoomReporter(read_card(where))
        except RoomCardError as exc:
            import warnings

            warnings.warn(f"not reporting to the workshop room: {exc}", stacklevel=2)
            return None
        import atexit

        # A kernel shut down at the end of a notebook still sends what its last cells noted.
        atexit.register(_reporter.flush, 1.0)
        try:
            _show_hints_under_cells()
        except Exception:  # no IPython display here: hints stay in reporter.hints
            log.debug("hints cannot be shown under cells", exc_info=True)
        return _reporter


def _show_hints_under_cells() -> None:
    """In IPython, show new hints (and room faults) under the cell that just ran: from the
    kernel's own thread, never from the sender's (output would land in whichever cell runs)."""
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "_mpesa_lab_room_hints", False):
        return

    def show(_result: Any = None) -> None:
        current = reporter()
        hints = current.take_hints() if current is not None else []
        if not hints:
            return
        import html

        from IPython.display import HTML, display

        rows = "".join(
            f"<div><b>{'Room fault' if h.get('fault') else 'From the facilitator'}:</b> {html.escape(str(h.get('text')))}</div>"
            for h in hints
        )
        display(
            HTML(
                f'<div class="mpesa-lab-room-hint" style="border-left:4px solid #ef6c00;padding:4px 10px">{rows}</div>'
            )
        )

    shell.events.register("post_run_cell", show)
    shell._mpesa_lab_room_hints = True


def note_lesson(name: str | os.PathLike[str] | None) -> None:
    """The lesson in progress (from ``lesson_store`` or the store's file name), if in a room."""
    room = reporter()
    lesson = lesson_of(name)
    if room is not None and lesson is not None:
        room.set_lesson(lesson)


def join_room(lab: Any, store: str | Path | None) -> RoomReporter | None:
    """In a workshop room (``MPESA_LAB_ROOM``), this lab reports to it: the lesson, and in local
    mode its pushes and callbacks (the room's server sees a workshop-mode lab's itself), with the
    room's faults applied to this lab's own emulator. See mpesa_lab.listener.room_report."""
    room = reporter()
    if room is None:
        return None
    room.set_lesson(lesson_of(store) if store is not None else None)
    if lab.emulator is not None:
        room.on_faults = faults = LocalFaults(lab.emulator, room)
        faults(room.faults)  # a fault already on in the room reaches this new lab too
        if lab.listener.app.on_delivery is None:

            def report_callback(stored: Any) -> None:
                callback = stored.callback
                if callback is not None and not stored.duplicate:
                    room.note("callback", result_code=callback.result_code, desc=callback.result_desc or "")

            lab.listener.app.on_delivery = report_callback
    return room
