"""Typed exceptions in Daraja's own terms.

Every Daraja error answer (``{"requestId", "errorCode", "errorMessage"}``) becomes one exception
class per documented error, carrying the code, the message, the request id, the HTTP status, the
catalogue entry (:mod:`mpesa_lab.codes`) and its documented mitigation. Unknown codes become
:class:`UnknownDarajaError` with everything kept. No exception here ever holds a secret: no
Password, passkey, consumer secret or access token, and no httpx request (its headers carry the
token).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from mpesa_lab import codes
from mpesa_lab.codes import CodeEntry

# The ground floor's errors, re-exported: callers that catch them from here keep working.
from mpesa_lab.errors import ConfigError as ConfigError
from mpesa_lab.errors import MpesaLabError as MpesaLabError
from mpesa_lab.errors import MpesaLabWarning as MpesaLabWarning


class CallbackURLWarning(MpesaLabWarning):
    """The CallBackURL will probably not receive callbacks (plain http, localhost, private host)."""


class RequestWarning(MpesaLabWarning):
    """A request is accepted but looks wrong (e.g. a till push whose PartyB is the store number)."""


class ValidationError(MpesaLabError, ValueError):
    """A request value was refused before anything was sent.

    ``field`` is Daraja's field name (e.g. ``Amount``), ``value`` what was given, ``rule`` the rule
    it breaks and ``fix`` what to do instead.
    """

    def __init__(self, field: str, value: Any, rule: str, fix: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        self.fix = fix
        super().__init__(f"{field} {value!r} refused: {rule}. Fix: {fix}")

    def __reduce__(self) -> Any:
        return (type(self), (self.field, self.value, self.rule, self.fix))


# --------------------------------------------------------------------------------------------
# Daraja's answers


class DarajaError(MpesaLabError):
    """Daraja answered with an error. Carries everything Daraja said, and what to do about it."""

    #: Daraja did not process the request, so sending it again is safe.
    retryable: bool = False

    def __init__(
        self,
        *,
        error_code: str | None,
        error_message: str | None,
        request_id: str | None = None,
        http_status: int | None = None,
        entry: CodeEntry | None = None,
        raw: Any = None,
        operation: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.error_code = error_code
        self.error_message = error_message
        self.request_id = request_id
        self.http_status = http_status
        self.entry = entry if entry is not None else codes.lookup(error_code or "", error_message)
        self.mitigation = self.entry.mitigation
        self.raw = raw
        self.operation = operation
        self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        head = " ".join(p for p in (self.error_code, self.error_message) if p) or "Daraja error"
        where = [f"HTTP {self.http_status}" if self.http_status is not None else None]
        where.append(f"requestId {self.request_id}" if self.request_id else None)
        where.append(self.operation)
        context = ", ".join(p for p in where if p)
        text = f"{head} ({context})" if context else head
        text += "."
        if self.entry.known and self.entry.explanation:
            text += f" {self.entry.explanation.rstrip('.')}."
        text += f" Fix: {self.mitigation}"
        if self.hint:
            text += f" {self.hint}"
        return text

    def with_hint(self, hint: str) -> DarajaError:
        """Add context known only to the caller (e.g. how the Password was built) to the message."""
        self.hint = f"{self.hint} {hint}" if self.hint else hint
        self.args = (self._compose(),)
        return self

    def __reduce__(self) -> Any:
        state = dict(self.__dict__)
        return (_rebuild, (type(self), state))


def _rebuild(cls: type[DarajaError], state: dict[str, Any]) -> DarajaError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._compose())
    return error


class BadRequest(DarajaError):
    """400.002.02 "Bad Request - Invalid <Field>"; ``field`` is the field Daraja named."""

    @property
    def field(self) -> str | None:
        return codes.invalid_field(self.error_message)


class InvalidAccessToken(DarajaError):
    """404.001.03: the Bearer token is missing, unknown or expired."""


class ProductNotEnabled(InvalidAccessToken):
    """401 "... no apiproduct match found": the app's token is valid, but the app does not have
    the M-Pesa Express product. A fresh token will not help; enabling the product will."""


class ResourceNotFound(DarajaError):
    """404.001.01: no API at this path."""


class MethodNotAllowed(DarajaError):
    """405.001: wrong HTTP method."""


class MerchantDoesNotExist(DarajaError):
    """500.001.1001 "Merchant does not exist"."""


class WrongCredentials(DarajaError):
    """500.001.1001 "Wrong credentials": the Password does not match shortcode/passkey/timestamp."""


class SubscriberLocked(DarajaError):
    """500.001.1001 "Unable to lock subscriber": the phone already has a push in progress."""


class TransactionBeingProcessed(DarajaError):
    """500.001.1001 "The transaction is being processed": for an STK query this means pending.

    ``DarajaClient.stk_query`` never raises it; it returns a result with status "pending".
    """


class SystemBusy(DarajaError):
    """500.003.02 "System is busy": not processed, safe to retry after a wait."""

    retryable = True


class SpikeArrest(DarajaError):
    """500.003.02 "Spike Arrest Violation": too many requests per second, not processed."""

    retryable = True


class InternalServerError(DarajaError):
    """500.003.1001 Internal Server Error."""


class QuotaViolation(DarajaError):
    """500.003.03: the app's request quota is used up."""


