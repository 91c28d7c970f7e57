"""The read-back protocol: how check-callback tells an endpoint about an order and reads back
what the endpoint recorded (docs/callback-check.md).

Over HTTP, one URL (``--readback URL``), two requests:

- ``POST URL`` with ``{"CheckoutRequestID", "MerchantRequestID", "Amount", "PhoneNumber",
  "AccountReference"}``: "your app made this push and got this acknowledgement": the endpoint
  records a pending order (answer any 2xx). Orders check-callback never announces (the forged
  scenario's) are pushes the endpoint never made.
- ``GET URL/<CheckoutRequestID>``: ``404`` if the endpoint has no such order, else ``200`` and
  JSON ``{"status": "pending" | "paid" | <any other final status>, "fulfilled": <times the order
  was fulfilled>, "callbacks": <deliveries stored>}`` (``callbacks`` is optional).

In Python, any object with the same two methods (:class:`ReadbackHook`) does the same job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from mpesa_lab.callback_check.bodies import Order
from mpesa_lab.callback_check.errors import CallbackCheckError


class ReadbackHook(Protocol):
    """What check-callback needs from an endpoint to prove what it recorded."""

    def register(self, order: Order) -> None:
        """Record ``order`` as a push the endpoint made (pending)."""

    def lookup(self, checkout_request_id: str) -> dict[str, Any] | None:
        """What the endpoint recorded for this push: ``None`` if it has no such order, else
        ``{"status": ..., "fulfilled": int, "callbacks": int}``."""


class ReadbackAnswerError(CallbackCheckError):
    """The read-back answered something outside the protocol (the scenario is then not verified)."""


@dataclass
class HttpReadback:
    """The read-back protocol over HTTP (see the module's docstring)."""

    url: str
    client: httpx.Client

    def register(self, order: Order) -> None:
        try:
            answer = self.client.post(self.url, json=order.to_json())
        except httpx.HTTPError as exc:
            raise CallbackCheckError(
                f"cannot reach the read-back URL {self.url}: {type(exc).__name__}: {exc or 'no answer'}; "
                "check it is served by the endpoint's app (see docs/callback-check.md)"
            ) from None
        if not answer.is_success:
            raise CallbackCheckError(
                f"the read-back URL {self.url} answered HTTP {answer.status_code} to the order set-up POST; "
                "it must accept POST {CheckoutRequestID, MerchantRequestID, Amount, PhoneNumber} "
                "with a 2xx (see docs/callback-check.md)"
            )

    def lookup(self, checkout_request_id: str) -> dict[str, Any] | None:
        url = f"{self.url.rstrip('/')}/{checkout_request_id}"
        try:
            answer = self.client.get(url)
        except httpx.HTTPError as exc:
            raise ReadbackAnswerError(f"read-back GET {url} failed: {type(exc).__name__}") from None
        if answer.status_code == 404:
            return None
        if not answer.is_success:
            raise ReadbackAnswerError(f"read-back GET answered HTTP {answer.status_code}")
        try:
            data = answer.json()
        except ValueError:
            raise ReadbackAnswerError("read-back GET answered something that is not JSON") from None
        if not isinstance(data, dict) or "status" not in data:
            raise ReadbackAnswerError('read-back GET answered JSON without a "status" field')
        return data
