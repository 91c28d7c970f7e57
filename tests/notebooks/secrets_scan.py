"""Find text that looks like a credential: keys, secrets, passkeys, tokens.

Public values are allowed: the sandbox's and the emulator's published passkeys, the emulator's
lab app, and obvious placeholders (``paste-your-...``, ``<your key>``). Anything else shaped like
a Daraja consumer key or secret, an access token, an ngrok authtoken, a passkey or a bearer
token is reported with where it was found (the value itself is shown truncated).
"""

from __future__ import annotations

import re

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, SANDBOX_PASSKEY

# The emulator's till passkey (docs/emulator.md): public, valid only against the emulator.
TILL_PASSKEY = "5ed26e70e15a9948cbd97a639ed8d59a68acdbe0f8d609297f2559db0579ae25"
PUBLIC = {SANDBOX_PASSKEY, TILL_PASSKEY, LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET}

PLACEHOLDER = re.compile(
    r"^(<[^>]*>|\.\.\.|(paste|your|put|insert|example|made|fake|not)[-_a-z]*|x{3,}|changeme)$", re.I
)

# Long runs of token characters; judged by _credential_like below.
CANDIDATE = re.compile(r"(?<![A-Za-z0-9_\-+/=])[A-Za-z0-9_\-+/=.]{20,}")
# NAME=value lines (.env style) and name = "value" assignments whose name says secret.
ENV_LINE = re.compile(
    r"^\s*(?:export\s+)?([A-Z0-9_]*(?:KEY|SECRET|TOKEN|PASSKEY|PASSWORD)[A-Z0-9_]*)\s*=\s*(\S+)\s*$", re.M
)
QUOTED = re.compile(
    r"(?i)\b(\w*(?:secret|passkey|token|password|api_?key|consumer_key)\w*)\s*[=:]\s*[\"']([^\"'\s]{6,})[\"']"
)
BEARER = re.compile(r"(?i)\b(?:Bearer|Basic)\s+([A-Za-z0-9._\-+/=]{12,})")


def _credential_like(value: str) -> bool:
    core = value.strip("=.").rstrip("=")
    if value in PUBLIC or core in PUBLIC:
        return False
    if re.fullmatch(r"[0-9a-fA-F]{32,}", core):
        return True  # a passkey or a hex secret
    letters = sum(c.isalpha() for c in core)
    digits = sum(c.isdigit() for c in core)
    if letters < 4 or digits < 2:
        return False  # words joined by dashes, long numbers (phones, timestamps)
    if re.fullmatch(r"[a-z0-9]+(?:[-_.][a-z0-9]+)+", core) and len(max(re.split(r"[-_.]", core), key=len)) < 16:
        return False  # a lower-case slug such as a file or lesson name
    if re.fullmatch(r"\d+(?:[-_.]\d+)*", core):
        return False
    upper = sum(c.isupper() for c in core)
    lower = sum(c.islower() for c in core)
    # Tokens and keys mix cases and digits; plain identifiers rarely do at this length.
    return (upper and lower) or len(core) >= 32


def find_secrets(text: str, where: str = "") -> list[str]:
    """Every credential-looking value in ``text``, described as ``where: kind 'abc...'``."""
    found: list[str] = []

    def report(kind: str, value: str) -> None:
        found.append(f"{where}: {kind} {value[:6]!r}... ({len(value)} chars)")

    for match in ENV_LINE.finditer(text):
        value = match.group(2).strip("'\"")
        if (
            value
            and value not in PUBLIC
            and not PLACEHOLDER.match(value)
            and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value)
        ):
            report(f"{match.group(1)}=", value)
    for match in QUOTED.finditer(text):
        value = match.group(2)
        if value not in PUBLIC and not PLACEHOLDER.match(value):
            report(f"{match.group(1)} =", value)
    for match in BEARER.finditer(text):
        value = match.group(1)
        if value not in PUBLIC and not PLACEHOLDER.match(value) and _credential_like(value):
            report("Authorization", value)
    for match in CANDIDATE.finditer(text):
        value = match.group(0)
        if _credential_like(value):
            report("token-like value", value)
    return sorted(set(found))