class InvalidGrantType(DarajaError):
    """400.008.02 (OAuth): grant_type is not client_credentials."""


class InvalidAuthenticationType(DarajaError):
    """400.008.01 (OAuth): not HTTP Basic authentication."""


class AuthenticationFailed(DarajaError):
    """OAuth refused the consumer key/secret (HTTP 400, sometimes with an empty body)."""


class RequestRejected(DarajaError):
    """HTTP 200 with a ResponseCode other than "0": Daraja did not accept the request."""


class UnknownDarajaError(DarajaError):
    """An answer we cannot place in Daraja's tables; everything it said is kept in ``raw``."""


class NotDarajaAnswer(UnknownDarajaError):
    """An HTML page where Daraja answers JSON: the base URL's host or path is not Daraja's API."""


_BY_NAME: dict[str, type[DarajaError]] = {
    "bad_request": BadRequest,
    "invalid_access_token": InvalidAccessToken,
    "resource_not_found": ResourceNotFound,
    "method_not_allowed": MethodNotAllowed,
    "merchant_does_not_exist": MerchantDoesNotExist,
    "wrong_credentials": WrongCredentials,
    "subscriber_locked": SubscriberLocked,
    "transaction_being_processed": TransactionBeingProcessed,
    "system_busy": SystemBusy,
    "internal_server_error": InternalServerError,
    "spike_arrest": SpikeArrest,
    "quota_violation": QuotaViolation,
    "invalid_grant_type": InvalidGrantType,
    "invalid_authentication_type": InvalidAuthenticationType,
    "invalid_client_credentials": AuthenticationFailed,
}

# Gateways in front of Daraja (Apigee) word some errors their own way; the catalogue's message
# match misses these, so a few unmistakable keywords decide.
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("spike arrest", "spike_arrest"),
    ("spikearrest", "spike_arrest"),
    ("quota", "quota_violation"),
    ("invalid access token", "invalid_access_token"),
    ("invalid_access_token", "invalid_access_token"),
    ("access token expired", "invalid_access_token"),
)


# Daraja's FAQ: "Invalid API call as no apiproduct match found"; integrators have captured it as
# HTTP 401 errorCode 401.003.01 "Error Occurred - Invalid Access Token - Invalid API call as no
# apiproduct match found". Not in the doc's error table, so it is recognised by its words.
NO_PRODUCT_WORDS = "no apiproduct match"
NO_PRODUCT_ENTRY = CodeEntry(
    kind="error",
    code="401.003.01",
    name="no_product_match",
    message="Invalid API call as no apiproduct match found",
    explanation=(
        "The access token is fine, but the Daraja app it belongs to does not have the M-Pesa Express "
        "product, so this API is not open to it (a fresh token will not help)."
    ),
    mitigation=(
        "On the Daraja portal (My Apps), enable the M-Pesa Express Sandbox product on this app (in "
        "production: Lipa na M-PESA production), or use the keys of an app that has it; and check you are "
        "calling the correct API endpoint (Daraja's FAQ)."
    ),
    source="observed",
)


