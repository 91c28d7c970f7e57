"""Checks for notebook 11, troubleshooting by symptom: one timestamp per request, and a
CallBackURL that Daraja's POST really reaches."""

from __future__ import annotations

from typing import Any

from mpesa_lab.course.checks._shared import reveal, todo, type_name, unanswered, verdict
from mpesa_lab.course.verdict import Verdict
from mpesa_lab.password import PasswordDecodeError, decode_password
from mpesa_lab.secret import Secret

# What each way a callback is lost looks like in the emulator's record, and its fix.
_LOST = (
    ("not reachable from the internet", "Daraja is on the internet and cannot reach that host: use a public https URL"),
    ("HTTP 405", "the route answers only GET (a page for browsers): accept POST on the callback route"),
    ("HTTP 403", "the route refused the POST (CSRF protection): exempt the callback route from CSRF"),
    ("HTTP 30", "the URL redirects and Daraja does not follow redirects: give the final URL, exactly"),
    ("HTTP 404", "no route at that path (or a tunnel URL that changed): check the path and the current URL"),
    ("Connect", "nothing answers there (server stopped, wrong port, a firewall, an old tunnel URL): start it, open it"),
)


def one_timestamp(body: Any, passkey: str | Secret) -> Verdict:
    """A push body whose Password was built from its own BusinessShortCode and Timestamp."""
    name = "One timestamp per request"
    if unanswered(body):
        return todo(name, "Compute the timestamp once, then build the Password and fill Timestamp with that value.")
    if not isinstance(body, dict):
        return verdict(name, [f"the body must be a dict (the JSON object), not {type_name(body)}"])
    missing = [f for f in ("BusinessShortCode", "Password", "Timestamp") if not body.get(f)]
    if missing:
        return verdict(
            name,
            [
                f"the body has no {', '.join(missing)}: Daraja answers 400.002.02 Bad Request - Invalid {missing[0]}; "
                "keep every field and make Password and Timestamp agree"
            ],
        )
    try:
        inside = decode_password(str(body["Password"]))
    except PasswordDecodeError as exc:
        return verdict(name, [str(exc)])
    problems = []
    if inside.timestamp != str(body["Timestamp"]):
        problems.append(
            f"the Password was built at {inside.timestamp} but the Timestamp field says {body['Timestamp']}: "
            "the timestamp was computed twice; compute it once and use that value for both"
        )
    if inside.shortcode != str(body["BusinessShortCode"]):
        problems.append(
            f"the Password holds shortcode {inside.shortcode} but BusinessShortCode is {body['BusinessShortCode']}: "
            "build it from the shortcode you send"
        )
    if inside.passkey.reveal() != reveal(passkey):
        problems.append(
            f"the passkey inside the Password is not this shortcode's (fingerprint {inside.passkey.fingerprint}): "
            "use the passkey issued for the shortcode"
        )
    return verdict(name, problems, "Daraja will not answer Wrong credentials for this body.")


def callback_delivered(push: Any, lab: Any, app: Any) -> Verdict:
    """A push of this lab whose callback the emulator delivered (2xx) to a route of ``app``."""
    name = "The callback arrives"
    if unanswered(push):
        return todo(name, "Push with callback_url=app.url(<the route that works>).")
    cid = getattr(push, "checkout_request_id", None)
    emulator = getattr(lab, "emulator", None)
    if not isinstance(cid, str) or emulator is None:
        return verdict(name, [f"give the Push that lab.push(...) returned, not {type_name(push)}"])
    try:
        attempts = emulator.wait_for_callbacks(cid, timeout=10)
    except (KeyError, ValueError):
        return verdict(name, [f"{cid} is no push of this lab: push with lab.push(...)"])
    except TimeoutError:
        return verdict(name, ["no callback was attempted within 10 s: did the push reach its result?"])
    attempt = attempts[-1]
    url = str(attempt.get("url") or "")
    base = str(getattr(getattr(app, "served", None), "url", "") or "")
    if not base or not url.startswith(base + "/"):
        where = "the lab's own listener" if url == getattr(lab, "callback_url", None) else url
        return verdict(name, [f"the callback went to {where}, not to your app: pass callback_url=app.url(...)"])
    status = attempt.get("status")
    if isinstance(status, int) and 200 <= status < 300:
        return verdict(name, [], f"{url} answered HTTP {status}: the callback arrived.")
    error = str(attempt.get("error") or f"HTTP {status}")
    fix = next((f for symptom, f in _LOST if symptom in error), "read the error and compare with the symptoms above")
    return verdict(name, [f"the callback to {url} was lost ({error}): {fix}"])
