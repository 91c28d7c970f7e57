"""DarajaClient and AsyncDarajaClient: M-Pesa Express over httpx, against any base URL.

What they promise:

- requests are validated before anything is sent (:mod:`mpesa_lab.daraja.requests`);
- the Timestamp and Password are built in Nairobi time whatever the host's timezone;
- one OAuth token per lifetime, refreshed once and the call retried on 404.001.03;
- retries only when Daraja says the request was not processed (system busy, spike arrest) or
  when it never left this machine, with exponential backoff and a cap;
- a push that may have reached Daraja (timeout after sending, reset connection, a gateway's
  5xx) is never re-sent: :class:`AmbiguousPushError` tells the caller to query instead;
- queries (idempotent) are retried on any transport failure;
- the Password, passkey, consumer secret and token never appear in a log line or exception.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import anyio
import httpx

from mpesa_lab import __version__
from mpesa_lab.clock import daraja_timestamp, nairobi_now
from mpesa_lab.config import Settings
from mpesa_lab.constants import STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.daraja.auth import AsyncTokenProvider, TokenProvider
from mpesa_lab.daraja.errors import (
    AmbiguousPushError,
    BadRequest,
    DarajaError,
    InvalidAccessToken,
    MerchantDoesNotExist,
    MpesaLabError,
    ProductNotEnabled,
    SubscriberLocked,
    TransportError,
    WrongCredentials,
    html_answer_error,
    is_error_envelope,
    transport_error_from,
)
from mpesa_lab.daraja.password import PasswordCheck, build_password, check_password, decode_password
from mpesa_lab.daraja.requests import StkPushRequest, StkQueryRequest
from mpesa_lab.daraja.results import StkPushResult, StkQueryResult, read_push_answer, read_query_answer
from mpesa_lab.secret import mask

log = logging.getLogger("mpesa_lab.daraja")

DEFAULT_MAX_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_BACKOFF_CAP = 8.0
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
USER_AGENT = f"mpesa-lab/{__version__}"


class _Prepared:
    """One logical call, ready to send: the JSON bytes, and a display-safe copy of the body."""

    __slots__ = ("operation", "url", "content", "masked", "timestamp", "idempotent", "request")

    def __init__(
        self,
        operation: str,
        url: str,
        body: dict[str, Any],
        masked: dict[str, Any],
        timestamp: str,
        idempotent: bool,
        request: Any,
    ) -> None:
        self.operation = operation
        self.url = url
        self.content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.masked = masked
        self.timestamp = timestamp
        self.idempotent = idempotent
        self.request = request


class _ClientCore:
    """Everything but the I/O, shared by the sync and async clients."""

    settings: Settings

    def _setup(
        self,
        settings: Settings,
        *,
        max_retries: int,
        backoff: float,
        backoff_cap: float,
        now: Callable[[], datetime] | None,
        strict_lengths: bool = False,
    ) -> None:
        if not isinstance(settings, Settings):
            raise TypeError(
                f"settings must be mpesa_lab.config.Settings, not {type(settings).__name__}: use "
                "Settings.local(), Settings.sandbox(key, secret) or Settings.from_env()"
            )
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
        self.settings = settings
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.backoff_cap = float(backoff_cap)
        # Refuse (True) or only warn about (False) texts over Daraja's documented lengths.
        self.strict_lengths = bool(strict_lengths)
        self._now = now or nairobi_now
        self._push_url = settings.base_url + STK_PUSH_PATH
        self._query_url = settings.base_url + STK_QUERY_PATH

    # -- building ------------------------------------------------------------------------------

    def _password(self) -> tuple[str, str]:
        timestamp = daraja_timestamp(self._now())
        return build_password(self.settings.shortcode, self.settings.passkey, timestamp), timestamp

    def build_push(
        self,
        phone: str | int,
        amount: Any,
        account_reference: str | int,
        description: str = "Payment",
        *,
        callback_url: str | None = None,
        transaction_type: str | None = None,
        party_b: str | int | None = None,
    ) -> StkPushRequest:
        """Validate a push without sending it (raises ValidationError naming the field)."""
        s = self.settings
        kind = transaction_type or s.transaction_type
        if party_b is None:
            # The settings' PartyB belongs to the settings' TransactionType; a paybill push
            # asked for on a till client pays the shortcode itself.
            party_b = s.party_b if kind == s.transaction_type else None
        return StkPushRequest(
            business_short_code=s.shortcode,
            phone_number=phone,
            amount=amount,
            account_reference=account_reference,
            callback_url=callback_url if callback_url is not None else s.callback_url,
            transaction_desc=description,
            transaction_type=kind,
            party_b=party_b,
            environment=s.environment,
            strict_lengths=self.strict_lengths,
        )

    def _prepare_push(self, request: StkPushRequest) -> _Prepared:
        password, timestamp = self._password()
        body = request.to_body(password, timestamp)
        masked = dict(body, Password=mask(password))
        return _Prepared("stk_push", self._push_url, body, masked, timestamp, False, request)

    def _prepare_query(self, checkout_request_id: str) -> _Prepared:
        request = StkQueryRequest(self.settings.shortcode, checkout_request_id)
        password, timestamp = self._password()
        body = request.to_body(password, timestamp)
        masked = dict(body, Password=mask(password))
        return _Prepared("stk_query", self._query_url, body, masked, timestamp, True, request)

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    # -- reading -------------------------------------------------------------------------------

    def _read(self, call: _Prepared, status: int, content: bytes) -> Any:
        if status < 500 and content[:1] in (b"<", b" ", b"\n", b"\r", b"\t"):
            html = html_answer_error(status, content, url=call.url, operation=call.operation)
            if html is not None:
                raise html
        if call.operation == "stk_push":
            if status >= 500 and not is_error_envelope(content):
                # A gateway's 502/503/504 says nothing about whether Daraja took the push.
                raise AmbiguousPushError(
                    cause=f"HTTP {status} without a Daraja answer",
                    request=call.masked,
                    http_status=status,
                    raw=content[:500].decode("utf-8", errors="replace"),
                )
            result = read_push_answer(status, content, request=call.masked, timestamp=call.timestamp)
            log.debug(
                "STK push accepted: CheckoutRequestID=%s MerchantRequestID=%s",
                result.checkout_request_id,
                result.merchant_request_id,
            )
            return result
        query = read_query_answer(status, content, call.request.checkout_request_id)
        log.debug("STK query %s: %s %s", call.request.checkout_request_id, query.status, query.result_code)
        return query

    def _explain(self, error: DarajaError, call: _Prepared) -> DarajaError:
        """Add what this client knows (what it sent) to Daraja's error."""
        s = self.settings
        if isinstance(error, WrongCredentials):
            error.with_hint(
                f"This client built the Password from BusinessShortCode {s.shortcode}, Timestamp "
                f"{call.timestamp} and the passkey with fingerprint {s.passkey.fingerprint}, so "
                f"shortcode and timestamp agree: check that this passkey is the one issued for "
                f"{s.shortcode} in {s.environment} (sandbox 174379: the public test-data passkey)."
            )
        elif isinstance(error, MerchantDoesNotExist):
            error.with_hint(f"BusinessShortCode sent: {s.shortcode} ({s.environment}, {s.base_url}).")
        elif isinstance(error, SubscriberLocked):
            phone = call.masked.get("PhoneNumber")
            error.with_hint(f"Phone {phone} already has a prompt open; this push was not retried.")
        elif isinstance(error, BadRequest) and error.field:
            if error.field in call.masked:
                error.with_hint(f"{error.field} sent: {call.masked[error.field]!r}.")
            if error.field == "BusinessShortCode":
                error.with_hint(
                    "Daraja also answers this when the body is not JSON or the request lacks "
                    "Content-Type: application/json (its FAQ), or a field name is misspelt."
                )
        return error

    def _delay(self, attempt: int) -> float:
        return min(self.backoff_cap, self.backoff * (2**attempt))

    def _after_failure(self, exc: MpesaLabError, call: _Prepared, attempt: int, refreshed: bool) -> float | None:
        """Decide what a failed attempt leads to: raise it, refresh the token (None) or wait and retry.

        The one retry policy of both clients: 404.001.03 refreshes the token once; only what
        Daraja did not process (system busy, spike arrest, never sent) is retried, with capped
        exponential backoff; an ambiguous push is never re-sent.
        """
        if isinstance(exc, AmbiguousPushError):
            log.warning("STK push not re-sent: %s", exc.cause)
            raise exc
        if isinstance(exc, ProductNotEnabled):
            raise exc from None  # the app lacks the product: a fresh token would be refused too
        if isinstance(exc, InvalidAccessToken):
            if refreshed:
                raise self._explain(
                    exc.with_hint(
                        "A freshly fetched token was refused too: check that the consumer key and "
                        "secret belong to an app with M-Pesa Express enabled for this environment."
                    ),
                    call,
                ) from None
            log.debug("%s: token refused (404.001.03); refreshing once and retrying", call.operation)
            return None
        retryable = isinstance(exc, (DarajaError, TransportError)) and exc.retryable
        if not retryable or attempt >= self.max_retries:
            raise (self._explain(exc, call) if isinstance(exc, DarajaError) else exc) from None
        delay = self._delay(attempt)
        log.debug(
            "%s: %s; retry %d/%d in %.2f s", call.operation, type(exc).__name__, attempt + 1, self.max_retries, delay
        )
        return delay

    def _log_send(self, call: _Prepared, attempt: int) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s POST %s attempt %d body=%s",
                call.operation,
                call.url,
                attempt + 1,
                json.dumps(call.masked, separators=(",", ":")),
            )

    # -- passwords -----------------------------------------------------------------------------

    def check_password(self, password: str, timestamp: str) -> PasswordCheck:
        """Does ``password`` encode this client's shortcode, passkey and ``timestamp``?"""
        return check_password(password, self.settings.shortcode, self.settings.passkey, timestamp)

    def explain_password(self, password: str) -> str:
        """What a password holds (passkey masked) and whether it fits this client's settings.

        The first thing to look at when Daraja says "Wrong credentials".
        """
        try:
            decoded = decode_password(password)
        except ValueError as exc:
            return f"Not a Daraja password: {exc}"
        check = self.check_password(password, decoded.timestamp)
        return f"{decoded!r}\n{check}"


