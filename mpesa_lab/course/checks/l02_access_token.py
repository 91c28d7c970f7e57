"""Checks for notebook 02, the access token: the Basic header and when to refresh."""

from __future__ import annotations

from typing import Any

from mpesa_lab.course.checks._shared import decode_b64_text, reveal, todo, type_name, unanswered, verdict
from mpesa_lab.course.verdict import Verdict
from mpesa_lab.secret import Secret


def basic_auth(header: Any, consumer_key: str, consumer_secret: str | Secret) -> Verdict:
    """The OAuth ``Authorization`` header: ``Basic base64(consumer_key:consumer_secret)``."""
    name = "Basic auth header"
    if unanswered(header):
        return todo(name, "Build 'Basic ' + base64 of 'consumer_key:consumer_secret'.")
    key, secret = str(consumer_key), reveal(consumer_secret)
    if isinstance(header, bytes):
        return verdict(
            name,
            [
                "the header is bytes (b'...'): HTTP headers here are text; call .decode('ascii') on the "
                "base64 part and put 'Basic ' in front"
            ],
        )
    if not isinstance(header, str):
        return verdict(name, [f"the header must be a str, not {type_name(header)}"])
    problems: list[str] = []
    text = header
    scheme, _, encoded = text.partition(" ")
    if not encoded:
        scheme, encoded = "", text
        problems.append("the header lacks the scheme: it must start with 'Basic ' (with one space)")
    elif scheme != "Basic":
        if scheme.lower() == "basic":
            problems.append(f"the scheme is {scheme!r}: write it exactly 'Basic'")
        elif scheme.lower() == "bearer":
            problems.append(
                "'Bearer' is for the access token on the push and query; the OAuth call itself uses 'Basic'"
            )
        else:
            problems.append(f"the header starts with {scheme!r}: it must start with 'Basic '")
    encoded = encoded.strip()
    decoded = decode_b64_text(encoded)
    if decoded is None:
        if encoded == f"{key}:{secret}":
            problems.append(
                "the key and secret are not base64-encoded: encode 'key:secret' with base64.b64encode(...).decode()"
            )
        elif encoded.startswith("b'") or encoded.startswith('b"'):
            problems.append(
                "the header contains b'...': you formatted bytes into the string; call "
                ".decode() on base64.b64encode(...) first"
            )
        else:
            problems.append("the part after 'Basic ' is not valid base64")
        return verdict(name, problems)
    if decoded != f"{key}:{secret}":
        if decoded == f"{secret}:{key}":
            problems.append("the key and the secret are swapped: the consumer key comes first")
        elif decoded in (f"{key}{secret}", f"{key} {secret}", f"{key};{secret}"):
            problems.append("key and secret must be joined by one colon ':'")
        elif decoded.strip() == f"{key}:{secret}":
            problems.append("there is whitespace (a newline?) around 'key:secret' inside the base64")
        elif ":" in decoded:
            got_key, _, got_secret = decoded.partition(":")
            if got_key != key:
                problems.append(f"the consumer key inside is {got_key!r}, expected {key!r}")
            if got_secret != secret:
                problems.append(
                    "the consumer secret inside is not the one given (check for a typo or a secret from another app)"
                )
        else:
            problems.append("the base64 does not decode to 'consumer_key:consumer_secret'")
    return verdict(name, problems, "This is what TokenProvider sends to /oauth/v1/generate.")


def token_refresh(seconds: Any, expires_in: Any, margin: float) -> Verdict:
    """Seconds after fetching at which to refresh a token: ``float(expires_in) - margin``."""
    name = "When to refresh"
    if unanswered(seconds):
        return todo(name, "Turn expires_in into a number of seconds and subtract the margin.")
    lifetime = float(str(expires_in).strip())
    expected = lifetime - margin
    if isinstance(seconds, str):
        return verdict(
            name,
            [
                f"the answer is the text {seconds!r}: Daraja sends expires_in as a string, so convert it "
                "with int() or float() before doing arithmetic"
            ],
        )
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return verdict(name, [f"the answer must be a number of seconds, not {type_name(seconds)}"])
    if abs(seconds - expected) < 1e-6:
        return verdict(name, [], f"Refresh after {expected:g} s, before Daraja starts answering 404.001.03.")
    if abs(seconds - lifetime) < 1e-6:
        problem = (
            f"{seconds:g} s is the moment the token dies: a call sent then can fail with "
            f"404.001.03 Invalid Access Token; refresh {margin:g} s earlier"
        )
    elif abs(seconds - (lifetime + margin)) < 1e-6:
        problem = f"you added the margin: refresh {margin:g} s *before* expiry, not after"
    elif abs(seconds - lifetime / 60) < 1e-6 or abs(seconds - expected / 60) < 1e-6:
        problem = "that looks like minutes: expires_in is in seconds, and so is the answer"
    else:
        problem = f"{seconds:g} s is not expires_in ({lifetime:g} s) minus the margin ({margin:g} s)"
    return verdict(name, [problem])
