"""The workshop server's limits: what one participant may cost the room, in one place.

Every number here is documented in docs/workshop.md ("Limits"), with why it is what it is. Each
can be changed in Python (``WorkshopServer(..., limits=WorkshopLimits(hello_per_minute=30))``)
or, for ``mpesa-lab workshop serve``, with an environment variable named after the field:
``MPESA_LAB_WORKSHOP_HELLO_PER_MINUTE=30``.

Also here: the small tools that enforce them (a body read that stops at its cap, a JSON depth
check made before parsing, a token bucket, counters that age out).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope

from mpesa_lab.workshop.roster import RosterError

ENV_PREFIX = "MPESA_LAB_WORKSHOP_"
OTHER = "other"  # the code distinct codes beyond the cap are counted under


class LimitsError(RosterError):
    """A limit set to something unusable (the message names the variable and what it takes)."""


@dataclass(frozen=True)
class WorkshopLimits:
    """What one participant (and the whole room) may make the workshop server hold or do."""

    # bodies (bytes), checked against Content-Length first and while reading
    control_body_bytes: int = 16 * 1024  # hello, ack, progress, faults, participants
    callback_body_bytes: int = 64 * 1024  # one callback posted to an inbox
    json_depth: int = 32  # nesting of any JSON body the workshop routes parse
    # mailboxes: callbacks waiting for a participant's laptop
    mailbox_letters: int = 10_000
    mailbox_bytes: int = 8 * 1024 * 1024  # per participant
    room_mailbox_bytes: int = 128 * 1024 * 1024  # all mailboxes together
    inbox_per_second: float = 200.0  # callbacks one inbox takes per second (sustained)
    inbox_burst: int = 2_000  # ... and at once
    room_inbox_per_second: float = 2_000.0  # callbacks all inboxes together take per second
    room_inbox_burst: int = 10_000
    # what the facilitator's page counts
    codes_per_participant: int = 20  # distinct ResultCodes / error codes; the rest count as "other"
    codes_per_room: int = 40
    counter_window_seconds: float = 3600.0  # result and error counts cover this much recent time
    text_chars: int = 200  # a ResultDesc or error message as the page shows it
    # POST /_lab/next-result: scripted results waiting for a participant's next pushes
    queued_results: int = 20
    # OAuth: live access tokens one participant holds; a new one beyond retires the oldest
    tokens_per_participant: int = 50
    # hello: the health check of a participant's listener
    hello_per_minute: int = 10  # health checks per participant per minute; beyond: relay, no check
    # Networks a direct URL may point into besides the participant's own address (comma-separated
    # CIDRs, e.g. "10.0.0.0/8" when participants sit behind a NAT the server cannot see through).
    direct_networks: str = ""
    # the course in the room (POST /_workshop/course, workshop/course.py): what a notebook reports
    course_reports_per_minute: int = 120  # reports per participant per minute (a burst of 30)
    course_events_per_report: int = 50  # checks, pushes, callbacks in one report
    lessons_per_participant: int = 20  # lessons a participant's progress keeps
    exercises_per_lesson: int = 40  # exercises one lesson keeps per participant
    exercises_in_room_view: int = 200  # rows of the page's per-exercise view
    hint_chars: int = 300  # a facilitator's hint

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> WorkshopLimits:
        """Defaults, then ``MPESA_LAB_WORKSHOP_<FIELD>`` variables, then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + item.name.upper())
            if raw is None:
                continue
            kind = type(item.default)  # every field has a default: int, float or str
            value: int | float | str | None
            try:
                value = raw if kind is str else int(float(raw)) if kind is int else float(raw)
            except (ValueError, OverflowError):  # "inf" for a whole number overflows int()
                value = None
            if value is None or (not isinstance(value, str) and not value > 0):
                what = "a whole number" if kind is int else "a number" if kind is float else "text"
                raise LimitsError(
                    f"{ENV_PREFIX}{item.name.upper()}={raw!r}: give {what} above 0, or unset it "
                    "for the default (docs/workshop.md, Limits)"
                )
            values[item.name] = value
        values.update(overrides)
        return cls(**values)


class BodyTooLarge(Exception):
    """A request body over its cap (answered 413, the rest of the body never read)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


def content_length(scope: Scope) -> int | None:
    """The declared Content-Length, or None (absent or not a number: the streamed read decides)."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 19 else None
    return None


async def read_capped(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The body, never more than ``limit`` bytes held: BodyTooLarge as soon as it is known to be
    longer (from Content-Length, before reading anything; else while streaming). None if the
    client went away."""
    declared = content_length(scope)
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def too_deep(raw: bytes, limit: int) -> bool:
    """True if ``raw`` nests arrays/objects deeper than ``limit`` (brackets inside strings do not
    count). A linear scan made before parsing: json.loads on 500,000 ``[`` is a RecursionError."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def parse_json(raw: bytes, depth: int) -> Any:
    """JSON from a body, or ValueError with what was wrong (never RecursionError or TypeError)."""
    if too_deep(raw, depth):
        raise ValueError(f"JSON nested deeper than {depth} levels")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({type(exc).__name__})") from None


class TokenBucket:
    """``rate`` events per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class WindowCounter:
    """Counts by code over the last ``window`` seconds (kept in 60 buckets), at most ``codes``
    distinct codes: later new codes are counted under ``"other"``. Memory stays bounded whatever
    is posted: at most 61 buckets of at most codes+1 entries."""

    def __init__(self, window: float, codes: int) -> None:
        self.window = window
        self.bucket = window / 60
        self.codes = codes
        self._buckets: deque[tuple[float, Counter]] = deque()

    def _trim(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] <= now - self.window:
            self._buckets.popleft()

    def add(self, code: str, n: int = 1) -> None:
        now = time.monotonic()
        self._trim(now)
        if not self._buckets or self._buckets[-1][0] <= now - self.bucket:
            self._buckets.append((now, Counter()))
        if code != OTHER and not any(code in bucket for _, bucket in self._buckets):
            known = set().union(*(bucket.keys() for _, bucket in self._buckets)) - {OTHER}
            if len(known) >= self.codes:
                code = OTHER
        self._buckets[-1][1][code] += n

    def __getitem__(self, code: str) -> int:
        return self.totals().get(code, 0)

    def totals(self) -> dict[str, int]:
        """Counts of the window, by code."""
        self._trim(time.monotonic())
        total: Counter = Counter()
        for _, bucket in self._buckets:
            total.update(bucket)
        return dict(total)

    def values(self) -> Any:
        return self.totals().values()

    def items(self) -> Any:
        return self.totals().items()

    def __bool__(self) -> bool:
        return bool(self.totals())


def fold(counts: dict[str, int], keep: int) -> dict[str, int]:
    """The ``keep`` largest counts; the rest summed under ``"other"``."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:keep])
    rest = sum(n for _, n in ranked[keep:])
    if rest:
        kept[OTHER] = kept.get(OTHER, 0) + rest
    return kept


def clip(text: Any, chars: int) -> str | None:
    """A participant-supplied string as the server keeps it: at most ``chars`` characters."""
    if text is None:
        return None
    # A lone surrogate ("\\ud800" is valid JSON) cannot be encoded as UTF-8: kept, it would make
    # every later answer that shows it (the facilitator's /api/room) fail. Replaced by "?".
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= chars else text[: chars - 1] + "\u2026"
