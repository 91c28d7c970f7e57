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

import dataclasses
import hmac
import ipaddress
import json
import math
import os
import secrets
import weakref
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mpesa_lab.emulator import defaults
from mpesa_lab.emulator.config import public_view
from mpesa_lab.emulator.errors import DarajaError
from mpesa_lab.emulator.scenarios import ERROR_PHONES, ERROR_TRIGGERS, PROFILES, SCENARIOS, TRIGGERS
from mpesa_lab.emulator.validation import MAX_BODY_BYTES, encodable, listable, read_bounded
from mpesa_lab.secret import Secret

if TYPE_CHECKING:
    from mpesa_lab.emulator.state import EmulatorState

PREFIX = "/_lab"
Handler = Callable[[Request], Awaitable[Response]]


def _bad(message: str) -> DarajaError:
    return DarajaError("400.002.02", f"Bad Request - {message}", 400)


TOKEN_HEADER = "x-lab-token"
MAX_TEXT = 4096
# The control token of each emulator that has one (set by Emulator.start / run_sandbox).
_tokens: "weakref.WeakKeyDictionary[EmulatorState, str]" = weakref.WeakKeyDictionary()


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def control_token_for(host: str, token: "str | Secret | None" = None) -> "Secret | None":
    """The control token an emulator bound to ``host`` requires: the one given, else (beyond
    loopback) ``$MPESA_LAB_CONTROL_TOKEN`` or a new random one; None on loopback."""
    if isinstance(token, str):
        token = Secret(token)
    if token is None and not is_loopback(host):
        token = Secret(os.environ.get("MPESA_LAB_CONTROL_TOKEN") or secrets.token_urlsafe(24))
    return token


def require_token(state: "EmulatorState", token: str | None) -> None:
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


def _flag(body: dict[str, Any], name: str, default: bool = False) -> bool:
    """A JSON boolean field: ``"false"`` or ``0`` is a mistake, not a value."""
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise _bad(f"{name} must be true or false (a JSON boolean); got {value!r}")
    return value


