"""``mpesa-lab doctor``: check a learner's real configuration (.env) before the first push.

One verdict per check, each ``ok``, ``problem`` (with the fix) or ``not checked`` (with why):
which settings are missing; whether a token can be fetched; whether the shortcode and passkey
have the right shape and belong together; the clock against an HTTP Date header; and whether the
CallBackURL can work from Daraja (https, a public host, and an endpoint that answers a test
callback within the budget, using ``check-callback``).

Offline it says plainly what it could not try. It never prints a secret: the consumer secret,
the passkey and the access token are never part of a verdict (tests grep the whole output).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urlsplit

import httpx

from mpesa_lab.callback_check import check_callback
from mpesa_lab.callback_check.errors import CallbackCheckError
from mpesa_lab.clock import NAIROBI
from mpesa_lab.config import ENV_VARS, Settings
from mpesa_lab.constants import SANDBOX_PASSKEY, SANDBOX_SHORTCODE
from mpesa_lab.daraja.auth import TokenProvider
from mpesa_lab.daraja.errors import DarajaError, TransportError
from mpesa_lab.errors import ConfigError, MpesaLabError

Verdict = Literal["ok", "problem", "not checked"]
# Past this, a clock is worth fixing. Daraja does not check the Timestamp's freshness
# (observed-behaviour.md), so skew is not itself a Daraja error, but logs and reconciliation
# against TransactionDate (Nairobi time) drift with it.
MAX_SKEW_S = 120.0
DEFAULT_BUDGET_S = 5.0
_SHORTCODE = re.compile(r"\d{5,7}")
_PASSKEY = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Check:
    """One check's verdict, what was seen, and (for a problem) the fix."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "verdict": self.verdict, "detail": self.detail, "fix": self.fix}