def exception_class_for(entry: CodeEntry) -> type[DarajaError]:
    """The exception class for a catalogue entry (unknown entries: UnknownDarajaError)."""
    return _BY_NAME.get(entry.name, UnknownDarajaError)


def _parse_body(body: Any) -> Any:
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        text = body.strip()
        if not text:
            return ""
        try:
            return json.loads(text)
        except ValueError:
            return body
    return body


def _get(mapping: dict[str, Any], *names: str) -> Any:
    lowered = {str(k).lower(): v for k, v in mapping.items()}
    for name in names:
        if name.lower() in lowered and lowered[name.lower()] not in (None, ""):
            return lowered[name.lower()]
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def is_error_envelope(body: Any) -> bool:
    """True when ``body`` (parsed or text) is Daraja's ``{errorCode, errorMessage}`` or a gateway fault."""
    parsed = _parse_body(body)
    return isinstance(parsed, dict) and (
        _get(parsed, "errorCode", "errorMessage") is not None or isinstance(parsed.get("fault"), dict)
    )


def error_from_response(status: int | None, body: Any, *, operation: str | None = None) -> DarajaError:
    """Map a Daraja error answer (HTTP status + body as bytes, text or parsed JSON) to its exception.

    ``operation`` ("oauth", "stk_push", "stk_query") lets an OAuth 400 with an empty body be told
    apart as :class:`AuthenticationFailed`. The "being processed" answer maps to
    :class:`TransactionBeingProcessed`; ``stk_query`` treats it as pending, not as an error.
    """
    parsed = _parse_body(body)
    raw = parsed if parsed != "" else body
    code: str | None = None
    message: str | None = None
    request_id: str | None = None

    if isinstance(parsed, dict):
        fault = parsed.get("fault")
        if isinstance(fault, dict):
            message = _text(fault.get("faultstring"))
            detail = fault.get("detail")
            if isinstance(detail, dict):
                code = _text(_get(detail, "errorcode"))
        else:
            code = _text(_get(parsed, "errorCode", "error_code"))
            message = _text(_get(parsed, "errorMessage", "error_message", "error_description", "error"))
            request_id = _text(_get(parsed, "requestId", "request_id"))
            if code is None and message is None and _get(parsed, "ResponseCode") is not None:
                code = _text(codes.normalize_code(parsed.get("ResponseCode")))
                message = _text(_get(parsed, "ResponseDescription", "CustomerMessage"))
                # ResponseCode values other than "0" are not in Daraja's tables.
                entry = codes.unknown_entry(code, message)
                return RequestRejected(
                    error_code=code,
                    error_message=message,
                    request_id=request_id,
                    http_status=status,
                    entry=entry,
                    raw=raw,
                    operation=operation,
                )

    if operation == "oauth" and code is None and status in (400, 401, 403):
        # Live Daraja answers wrong key/secret with a bare 400 (sometimes an empty body).
        entry = codes.by_name("invalid_client_credentials")
        return AuthenticationFailed(
            error_code=None,
            error_message=message or f"OAuth refused the credentials (HTTP {status}, no errorCode)",
            request_id=request_id,
            http_status=status,
            entry=entry,
            raw=raw,
            operation=operation,
        )

    if NO_PRODUCT_WORDS in f"{message or ''} {parsed if isinstance(parsed, str) else ''}".lower():
        return ProductNotEnabled(
            error_code=code,
            error_message=message or (parsed.strip()[:200] if isinstance(parsed, str) else None),
            request_id=request_id,
            http_status=status,
            entry=NO_PRODUCT_ENTRY,
            raw=raw,
            operation=operation,
        )
    entry = _entry_for(code, message)
    cls = exception_class_for(entry)
    if not entry.known and code is None and message is None:
        text = parsed if isinstance(parsed, str) else json.dumps(parsed, default=str) if parsed else ""
        message = f"unexpected answer: {text[:200]!r}" if text else "empty answer"
    return cls(
        error_code=code if code is not None else (entry.code or None),
        error_message=message,
        request_id=request_id,
        http_status=status,
        entry=entry,
        raw=raw,
        operation=operation,
    )


