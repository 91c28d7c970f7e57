"""``Emulator``: the local Daraja as one object: its ASGI app, a background server and the
Python control functions that mirror the /_lab/ HTTP control API."""

from __future__ import annotations

import threading
from typing import Any

from mpesa_lab.background import BackgroundServer
from mpesa_lab.emulator import defaults
from mpesa_lab.emulator.app import build_app
from mpesa_lab.emulator.config import EmulatorConfig
from mpesa_lab.emulator.control import control_token_for, require_token
from mpesa_lab.emulator.engine import Engine
from mpesa_lab.emulator.state import EmulatorState
from mpesa_lab.secret import Secret

_running: dict[str, "Emulator"] = {}
_running_lock = threading.Lock()


class Emulator:
    """M-Pesa Express, offline. ``Emulator().start()`` serves it on a free loopback port.

    >>> emu = Emulator().start()          # doctest: +SKIP
    >>> emu.url                           # doctest: +SKIP
    'http://127.0.0.1:53211'
    """

    def __init__(self, config: EmulatorConfig | None = None, *, name: str = "emulator") -> None:
        self.name = name
        self.engine = Engine(name)
        self.state = EmulatorState(config or EmulatorConfig(), self.engine)
        self.app = build_app(self.state)
        self._server: BackgroundServer | None = None
        self.control_token: Secret | None = None

    # ------------------------------------------------------------------ serving

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    def start(self, host: str = "127.0.0.1", port: int = 0, *,
              control_token: str | Secret | None = None) -> "Emulator":
        """Serve in a background thread (never on the caller's event loop). Safe to re-run: an
        emulator started earlier under the same name is stopped first.

        Beyond loopback (e.g. ``host="0.0.0.0"``) the /_lab/ control API needs a token in the
        ``X-Lab-Token`` header: ``control_token``, or a random one; ``emulator.control_token``
        holds it (a Secret: ``.reveal()`` it to share it).
        """
        self.control_token = control_token_for(host, control_token)
        require_token(self.state, self.control_token.reveal() if self.control_token else None)
        with _running_lock:
            previous = _running.get(self.name)
            _running[self.name] = self
        if previous is not None and previous is not self:
            previous.stop()
        if self._server is not None and self._server.running:
            return self
        self._server = BackgroundServer(self.app, name=self.name, host=host, port=port).start()
        return self

    @property
    def url(self) -> str:
        """The base URL to give a Daraja client (e.g. http://127.0.0.1:53211)."""
        if self._server is None or not self._server.running:
            raise RuntimeError("the emulator is not serving; call start() first")
        return self._server.url

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    def stop(self) -> None:
        """Stop serving and stop the clockwork (unfinished transactions resume on the next start)."""
        if self._server is not None:
            self.engine.run_on_serving_loop(self.state.deliverer.aclose)
            self.engine.detach()
            self._server.stop()
            self._server = None
        self.engine.stop()
        with _running_lock:
            if _running.get(self.name) is self:
                del _running[self.name]

    def __enter__(self) -> "Emulator":
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"at {self.url}" if self.running else "not serving"
        return f"<Emulator {self.name!r} {where}, {len(self.state.transactions)} transactions>"

    @property
    def credentials(self) -> dict[str, Any]:
        """The public lab credentials (only valid against the emulator)."""
        return {
            "consumer_key": defaults.LAB_CONSUMER_KEY,
            "consumer_secret": defaults.LAB_CONSUMER_SECRET,
            "shortcode": defaults.PAYBILL_SHORTCODE,
            "passkey": defaults.PAYBILL_PASSKEY,
            "till_shortcode": defaults.TILL_SHORTCODE,
            "till_number": defaults.TILL_NUMBER,
            "till_passkey": defaults.TILL_PASSKEY,
            "test_msisdn": defaults.TEST_MSISDN,
            "test_pin": defaults.TEST_PIN,
        }

    # ------------------------------------------------------------------ looking

    def transactions(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Every transaction (oldest first), with its timeline and callback attempts."""
        return self.state.transactions_list(phone)

    def transaction(self, checkout_request_id: str) -> dict[str, Any]:
        """One transaction by CheckoutRequestID (UnknownTransaction if there is none)."""
        with self.state.lock:
            return self.state.get(checkout_request_id).to_dict()

    def pending_prompts(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Prompts waiting for the customer (interactive mode or profile 'interactive')."""
        return self.state.pending_prompts(phone)

    def wait_for_prompt(self, phone: str | None = None, timeout: float = 5.0) -> dict[str, Any] | None:
        """The first prompt waiting on ``phone`` (or any phone), as soon as it is shown; None
        after ``timeout`` s without one. Unlike polling ``pending_prompts()``, this does not miss
        the moment between a push being accepted and its prompt appearing."""
        return self.state.wait_for_prompt(phone, timeout)

    def callback_attempts(self, checkout_request_id: str | None = None) -> list[dict[str, Any]]:
        """Callback POSTs made (time, status, error, fault), for one transaction or all."""
        return self.state.callback_attempts(checkout_request_id)

    def wait_until_final(self, checkout_request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Block until the transaction has its result; TimeoutError after ``timeout`` s."""
        return self.state.wait_until_final(checkout_request_id, timeout)

    def wait_for_callbacks(self, checkout_request_id: str, count: int = 1,
                           timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until ``count`` callback attempts are recorded for the transaction."""
        return self.state.wait_for_callbacks(checkout_request_id, count, timeout)

    # ------------------------------------------------------------------ playing the customer

    def answer(self, checkout_request_id: str, pin: str | int | None = None, cancel: bool = False,
               ignore: bool = False) -> dict[str, Any]:
        """Answer a prompt as the customer: a PIN (none given: the subscriber's right PIN), Cancel
        (1032), or ignore it (1037)."""
        return self.state.answer(checkout_request_id, pin=pin, cancel=cancel, ignore=ignore)

    def set_next_result(self, code: str | int, phone: str | None = None,
                        result_desc: str | None = None) -> dict[str, Any]:
        """Script the ResultCode of the next push (to ``phone``, or to any phone), optionally with
        its own ResultDesc (e.g. ``set_next_result(1037, result_desc="No response from user.")``)."""
        return self.state.set_next_result(code, phone, result_desc)

    def set_scenario(self, name: str | None = None, *, mix: dict[Any, float] | None = None,
                     interactive: bool | None = None) -> dict[str, Any]:
        """Pick a named mix (realistic, happy, flaky, declines), give your own rates, or switch
        interactive mode on or off."""
        return self.state.set_scenario(name, mix=mix, interactive=interactive)

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change live settings, e.g. ``configure(enforce_duplicate_rule=False, quota=100)``."""
        return self.state.configure(**changes)

    # ------------------------------------------------------------------ registries

    def register_app(self, key: str, secret: str | Secret, name: str = "") -> dict[str, Any]:
        """Add a Daraja app (consumer key and secret) that may request tokens."""
        return self.state.register_app(key, secret, name=name)

    def register_merchant(self, shortcode: str | int, passkey: str | Secret, kind: str = "paybill",
                          till_number: str | int | None = None, name: str | None = None,
                          balance: float = 0.0, max_balance: float | None = None) -> dict[str, Any]:
        """Add a paybill, or a till (BusinessShortCode = store number, PartyB = ``till_number``)."""
        return self.state.register_merchant(shortcode, passkey, kind=kind, till_number=till_number, name=name,
                                            balance=balance, max_balance=max_balance)

    def register_subscriber(self, phone: str | int, pin: str = "1234", balance: float = 10_000.0,
                            profile: str = "pays", **limits: Any) -> dict[str, Any]:
        """Add (or replace) a customer: PIN, balance, behaviour profile, and optional
        ``daily_limit``, ``max_transaction``, ``daily_total``, ``locked``."""
        return self.state.register_subscriber(phone, pin=pin, balance=balance, profile=profile, **limits)

    def set_profile(self, phone: str | int, profile: str) -> dict[str, Any]:
        """Change only how ``phone`` behaves (a PROFILES name, e.g. ``"interactive"``); its PIN,
        balance and limits are kept."""
        return self.state.set_profile(phone, profile)

    def unlock_subscriber(self, phone: str) -> dict[str, Any]:
        """Unlock a PIN locked by wrong attempts (what Customer Care would do)."""
        return self.state.unlock_subscriber(phone)

    # ------------------------------------------------------------------ faults and errors

    def inject_callback_fault(self, kind: str, checkout_request_id: str | None = None, *, phone: str | None = None,
                              count: int | None = 1, seconds: float | None = None, copies: int = 2) -> dict[str, Any]:
        """Make callbacks misbehave: ``drop``, ``delay`` (``seconds``), ``duplicate`` (``copies``)
        or ``out_of_order``; for one transaction, one phone, or the next ``count`` callbacks."""
        return self.state.inject_callback_fault(kind, checkout_request_id=checkout_request_id, phone=phone,
                                                count=count, seconds=seconds, copies=copies)

    def clear_callback_faults(self) -> int:
        return self.state.faults.clear()

    def fail_next(self, code: str, message: str | None = None, count: int | None = 1, route: str | None = None,
                  status: int | None = None) -> dict[str, Any]:
        """Answer the next ``count`` requests (route: oauth | push | query | None) with a Daraja error."""
        return self.state.fail_next(code, message=message, count=count, route=route, status=status)

    def reset(self, keep_tokens: bool = True) -> None:
        """Back to a fresh lab (access tokens survive unless ``keep_tokens=False``)."""
        self.state.reset(keep_tokens=keep_tokens)
