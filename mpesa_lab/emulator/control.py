"""The /_lab/ control API: the Python control functions over HTTP, for widgets and other processes.

Bodies and answers are JSON. Mistakes answer in Daraja's envelope shape too (400.002.02 with a
message saying what to send instead; 404.001.01 for an unknown transaction), so one error
parser serves both APIs. Bodies are strict: flags are JSON booleans (``"false"`` is not false),
numbers are finite, text is valid Unicode, a body is at most 64 kB; and a change is applied
whole or not at all.

When the emulator listens beyond loopback, every /_lab/ request needs the control token (header
``X-Lab-Token``), printed when the sandbox starts; on loopback the control API stays open.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import os
import secrets
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mpesa_lab.emulator.controls import PREFIX, Controls, route_table
from mpesa_lab.emulator.controls import Route as LabRoute
from mpesa_lab.emulator.errors import EmulatorError, EnvelopeError, UnknownTransaction
from mpesa_lab.emulator.validation import MAX_BODY_BYTES, encodable, listable, read_bounded
from mpesa_lab.secret import Secret

if TYPE_CHECKING:
    from mpesa_lab.emulator.state import EmulatorState

Handler = Callable[[Request], Awaitable[Response]]


def _bad(message: str) -> EnvelopeError:
    return EnvelopeError("400.002.02", f"Bad Request - {message}", 400)


TOKEN_HEADER = "x-lab-token"
MAX_TEXT = 4096
# The control token of each emulator that has one (set by Emulator.start / run_sandbox).
_tokens: weakref.WeakKeyDictionary[EmulatorState, str] = weakref.WeakKeyDictionary()


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def control_token_for(host: str, token: str | Secret | None = None) -> Secret | None:
    """The control token an emulator bound to ``host`` requires: the one given, else (beyond
    loopback) ``$MPESA_LAB_CONTROL_TOKEN`` or a new random one; None on loopback."""
    if isinstance(token, str):
        token = Secret(token)
    if token is None and not is_loopback(host):
        token = Secret(os.environ.get("MPESA_LAB_CONTROL_TOKEN") or secrets.token_urlsafe(24))
    return token


def require_token(state: EmulatorState, token: str | None) -> None:
    """Require ``token`` (header X-Lab-Token) on every /_lab/ request; None opens the API again."""
    if token is None:
        _tokens.pop(state, None)
    else:
        if not isinstance(token, str) or len(token) < 16 or not token.isascii():
            raise ValueError("a control token must be at least 16 ASCII characters")
        _tokens[state] = token


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large")
    return value


def _check_values(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_TEXT or not encodable(item):
                raise _bad(f"text values must be valid Unicode of at most {MAX_TEXT} characters")
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > 10**15:
            raise _bad("numbers must be between -1e15 and 1e15")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


async def _body(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    raw = await read_bounded(request.receive)
    if raw is None:
        raise _bad("the request body did not arrive")
    if len(raw) > MAX_BODY_BYTES:
        raise _bad(f"the control API takes bodies of at most {MAX_BODY_BYTES} bytes")
    data: Any = {}
    if raw.strip():
        try:
            data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
        except (ValueError, RecursionError):
            data = None
    if not isinstance(data, dict):
        raise _bad("the control API expects a JSON object body (finite numbers, no NaN)")
    _check_values(data)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise _bad(f"unknown field(s) {', '.join(unknown)} for {request.url.path}; allowed: {', '.join(allowed)}")
    return data


def _check_flag(name: str, value: Any) -> None:
    """A JSON boolean field: ``"false"`` or ``0`` is a mistake, not a value."""
    if not isinstance(value, bool):
        raise _bad(f"{name} must be true or false (a JSON boolean); got {value!r}")


class SafeJSONResponse(JSONResponse):
    """JSON that survives whatever text a listing holds: strict JSON, always UTF-8."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except (ValueError, UnicodeEncodeError):
            # A lone surrogate or a NaN somewhere in stored data: list it printable.
            return super().render(listable(content))


def _token_ok(state: EmulatorState, request: Request) -> bool:
    token = _tokens.get(state)
    if token is None:
        return True
    given = request.headers.get(TOKEN_HEADER, "")
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


def control_routes(state: EmulatorState) -> list[Route]:
    """Routes under /_lab/, built from the controls' description (controls.py); they answer 404
    when the config's ``control_api`` is off."""
    controls = Controls(state)
    by_path: dict[str, dict[str, tuple[LabRoute, Callable[..., Any]]]] = {}
    for spec, name in route_table():
        by_path.setdefault(spec.path, {})[spec.method] = (spec, getattr(controls, name))

    def endpoint_for(served: dict[str, tuple[LabRoute, Callable[..., Any]]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not _token_ok(state, request):
                raise EnvelopeError(
                    "401.002.01",
                    "Unauthorized - this emulator listens beyond loopback: send its "
                    "control token (printed when it started) in the X-Lab-Token header",
                    401,
                )
            if not state.config.control_api:
                raise EnvelopeError.named("resource_not_found")
            spec, control = served["GET" if request.method == "HEAD" else request.method]
            try:
                result = await _call(spec, control, request)
            except UnknownTransaction as exc:
                raise EnvelopeError("404.001.01", f"Resource not found - {exc}"[:500], 404) from None
            except (EmulatorError, TypeError, ValueError) as exc:
                raise _bad(str(exc)[:500]) from None
            return SafeJSONResponse(result)

        return endpoint

    return [Route(PREFIX + path, endpoint_for(served), methods=list(served)) for path, served in by_path.items()]


async def _call(spec: LabRoute, control: Callable[..., Any], request: Request) -> Any:
    """One control called as ``spec`` says: path parameters in order, then query and body fields
    by name; its answer rendered and wrapped as ``spec`` says."""
    args = list(request.path_params.values())
    kwargs: dict[str, Any] = {name: request.query_params.get(name) for name in spec.query}
    if spec.body is not None:
        body = await _body(request, spec.body)
        if any(name not in body for name in spec.required):
            raise _bad(spec.missing)
        for name in spec.flags:
            if name in body:
                _check_flag(name, body[name])
        kwargs.update(body)
    result = control(*args, **kwargs)
    if spec.render is not None:
        result = spec.render(result)
    return {spec.key: result} if spec.key else result