def _entry_for(code: str | None, message: str | None) -> CodeEntry:
    entry: CodeEntry | None = None
    if code is not None:
        candidate = codes.error_entry(code, message)
        if candidate.kind == "error":
            entry = candidate
    if entry is None and message:
        # A code outside Daraja's tables (e.g. a gateway policy name): the message may still tell.
        candidate = codes.error_entry("", message)
        if candidate.kind == "error":
            entry = candidate
    if entry is not None and entry.name in _BY_NAME:
        return entry
    lowered = f"{message or ''} {code or ''}".lower()
    for keyword, name in _KEYWORDS:
        if keyword in lowered:
            return codes.by_name(name)
    return entry if entry is not None else codes.unknown_entry(code, message)


# --------------------------------------------------------------------------------------------
# Transport


class TransportError(MpesaLabError):
    """The request could not be exchanged with Daraja (connection refused, DNS, timeout).

    ``sent`` says whether the request may have left this machine; ``retryable`` whether sending
    it again is safe. The httpx exception is summarised, never attached (it holds the headers).
    """

    def __init__(
        self, message: str, *, sent: bool, retryable: bool, cause: str | None = None, operation: str | None = None
    ) -> None:
        self.sent = sent
        self.retryable = retryable
        self.cause = cause
        self.operation = operation
        super().__init__(message)


class AmbiguousPushError(MpesaLabError):
    """The STK push may have reached Daraja, but no answer came back. It was NOT re-sent.

    Re-sending could prompt (and charge) the customer twice. Query the push's status with
    ``stk_query(CheckoutRequestID)`` if the CheckoutRequestID is known (e.g. from a callback), or
    wait for the callback at the CallBackURL, which carries it.
    """

    def __init__(
        self,
        *,
        cause: str,
        request: dict[str, Any] | None = None,
        checkout_request_id: str | None = None,
        http_status: int | None = None,
        raw: Any = None,
    ) -> None:
        self.cause = cause
        self.request = request
        self.checkout_request_id = checkout_request_id
        self.http_status = http_status
        self.raw = raw
        super().__init__(self._compose())

    def _compose(self) -> str:
        req = self.request or {}
        what = ", ".join(
            f"{k} {req[k]}" for k in ("PhoneNumber", "Amount", "AccountReference", "Timestamp") if k in req
        )
        callback = req.get("CallBackURL")
        if self.checkout_request_id:
            next_step = f"call stk_query({self.checkout_request_id!r}) to learn its status"
        else:
            next_step = (
                "wait for the callback at "
                + (f"{callback}" if callback else "your CallBackURL")
                + " (it carries the CheckoutRequestID), then stk_query that CheckoutRequestID if "
                "you need the status sooner"
            )
        return (
            f"the STK push may have reached Daraja ({self.cause}) but no answer came back"
            + (f" [{what}]" if what else "")
            + ". It was NOT re-sent, so the customer is not prompted or charged twice. "
            + f"Next: {next_step}. Do not re-send this push until you know it failed."
        )

    def __reduce__(self) -> Any:
        return (_rebuild_ambiguous, (dict(self.__dict__),))


def _rebuild_ambiguous(state: dict[str, Any]) -> AmbiguousPushError:
    return AmbiguousPushError(
        cause=state["cause"],
        request=state.get("request"),
        checkout_request_id=state.get("checkout_request_id"),
        http_status=state.get("http_status"),
        raw=state.get("raw"),
    )


