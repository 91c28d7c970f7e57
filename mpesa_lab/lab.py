"""The Lab: the whole journey as one object, the same code locally and on the real sandbox.

``Lab.start()`` brings up the local Daraja emulator, the callback listener and a client wired to
both, with no configuration. ``Lab.start(environment="sandbox")`` takes credentials from the
environment (or .env), keeps the listener, and exposes it through an ngrok tunnel as CallBackURL.
Everything else (push, wait, query, the DataFrames) is the same code in both worlds.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab.config import Settings
from mpesa_lab.daraja.client import DarajaClient
from mpesa_lab.daraja.errors import MpesaLabError
from mpesa_lab.daraja.results import StkPushResult, StkQueryResult
from mpesa_lab.listener import CallbackStore, Listener

if TYPE_CHECKING:
    import pandas as pd

    from mpesa_lab.daraja.callbacks import ParsedCallback
    from mpesa_lab.emulator import Emulator, EmulatorConfig

_active: "Lab | None" = None
_active_lock = threading.Lock()


class LabError(MpesaLabError):
    """The lab cannot do this here (e.g. answer the phone when the phone is a real one)."""


class Push:
    """One STK push made through the lab: its acknowledgement, and ways to follow it up."""

    def __init__(self, lab: "Lab", result: StkPushResult) -> None:
        self.lab = lab
        self.result = result

    @property
    def checkout_request_id(self) -> str:
        return self.result.checkout_request_id

    @property
    def merchant_request_id(self) -> str:
        return self.result.merchant_request_id

    def wait(self, timeout: float = 30.0) -> "ParsedCallback":
        """Block until this push's callback is stored; TimeoutError says what to try next."""
        try:
            return self.lab.listener.wait_for(self.checkout_request_id, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no callback for {self.checkout_request_id} within {timeout:g} s. Callbacks can be "
                "late or lost: ask Daraja with push.query() (STK query) instead of pushing again."
            ) from None

    def query(self) -> StkQueryResult:
        """STK query for this push (recorded in the store)."""
        return self.lab.query(self.checkout_request_id)

    def answer(self, pin: str | None = None) -> None:
        """Local mode: the customer enters a PIN on the virtual phone (default: the right one)."""
        self.lab._emulator_or_fail("answer the prompt").answer(self.checkout_request_id, pin=pin)

    def cancel(self) -> None:
        """Local mode: the customer presses Cancel on the virtual phone."""
        self.lab._emulator_or_fail("cancel the prompt").answer(self.checkout_request_id, cancel=True)

    def __repr__(self) -> str:
        return f"<Push {self.checkout_request_id} accepted: {self.result.response_description!r}>"


