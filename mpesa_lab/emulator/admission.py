"""Admission: Apigee's policies in front of every Daraja call, and the errors a lab injects.

Part of ``EmulatorState`` (see core.py): spike arrest, then quota, then any error queued with
``fail_next``, in the order the live gateway applies them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mpesa_lab.emulator.core import StateCore
from mpesa_lab.emulator.errors import EmulatorError, EnvelopeError, from_code
from mpesa_lab.emulator.models import App


@dataclass
class InjectedError:
    """An error queued by ``fail_next``: for one route (or any), ``remaining`` times (None: until cleared)."""

    error: EnvelopeError
    route: str | None
    remaining: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "errorCode": self.error.code,
            "errorMessage": self.error.message,
            "route": self.route,
            "remaining": self.remaining,
        }


class Admission(StateCore):
    """Whether a request from an authenticated app gets through to the Daraja paths."""

    def _fresh_admission(self) -> None:
        self.injected: list[InjectedError] = []

    def admit(self, app: App, route: str) -> None:
        """Apigee's policies: spike arrest, then quota, then any error injected with ``fail_next``."""
        cfg = self.config
        with self.lock:
            if cfg.rate_limit_per_second:
                now = time.monotonic()
                window = app.recent
                while window and now - window[0] >= 1.0:
                    window.popleft()
                if len(window) >= cfg.rate_limit_per_second:
                    raise EnvelopeError.named("spike_arrest")
                window.append(now)
            app.used += 1
            if cfg.quota is not None and app.used > cfg.quota:
                raise EnvelopeError.named("quota_violation")
        self.take_injected(route)

    def take_injected(self, route: str) -> None:
        with self.lock:
            for item in self.injected:
                if item.route is None or item.route == route:
                    if item.remaining is not None:
                        item.remaining -= 1
                        if item.remaining <= 0:
                            self.injected.remove(item)
                    raise item.error

    def fail_next(
        self,
        code: str,
        *,
        message: str | None = None,
        count: int | None = 1,
        route: str | None = None,
        status: int | None = None,
    ) -> dict[str, Any]:
        """Answer the next ``count`` requests (on ``route``: oauth | push | query, or any) with an error."""
        if route not in (None, "oauth", "push", "query"):
            raise EmulatorError(f"route must be 'oauth', 'push', 'query' or None (any); got {route!r}")
        if not isinstance(code, str) or not code.strip():
            raise EmulatorError("code must be a Daraja errorCode such as '500.003.02'")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise EmulatorError(f"count must be a whole number >= 1 (or None for 'until reset'); got {count!r}")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
            raise EmulatorError(f"status must be an HTTP error status (400-599); got {status!r}")
        error = from_code(code.strip(), message, status)
        with self.lock:
            self.injected.append(InjectedError(error, route, count))
        return {
            "errorCode": error.code,
            "errorMessage": error.message,
            "http_status": error.status,
            "route": route,
            "count": count,
        }
