"""The lab's control functions, described once: the Python API and the /_lab/ HTTP API.

``Controls`` holds every control as a method over an ``EmulatorState``. A method's ``@route``
says how HTTP reaches it (method, path under /_lab, query parameters, JSON body fields, which of
them are required or JSON booleans, how the answer is wrapped). From this one description:

- ``Emulator`` *is* a ``Controls`` (it inherits them): ``emulator.answer(cid)`` and the rest;
- control.py builds the /_lab/ routes (token check, strict bodies, errors as Daraja envelopes).

Public methods are the Python API; the underscored ones are views only HTTP serves (listings
whose Python twins are the state's own records).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mpesa_lab.emulator import defaults
from mpesa_lab.emulator.config import EmulatorConfig, field_names, public_view
from mpesa_lab.emulator.contract import CONTRACT_JSON_PATH, CONTRACT_YAML_PATH
from mpesa_lab.emulator.errors import EmulatorError
from mpesa_lab.emulator.intake import instruction_view
from mpesa_lab.emulator.scenarios import ERROR_PHONES, ERROR_TRIGGERS, PROFILES, SCENARIOS, TRIGGERS, normalize_mix
from mpesa_lab.secret import Secret

if TYPE_CHECKING:
    from mpesa_lab.emulator.state import EmulatorState

PREFIX = "/_lab"
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Route:
    """How HTTP reaches one control: ``method`` and ``path`` under /_lab.

    Path parameters (``{cid}``) are passed in order, ``query`` parameters by name (None when
    absent). ``body`` names the JSON body fields passed by name (None: no body is read);
    ``required`` ones answer 400 with ``missing`` when absent; ``flags`` must be JSON booleans
    when present. The answer is ``render(result)`` if given, then wrapped as ``{key: answer}``
    if ``key`` is given.
    """

    method: str
    path: str
    query: tuple[str, ...] = ()
    body: tuple[str, ...] | None = None
    required: tuple[str, ...] = ()
    missing: str = ""
    flags: tuple[str, ...] = ()
    key: str | None = None
    render: Callable[[Any], Any] | None = None


def route(method: str, path: str, **how: Any) -> Callable[[_F], _F]:
    """Serve the decorated control at ``method path`` under /_lab (see ``Route``); stackable."""

    def mark(fn: _F) -> _F:
        fn.__dict__.setdefault("lab_routes", []).insert(0, Route(method, path, **how))
        return fn

    return mark


def _reset_done(_: None) -> dict[str, bool]:
    return {"reset": True}


class Controls:
    """Every control of one emulator's state; ``Emulator`` inherits them."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # ------------------------------------------------------------------ looking

    @route("GET", "/transactions", query=("phone",), key="transactions")
    def transactions(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Every transaction (oldest first), with its timeline and callback attempts."""
        state = self.state
        with state.lock:
            return [tx.to_dict() for tx in state.transactions.values() if phone is None or tx.phone == str(phone)]

    @route("GET", "/transactions/{cid}")
    def transaction(self, checkout_request_id: str) -> dict[str, Any]:
        """One transaction by CheckoutRequestID (UnknownTransaction if there is none)."""
        with self.state.lock:
            return self.state.get(checkout_request_id).to_dict()

    @route("GET", "/prompts", query=("phone",), key="prompts")
    def pending_prompts(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Prompts waiting for the customer (interactive mode or profile 'interactive')."""
        return self.state.pending_prompts(phone)

    def wait_for_prompt(self, phone: str | None = None, timeout: float = 5.0) -> dict[str, Any] | None:
        """The first prompt waiting on ``phone`` (or any phone), as soon as it is shown; None
        after ``timeout`` s without one. Unlike polling ``pending_prompts()``, this does not miss
        the moment between a push being accepted and its prompt appearing."""
        return self.state.wait_for_prompt(phone, timeout)

    @route("GET", "/callback-attempts", query=("checkout_request_id",), key="attempts")
    def callback_attempts(self, checkout_request_id: str | None = None) -> list[dict[str, Any]]:
        """Callback POSTs made (time, status, error, fault), for one transaction or all."""
        state = self.state
        with state.lock:
            if checkout_request_id is not None:
                return [a.to_dict() for a in state.get(checkout_request_id).callback_attempts]
            return [a.to_dict() for a in state.attempts]

    def wait_until_final(self, checkout_request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Block until the transaction has its result; TimeoutError after ``timeout`` s."""
        return self.state.wait_until_final(checkout_request_id, timeout)

    def wait_for_callbacks(
        self, checkout_request_id: str, count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until ``count`` callback attempts are recorded for the transaction."""
        return self.state.wait_for_callbacks(checkout_request_id, count, timeout)

    # ------------------------------------------------------------------ playing the customer

    @route("POST", "/transactions/{cid}/answer", body=("pin", "cancel", "ignore"), flags=("cancel", "ignore"))
    def answer(
        self, checkout_request_id: str, pin: str | int | None = None, cancel: bool = False, ignore: bool = False
    ) -> dict[str, Any]:
        """Answer a prompt as the customer: a PIN (none given: the subscriber's right PIN), Cancel
        (1032), or ignore it (1037)."""
        return self.state.answer(checkout_request_id, pin=pin, cancel=cancel, ignore=ignore)

    @route(
        "POST",
        "/next-result",
        body=("code", "phone", "result_desc"),
        required=("code",),
        missing='send {"code": "1032"} (and optionally "phone", "result_desc")',
    )
    def set_next_result(
        self, code: str | int, phone: str | None = None, result_desc: str | None = None
    ) -> dict[str, Any]:
        """Script the ResultCode of the next push (to ``phone``, or to any phone), optionally with
        its own ResultDesc (e.g. ``set_next_result(1037, result_desc="No response from user.")``)."""
        return self.state.set_next_result(code, phone, result_desc)

    @route("GET", "/scenario")
    @route("POST", "/scenario", body=("name", "mix", "interactive"))
    def set_scenario(
        self, name: str | None = None, *, mix: dict[Any, float] | None = None, interactive: bool | None = None
    ) -> dict[str, Any]:
        """Pick a named mix (realistic, happy, flaky, declines), give your own rates, or switch
        interactive mode on or off."""
        changes: dict[str, Any] = {}
        if name is not None:
            if name not in SCENARIOS:
                raise EmulatorError(f"unknown scenario {name!r}; scenarios are: {', '.join(SCENARIOS)}")
            changes["mix"] = dict(SCENARIOS[name])
        if mix is not None:
            try:
                changes["mix"] = normalize_mix(mix)
            except ValueError as exc:
                raise EmulatorError(str(exc)) from None
        if interactive is not None:
            changes["interactive"] = interactive  # checked by the config: "false" is not False
        config = self.state.configure(**changes) if changes else self.state.config
        return {
            "mix": dict(config.mix),
            "interactive": config.interactive,
            "scenarios": {k: dict(v) for k, v in SCENARIOS.items()},
        }

    @route("GET", "/config")
    def _settings(self) -> dict[str, Any]:
        return public_view(self.state.config)

    @route("POST", "/config", body=field_names(), render=public_view)
    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change live settings, e.g. ``configure(enforce_duplicate_rule=False, quota=100)``."""
        return self.state.configure(**changes)

    # ------------------------------------------------------------------ registries

    @route("GET", "/apps")
    def _apps(self) -> dict[str, Any]:
        with self.state.lock:
            return {"apps": [a.to_dict() for a in self.state.apps.values()]}

    @route(
        "POST",
        "/apps",
        body=("key", "secret", "name", "environment", "express"),
        required=("key", "secret"),
        missing='send {"key": ..., "secret": ...}',
        flags=("express",),
    )
    def register_app(
        self, key: str, secret: str | Secret, name: str = "", environment: str = "sandbox", express: bool = True
    ) -> dict[str, Any]:
        """Add a Daraja app (consumer key and secret) that may request tokens: an app of
        ``environment`` ("sandbox" or "production": the other one refuses its keys), with the
        M-Pesa Express product enabled unless ``express=False`` (then every push and query is
        refused with 401 "... no apiproduct match found")."""
        return self.state.register_app(key, secret, name=name, environment=environment, express=express)

    @route("POST", "/tokens/expire")
    def expire_tokens(self) -> dict[str, Any]:
        """Every access token issued so far expires now, as if its hour had passed: the next
        push or query with one is 404.001.03 Invalid Access Token."""
        return self.state.expire_tokens()

    @route("GET", "/merchants")
    def _merchants(self) -> dict[str, Any]:
        with self.state.lock:
            return {"merchants": [m.to_dict() for m in self.state.merchants.values()]}

    @route(
        "POST",
        "/merchants",
        body=("shortcode", "passkey", "kind", "till_number", "name", "balance", "max_balance"),
        required=("shortcode", "passkey"),
        missing='send at least {"shortcode": ..., "passkey": ...}',
    )
    def register_merchant(
        self,
        shortcode: str | int,
        passkey: str | Secret,
        kind: str = "paybill",
        till_number: str | int | None = None,
        name: str | None = None,
        balance: float = 0.0,
        max_balance: float | None = None,
    ) -> dict[str, Any]:
        """Add a paybill, or a till (BusinessShortCode = store number, PartyB = ``till_number``)."""
        return self.state.register_merchant(
            shortcode, passkey, kind=kind, till_number=till_number, name=name, balance=balance, max_balance=max_balance
        )

    @route("GET", "/subscribers")
    def _subscribers(self) -> dict[str, Any]:
        with self.state.lock:
            return {"subscribers": [s.to_dict() for s in self.state.subscribers.values()], "profiles": PROFILES}

    @route(
        "POST",
        "/subscribers",
        body=("phone", "pin", "balance", "profile", "daily_limit", "max_transaction", "daily_total", "locked"),
        required=("phone",),
        missing='send at least {"phone": "2547XXXXXXXX"}',
        flags=("locked",),
    )
    def register_subscriber(
        self, phone: str | int, pin: str = "1234", balance: float = 10_000.0, profile: str = "pays", **limits: Any
    ) -> dict[str, Any]:
        """Add (or replace) a customer: PIN, balance, behaviour profile, and optional
        ``daily_limit``, ``max_transaction``, ``daily_total``, ``locked``."""
        return self.state.register_subscriber(phone, pin=pin, balance=balance, profile=profile, **limits)

    def set_profile(self, phone: str | int, profile: str) -> dict[str, Any]:
        """Change only how ``phone`` behaves (a PROFILES name, e.g. ``"interactive"``); its PIN,
        balance and limits are kept."""
        return self.state.set_profile(phone, profile)

    @route("POST", "/subscribers/{phone}/unlock")
    def unlock_subscriber(self, phone: str) -> dict[str, Any]:
        """Unlock a PIN locked by wrong attempts (what Customer Care would do)."""
        return self.state.unlock_subscriber(phone)

    # ------------------------------------------------------------------ faults and errors

    @route("GET", "/callback-faults")
    def _callback_faults(self) -> dict[str, Any]:
        return {"faults": [f.to_dict() for f in self.state.faults.list()]}

    @route(
        "POST",
        "/callback-faults",
        body=("kind", "checkout_request_id", "phone", "count", "seconds", "copies"),
        required=("kind",),
        missing='send {"kind": "drop" | "delay" | "duplicate" | "out_of_order", ...}',
    )
    def inject_callback_fault(
        self,
        kind: str,
        checkout_request_id: str | None = None,
        *,
        phone: str | None = None,
        count: int | None = 1,
        seconds: float | None = None,
        copies: int = 2,
    ) -> dict[str, Any]:
        """Make callbacks misbehave: ``drop``, ``delay`` (``seconds``), ``duplicate`` (``copies``)
        or ``out_of_order``; for one transaction, one phone, or the next ``count`` callbacks."""
        return self.state.inject_callback_fault(
            kind, checkout_request_id=checkout_request_id, phone=phone, count=count, seconds=seconds, copies=copies
        )

    @route("DELETE", "/callback-faults", key="cleared")
    def clear_callback_faults(self) -> int:
        """Forget every injected callback fault not yet used; returns how many there were."""
        return self.state.faults.clear()

    @route("GET", "/errors")
    def _injected_errors(self) -> dict[str, Any]:
        with self.state.lock:
            injected = [item.to_dict() for item in self.state.injected]
        return {"injected": injected, "magic_phones": ERROR_PHONES}

    @route(
        "POST",
        "/errors",
        body=("code", "message", "count", "route", "status"),
        required=("code",),
        missing='send {"code": "500.003.02", ...}',
    )
    def fail_next(
        self,
        code: str,
        message: str | None = None,
        count: int | None = 1,
        route: str | None = None,
        status: int | None = None,
    ) -> dict[str, Any]:
        """Answer the next ``count`` requests (route: oauth | push | query | None) with a Daraja error."""
        return self.state.fail_next(code, message=message, count=count, route=route, status=status)

    @route("DELETE", "/errors", key="cleared")
    def _clear_injected_errors(self) -> int:
        with self.state.lock:
            n = len(self.state.injected)
            self.state.injected.clear()
        return n

    @route("POST", "/reset", body=("keep_tokens",), flags=("keep_tokens",), render=_reset_done)
    def reset(self, keep_tokens: bool = True) -> None:
        """Back to a fresh lab (access tokens survive unless ``keep_tokens=False``)."""
        self.state.reset(keep_tokens=keep_tokens)

    # ------------------------------------------------------------------ what there is

    @route("GET", "/triggers")
    def _triggers(self) -> dict[str, Any]:
        return {
            "triggers": [dataclasses.asdict(t) for t in TRIGGERS],
            "error_phones": ERROR_PHONES,
            "error_triggers": [dataclasses.asdict(t) for t in ERROR_TRIGGERS],
            "scenarios": SCENARIOS,
            "profiles": PROFILES,
        }

    def _summary(self) -> dict[str, Any]:
        state = self.state
        with state.lock:
            return {
                "apps": [a.to_dict() for a in state.apps.values()],
                "merchants": [m.to_dict() for m in state.merchants.values()],
                "subscribers": len(state.subscribers),
                "transactions": len(state.transactions),
                "retention": {
                    "max_transactions": state.config.max_transactions,
                    "max_subscribers": state.config.max_subscribers,
                    "subscribers_made_on_the_fly": len(state.transient),
                    "forgotten_transactions": state.forgotten_transactions,
                    "forgotten_subscribers": state.forgotten_subscribers,
                },
                "pending": len(state.pending_by_phone),
                "instructions": [instruction_view(p, c, d) for p, c, d in state.instructions],
                "callback_faults": [f.to_dict() for f in state.faults.list()],
                "injected_errors": [item.to_dict() for item in state.injected],
            }

    @route("GET", "")
    @route("GET", "/")
    def _index(self) -> dict[str, Any]:
        return {
            "emulator": "mpesa-lab local Daraja",
            "credentials": {
                "consumer_key": defaults.LAB_CONSUMER_KEY,
                "consumer_secret": defaults.LAB_CONSUMER_SECRET,
                "paybill": {
                    "BusinessShortCode": defaults.PAYBILL_SHORTCODE,
                    "PartyB": defaults.PAYBILL_SHORTCODE,
                    "passkey": defaults.PAYBILL_PASSKEY,
                },
                "till": {
                    "BusinessShortCode": defaults.TILL_SHORTCODE,
                    "PartyB": defaults.TILL_NUMBER,
                    "passkey": defaults.TILL_PASSKEY,
                },
                "test_msisdn": defaults.TEST_MSISDN,
            },
            "routes": sorted({f"{spec.method} {PREFIX}{spec.path}" for spec, _ in route_table()}),
            # M-Pesa Express as OpenAPI 3.1 (docs/contract.md): for client generators and validators
            "contract": {"openapi_yaml": CONTRACT_YAML_PATH, "openapi_json": CONTRACT_JSON_PATH},
            "state": self._summary(),
        }


def route_table() -> list[tuple[Route, str]]:
    """Every control's routes as (route, name of the ``Controls`` method), in the order written."""
    return [(spec, name) for name, fn in vars(Controls).items() for spec in getattr(fn, "lab_routes", ())]
