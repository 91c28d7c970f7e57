"""EmulatorConfig: every knob of the local Daraja, with defaults that keep demos quick."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from mpesa_lab.clock import nairobi_now
from mpesa_lab.emulator.scenarios import BEHAVIOURS, DEFAULT_BEHAVIOUR, DEFAULT_SCENARIO, SCENARIOS, normalize_mix

FAULT_KINDS = ("drop", "delay", "duplicate", "out_of_order")
PENDING_STYLES = ("error", "result", "auto")
TIME_SCALE_ENV = "MPESA_LAB_TIME_SCALE"
#: the course's pace: a real minute passes in 3 s (1/20 of real time)
COURSE_TIME_SCALE = 0.05
WRONG_CREDENTIAL_BODIES = ("envelope", "empty")
BALANCE_ITEM_STYLES = ("empty", "value", "absent")
AMOUNT_STYLES = ("float", "int")
# The shapes that troubleshooting needs (docs/emulator.md, "Real shapes for troubleshooting").
ENVIRONMENTS = ("sandbox", "production")
EXPIRES_IN_STYLES = ("text", "number")
WRONG_PATH_ANSWERS = ("envelope", "html")
CALLBACK_NETWORKS = ("local", "internet")


@dataclass
class EmulatorConfig:
    """Settings of one emulator. Live ones can be changed later with ``Emulator.configure``."""

    # "teaching" (the default: every outcome can be seen) or "live_sandbox_2026" (the live
    # sandbox as reported in 2026: nothing completes; see scenarios.BEHAVIOURS).
    behaviour: str = DEFAULT_BEHAVIOUR
    # Seeds the outcomes (the mix); identifiers differ in every run whatever the seed. None draws
    # a random seed, recorded here so the run can be replayed with EmulatorConfig(seed=<that>).
    seed: int | None = 254
    # Seconds from an accepted push to the prompt, and from the prompt to the customer's answer
    # (non-interactive): a callback arrives well under a second after the push.
    prompt_delay: float = 0.05
    answer_delay: float = 0.1
    # The timing model (emulator/timing.py): None (the default, or $MPESA_LAB_TIME_SCALE) is the
    # quick lab above (prompt_delay, answer_delay); a number runs each outcome's real-world delay
    # times this scale: 1 is real time (a paid callback ~12 s after the push, a 1037 ~30 s),
    # 0.05 is the course's 1/20. live_sandbox_2026 runs in real time when this is None.
    time_scale: float | None = field(default_factory=lambda: time_scale_from_env())
    # Interactive: phones wait for answer(); no answer within prompt_timeout seconds is 1037.
    interactive: bool = False
    prompt_timeout: float = 60.0
    # Realism rules that trip up re-run notebooks; relax them per lab.
    enforce_subscriber_lock: bool = True
    enforce_duplicate_rule: bool = True  # result 17: same amount, same phone, within the window
    duplicate_window: float = 120.0
    # Rule 17 under behaviour="live_sandbox_2026": unevidenced on the 2026 sandbox (its reports
    # show the test number ending in 1037, and say nothing of 17), so off unless asked for.
    live_duplicate_rule: bool = False
    # Apigee policies (None = off): per-app requests per second and total requests.
    rate_limit_per_second: float | None = None
    quota: int | None = None
    # STK query while pending: "error" = 500.001.1001 "The transaction is being processed";
    # "result" = 200 with ResultCode "4999" "The transaction is still under processing";
    # "auto" (the default) = "error" when teaching, "result" under live_sandbox_2026 (how the
    # 2026 sandbox answers, per observed-behaviour.md).
    pending_style: str = "auto"
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
    # Real shapes for troubleshooting (docs/emulator.md). "production" plays Daraja's production
    # host: sandbox apps' keys are refused at OAuth (HTTP 400) and CallBackURL must be https.
    environment: str = "sandbox"
    # expires_in as Daraja's OAuth sends it live ("3599", text) or as its doc shows it (3599).
    expires_in_style: str = "text"
    # A path that is not Daraja's: "envelope" (404.001.01) or "html" (HTTP 200 with a web page,
    # the real symptom of a wrong host or path in the base URL).
    wrong_path_answer: str = "envelope"
    # The legacy 1101 refusal: a prompt message prefix (merchant name and AccountReference)
    # longer than this many characters ends as ResultCode 1101 (None: off; 94 as reported).
    legacy_prompt_prefix_limit: int | None = None
    # "internet": callbacks reach only what Daraja could reach (no localhost, private, link-local
    # or .local host); "local" (the default) delivers to any URL, as a lab on one machine needs.
    callback_network: str = "local"
    # Retention (None: keep all), so a sandbox left running for a workshop or a load test stays
    # bounded: beyond max_transactions the oldest settled ones (final, callback made) are
    # forgotten; beyond max_subscribers the least recently pushed subscribers made on the fly.
    # Never a pending transaction, an undelivered callback, or a registered subscriber.
    max_transactions: int | None = 20_000
    max_subscribers: int | None = 20_000
    clock: Callable[[], datetime] = nairobi_now

    def __post_init__(self) -> None:
        validate(self)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"EmulatorConfig.{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


# Every number has a type and sane bounds: a delay of 1e308 s would not fail here but later, in
# the middle of a push (OverflowError), leaving the phone locked for good.
DAY = 86_400.0
NUMBER_BOUNDS: dict[str, tuple[type, float, float, bool]] = {
    # name: (int or float, lowest, highest, None allowed)
    "prompt_delay": (float, 0.0, 3600.0, False),
    "time_scale": (float, 0.001, 10.0, True),
    "answer_delay": (float, 0.0, 3600.0, False),
    "prompt_timeout": (float, 0.0, DAY, False),
    "duplicate_window": (float, 0.0, DAY, False),
    "callback_delay": (float, 0.0, 3600.0, False),
    "callback_timeout": (float, 0.001, 600.0, False),
    "out_of_order_hold": (float, 0.0, 3600.0, False),
    "default_balance": (float, 0.0, 1e12, False),
    "token_ttl": (int, 1, 366 * DAY, False),
    "rate_limit_per_second": (float, 0.001, 1e6, True),
    "quota": (int, 0, 10**12, True),
    "max_transactions": (int, 1, 10**8, True),
    "max_subscribers": (int, 1, 10**8, True),
    "max_pin_attempts": (int, 1, 100, False),
    "prompt_max_chars": (int, 1, 10_000, False),
    "legacy_prompt_prefix_limit": (int, 1, 10_000, True),
}
BOOLEAN_SETTINGS = (
    "interactive",
    "enforce_subscriber_lock",
    "enforce_duplicate_rule",
    "live_duplicate_rule",
    "require_transaction_desc",
    "strict_lengths",
    "require_https",
    "control_api",
)
MAX_MIX_CODES = 100


def _number(name: str, value: Any) -> None:
    kind, low, high, optional = NUMBER_BOUNDS[name]
    if value is None and optional:
        return
    what = "a whole number" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ValueError(f"EmulatorConfig.{name} must be {what}{' or None' if optional else ''}; got {value!r}")
    if not math.isfinite(value) or value > high:
        raise ValueError(f"EmulatorConfig.{name} must be at most {high:g}; got {value!r}")
    if value < low:
        bound = "> 0" if kind is int and low == 1 else f">= {low:g}"
        raise ValueError(f"EmulatorConfig.{name} must be {bound} (and at most {high:g}); got {value!r}")


def _mix(value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or not value or len(value) > MAX_MIX_CODES:
        raise ValueError(
            f"EmulatorConfig.mix maps up to {MAX_MIX_CODES} result codes to weights, "
            f"e.g. {{'0': 0.9, '1032': 0.1}}; got {value!r}"[:300]
        )
    for code, weight in value.items():
        if isinstance(code, bool) or not isinstance(code, (str, int)) or len(str(code)) > 32:
            raise ValueError(f"EmulatorConfig.mix: {code!r} is not a result code such as '1032'"[:300])
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not math.isfinite(weight)
            or not 0 <= weight <= 1e9
        ):
            raise ValueError(
                f"EmulatorConfig.mix weight for {code!r} must be a number from 0 to 1e9; got {weight!r}"[:300]
            )
    return normalize_mix(value)


def validate(config: EmulatorConfig) -> None:
    """Raise ValueError naming the first bad setting and what it should be."""
    if config.seed is None:
        config.seed = secrets.randbelow(2**32)
    elif isinstance(config.seed, bool) or not isinstance(config.seed, int) or not abs(config.seed) < 2**63:
        raise ValueError(
            f"EmulatorConfig.seed must be a whole number such as 254 (or None for a random one); got {config.seed!r}"
        )
    for name in NUMBER_BOUNDS:
        _number(name, getattr(config, name))
    for name in BOOLEAN_SETTINGS:
        value = getattr(config, name)
        if not isinstance(value, bool):
            raise ValueError(f"EmulatorConfig.{name} must be true or false (a boolean, not a string); got {value!r}")
    _choice("behaviour", config.behaviour, tuple(BEHAVIOURS))
    _choice("pending_style", config.pending_style, PENDING_STYLES)
    _choice("oauth_wrong_credentials_body", config.oauth_wrong_credentials_body, WRONG_CREDENTIAL_BODIES)
    _choice("callback_balance", config.callback_balance, BALANCE_ITEM_STYLES)
    _choice("callback_amount", config.callback_amount, AMOUNT_STYLES)
    _choice("environment", config.environment, ENVIRONMENTS)
    _choice("expires_in_style", config.expires_in_style, EXPIRES_IN_STYLES)
    _choice("wrong_path_answer", config.wrong_path_answer, WRONG_PATH_ANSWERS)
    _choice("callback_network", config.callback_network, CALLBACK_NETWORKS)
    if isinstance(config.callback_faults, str):
        config.callback_faults = (config.callback_faults,)
    if not isinstance(config.callback_faults, (list, tuple)):
        raise ValueError(
            f"EmulatorConfig.callback_faults must be a list of {', '.join(FAULT_KINDS)}; got {config.callback_faults!r}"
        )
    config.callback_faults = tuple(config.callback_faults)
    for kind in config.callback_faults:
        _choice("callback_faults item", kind, FAULT_KINDS)
    config.mix = _mix(config.mix)
    if not callable(config.clock):
        raise ValueError("EmulatorConfig.clock must be a callable returning an aware datetime")
    if not isinstance(config.default_pin, str) or not config.default_pin.isdigit() or len(config.default_pin) > 12:
        raise ValueError("EmulatorConfig.default_pin must be a string of up to 12 digits such as '1234'")


def time_scale_from_env() -> float | None:
    """$MPESA_LAB_TIME_SCALE as a number (e.g. 1 for real time, 0.05 for 1/20); None when unset."""
    text = os.environ.get(TIME_SCALE_ENV, "").strip()
    if not text:
        return None
    try:
        value = float(text.split("/")[0]) / float(text.split("/")[1]) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"{TIME_SCALE_ENV} must be a number such as 1 (real time) or 0.05 (1/20); got {text!r}"
        ) from None
    return value


def effective_time_scale(config: EmulatorConfig) -> float | None:
    """The scale the clockwork runs at: the config's, else real time (1.0) for the live sandbox
    profile, else None (the quick lab: prompt_delay and answer_delay)."""
    if config.time_scale is not None:
        return float(config.time_scale)
    return 1.0 if config.behaviour == "live_sandbox_2026" else None


def effective_pending_style(config: EmulatorConfig) -> str:
    """ "error" or "result": ``pending_style``, with "auto" chosen by the behaviour."""
    if config.pending_style != "auto":
        return config.pending_style
    return "result" if config.behaviour == "live_sandbox_2026" else "error"


def duplicate_rule_applies(config: EmulatorConfig) -> bool:
    """Whether a push meets rule 17 (``enforce_duplicate_rule``; under the live sandbox profile
    only with ``live_duplicate_rule``, the 2026 sandbox's behaviour there being unevidenced)."""
    if not config.enforce_duplicate_rule:
        return False
    return config.behaviour != "live_sandbox_2026" or config.live_duplicate_rule


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
