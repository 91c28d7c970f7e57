"""OAuth access tokens: client-credentials, cached until shortly before they expire.

``GET {base}/oauth/v1/generate?grant_type=client_credentials`` with HTTP Basic (consumer key and
secret) answers ``{"access_token": "...", "expires_in": "3599"}`` (expires_in a string or a
number). One token serves every call of its hour: N calls make one OAuth request, even when 20
threads or 20 tasks ask at once. ``invalidate(stale)`` drops a token Daraja refused
(404.001.03) so the next call fetches a new one.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import httpx

from mpesa_lab.constants import OAUTH_PATH
from mpesa_lab.daraja.errors import (
    AuthenticationFailed,
    UnknownDarajaError,
    error_from_response,
    html_answer_error,
    transport_error_from,
)
from mpesa_lab.secret import Secret

if TYPE_CHECKING:
    from mpesa_lab.config import Settings

log = logging.getLogger("mpesa_lab.daraja")

DEFAULT_LIFETIME = 3599.0
# Refresh this long before expiry, so a token never dies in flight.
DEFAULT_MARGIN = 60.0
OAUTH_PARAMS = {"grant_type": "client_credentials"}


@dataclass(frozen=True)
class _Cached:
    token: Secret
    refresh_at: float
    lifetime: float


def basic_auth_header(consumer_key: str, consumer_secret: str | Secret) -> Secret:
    """``Basic base64(key:secret)`` as a Secret (it is as good as the secret itself)."""
    secret = consumer_secret.reveal() if isinstance(consumer_secret, Secret) else consumer_secret
    raw = f"{consumer_key}:{secret}".encode()
    return Secret("Basic " + base64.b64encode(raw).decode("ascii"))


def parse_expires_in(value: Any) -> float | None:
    """expires_in as Daraja sends it ("3599", 3599, 3599.0) -> seconds, or None if unusable."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(seconds, 0.0)


def read_token_answer(status: int, content: bytes, url: str | None = None) -> tuple[Secret, float]:
    """An OAuth answer -> (token, lifetime in seconds), or raise the Daraja error it carries.

    ``url`` (where the request went) is named when the answer is an HTML page, not JSON.
    """
    html = html_answer_error(status, content, url=url, operation="OAuth")
    if html is not None:
        raise html
    if status != 200:
        error = error_from_response(status, content, operation="oauth")
        if isinstance(error, AuthenticationFailed) and url:
            parts = urlsplit(url)
            error.with_hint(
                f"Keys are per environment: this OAuth went to {parts.scheme}://{parts.netloc}; sandbox app "
                "keys work only on https://sandbox.safaricom.co.ke, production keys only on "
                "https://api.safaricom.co.ke."
            )
        raise error
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        # Never echo the body: a half-broken answer could still hold a token.
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise UnknownDarajaError(
            error_code=None,
            error_message=f"OAuth answered HTTP 200 without an access_token (keys: {keys})",
            http_status=status,
            raw=None,
            operation="oauth",
        )
    lifetime = parse_expires_in(data.get("expires_in"))
    if lifetime is None:
        log.debug("OAuth answer has no usable expires_in (%r); assuming %s s", data.get("expires_in"), DEFAULT_LIFETIME)
        lifetime = DEFAULT_LIFETIME
    return Secret(token), lifetime


class _TokenCache:
    """The part both providers share: the cached token and when to refresh it."""

    def __init__(
        self,
        base_url: str,
        consumer_key: str,
        consumer_secret: str | Secret,
        *,
        margin: float,
        clock: Callable[[], float],
    ) -> None:
        self.url = base_url.rstrip("/") + OAUTH_PATH
        self.consumer_key = consumer_key
        self._authorization = basic_auth_header(consumer_key, consumer_secret)
        self.margin = margin
        self.clock = clock
        self._cached: _Cached | None = None
        #: OAuth requests made (successful or not): the number to watch for caching.
        self.fetch_count = 0

    def _fresh(self) -> Secret | None:
        cached = self._cached
        if cached is not None and self.clock() < cached.refresh_at:
            return cached.token
        return None

    def _store(self, token: Secret, lifetime: float) -> Secret:
        # Short-lived tokens (an emulator demo) still get half their life before a refresh.
        margin = min(self.margin, lifetime / 2)
        self._cached = _Cached(token, self.clock() + lifetime - margin, lifetime)
        log.debug(
            "OAuth token %s fetched, valid %.0f s, refresh in %.0f s", token.fingerprint, lifetime, lifetime - margin
        )
        return token

    def _drop(self, stale: Secret | None) -> None:
        cached = self._cached
        if cached is None:
            return
        # Only drop the token that was refused: when 20 calls see 404.001.03 at once, the first
        # refresh must not be thrown away by the other 19.
        if stale is None or cached.token == stale:
            self._cached = None
            log.debug("OAuth token %s invalidated", cached.token.fingerprint)

    @property
    def expires_in(self) -> float | None:
        """Seconds until the cached token should be refreshed (None when there is none)."""
        cached = self._cached
        return None if cached is None else cached.refresh_at - self.clock()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self._authorization.reveal(), "Accept": "application/json"}

    def __repr__(self) -> str:
        state = "no token" if self._cached is None else f"token {self._cached.token.fingerprint}"
        return f"<{type(self).__name__} {self.url} key={self.consumer_key!r} {state} fetches={self.fetch_count}>"