class Lab:
    """Emulator (local mode only) + listener + client, started together and stopped together."""

    def __init__(
        self,
        settings: Settings,
        client: DarajaClient,
        listener: Listener,
        emulator: "Emulator | None" = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.listener = listener
        self.emulator = emulator

    # -- life cycle ----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        environment: str = "local",
        *,
        store: str | Path | None = None,
        emulator_config: "EmulatorConfig | None" = None,
        host: str = "127.0.0.1",
        expose: bool | None = None,
        tunnel_options: dict[str, Any] | None = None,
        env_file: str | Path | None = ".env",
        **settings_overrides: Any,
    ) -> "Lab":
        """Start a lab. Running it again (a re-run notebook cell) first stops the previous lab.

        ``environment="local"`` needs nothing; ``"sandbox"``/``"production"`` read
        MPESA_CONSUMER_KEY, MPESA_CONSUMER_SECRET (and MPESA_SHORTCODE, MPESA_PASSKEY outside
        the sandbox) from arguments, the environment or .env, and expose the listener through
        ngrok (NGROK_AUTHTOKEN) unless MPESA_CALLBACK_URL is set or ``expose=False``.
        ``tunnel_options`` go to ``Listener.expose`` (authtoken, ngrok_path, timeout).
        """
        global _active
        with _active_lock:
            previous, _active = _active, None
        if previous is not None:
            previous.stop()

        # Own server names: a Lab never stops a Listener or Emulator the user started by hand.
        listener = Listener(store, name="lab-listener").start(host=host)
        emulator = None
        try:
            if environment == "local":
                from mpesa_lab.emulator import Emulator

                emulator = Emulator(emulator_config, name="lab-emulator").start(host=host)
                settings = Settings.local(
                    base_url=emulator.url,
                    callback_url=settings_overrides.pop("callback_url", None) or listener.callback_url,
                    **settings_overrides,
                )
                if expose:
                    settings = replace(settings, callback_url=listener.expose(**(tunnel_options or {})))
            else:
                settings = Settings.from_env(environment=environment, env_file=env_file, **settings_overrides)
                if expose or (expose is None and not settings.callback_url):
                    settings = replace(settings, callback_url=listener.expose(**(tunnel_options or {})))
            client = DarajaClient(settings)
        except BaseException:
            listener.stop()
            if emulator is not None:
                emulator.stop()
            raise
        lab = cls(settings, client, listener, emulator)
        with _active_lock:
            _active = lab
        return lab

    def stop(self) -> None:
        """Stop the client, the listener (and its tunnel) and the emulator. Safe to call twice."""
        global _active
        self.client.close()
        self.listener.stop()
        if self.emulator is not None:
            self.emulator.stop()
        with _active_lock:
            if _active is self:
                _active = None

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the journey ---------------------------------------------------------------------------

    def push(
        self,
        phone: str | int,
        amount: int | str,
        account_reference: str = "mpesa-lab",
        description: str = "Payment",
        **options: Any,
    ) -> Push:
        """Send an STK push; the request (without secrets) and answer are recorded in the store."""
        try:
            result = self.client.stk_push(phone, amount, account_reference, description, **options)
        except MpesaLabError as exc:  # validation, Daraja errors, ambiguous or unsent pushes
            self.store.record_push(
                {"PhoneNumber": str(phone), "Amount": str(amount), "AccountReference": account_reference,
                 "TransactionDesc": description},
                None,
                error={"type": type(exc).__name__, "message": str(exc), **_error_fields(exc)},
                environment=self.settings.environment,
            )
            raise
        self.store.record_push(result.request, result.raw, environment=self.settings.environment)
        return Push(self, result)

    def query(self, checkout_request_id: str) -> StkQueryResult:
        """STK query; recorded in the store. Pending is an answer, not an error."""
        request = {"CheckoutRequestID": checkout_request_id, "BusinessShortCode": self.settings.shortcode}
        try:
            result = self.client.stk_query(checkout_request_id)
        except MpesaLabError as exc:
            self.store.record_query(request, None, error={"type": type(exc).__name__, "message": str(exc), **_error_fields(exc)})
            raise
        self.store.record_query(request, result.raw)
        return result

    # -- what happened -------------------------------------------------------------------------

    @property
    def store(self) -> CallbackStore:
        """The lab's SQLite store: pushes, queries and every callback delivery, raw."""
        return self.listener.store

    @property
    def callback_url(self) -> str | None:
        return self.settings.callback_url

    def transactions(self) -> "pd.DataFrame":
        """One row per push with its first callback (see CallbackStore.transactions)."""
        return self.store.transactions()

    def callbacks(self) -> "pd.DataFrame":
        return self.store.callbacks()

    def pushes(self) -> "pd.DataFrame":
        return self.store.pushes()

    # -- local only ----------------------------------------------------------------------------

    def _emulator_or_fail(self, what: str) -> "Emulator":
        if self.emulator is None:
            raise LabError(
                f"cannot {what} in the {self.settings.environment} environment: the phone is real; "
                "answer it on the handset"
            )
        return self.emulator

    def __repr__(self) -> str:
        parts = [f"environment={self.settings.environment!r}", f"daraja={self.settings.base_url!r}"]
        parts.append(f"callbacks={self.settings.callback_url!r}")
        return f"<Lab {' '.join(parts)}>"


def _error_fields(exc: BaseException) -> dict[str, Any]:
    """Daraja's envelope keys (and our extras) for the store, from a typed exception."""
    fields = {}
    for attribute, key in (("error_code", "errorCode"), ("error_message", "errorMessage"),
                           ("request_id", "requestId"), ("http_status", "httpStatus"), ("field", "field")):
        value = getattr(exc, attribute, None)
        if value is not None and not callable(value):
            fields[key] = value
    return fields


def active_lab() -> Lab | None:
    """The lab started last in this process and not yet stopped."""
    return _active