@dataclass
class DoctorReport:
    """Every check's verdict; ``ok`` when none found a problem."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.verdict != "problem" for c in self.checks)

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def text(self) -> str:
        """The report as plain lines, one verdict per check."""
        lines = []
        for c in self.checks:
            mark = {"ok": "ok         ", "problem": "PROBLEM    ", "not checked": "not checked"}[c.verdict]
            lines.append(f"{mark}  {c.name}: {c.detail}")
            if c.fix:
                lines.append(f"{'':13}fix: {c.fix}")
        problems = sum(c.verdict == "problem" for c in self.checks)
        lines.append(
            "All checks passed." if self.ok else f"{problems} problem(s) found: fix them, then run doctor again."
        )
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "checks": [c.to_dict() for c in self.checks]}, indent=2)


def _raw_values(env_file: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """MPESA_* values from the environment, then the .env file (names only are ever shown)."""
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    if env_file and os.path.isfile(env_file):
        values.update({k: str(v).strip() for k, v in dotenv_values(env_file).items() if v})
    values.update({k: v.strip() for k, v in environ.items() if k in ENV_VARS.values() and v.strip()})
    return values


def check_settings(env_file: str | None, environ: Mapping[str, str]) -> tuple[Check, Settings | None]:
    """Which settings are missing (named, never shown), and the Settings when they are complete."""
    raw = _raw_values(env_file, environ)
    env = (raw.get("MPESA_ENV") or "local").lower()
    try:
        settings = Settings.from_env(env_file=env_file, environ=environ)
    except ConfigError as exc:
        return Check("settings", "problem", f"cannot build the settings: {exc}", _missing_fix(env_file)), None
    if settings.is_local:
        return Check("settings", "ok", "local mode (the emulator on this machine): no credentials needed"), settings
    wanted = ["MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_CALLBACK_URL"]
    if env == "production":
        wanted += ["MPESA_SHORTCODE", "MPESA_PASSKEY"]
    missing = [name for name in wanted if not raw.get(name)]
    if missing:
        return Check(
            "settings", "problem", f"{settings.environment} mode, missing: {', '.join(missing)}", _missing_fix(env_file)
        ), settings
    return Check(
        "settings", "ok", f"{settings.environment} mode at {settings.base_url}: every setting is there"
    ), settings


def _missing_fix(env_file: str | None) -> str:
    where = env_file or ".env"
    return (
        f"set the missing MPESA_* lines in {where} (consumer key and secret: your app on the Daraja portal, "
        "My Apps; MPESA_CALLBACK_URL: your endpoint's public https URL)"
    )


def check_token(settings: Settings | None, *, online: bool, timeout: float) -> Check:
    """Fetch a token for real (never shown) where Daraja can be reached; else say why not."""
    if settings is None:
        return Check("token", "not checked", "the settings are incomplete (see above)")
    if not online:
        return Check("token", "not checked", f"offline (--offline): did not try {settings.base_url}")
    provider = TokenProvider(settings.base_url, settings.consumer_key, settings.consumer_secret, timeout=timeout)
    try:
        provider.token()
    except TransportError as exc:
        if not exc.sent:
            return Check("token", "not checked", f"cannot reach {settings.base_url} (offline?): {exc.cause}")
        return Check("token", "problem", str(exc), "check the network, then run doctor again")
    except DarajaError as exc:
        return Check(
            "token", "problem", str(exc).split(" Fix: ")[0], exc.mitigation + (f" {exc.hint}" if exc.hint else "")
        )
    finally:
        provider.close()
    return Check("token", "ok", f"a token was fetched from {settings.base_url} (not shown)")


def check_password_shape(settings: Settings | None) -> Check:
    """Shortcode and passkey shapes, and whether they belong together (the sandbox's known pair)."""
    if settings is None:
        return Check("password", "not checked", "the settings are incomplete (see above)")
    shortcode, passkey = settings.shortcode, settings.passkey.reveal()
    if not _SHORTCODE.fullmatch(shortcode):
        return Check(
            "password",
            "problem",
            f"shortcode {shortcode!r} is not 5 to 7 digits",
            "set MPESA_SHORTCODE to your paybill or store number",
        )
    if not _PASSKEY.fullmatch(passkey):
        return Check(
            "password",
            "problem",
            f"the passkey is {len(passkey)} characters, not 64 hexadecimal ones as Daraja issues them "
            f"(fingerprint {settings.passkey.fingerprint})",
            "copy the whole passkey again (not the consumer secret); sandbox 174379: the test-data passkey on the portal",
        )
    if shortcode == SANDBOX_SHORTCODE and passkey != SANDBOX_PASSKEY:
        return Check(
            "password",
            "problem",
            f"shortcode 174379 with a passkey that is not its public one (fingerprint {settings.passkey.fingerprint})",
            "174379's passkey is the public test-data passkey (Daraja portal, Simulator/Test credentials)",
        )
    if passkey == SANDBOX_PASSKEY and shortcode != SANDBOX_SHORTCODE:
        return Check(
            "password",
            "problem",
            f"shortcode {shortcode} with 174379's public sandbox passkey: the pair does not match (Wrong credentials)",
            "use the passkey issued for your shortcode (production: the Go Live email), or shortcode 174379",
        )
    if settings.environment == "production" and passkey == SANDBOX_PASSKEY:
        return Check("password", "problem", "production with the sandbox passkey", "use your production passkey")
    return Check(
        "password", "ok", f"shortcode {shortcode} and a 64-character passkey: the Password will be well formed"
    )


def check_clock(settings: Settings | None, *, online: bool, timeout: float, now: Callable[[], datetime]) -> Check:
    """The local clock against the Date header of the base URL's answer (where reachable)."""
    local = now()
    here = f"local time {local.astimezone(NAIROBI):%H:%M:%S} Nairobi"
    if settings is None or not online:
        why = "offline (--offline)" if settings is not None else "no base URL (settings incomplete)"
        return Check("clock", "not checked", f"{here}; {why}: no server clock to compare with")
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            date = client.get(settings.base_url).headers.get("date")
    except httpx.HTTPError as exc:
        return Check("clock", "not checked", f"{here}; {settings.base_url} not reachable ({type(exc).__name__})")
    try:
        server = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        server = None
    if server is None:
        return Check("clock", "not checked", f"{here}; {settings.base_url} sent no Date header")
    skew = (local - server).total_seconds()
    if abs(skew) > MAX_SKEW_S:
        return Check(
            "clock",
            "problem",
            f"{here}, {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} {settings.base_url}'s clock",
            "turn on automatic time (NTP) on this machine; build Timestamps from that clock in Nairobi time "
            "(UTC+3), once per request for both Password and Timestamp",
        )
    return Check("clock", "ok", f"{here}, within {abs(skew):.0f} s of {settings.base_url}'s clock")


def _host_problem(host: str) -> str | None:
    host = host.lower().rstrip(".")
    if host in ("localhost", "ip6-localhost") or host.endswith((".localhost", ".local")):
        return f"{host} is this machine's own name: Daraja, on the internet, cannot reach it"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None if "." in host else f"{host} is an intranet name, unknown on the internet"
    if address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified:
        return f"{host} is a loopback, private or link-local address: Daraja cannot reach it"
    return None


def check_callback_url(url: str | None, *, local: bool) -> Check:
    """Whether Daraja could deliver to the CallBackURL at all: https and a public host."""
    if not url:
        if local:
            return Check("callback URL", "not checked", "local mode: the lab's own listener receives callbacks")
        return Check(
            "callback URL", "problem", "MPESA_CALLBACK_URL is not set", "set it to your endpoint's public https URL"
        )
    parts = urlsplit(url)
    host = parts.hostname or ""
    problems: list[str] = []
    fixes: list[str] = []
    if parts.scheme != "https":
        problems.append(f"{url} is plain {parts.scheme}: production requires https")
        fixes.append("serve the endpoint over https (a tunnel such as `mpesa-lab listen --expose` gives one)")
    why = _host_problem(host)
    if why is None and host:
        try:
            resolved = {info[4][0] for info in socket.getaddrinfo(host, None)}
        except OSError:
            resolved = set()  # offline: the name cannot be looked up, which is not its fault
        private = sorted(str(a) for a in resolved if _host_problem(str(a).split("%")[0]))
        if private:
            why = f"{host} resolves to {', '.join(private)}, not a public address"
    if why:
        problems.append(why)
        fixes.append("use a public URL (your server, or a tunnel to this machine)")
    if problems:
        return Check("callback URL", "problem", "; ".join(problems), "; ".join(fixes))
    return Check("callback URL", "ok", f"{url}: https and a public host name")


def check_callback_answers(url: str | None, *, online: bool, budget_s: float) -> Check:
    """POST one real "paid" callback (check-callback): reachable, no redirect, within the budget."""
    if not url:
        return Check("callback answers", "not checked", "no CallBackURL to try")
    if not online:
        return Check("callback answers", "not checked", "offline (--offline): no test callback was posted")
    try:
        report = check_callback(url, scenarios=["paid"], budget_s=budget_s, timeout_s=budget_s * 2)
    except CallbackCheckError as exc:
        return Check(
            "callback answers",
            "problem",
            f"not reachable: {exc}",
            "start the endpoint, and open the port in any firewall; a tunnel URL changes when the tunnel restarts",
        )
    result = report.results[0]
    if result.verdict == "fail":
        return Check("callback answers", "problem", result.detail, result.fix)
    return Check("callback answers", "ok", f'a test "paid" callback was acknowledged: {result.detail}')


def run_doctor(
    env_file: str | None = ".env",
    *,
    environ: Mapping[str, str] | None = None,
    online: bool = True,
    budget_s: float = DEFAULT_BUDGET_S,
    timeout: float = 10.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DoctorReport:
    """Every check on the configuration in ``env_file`` and the environment (os.environ by default)."""
    environ = os.environ if environ is None else environ
    settings_check, settings = check_settings(env_file, environ)
    report = DoctorReport([settings_check])
    report.checks.append(check_token(settings, online=online, timeout=timeout))
    report.checks.append(check_password_shape(settings))
    report.checks.append(check_clock(settings, online=online, timeout=timeout, now=now))
    callback_url = (
        settings.callback_url if settings is not None else _raw_values(env_file, environ).get("MPESA_CALLBACK_URL")
    )
    local = settings is not None and settings.is_local
    report.checks.append(check_callback_url(callback_url, local=local))
    report.checks.append(check_callback_answers(callback_url, online=online, budget_s=budget_s))
    return report


def run_from_args(
    print_line: Callable[[str], None], env_file: str, *, offline: bool, budget: float, as_json: bool
) -> int:
    """The command: print the report; 0 when nothing is wrong, 1 when a check found a problem."""
    if env_file != ".env" and not os.path.isfile(env_file):
        # A file named on purpose that is not there would otherwise read as "no settings: local
        # mode", and every check would pass on a configuration nobody meant.
        print_line(
            f"doctor could not run: no file at {env_file}: give the path of your .env "
            "(or leave --env-file out to read .env in this folder)"
        )
        return 2
    try:
        report = run_doctor(env_file, online=not offline, budget_s=budget)
    except MpesaLabError as exc:  # pragma: no cover - each check catches its own
        print_line(f"doctor could not run: {exc}")
        return 2
    print_line(report.to_json() if as_json else report.text())
    return 0 if report.ok else 1