class TokenProvider(_TokenCache):
    """Thread-safe cached OAuth tokens for :class:`~mpesa_lab.daraja.client.DarajaClient`."""

    def __init__(
        self,
        base_url: str,
        consumer_key: str,
        consumer_secret: str | Secret,
        *,
        http_client: httpx.Client | None = None,
        timeout: float = 30.0,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(base_url, consumer_key, consumer_secret, margin=margin, clock=clock)
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, http_client: httpx.Client | None = None, **kwargs: Any) -> TokenProvider:
        return cls(
            settings.base_url,
            settings.consumer_key,
            settings.consumer_secret,
            http_client=http_client,
            timeout=settings.timeout,
            **kwargs,
        )

    def token(self) -> Secret:
        """A valid access token, fetched at most once per lifetime whatever the concurrency."""
        token = self._fresh()
        if token is not None:
            return token
        with self._lock:
            token = self._fresh()
            if token is not None:
                return token
            return self._store(*self._fetch())

    def invalidate(self, stale: Secret | None = None) -> None:
        """Forget the cached token (only if it is still ``stale``, when given)."""
        with self._lock:
            self._drop(stale)

    def _fetch(self) -> tuple[Secret, float]:
        self.fetch_count += 1
        log.debug("OAuth GET %s", self.url)
        failure = None
        try:
            response = self._client.get(self.url, params=OAUTH_PARAMS, headers=self._headers())
        except httpx.HTTPError as exc:
            failure = transport_error_from(exc, operation="oauth", idempotent=True, url=self.url)
        if failure is not None:
            # Raised outside the except block: no __context__ pointing at the httpx request
            # (its headers hold the Basic credentials).
            raise failure
        return read_token_answer(response.status_code, response.content, self.url)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


class AsyncTokenProvider(_TokenCache):
    """Task-safe cached OAuth tokens for :class:`~mpesa_lab.daraja.client.AsyncDarajaClient`."""

    def __init__(
        self,
        base_url: str,
        consumer_key: str,
        consumer_secret: str | Secret,
        *,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        margin: float = DEFAULT_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(base_url, consumer_key, consumer_secret, margin=margin, clock=clock)
        self._owns_client = http_client is None
        self._client = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        self._lock = anyio.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, http_client: httpx.AsyncClient | None = None, **kwargs: Any
    ) -> AsyncTokenProvider:
        return cls(
            settings.base_url,
            settings.consumer_key,
            settings.consumer_secret,
            http_client=http_client,
            timeout=settings.timeout,
            **kwargs,
        )

    async def token(self) -> Secret:
        """A valid access token, fetched at most once per lifetime whatever the concurrency."""
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:
            token = self._fresh()
            if token is not None:
                return token
            return self._store(*await self._fetch())

    def invalidate(self, stale: Secret | None = None) -> None:
        """Forget the cached token (only if it is still ``stale``, when given).

        Synchronous on purpose: it never waits, and the event loop runs it in one piece.
        """
        self._drop(stale)

    async def _fetch(self) -> tuple[Secret, float]:
        self.fetch_count += 1
        log.debug("OAuth GET %s", self.url)
        failure = None
        try:
            response = await self._client.get(self.url, params=OAUTH_PARAMS, headers=self._headers())
        except httpx.HTTPError as exc:
            failure = transport_error_from(exc, operation="oauth", idempotent=True, url=self.url)
        if failure is not None:
            raise failure
        return read_token_answer(response.status_code, response.content, self.url)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
