"""Each participant's mailbox on the workshop server: callbacks waiting to reach their listener.

The emulator posts every callback of a participant to that participant's inbox on the workshop
server; the inbox keeps it here and answers 200. From here a callback leaves in one of two ways:

- **direct**: the server POSTs it to the participant's listener (when their laptop could be
  reached at hello time); a 2xx (or the listener's 400/403, which it also stored) takes it out;
  anything else puts it back for the relay.
- **relayed**: the participant's listener pulls it over its own outbound connection (a long
  poll), stores it durably, then acknowledges; only the acknowledgement takes it out. A letter
  handed out but not acknowledged within ``LEASE`` seconds is offered again.

Everything here runs on the server's event loop (one thread), so no locks.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mpesa_lab.emulator.poster import KeepAlivePoster, PostError

log = logging.getLogger(__name__)

LEASE = 15.0  # seconds a relayed letter waits for its acknowledgement before it is offered again
DIRECT_TIMEOUT = 5.0
# A participant whose laptop never collects keeps at most this many; beyond, the inbox answers 503
# (not kept, so not acknowledged: the emulator records a failed callback, as for a down endpoint).
MAX_LETTERS = 10_000  # default of WorkshopLimits.mailbox_letters
LETTER_OVERHEAD = 512  # bytes a letter costs besides its body (the objects around it), for the budgets
# Direct posts say who they are: an inbox refuses a callback with this mark, so a direct URL that
# leads back to a workshop server (itself, or another) can never make a delivery loop.
DELIVERY_AGENT = "mpesa-lab-workshop-delivery"
LOOP_DETECTED = 508  # what an inbox answers such a post
PEEK_CHARS = 100  # a CheckoutRequestID / ResultCode / ResultDesc as the mailbox keeps it
DIRECT_GIVE_UP = 3  # consecutive failed direct posts before the mailbox uses the relay only
_STORED_BY_LISTENER = {400, 403}  # the listener kept these too (quarantine / flagged)


@dataclass
class Letter:
    """One callback body waiting in a mailbox."""

    id: int
    body: bytes
    received: float
    checkout_request_id: str | None = None
    result_code: str | None = None
    result_desc: str | None = None
    state: str = "queued"  # queued | posting | leased
    lease_until: float = 0.0
    offered: int = 0

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "body": base64.b64encode(self.body).decode("ascii"),
            "checkout_request_id": self.checkout_request_id,
            "offered": self.offered,
        }


@dataclass
class Delivered:
    """Where one letter went (kept for the facilitator's view and for tests)."""

    letter_id: int
    checkout_request_id: str | None
    way: str  # direct | relay
    seconds: float


class RoomBudget:
    """Bytes held by every mailbox of the room together (one counter the mailboxes share)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0


@dataclass
class Mailbox:
    """The letters of one participant and how they are leaving."""

    participant_id: str
    direct_url: str | None = None
    letters: dict[int, Letter] = field(default_factory=dict)
    delivered: deque[Delivered] = field(default_factory=lambda: deque(maxlen=10_000))
    counts: dict[str, int] = field(
        default_factory=lambda: {"received": 0, "direct": 0, "relay": 0, "direct_failures": 0, "reoffered": 0}
    )
    failures_in_a_row: int = 0
    last_pull: float | None = None
    closed: bool = False
    generation: int = 0  # bumped by each hello: pulls held for an earlier relay give up
    max_letters: int = MAX_LETTERS
    max_bytes: int = 8 * 1024 * 1024
    room: RoomBudget | None = None  # shared with the other mailboxes of the room
    held: int = 0  # bytes of the letters waiting here (bodies + LETTER_OVERHEAD each)
    # Ids start at the clock (ms), so a restarted server does not hand out the ids of the last run.
    _ids: Any = field(default_factory=lambda: itertools.count(int(time.time() * 1000)))
    _arrived: asyncio.Event | None = None

    # ---- in -----------------------------------------------------------------------------

    def put(self, body: bytes, poster: KeepAlivePoster | None = None) -> Letter:
        """Keep a callback (the inbox answers 200 after this); start a direct post if we can."""
        cid, code, desc = _peek(body)
        letter = Letter(
            id=next(self._ids),
            body=body,
            received=time.monotonic(),
            checkout_request_id=cid,
            result_code=code,
            result_desc=desc,
        )
        self.letters[letter.id] = letter
        self._hold(_cost(letter))
        self.counts["received"] += 1
        if self.direct_url and poster is not None:
            letter.state = "posting"
            asyncio.get_running_loop().create_task(self._post_direct(letter, poster, self.direct_url))
        else:
            self._wake()
        return letter

    async def _post_direct(self, letter: Letter, poster: KeepAlivePoster, url: str) -> None:
        status: int | None = None
        try:
            status = await poster.post(url, letter.body, DIRECT_TIMEOUT, user_agent=DELIVERY_AGENT)
        except PostError as exc:
            log.info("direct delivery to %s failed (%s); the relay will carry it", self.participant_id, exc)
        except Exception:  # never lose the letter to a bug in the poster
            log.exception("direct delivery to %s failed", self.participant_id)
        if status is not None and (200 <= status < 300 or status in _STORED_BY_LISTENER):
            self.failures_in_a_row = 0
            self._done(letter, "direct")
            return
        self.counts["direct_failures"] += 1
        self.failures_in_a_row += 1
        if status == LOOP_DETECTED and self.direct_url == url:
            log.warning(
                "participant %s: the direct URL leads back to a workshop inbox; relay only from now on",
                self.participant_id,
            )
            self.direct_url = None
        elif self.failures_in_a_row >= DIRECT_GIVE_UP and self.direct_url == url:
            log.warning(
                "participant %s: %d direct posts failed in a row; relay only from now on",
                self.participant_id,
                self.failures_in_a_row,
            )
            self.direct_url = None
        if letter.id in self.letters:
            letter.state = "queued"
            self._wake()

    # ---- out: the relay -------------------------------------------------------------------

    def _due(self, now: float) -> list[Letter]:
        due = []
        for letter in self.letters.values():
            if letter.state == "queued" or (letter.state == "leased" and letter.lease_until <= now):
                due.append(letter)
        return due

    def new_relay(self) -> None:
        """A participant (re)joined: pulls still held open for their previous relay end now."""
        self.generation += 1
        self._wake()

    def unlease(self, letters: list[Letter]) -> None:
        """Letters leased to a relay that went away before it got them: offer them again now."""
        for letter in letters:
            if self.letters.get(letter.id) is letter and letter.state == "leased":
                letter.state = "queued"
        self._wake()

    async def pull(self, wait: float, limit: int) -> list[Letter]:
        """Letters for the relay (leased to it); waits up to ``wait`` s for the first one."""
        self.last_pull = time.monotonic()
        deadline = time.monotonic() + wait
        generation = self.generation
        while not self.closed and generation == self.generation:
            now = time.monotonic()
            due = self._due(now)[:limit]
            if due:
                for letter in due:
                    if letter.state == "leased":
                        self.counts["reoffered"] += 1
                    letter.state = "leased"
                    letter.lease_until = now + LEASE
                    letter.offered += 1
                return due
            left = deadline - now
            if left <= 0:
                return []
            event = self._event()
            event.clear()
            # Wake for new letters, and in time for the first lease that runs out.
            leases = [lt.lease_until - now for lt in self.letters.values() if lt.state == "leased"]
            timeout = min([left, *[max(0.01, x) for x in leases]])
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                pass
            self.last_pull = time.monotonic()
        return []

    def close(self) -> None:
        """The server is stopping: open pulls answer now (empty) instead of holding it up."""
        self.closed = True
        self._wake()

    def ack(self, ids: list[int]) -> int:
        """The relay stored these: they leave the mailbox. Unknown ids (acked twice) are ignored."""
        done = 0
        for letter_id in ids:
            letter = self.letters.get(letter_id)
            if letter is not None and letter.state == "leased":
                self._done(letter, "relay")
                done += 1
        return done

    # ---- bookkeeping ------------------------------------------------------------------------

    def _done(self, letter: Letter, way: str) -> None:
        if self.letters.pop(letter.id, None) is None:
            return
        self._hold(-_cost(letter))
        self.counts[way] += 1
        self.delivered.append(Delivered(letter.id, letter.checkout_request_id, way, time.monotonic() - letter.received))

    def _event(self) -> asyncio.Event:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        return self._arrived

    def _wake(self) -> None:
        if self._arrived is not None:
            self._arrived.set()

    def _hold(self, size: int) -> None:
        self.held += size
        if self.room is not None:
            self.room.held += size

    def refuses(self, size: int) -> str | None:
        """Why a callback of ``size`` bytes cannot be kept now (None: it can)."""
        cost = size + LETTER_OVERHEAD
        if len(self.letters) >= self.max_letters:
            return f"the participant's mailbox is full ({len(self.letters)} callbacks never collected)"
        if self.held + cost > self.max_bytes:
            return f"the participant's mailbox is full ({self.held // 1024} KiB never collected)"
        if self.room is not None and self.room.held + cost > self.room.limit:
            return "the room's mailboxes are full"
        return None

    @property
    def full(self) -> bool:
        return self.refuses(0) is not None

    @property
    def waiting(self) -> int:
        return len(self.letters)

    def summary(self) -> dict[str, Any]:
        return {
            "delivery": "direct" if self.direct_url else "relay",
            "waiting": self.waiting,
            **self.counts,
            "relay_connected": self.last_pull is not None and time.monotonic() - self.last_pull < 60,
        }


def _cost(letter: Letter) -> int:
    return len(letter.body) + LETTER_OVERHEAD


def _peek(body: bytes) -> tuple[str | None, str | None, str | None]:
    """CheckoutRequestID, ResultCode and ResultDesc of a callback body, if it has them (never raises)."""
    try:
        inner = json.loads(body)["Body"]["stkCallback"]
        cid, code, desc = inner.get("CheckoutRequestID"), inner.get("ResultCode"), inner.get("ResultDesc")
        return _peeked(cid), _peeked(code), _peeked(desc)
    except Exception:
        return None, None, None


def _peeked(value: object) -> str | None:
    return None if value is None else str(value)[:PEEK_CHARS]
