"""Checks for notebook 08, the real sandbox: the .env file and the CallBackURL."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from mpesa_lab.constants import SANDBOX_PASSKEY
from mpesa_lab.course.checks._shared import todo, type_name, unanswered, verdict
from mpesa_lab.course.verdict import Verdict

_PLACEHOLDER = re.compile(r"^(<.*>|\.\.\.|your[-_ ].*|paste[-_ ].*|x+|changeme)$", re.I)


def env_file(text: Any) -> Verdict:
    """A ``.env`` for the real sandbox: MPESA_ENV=sandbox, key, secret, and a way to get callbacks."""
    name = ".env for the sandbox"
    if unanswered(text):
        return todo(name, "Write the lines KEY=value that Lab.start(environment='sandbox') reads.")
    if not isinstance(text, str):
        return verdict(name, [f"the .env must be text, not {type_name(text)}"])
    values: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].strip()
        if "=" not in stripped:
            problems.append(f"line {number} has no '=': write NAME=value")
            continue
        key, _, value = stripped.partition("=")
        key = key.strip()
        value = value.strip().strip("'\"")
        if key != key.upper():
            problems.append(f"line {number}: variable names are upper case ({key.upper()})")
            key = key.upper()
        values[key] = value
    env = values.get("MPESA_ENV", "")
    if env.lower() != "sandbox":
        problems.append(
            "MPESA_ENV must be 'sandbox'"
            + (f" (it is {env!r})" if env else " (it is missing)")
            + ": without it the lab stays local"
        )
    for var in ("MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET"):
        if not values.get(var):
            problems.append(f"{var} is missing: copy it from your app on the Daraja portal (My Apps)")
    placeholders = {
        "MPESA_CONSUMER_KEY": "paste-your-consumer-key",
        "MPESA_CONSUMER_SECRET": "paste-your-consumer-secret",
        "NGROK_AUTHTOKEN": "paste-your-ngrok-authtoken",
    }
    for var, placeholder in placeholders.items():
        # A notebook gets shared, committed and projected: the exercise asks for placeholders.
        if values.get(var) and not _PLACEHOLDER.match(values[var]):
            problems.append(
                f"{var} holds a value, not a placeholder: this notebook may be shared, so "
                f"write {var}={placeholder} here and the real value only in the .env file"
            )
    if not (values.get("NGROK_AUTHTOKEN") or values.get("MPESA_CALLBACK_URL")):
        problems.append(
            "nothing gives Safaricom a public URL: add NGROK_AUTHTOKEN (the lab opens a "
            "tunnel) or MPESA_CALLBACK_URL (a public https URL of your own)"
        )
    callback = values.get("MPESA_CALLBACK_URL")
    if callback and not _PLACEHOLDER.match(callback) and not callback.startswith("https://"):
        problems.append("MPESA_CALLBACK_URL must be a public https:// URL")
    if values.get("MPESA_SHORTCODE") and values["MPESA_SHORTCODE"] != "174379":
        problems.append("the sandbox's test paybill is 174379: leave MPESA_SHORTCODE out (or set 174379)")
    passkey = values.get("MPESA_PASSKEY")
    if passkey and passkey != SANDBOX_PASSKEY and not _PLACEHOLDER.match(passkey):
        problems.append("MPESA_PASSKEY is not the sandbox's public passkey: leave it out, the lab knows it")
    if values.get("MPESA_BASE_URL") and "sandbox.safaricom.co.ke" not in values["MPESA_BASE_URL"]:
        problems.append("MPESA_BASE_URL points somewhere else than the sandbox: leave it out")
    return verdict(name, problems, "Keep it out of git (.env is in .gitignore) and out of notebooks.")


def callback_url(value: Any, public_url: str, path: str) -> Verdict:
    """The CallBackURL for the sandbox: the tunnel's public https URL + the listener's secret path."""
    name = "CallBackURL"
    if unanswered(value):
        return todo(name, "Join the tunnel's public URL and the listener's callback path.")
    if not isinstance(value, str):
        return verdict(name, [f"the CallBackURL must be a str, not {type_name(value)}"])
    expected = public_url.rstrip("/") + "/" + path.lstrip("/")
    if value == expected:
        return verdict(name, [], "Safaricom can reach it, and only someone who knows the path can post to it.")
    problems = []
    parts = urlsplit(value)
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1", "0.0.0.0") or host.startswith("192.168.") or host.startswith("10."):
        problems.append(
            f"{host} is only reachable from this machine: Safaricom's servers cannot POST "
            "to it; use the tunnel's public URL"
        )
    elif parts.scheme != "https":
        problems.append("use https: production refuses plain http and the tunnel gives you https")
    if not parts.path.rstrip("/").endswith(path.strip("/")):
        problems.append(
            "the listener's secret callback path is missing: without it the listener "
            "answers 404 and the callback is lost"
        )
    if "//" in parts.path:
        problems.append("there is a double slash in the path: join with exactly one '/'")
    if any(c.isspace() for c in value):
        problems.append("there is whitespace in the URL: Daraja answers Invalid CallBackURL")
    if not problems:
        problems.append(f"expected {expected!r}")
    return verdict(name, problems)
