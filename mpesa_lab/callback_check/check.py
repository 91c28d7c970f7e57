"""check_callback: test any callback endpoint the way Daraja will treat it."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from mpesa_lab.callback_check.budget import DEFAULT_BUDGET_S, DEFAULT_TIMEOUT_S
from mpesa_lab.callback_check.errors import CallbackCheckError
from mpesa_lab.callback_check.readback import HttpReadback, ReadbackHook
from mpesa_lab.callback_check.report import CallbackCheckReport
from mpesa_lab.callback_check.run import Run
from mpesa_lab.callback_check.scenarios import DESCRIPTIONS, SCENARIOS


def scenario_names() -> list[str]:
    """Every scenario, in the order a run plays them ("paid" first)."""
    return list(SCENARIOS)


def describe_scenarios() -> dict[str, str]:
    """Scenario name -> one line on what it posts and expects."""
    return dict(DESCRIPTIONS)


def _checked_url(url: object, what: str) -> str:
    text = str(url).strip() if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise CallbackCheckError(
            f"{url!r} is not an http(s) URL: give the {what} as the full URL, such as http://127.0.0.1:8000/mpesa/callback"
        )
    return text


def check_callback(
    url: str,
    *,
    scenarios: Sequence[str] | None = None,
    readback_url: str | None = None,
    readback: ReadbackHook | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> CallbackCheckReport:
    """POST real Daraja callback bodies at ``url`` and return a verdict per scenario.

    ``readback_url`` (or a Python ``readback`` hook) lets the check set up orders and read what the
    endpoint recorded (docs/callback-check.md); without one, what needs it is "not verified".
    Raises CallbackCheckError (one line) when the check cannot run: a bad URL, an unknown
    scenario, nothing listening at ``url``. Never needs credentials.
    """
    target = _checked_url(url, "callback URL")
    names = scenario_names() if scenarios is None else list(scenarios)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise CallbackCheckError(f"unknown scenario {unknown[0]!r}: choose from {', '.join(SCENARIOS)}")
    if not (budget_s > 0 and timeout_s > 0):
        raise CallbackCheckError("budget_s and timeout_s must be numbers of seconds above zero")
    if readback_url is not None and readback is not None:
        raise CallbackCheckError("give a read-back URL or a read-back hook, not both")
    # No proxy from the environment: the check talks to the endpoint itself, as Daraja would. A new
    # connection per request: an endpoint that crashed may have closed the last one (a reused
    # connection would then fail the next, innocent, request).
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False, limits=limits) as client:
        hook = readback
        if readback_url is not None:
            hook = HttpReadback(_checked_url(readback_url, "read-back URL"), client)
        run = Run(target, client, hook, budget_s, timeout_s)
        report = CallbackCheckReport(url=target, budget_s=budget_s, readback=hook is not None)
        for name in names:
            report.results.append(SCENARIOS[name](run))
    return report