class DarajaClient(_ClientCore):
    """Synchronous M-Pesa Express client on a pooled ``httpx.Client``.

    ``transport`` (e.g. ``httpx.MockTransport``) or ``http_client`` replace the network layer;
    a client passed in is not closed by this one. Use as a context manager or call ``close()``.
    ``strict_lengths=True`` refuses AccountReference/TransactionDesc over 12/13 characters
    (default: a RequestWarning, and the push is sent, as live Daraja accepts them).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        token_provider: TokenProvider | None = None,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        strict_lengths: bool = False,
    ) -> None:
        self._setup(
            settings,
            max_retries=max_retries,
            backoff=backoff,
            backoff_cap=backoff_cap,
            now=now,
            strict_lengths=strict_lengths,
        )
        self._owns_http = http_client is None
        self.http = (
            http_client
            if http_client is not None
            else httpx.Client(
                transport=transport,
                timeout=settings.timeout,
                limits=DEFAULT_LIMITS,
                headers={"User-Agent": USER_AGENT},
            )
        )
        self.tokens = token_provider if token_provider is not None else TokenProvider.from_settings(settings, self.http)
        self._sleep = sleep

    @classmethod
    def from_env(cls, environment: str | None = None, **kwargs: Any) -> DarajaClient:
        """A client on ``Settings.from_env(environment)``; other kwargs go to the client."""
        return cls(Settings.from_env(environment), **kwargs)

    def stk_push(
        self,
        phone: str | int,
        amount: Any,
        account_reference: str | int,
        description: str = "Payment",
        *,
        callback_url: str | None = None,
        transaction_type: str | None = None,
        party_b: str | int | None = None,
    ) -> StkPushResult:
        """Prompt ``phone`` to pay ``amount``; returns Daraja's acknowledgement (not the payment result).

        Raises ValidationError before sending, a DarajaError subclass when Daraja refuses, and
        AmbiguousPushError when the push may have been received (never re-sent: query instead).
        """
        request = self.build_push(
            phone,
            amount,
            account_reference,
            description,
            callback_url=callback_url,
            transaction_type=transaction_type,
            party_b=party_b,
        )
        return self.send_push(request)

    def send_push(self, request: StkPushRequest) -> StkPushResult:
        """Send an already validated :class:`StkPushRequest`."""
        return self._call(self._prepare_push(request))

    def stk_query(self, checkout_request_id: str) -> StkQueryResult:
        """The status of a push: ``pending``, ``success`` or ``failed`` (retried freely: idempotent)."""
        return self._call(self._prepare_query(checkout_request_id))

    def _send(self, call: _Prepared, token: str) -> httpx.Response:
        failure: MpesaLabError | None = None
        try:
            return self.http.post(call.url, content=call.content, headers=self._headers(token))
        except httpx.HTTPError as exc:
            failure = transport_error_from(
                exc, operation=call.operation, idempotent=call.idempotent, request=call.masked, url=call.url
            )
        # Raised outside the except block, so no __context__ holds the httpx request and its token.
        raise failure

    def _call(self, call: _Prepared) -> Any:
        refreshed = False
        attempt = 0
        while True:
            token = None
            try:
                token = self.tokens.token()
                self._log_send(call, attempt)
                response = self._send(call, token.reveal())
                return self._read(call, response.status_code, response.content)
            except MpesaLabError as exc:
                delay = self._after_failure(exc, call, attempt, refreshed)
                if delay is None:
                    refreshed = True
                    self.tokens.invalidate(token)
                    continue
            attempt += 1
            self._sleep(delay)

    def close(self) -> None:
        """Close the connection pool (when this client created it)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> DarajaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.settings
        return f"<DarajaClient {s.environment} {s.base_url} shortcode={s.shortcode}>"


