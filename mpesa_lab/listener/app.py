"""The listener's ASGI app: ``POST /<token>/callback`` -> store (committed) -> acknowledge.

Every answer is JSON, errors included; no HTML page or traceback ever leaves the app.

=========================  ======  ==============================================================
request                    status  body
=========================  ======  ==============================================================
valid stkCallback          200     ``{"ResultCode": 0, "ResultDesc": "Accepted"}`` (also for
                                   duplicates and unknown CheckoutRequestIDs, which are flagged)
not a valid stkCallback    400     ``{"ResultCode": 1, "ResultDesc": "Rejected: <what is wrong>",
                                   "error": "invalid_callback", ...}`` (kept raw in quarantine)
body over the limit        413     ``{"error": "body_too_large", ...}`` (body not kept)
source IP not allowed      403     ``{"error": "forbidden", ...}`` (still stored, flagged)
store failed               503     ``{"ResultCode": 1, "ResultDesc": "Not stored: ..."}``
wrong path                 404     ``{"error": "not_found", ...}``
wrong method               405     ``{"error": "method_not_allowed", ...}`` with ``Allow: POST``
``GET /<token>/health``    200     ``{"status": "ok"}``
=========================  ======  ==============================================================

Response headers ``X-Mpesa-Lab-Delivery`` (the stored delivery's id) and ``X-Mpesa-Lab-Flags``
(``duplicate``, ``unknown``) tell a test or a curious developer what happened to a delivery.

JSON that is valid but must not become data (``NaN``, ``Infinity``, numbers beyond a float such
as ``1e999``, lone surrogates, nesting too deep to parse) is quarantined raw with the reason, as
is a callback SQLite refuses to store as data: never lost, never stored as numbers.
``X-Forwarded-For`` is believed only from a proxy the user named (``trusted_proxies``) or from
the tunnel's agent once ``Listener.expose()`` opened one.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from mpesa_lab.clock import nairobi_now
from mpesa_lab.constants import LISTENER_MAX_BODY_BYTES
from mpesa_lab.daraja.callbacks import CallbackError, ParsedCallback, parse_callback
from mpesa_lab.store.core import CallbackStore
from mpesa_lab.store.errors import StoreUnavailable
from mpesa_lab.store.records import DeliveryIn, ExpectedIds, StoredDelivery

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
DEFAULT_MAX_BODY_BYTES = LISTENER_MAX_BODY_BYTES
# A client gets a clean 413 only if it could finish sending; bodies a little over the limit are
# read and thrown away (never kept in memory), beyond this the connection is simply closed.
DRAIN_LIMIT = 1024 * 1024

# Headers worth keeping with each delivery: what sent it, through which proxy, as what.
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "transfer-encoding",
    "user-agent",
    "host",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "forwarded",
    "x-request-id",
    "via",
)


LOOPBACK_NETWORKS: tuple[IpNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def parse_networks(allowed_ips: Iterable[str] | None) -> list[IpNetwork] | None:
    """Parse an allowlist of addresses or CIDR networks; None means no allowlist."""
    if allowed_ips is None:
        return None
    if isinstance(allowed_ips, str):
        allowed_ips = [part for part in allowed_ips.replace(",", " ").split() if part]
    networks = []
    for item in allowed_ips:
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"allowed_ips: {item!r} is not an IP address or network (e.g. 196.201.214.200 or 196.201.212.0/24)"
            ) from None
    return networks


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ListenerApp:
    """The ASGI callable. Build it through :class:`mpesa_lab.listener.Listener`, or directly."""

    def __init__(
        self,
        store: CallbackStore,
        path_token: str,
        *,
        allowed_ips: Iterable[str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        expected_ids: ExpectedIds = None,
        trust_forwarded_for: bool | None = None,
        trusted_proxies: Iterable[str] | None = None,
        on_delivery: Callable[[StoredDelivery], None] | None = None,
    ) -> None:
        if max_body_bytes <= 0:
            raise ValueError(f"max_body_bytes must be positive, not {max_body_bytes}")
        self.store = store
        self.path_token = path_token
        self.callback_path = f"/{path_token}/callback"
        self.health_path = f"/{path_token}/health"
        self.networks = parse_networks(allowed_ips)
        self.max_body_bytes = max_body_bytes
        self.expected_ids = expected_ids
        self.trust_forwarded_for = trust_forwarded_for
        self.trusted_proxies = parse_networks(trusted_proxies) or []
        self.on_delivery = on_delivery

    def __repr__(self) -> str:
        return f"<ListenerApp store={self.store.path.name!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._http(scope, receive, tracking_send)
        except Exception:
            log.exception("listener failed on %s %s", scope.get("method"), "<callback path>")
            if not started:
                await _json(
                    send,
                    500,
                    {"error": "internal_error", "message": "The listener failed on this request; see its log."},
                )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").rstrip("/")
        method = scope.get("method", "GET")
        if _same_path(path, self.health_path):
            if method not in ("GET", "HEAD"):
                await _json(send, 405, _method_error("GET"), headers=[(b"allow", b"GET, HEAD")])
            else:
                await _json(send, 200, {"status": "ok"})
            return
        if not _same_path(path, self.callback_path):
            # Never echo the path: it may be a guess at the token.
            await _json(
                send,
                404,
                {"error": "not_found", "message": "No such path. Callbacks are POSTed to the listener's callback_url."},
            )
            return
        if method != "POST":
            await _json(send, 405, _method_error("POST"), headers=[(b"allow", b"POST")])
            return

        received_at = nairobi_now()
        headers = _headers(scope)
        remote = scope.get("client")
        remote_addr = remote[0] if remote else None
        client_addr = self._client_addr(remote_addr, headers)
        declared = _content_length(headers)

        body: bytes | None
        if declared is not None and declared > self.max_body_bytes:
            if declared <= DRAIN_LIMIT:
                await _drain(receive, DRAIN_LIMIT)
            body, size, complete = None, declared, True
        else:
            body, size, complete = await self._read_body(receive)
        if not complete:
            log.info("client went away before sending the whole body; nothing stored")
            return

        if body is None:
            reason = f"body of {size} bytes is over the listener's limit of {self.max_body_bytes} bytes"
            stored = await self._store(
                DeliveryIn(
                    received_at=received_at,
                    remote_addr=remote_addr,
                    client_addr=client_addr,
                    headers=headers,
                    body=None,
                    body_size=size,
                    outcome="too_large",
                    http_status=413,
                    reason=reason,
                )
            )
            await _json(
                send,
                413,
                {"error": "body_too_large", "message": reason, "limit": self.max_body_bytes},
                stored=stored,
                close=True,
            )
            return

        if self.networks is not None and not self._allowed(client_addr):
            reason = (
                f"source address {client_addr} is not in the listener's allowed_ips; the "
                "delivery is kept (outcome 'forbidden') but not processed"
            )
            log.warning("callback from %s refused by the IP allowlist", client_addr)
            stored = await self._store(
                DeliveryIn(
                    received_at=received_at,
                    remote_addr=remote_addr,
                    client_addr=client_addr,
                    headers=headers,
                    body=body,
                    outcome="forbidden",
                    http_status=403,
                    reason=reason,
                )
            )
            await _json(send, 403, {"error": "forbidden", "message": "Source address not allowed."}, stored=stored)
            return

        try:
            parsed = _parse(body)
        except CallbackError as exc:
            await self._quarantine(
                send,
                DeliveryIn(
                    received_at=received_at,
                    remote_addr=remote_addr,
                    client_addr=client_addr,
                    headers=headers,
                    body=body,
                    outcome="quarantined",
                    http_status=400,
                    reason=str(exc),
                ),
            )
            return

        delivery = DeliveryIn(
            received_at=received_at,
            remote_addr=remote_addr,
            client_addr=client_addr,
            headers=headers,
            body=body,
            outcome="accepted",
            http_status=200,
            callback=parsed,
        )
        stored = await self._store(delivery)
        if isinstance(stored, Exception) and not isinstance(stored, StoreUnavailable):
            # The store took nothing for this row (SQLite refused its data): keep it raw in
            # quarantine with the reason rather than lose it.
            await self._quarantine(
                send,
                replace(
                    delivery,
                    outcome="quarantined",
                    http_status=400,
                    callback=None,
                    reason=f"not storable as a callback ({stored}); kept raw",
                ),
            )
            return
        await _json(send, 200, ACCEPTED, stored=stored)

    async def _quarantine(self, send: Send, delivery: DeliveryIn) -> None:
        stored = await self._store(delivery)
        reason = delivery.reason or "invalid callback"
        await _json(
            send,
            400,
            {"ResultCode": 1, "ResultDesc": f"Rejected: {reason}", "error": "invalid_callback", "message": reason},
            stored=stored,
        )

    async def _store(self, delivery: DeliveryIn) -> StoredDelivery | Exception:
        """Commit the delivery (in the store's writer thread) and report it."""
        try:
            stored = await self.store.store_delivery_async(delivery, expected_ids=self.expected_ids)
        except Exception as exc:
            log.error("delivery not stored: %s", exc)
            return exc
        if self.on_delivery is not None:
            try:
                self.on_delivery(stored)
            except Exception:
                log.exception("on_delivery hook failed")
        return stored

    async def _read_body(self, receive: Receive) -> tuple[bytes | None, int, bool]:
        """Read the body, counting as it streams: None once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        too_large = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, size, False
            chunk = message.get("body", b"")
            size += len(chunk)
            if not too_large:
                if size > self.max_body_bytes:
                    too_large = True
                    chunks.clear()
                else:
                    chunks.append(chunk)
            if not message.get("more_body", False):
                break
            if too_large and size > DRAIN_LIMIT:
                break
        return (None if too_large else b"".join(chunks)), size, True

    def _client_addr(self, remote_addr: str | None, headers: dict[str, str]) -> str | None:
        """The sender's address: the TCP peer, or the proxy's X-Forwarded-For when trusted.

        X-Forwarded-For is believed only from a proxy the user named (``trusted_proxies``, or
        the tunnel's agent once ``Listener.expose()`` opened one): any local process can forge
        the header. The last entry is the address the proxy itself saw.
        """
        forwarded = headers.get("x-forwarded-for")
        if not forwarded:
            return remote_addr
        trust = self.trust_forwarded_for
        if trust is None:
            peer = _ip(remote_addr)
            trust = peer is not None and any(peer in network for network in self.trusted_proxies)
        if not trust:
            return remote_addr
        last = forwarded.split(",")[-1].strip()
        return last or remote_addr

    def trust_tunnel_agent(self) -> None:
        """Believe X-Forwarded-For from loopback: the tunnel's agent runs on this machine."""
        for network in LOOPBACK_NETWORKS:
            if network not in self.trusted_proxies:
                self.trusted_proxies.append(network)

    def _allowed(self, address: str | None) -> bool:
        ip = _ip(address)
        if ip is None or self.networks is None:
            return self.networks is None
        return any(ip in network for network in self.networks)


# ---------------------------------------------------------------------------------------------


# Numbers beyond this exponent do not fit a float (they would read back as infinity).
_MAX_EXPONENT = 300


class _NotData(CallbackError):
    """The body is JSON, but holds something that must not be stored as data."""


def _finite_float(text: str) -> Decimal:
    number = Decimal(text)  # Decimal keeps Amount 1.00 exactly as sent
    if number and number.adjusted() > _MAX_EXPONENT:
        raise _NotData(
            f"the number {text[:40]} is too large to be a real value (it would read "
            "back as infinity); kept raw in quarantine, not stored as data"
        )
    return number


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_EXPONENT:
        raise _NotData(
            f"a number with {len(text)} digits is too large to be a real value; kept "
            "raw in quarantine, not stored as data"
        )
    return int(text)


def _no_constant(name: str) -> Any:
    raise _NotData(
        f"the body holds {name}, which is not a number (JSON has no NaN or Infinity); "
        "kept raw in quarantine, not stored as data"
    )


def _has_surrogate(value: Any) -> bool:
    """True if any text in the decoded JSON holds a lone surrogate (not encodable as UTF-8)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _parse(body: bytes) -> ParsedCallback:
    """parse_callback, after a strict decode: non-finite or overflowing numbers, lone surrogates
    and bodies nested too deep raise CallbackError (quarantined raw) instead of becoming data."""
    try:
        text = body.decode("utf-8-sig")
        payload = json.loads(text, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant)
    except _NotData:
        raise
    except RecursionError:
        raise CallbackError("the body is nested too deeply to be an stkCallback; kept raw in quarantine") from None
    except ValueError:
        # Not UTF-8 or not JSON: the parser says exactly what is wrong.
        return parse_callback(body)
    if not isinstance(payload, dict):
        return parse_callback(body)  # not an object: the parser names what it is
    if "\\u" in text and _has_surrogate(payload):
        raise CallbackError(
            "the body holds text with a lone surrogate (\\ud800-\\udfff), which is "
            "not valid Unicode; kept raw in quarantine, not stored as data"
        )
    return replace(parse_callback(payload), raw=body)


def _same_path(path: str, expected: str) -> bool:
    # Constant time: the path carries the secret token, so a comparison that stops at the first
    # wrong character would let a patient attacker guess it one character at a time.
    return hmac.compare_digest(path.encode("utf-8", "replace"), expected.encode("utf-8"))


def _headers(scope: Scope) -> dict[str, str]:
    kept: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        if name in KEPT_HEADERS:
            value = raw_value.decode("latin-1")
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value.split(",")[0].strip())
    except ValueError:
        return None


async def _drain(receive: Receive, limit: int) -> None:
    """Read and discard the body (up to ``limit`` bytes) so the client can read our answer."""
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _method_error(allowed: str) -> dict[str, str]:
    return {"error": "method_not_allowed", "message": f"Use {allowed} on this path."}


async def _json(
    send: Send,
    status: int,
    payload: dict[str, Any],
    *,
    stored: StoredDelivery | Exception | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
) -> None:
    if isinstance(stored, Exception):
        # Never acknowledge what is not committed.
        status = 503
        payload = {
            "ResultCode": 1,
            "ResultDesc": f"Not stored: {stored}",
            "error": "store_failed",
            "message": str(stored),
        }
        stored = None
    body = json.dumps(payload).encode("utf-8")
    extra = list(headers or [])
    if stored is not None:
        extra.append((b"x-mpesa-lab-delivery", str(stored.delivery_id).encode()))
        flags = [name for name, on in (("duplicate", stored.duplicate), ("unknown", stored.unknown)) if on]
        if flags:
            extra.append((b"x-mpesa-lab-flags", ",".join(flags).encode()))
    if close:
        extra.append((b"connection", b"close"))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})