class SafeJSONResponse(JSONResponse):
    """JSON that survives whatever text a listing holds: strict JSON, always UTF-8."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except (ValueError, UnicodeEncodeError):
            # A lone surrogate or a NaN somewhere in stored data: list it printable.
            return super().render(listable(content))


def _token_ok(state: "EmulatorState", request: Request) -> bool:
    token = _tokens.get(state)
    if token is None:
        return True
    given = request.headers.get(TOKEN_HEADER, "")
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


def control_routes(state: "EmulatorState") -> list[Route]:
    """Routes under /_lab/ (they answer 404 when the config's ``control_api`` is off)."""
    from mpesa_lab.emulator.state import EmulatorError, UnknownTransaction

    def guarded(fn: Callable[[Request], Awaitable[Any]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            if not _token_ok(state, request):
                raise DarajaError(
                    "401.002.01", "Unauthorized - this emulator listens beyond loopback: send its "
                    "control token (printed when it started) in the X-Lab-Token header", 401)
            if not state.config.control_api:
                raise DarajaError.named("resource_not_found")
            try:
                result = await fn(request)
            except UnknownTransaction as exc:
                raise DarajaError("404.001.01", f"Resource not found - {exc}"[:500], 404) from None
            except (EmulatorError, TypeError, ValueError) as exc:
                raise _bad(str(exc)[:500]) from None
            return result if isinstance(result, Response) else SafeJSONResponse(result)

        return endpoint

    async def index(request: Request) -> Any:
        return {
            "emulator": "mpesa-lab local Daraja",
            "credentials": {
                "consumer_key": defaults.LAB_CONSUMER_KEY,
                "consumer_secret": defaults.LAB_CONSUMER_SECRET,
                "paybill": {"BusinessShortCode": defaults.PAYBILL_SHORTCODE, "PartyB": defaults.PAYBILL_SHORTCODE,
                            "passkey": defaults.PAYBILL_PASSKEY},
                "till": {"BusinessShortCode": defaults.TILL_SHORTCODE, "PartyB": defaults.TILL_NUMBER,
                         "passkey": defaults.TILL_PASSKEY},
                "test_msisdn": defaults.TEST_MSISDN,
            },
            "routes": sorted({f"{m} {r.path}" for r in routes for m in (r.methods or ()) if m != "HEAD"}),
            "state": state.summary(),
        }

    async def transactions(request: Request) -> Any:
        return {"transactions": state.transactions_list(request.query_params.get("phone"))}

    async def transaction(request: Request) -> Any:
        with state.lock:
            return state.get(request.path_params["cid"]).to_dict()

    async def answer(request: Request) -> Any:
        body = await _body(request, ("pin", "cancel", "ignore"))
        return state.answer(request.path_params["cid"], pin=body.get("pin"),
                            cancel=_flag(body, "cancel"), ignore=_flag(body, "ignore"))

    async def prompts(request: Request) -> Any:
        return {"prompts": state.pending_prompts(request.query_params.get("phone"))}

    async def next_result(request: Request) -> Any:
        body = await _body(request, ("code", "phone", "result_desc"))
        if "code" not in body:
            raise _bad("send {\"code\": \"1032\"} (and optionally \"phone\", \"result_desc\")")
        return state.set_next_result(body["code"], phone=body.get("phone"), result_desc=body.get("result_desc"))

    async def scenario(request: Request) -> Any:
        if request.method == "GET":
            return state.set_scenario()
        body = await _body(request, ("name", "mix", "interactive"))
        return state.set_scenario(body.get("name"), mix=body.get("mix"), interactive=body.get("interactive"))

    async def config(request: Request) -> Any:
        if request.method == "POST":
            body = await _body(request, tuple(f.name for f in dataclasses.fields(state.config)))
            state.configure(**body)
        return public_view(state.config)

    async def merchants(request: Request) -> Any:
        if request.method == "POST":
            body = await _body(request, ("shortcode", "passkey", "kind", "till_number", "name", "balance",
                                         "max_balance"))
            if "shortcode" not in body or "passkey" not in body:
                raise _bad("send at least {\"shortcode\": ..., \"passkey\": ...}")
            return state.register_merchant(body.pop("shortcode"), body.pop("passkey"), **body)
        with state.lock:
            return {"merchants": [m.to_dict() for m in state.merchants.values()]}

    async def subscribers(request: Request) -> Any:
        if request.method == "POST":
            body = await _body(request, ("phone", "pin", "balance", "profile", "daily_limit", "max_transaction",
                                         "daily_total", "locked"))
            if "phone" not in body:
                raise _bad("send at least {\"phone\": \"2547XXXXXXXX\"}")
            if "locked" in body:
                body["locked"] = _flag(body, "locked")
            return state.register_subscriber(body.pop("phone"), **body)
        with state.lock:
            return {"subscribers": [s.to_dict() for s in state.subscribers.values()], "profiles": PROFILES}

    async def unlock(request: Request) -> Any:
        return state.unlock_subscriber(request.path_params["phone"])

    async def apps(request: Request) -> Any:
        if request.method == "POST":
            body = await _body(request, ("key", "secret", "name"))
            if "key" not in body or "secret" not in body:
                raise _bad("send {\"key\": ..., \"secret\": ...}")
            return state.register_app(body["key"], body["secret"], name=body.get("name", ""))
        with state.lock:
            return {"apps": [a.to_dict() for a in state.apps.values()]}

    async def faults(request: Request) -> Any:
        if request.method == "POST":
            body = await _body(request, ("kind", "checkout_request_id", "phone", "count", "seconds", "copies"))
            if "kind" not in body:
                raise _bad("send {\"kind\": \"drop\" | \"delay\" | \"duplicate\" | \"out_of_order\", ...}")
            return state.inject_callback_fault(body.pop("kind"), **body)
        if request.method == "DELETE":
            return {"cleared": state.faults.clear()}
        return {"faults": [f.to_dict() for f in state.faults.list()]}

    async def attempts(request: Request) -> Any:
        return {"attempts": state.callback_attempts(request.query_params.get("checkout_request_id"))}

    async def errors(request: Request) -> Any:
        if request.method == "POST":
            body = await _body(request, ("code", "message", "count", "route", "status"))
            if "code" not in body:
                raise _bad("send {\"code\": \"500.003.02\", ...}")
            return state.fail_next(body.pop("code"), **body)
        if request.method == "DELETE":
            with state.lock:
                n = len(state.injected)
                state.injected.clear()
            return {"cleared": n}
        return {"injected": state.summary()["injected_errors"], "magic_phones": ERROR_PHONES}

    async def reset(request: Request) -> Any:
        body = await _body(request, ("keep_tokens",))
        state.reset(keep_tokens=_flag(body, "keep_tokens", True))
        return {"reset": True}

    async def triggers(request: Request) -> Any:
        return {"triggers": [dataclasses.asdict(t) for t in TRIGGERS], "error_phones": ERROR_PHONES,
                "error_triggers": [dataclasses.asdict(t) for t in ERROR_TRIGGERS],
                "scenarios": SCENARIOS, "profiles": PROFILES}

    def route(path: str, fn: Callable[[Request], Awaitable[Any]], methods: list[str]) -> Route:
        return Route(PREFIX + path, guarded(fn), methods=methods)

    routes = [
        route("", index, ["GET"]),
        route("/", index, ["GET"]),
        route("/transactions", transactions, ["GET"]),
        route("/transactions/{cid}", transaction, ["GET"]),
        route("/transactions/{cid}/answer", answer, ["POST"]),
        route("/prompts", prompts, ["GET"]),
        route("/next-result", next_result, ["POST"]),
        route("/scenario", scenario, ["GET", "POST"]),
        route("/config", config, ["GET", "POST"]),
        route("/merchants", merchants, ["GET", "POST"]),
        route("/subscribers", subscribers, ["GET", "POST"]),
        route("/subscribers/{phone}/unlock", unlock, ["POST"]),
        route("/apps", apps, ["GET", "POST"]),
        route("/callback-faults", faults, ["GET", "POST", "DELETE"]),
        route("/callback-attempts", attempts, ["GET"]),
        route("/errors", errors, ["GET", "POST", "DELETE"]),
        route("/reset", reset, ["POST"]),
        route("/triggers", triggers, ["GET"]),
    ]
    return routes
