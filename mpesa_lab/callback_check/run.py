"""One check run: posts callbacks to the endpoint like Daraja does, times the answers, talks the
read-back protocol. The scenarios (scenarios.py) are written against this."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from mpesa_lab.callback_check.bodies import Callback, Order
from mpesa_lab.callback_check.errors import CallbackCheckError
from mpesa_lab.callback_check.readback import ReadbackAnswerError, ReadbackHook


@dataclass(frozen=True)
class Delivery:
    """How the endpoint answered one POST: its HTTP status (None: no answer) and how long it took."""

    status: int | None
    seconds: float
    error: str = ""  # why there was no answer

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return self.error
        return f"HTTP {self.status} in {self.seconds:.2f} s"


def refusal_fix(delivery: Delivery, crash_fix: str) -> str:
    """The fix for an answer that is not an acknowledgement (what each status usually means)."""
    status = delivery.status
    if status is None:
        if "timeout" in delivery.error.lower() or "timed out" in delivery.error.lower():
            return "answer at once (store, then 200) and do slow work after, in a background task or a queue"
        return "keep the endpoint up while Daraja may call it; a callback it misses is never resent"
    if 300 <= status < 400:
        return (
            "register the final URL: Daraja is not known to follow redirects (a missing trailing slash, "
            "http -> https, a login page all redirect)"
        )
    if status == 403:
        return "exempt the callback route from CSRF and login checks (Django: @csrf_exempt); Daraja sends no cookie or token"
    if status in (404, 405):
        return "serve POST at exactly this path (a GET-only or misspelt route answers 404/405)"
    if status == 413:
        return "accept bodies of a few kilobytes"
    if 400 <= status < 500:
        return "accept the body as Daraja sends it (JSON, application/json); do not validate it away"
    return crash_fix


class Run:
    """What the scenarios use: post a callback, set up an order, read one back."""

    def __init__(
        self, url: str, client: httpx.Client, readback: ReadbackHook | None, budget_s: float, timeout_s: float
    ) -> None:
        self.url = url
        self.client = client
        self.readback = readback
        self.budget_s = budget_s
        self.timeout_s = timeout_s
        self.slowest = 0.0
        self.reached = False  # has the endpoint answered once (then a refused connection is a scenario's failure)

    def post(self, callback: Callback, body: bytes | None = None) -> Delivery:
        """POST the callback as Daraja does: JSON, one attempt, no redirects followed."""
        data = callback.body() if body is None else body
        start = time.perf_counter()
        try:
            answer = self.client.post(self.url, content=data, headers={"Content-Type": "application/json"})
        except httpx.TimeoutException:
            seconds = time.perf_counter() - start
            self.slowest = max(self.slowest, seconds)
            return Delivery(None, seconds, f"no answer within {self.timeout_s:g} s (timeout)")
        except httpx.HTTPError as exc:
            if not self.reached:
                raise CallbackCheckError(
                    f"cannot reach {self.url}: {type(exc).__name__}: {exc or 'connection failed'}; "
                    "is the endpoint running, and are the host and port right?"
                ) from None
            return Delivery(None, time.perf_counter() - start, f"connection failed: {type(exc).__name__}")
        seconds = time.perf_counter() - start
        self.reached = True
        self.slowest = max(self.slowest, seconds)
        return Delivery(answer.status_code, seconds)

    def register(self, order: Order) -> None:
        if self.readback is not None:
            self.readback.register(order)

    def lookup(self, order: Order) -> dict[str, Any] | None | str:
        """The endpoint's record of ``order``: a dict, None (no such order), or a string saying
        why the read-back could not tell."""
        assert self.readback is not None
        try:
            return self.readback.lookup(order.checkout_request_id)
        except ReadbackAnswerError as exc:
            return str(exc)