class AsyncDarajaClient(_ClientCore):
    """Asynchronous twin of :class:`DarajaClient` on a pooled ``httpx.AsyncClient``."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        token_provider: AsyncTokenProvider | None = None,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        strict_lengths: bool = False,
    ) -> None:
        self._setup(
            settings,
            max_retries=max_retries,
            backoff=backoff,
            backoff_cap=backoff_cap,
            now=now,
            strict_lengths=strict_lengths,
        )
        self._owns_http = http_client is None
        self.http = (
            http_client
            if http_client is not None
            else httpx.AsyncClient(
                transport=transport,
                timeout=settings.timeout,
                limits=DEFAULT_LIMITS,
                headers={"User-Agent": USER_AGENT},
            )
        )
        self.tokens = (
            token_provider if token_provider is not None else AsyncTokenProvider.from_settings(settings, self.http)
        )
        self._sleep = sleep

    @classmethod
    def from_env(cls, environment: str | None = None, **kwargs: Any) -> AsyncDarajaClient:
        return cls(Settings.from_env(environment), **kwargs)

    async def stk_push(
        self,
        phone: str | int,
        amount: Any,
        account_reference: str | int,
        description: str = "Payment",
        *,
        callback_url: str | None = None,
        transaction_type: str | None = None,
        party_b: str | int | None = None,
    ) -> StkPushResult:
        """See :meth:`DarajaClient.stk_push`."""
        request = self.build_push(
            phone,
            amount,
            account_reference,
            description,
            callback_url=callback_url,
            transaction_type=transaction_type,
            party_b=party_b,
        )
        return await self.send_push(request)

    async def send_push(self, request: StkPushRequest) -> StkPushResult:
        return await self._call(self._prepare_push(request))

    async def stk_query(self, checkout_request_id: str) -> StkQueryResult:
        """See :meth:`DarajaClient.stk_query`."""
        return await self._call(self._prepare_query(checkout_request_id))

    async def _send(self, call: _Prepared, token: str) -> httpx.Response:
        failure: MpesaLabError | None = None
        try:
            return await self.http.post(call.url, content=call.content, headers=self._headers(token))
        except httpx.HTTPError as exc:
            failure = transport_error_from(
                exc, operation=call.operation, idempotent=call.idempotent, request=call.masked, url=call.url
            )
        raise failure

    async def _call(self, call: _Prepared) -> Any:
        refreshed = False
        attempt = 0
        while True:
            token = None
            try:
                token = await self.tokens.token()
                self._log_send(call, attempt)
                response = await self._send(call, token.reveal())
                return self._read(call, response.status_code, response.content)
            except MpesaLabError as exc:
                delay = self._after_failure(exc, call, attempt, refreshed)
                if delay is None:
                    refreshed = True
                    self.tokens.invalidate(token)
                    continue
            attempt += 1
            await self._sleep(delay)

    async def aclose(self) -> None:
        """Close the connection pool (when this client created it)."""
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncDarajaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        s = self.settings
        return f"<AsyncDarajaClient {s.environment} {s.base_url} shortcode={s.shortcode}>"