# httpx failures that happen before any byte of the request can have reached the server.
_NOT_SENT = ("ConnectError", "ConnectTimeout", "PoolTimeout", "UnsupportedProtocol", "LocalProtocolError", "InvalidURL")


def where_hint(url: str | None) -> str:
    """What to check when nothing answers at ``url``, fitted to where it points.

    Safaricom's hosts: the internet connection; this machine: the local emulator (and how to
    start it); anything else: the base URL and the network.
    """
    if not url:
        return "Check the base URL (MPESA_BASE_URL) and the network."
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    base = f"{parts.scheme}://{parts.netloc}"
    if host == "safaricom.co.ke" or host.endswith(".safaricom.co.ke"):
        return (
            f"Check this machine's internet connection (and any proxy or firewall) and that "
            f"{base} is reachable from it."
        )
    if host in ("localhost", "::1") or host.startswith("127."):
        return (
            f"Nothing answers at {base}: the local Daraja emulator is not running there. Start it "
            "with `Lab.start()` in Python (it picks a free port), or `mpesa-lab sandbox --port "
            f"{parts.port or 8000}` in a terminal."
        )
    return f"Check the base URL {base} (MPESA_BASE_URL) and the network."


def transport_error_from(
    exc: BaseException,
    *,
    operation: str,
    idempotent: bool,
    request: dict[str, Any] | None = None,
    url: str | None = None,
) -> MpesaLabError:
    """Summarise an httpx failure without keeping it (its request holds the Authorization header).

    Before sending (connect refused, DNS, pool exhausted): :class:`TransportError`, retryable.
    After sending (timeout waiting for the answer, reset, broken answer): retryable only for an
    idempotent call (OAuth, query); for a push it is an :class:`AmbiguousPushError`. ``url`` (where
    the call went) fits the advice to the place: the internet, or the local emulator.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if names & set(_NOT_SENT):
        return TransportError(
            f"could not reach Daraja for {operation} ({cause}); the request was not sent. " + where_hint(url),
            sent=False,
            retryable=True,
            cause=cause,
            operation=operation,
        )
    if not idempotent:
        return AmbiguousPushError(cause=cause, request=request)
    return TransportError(
        f"no answer from Daraja for {operation} ({cause}); it may have been received. It is safe to "
        "ask again (this call changes nothing at Daraja)",
        sent=True,
        retryable=True,
        cause=cause,
        operation=operation,
    )


def html_answer_error(status: int, content: bytes | str, *, url: str | None, operation: str) -> NotDarajaAnswer | None:
    """An HTML page where Daraja answers JSON (a wrong host, or a web page in front of the API),
    reported as such and naming the base URL; None when ``content`` is not HTML."""
    head = content[:512] if isinstance(content, str) else content[:512].decode("utf-8", errors="replace")
    text = head.lstrip().lower()
    if not (
        text.startswith("<!doctype html")
        or text.startswith("<html")
        or (text.startswith("<") and ("<html" in text or "<head" in text or "<body" in text))
    ):
        return None
    parts = urlsplit(url or "")
    base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "the base URL"
    entry = CodeEntry(
        kind="unknown",
        code="",
        name="html_answer",
        message="an HTML page instead of JSON",
        explanation="The host answered like a web site, not like Daraja's API.",
        mitigation=(
            f"this is not Daraja's {operation} endpoint: check the base URL. {base} is probably not "
            "Daraja's API (a typo in the host, a path added to it, or a web page in front of "
            "it): use https://sandbox.safaricom.co.ke (sandbox) or https://api.safaricom.co.ke "
            "(production) as the base URL (MPESA_BASE_URL), with no path after the host."
        ),
        source="observed",
    )
    path = parts.path or "/"
    return NotDarajaAnswer(
        error_code=None,
        error_message=(
            f"{operation} at {base} answered HTTP {status} with an HTML page, not Daraja's JSON (path {path})"
        ),
        http_status=status,
        entry=entry,
        raw=None,
        operation=None,
    )
