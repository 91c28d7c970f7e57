"""EmulatorConfig: every knob of the local Daraja, with defaults that keep demos quick."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Callable

from mpesa_lab.clock import nairobi_now
from mpesa_lab.emulator.scenarios import BEHAVIOURS, DEFAULT_BEHAVIOUR, DEFAULT_SCENARIO, SCENARIOS, normalize_mix

FAULT_KINDS = ("drop", "delay", "duplicate", "out_of_order")
PENDING_STYLES = ("error", "result")
WRONG_CREDENTIAL_BODIES = ("envelope", "empty")
BALANCE_ITEM_STYLES = ("empty", "value", "absent")
AMOUNT_STYLES = ("float", "int")


@dataclass
class EmulatorConfig:
    """Settings of one emulator. Live ones can be changed later with ``Emulator.configure``."""

    # "teaching" (the default: every outcome can be seen) or "live_sandbox_2026" (the live
    # sandbox as reported in 2026: nothing completes; see scenarios.BEHAVIOURS).
    behaviour: str = DEFAULT_BEHAVIOUR
    # Seeds the mix and the identifiers. None draws a random seed, recorded here so the run can
    # be replayed with EmulatorConfig(seed=<that number>).
    seed: int | None = 254
    # Seconds from an accepted push to the prompt, and from the prompt to the customer's answer
    # (non-interactive): a callback arrives well under a second after the push.
    prompt_delay: float = 0.05
    answer_delay: float = 0.1
    # Interactive: phones wait for answer(); no answer within prompt_timeout seconds is 1037.
    interactive: bool = False
    prompt_timeout: float = 60.0
    # Realism rules that trip up re-run notebooks; relax them per lab.
    enforce_subscriber_lock: bool = True
    enforce_duplicate_rule: bool = True  # result 17: same amount, same phone, within the window
    duplicate_window: float = 120.0
    # Apigee policies (None = off): per-app requests per second and total requests.
    rate_limit_per_second: float | None = None
    quota: int | None = None
    # STK query while pending: "error" = 500.001.1001 "The transaction is being processed";
    # "result" = 200 with ResultCode "4999" "The transaction is still under processing".
    pending_style: str = "error"
    token_ttl: int = 3599
    oauth_wrong_credentials_body: str = "envelope"
    # Live Daraja answers a push without TransactionDesc with "Bad Request - Invalid Remarks".
    require_transaction_desc: bool = True
    # Reject AccountReference > 12 and TransactionDesc > 13 characters with 400.002.02; off by
    # default because live Daraja lets long references through to fail later as 1025.
    strict_lengths: bool = False
    require_https: bool = False
    max_pin_attempts: int = 3
    prompt_max_chars: int = 182
    mix: dict[str, float] = field(default_factory=lambda: dict(SCENARIOS[DEFAULT_SCENARIO]))
    # Unregistered numbers become subscribers with this PIN and balance on their first push.
    default_pin: str = "1234"
    default_balance: float = 50_000.0
    # Callback faults applied to every callback (any of FAULT_KINDS), and their parameters.
    callback_faults: tuple[str, ...] = ()
    callback_delay: float = 2.0
    callback_timeout: float = 10.0
    out_of_order_hold: float = 1.0
    # CallbackMetadata's Balance item: "empty" (no Value, as the sandbox sends it), "value"
    # (the merchant's balance) or "absent". Amount as 1.0 ("float") or 1 ("int").
    callback_balance: str = "empty"
    callback_amount: str = "float"
    control_api: bool = True
    # Oldest final transactions are forgotten beyond this many (None: keep all), so a sandbox
    # left running for a workshop, or a big analytics run, does not grow without bound.
    max_transactions: int | None = 100_000
    clock: Callable[[], datetime] = nairobi_now

    def __post_init__(self) -> None:
        validate(self)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"EmulatorConfig.{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _non_negative(name: str, value: Any, *, optional: bool = False, positive: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"EmulatorConfig.{name} must be a number; got {value!r}")
    if value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"EmulatorConfig.{name} must be {bound}; got {value!r}")


def validate(config: EmulatorConfig) -> None:
    """Raise ValueError naming the first bad setting and what it should be."""
    if config.seed is None:
        config.seed = secrets.randbelow(2**32)
    elif isinstance(config.seed, bool) or not isinstance(config.seed, int):
        raise ValueError(
            f"EmulatorConfig.seed must be a whole number such as 254 (or None for a random one); got {config.seed!r}"
        )
    for name in ("prompt_delay", "answer_delay", "prompt_timeout", "duplicate_window", "callback_delay",
                 "out_of_order_hold", "default_balance"):
        _non_negative(name, getattr(config, name))
    _non_negative("callback_timeout", config.callback_timeout, positive=True)
    _non_negative("token_ttl", config.token_ttl, positive=True)
    _non_negative("rate_limit_per_second", config.rate_limit_per_second, optional=True, positive=True)
    _non_negative("quota", config.quota, optional=True)
    _non_negative("max_transactions", config.max_transactions, optional=True, positive=True)
    _non_negative("max_pin_attempts", config.max_pin_attempts, positive=True)
    _non_negative("prompt_max_chars", config.prompt_max_chars, positive=True)
    _choice("behaviour", config.behaviour, tuple(BEHAVIOURS))
    _choice("pending_style", config.pending_style, PENDING_STYLES)
    _choice("oauth_wrong_credentials_body", config.oauth_wrong_credentials_body, WRONG_CREDENTIAL_BODIES)
    _choice("callback_balance", config.callback_balance, BALANCE_ITEM_STYLES)
    _choice("callback_amount", config.callback_amount, AMOUNT_STYLES)
    if isinstance(config.callback_faults, str):
        config.callback_faults = (config.callback_faults,)
    config.callback_faults = tuple(config.callback_faults)
    for kind in config.callback_faults:
        _choice("callback_faults item", kind, FAULT_KINDS)
    config.mix = normalize_mix(config.mix)
    if not callable(config.clock):
        raise ValueError("EmulatorConfig.clock must be a callable returning an aware datetime")
    if not isinstance(config.default_pin, str) or not config.default_pin:
        raise ValueError("EmulatorConfig.default_pin must be a non-empty string such as '1234'")


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(EmulatorConfig))


def public_view(config: EmulatorConfig) -> dict[str, Any]:
    """The settings as JSON-friendly data (the clock shown by name)."""
    out: dict[str, Any] = {}
    for name in field_names():
        value = getattr(config, name)
        if name == "clock":
            value = getattr(value, "__qualname__", type(value).__name__)
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out
