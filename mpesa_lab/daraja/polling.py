"""The polling fallback: ask Daraja (STK query) until a push has a final result.

A callback can be late or never come (a down endpoint, a lost POST: Daraja does not resend). The
STK query is the recovery: safe to repeat, it never prompts or charges anyone. ``wait_for_result``
repeats it with backoff while the answer is pending, in either of Daraja's pending styles (HTTP 500
``500.001.1001`` "The transaction is being processed", or HTTP 200 with ResultCode 4999 "still
under processing"), and stops on the first final ResultCode (0 paid, anything else not paid).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from mpesa_lab.daraja.errors import DarajaError, TransportError
from mpesa_lab.daraja.results import StkQueryResult


class _Queries(Protocol):
    def stk_query(self, checkout_request_id: str) -> StkQueryResult: ...


def backoff_delays(first: float = 2.0, factor: float = 2.0, most: float = 15.0) -> Callable[[int], float]:
    """attempt (0, 1, 2...) -> seconds to wait before the next query: first, first*factor, ...
    up to ``most`` (Daraja rate-limits queries: 500.003.02 "Spike Arrest" when asked too often)."""

    def delay(attempt: int) -> float:
        return min(most, first * factor**attempt)

    return delay


def wait_for_result(
    client: _Queries,
    checkout_request_id: str,
    *,
    timeout: float = 120.0,
    first_delay: float = 2.0,
    factor: float = 2.0,
    max_delay: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> StkQueryResult:
    """STK-query ``checkout_request_id`` until its result is final, or ``timeout`` seconds pass.

    Returns the final result (``.success`` / ``.failed``), or the last pending one when time runs
    out (``.pending``: try again later, never push again). A retryable error on the way (a
    dropped connection, Spike Arrest) is waited out like a pending answer; any other Daraja error
    (a wrong CheckoutRequestID, bad credentials) is raised at once: asking again cannot fix it.
    """
    delay = backoff_delays(first_delay, factor, max_delay)
    deadline = clock() + timeout
    attempt = 0
    last: StkQueryResult | None = None
    while True:
        try:
            result = client.stk_query(checkout_request_id)
        except (DarajaError, TransportError) as exc:
            if not exc.retryable or clock() >= deadline:
                raise
        else:
            if result.final:
                return result
            last = result
        pause = min(delay(attempt), max(0.0, deadline - clock()))
        if pause <= 0:
            if last is None:
                raise TimeoutError(f"no answer to the STK query for {checkout_request_id} within {timeout:g} s")
            return last
        sleep(pause)
        attempt += 1
