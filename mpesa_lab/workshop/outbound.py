"""Where the workshop server may send a request a participant aimed: their own listener, only.

At hello, a participant may offer a direct URL (and a health URL to check it) so the server posts
their callbacks straight to their laptop. A URL a participant chooses is a request the server
makes for them, so the rule is narrow (docs/workshop.md, "Direct delivery: the rule"):

- plain ``http://``, both URLs on the same host and port;
- the host resolves only to the address the participant's own requests come from (as the server
  sees it), or into a network the facilitator opted in (``WorkshopLimits.direct_networks``);
- never the server itself: not its own port on any of its own addresses (loopback, 0.0.0.0, ::,
  any address of this machine, whichever way it is written: decimal, hex, IPv4-mapped IPv6 or a
  name that resolves to one);
- not when the participant's requests arrive through a proxy (forwarding headers): the server
  cannot see their address then; the relay carries their callbacks.

The URL is then pinned to the address checked (a name cannot resolve elsewhere later). A health
check that fails says the same thing whatever the reason, so hello cannot map the ports of the
participant's machine (it is their own machine anyway).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
PROBE_TIMEOUT = 2.0
MAX_URL_CHARS = 500
_FORWARDING = (b"x-forwarded-for", b"forwarded", b"x-real-ip", b"x-forwarded-host", b"cf-connecting-ip")
PROBE_FAILED = "the server got no HTTP 200 from your listener's health URL; using the relay"


class Refused(ValueError):
    """A direct URL the server will not post to; the message says why (same wording whatever
    the state of the participant's ports)."""


@dataclass(frozen=True)
class Aim:
    """A vetted direct offer: both URLs pinned to the address that was checked."""

    direct_url: str
    health_url: str


def parse_networks(text: str) -> list[IpNetwork]:
    """``"10.0.0.0/8, 192.168.0.0/16"`` as networks (ValueError names a bad one)."""
    networks = []
    for part in text.replace(";", ",").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"MPESA_LAB_WORKSHOP_DIRECT_NETWORKS: {part.strip()!r} is not a network like 10.0.0.0/8"
                ) from None
    return networks


def normal(address: IpAddress) -> IpAddress:
    """IPv4-mapped IPv6 (``::ffff:127.0.0.1``) as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=256)
def is_this_machine(address: IpAddress) -> bool:
    """Loopback, unspecified, or an address of one of this machine's interfaces (it can be bound)."""
    if address.is_loopback or address.is_unspecified:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
        return True
    except OSError:
        return False


def proxied(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(key in _FORWARDING for key, _ in headers)


async def resolve(host: str) -> list[IpAddress]:
    """Every address ``host`` resolves to (IP literals in any form glibc reads, names by DNS)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), PROBE_TIMEOUT)
    except (TimeoutError, OSError, UnicodeError, ValueError):
        raise Refused(f"the direct URL's host {host[:60]!r} does not resolve; using the relay") from None
    return list(dict.fromkeys(normal(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos))


async def vet(
    direct_url: object,
    health_url: object,
    *,
    source: str | None,
    server_port: int | None,
    proxy: bool,
    networks: list[IpNetwork],
) -> Aim:
    """The offer, pinned, or Refused with why (see the module's rule)."""
    if not isinstance(direct_url, str) or not isinstance(health_url, str):
        raise Refused("direct_url and health_url must be strings; using the relay")
    if len(direct_url) > MAX_URL_CHARS or len(health_url) > MAX_URL_CHARS:
        raise Refused(f"direct URLs are at most {MAX_URL_CHARS} characters; using the relay")
    try:
        direct, health = urlsplit(direct_url), urlsplit(health_url)
        ports = (direct.port or 80, health.port or 80)
    except ValueError:
        raise Refused("the direct or health URL is not a URL; using the relay") from None
    if direct.scheme != "http" or health.scheme != "http" or not direct.hostname:
        raise Refused("direct delivery needs plain-http listener URLs; using the relay")
    if "@" in direct.netloc or "@" in health.netloc:
        raise Refused("direct URLs may not carry a user or password; using the relay")
    if (direct.hostname, ports[0]) != (health.hostname, ports[1]):
        raise Refused("the health URL must be on the same host and port as the direct URL; using the relay")
    if proxy:
        raise Refused(
            "your requests reach the server through a proxy, so it cannot check your listener's "
            "address; using the relay"
        )
    try:
        seen = normal(ipaddress.ip_address((source or "").split("%")[0]))
    except ValueError:
        raise Refused("the server cannot tell your address; using the relay") from None
    addresses = await resolve(direct.hostname)
    port = ports[0]
    for address in addresses:
        if is_this_machine(address) and (port == server_port or address.is_unspecified):
            raise Refused("the direct URL points at the workshop server itself; using the relay")
        if address == seen or (address.is_loopback and seen.is_loopback):
            continue  # the participant's own machine (on the server's machine: loopback)
        if not any(address in net for net in networks if net.version == address.version):
            raise Refused(
                f"the direct URL must point at your own address as the server sees it ({seen}); using the relay"
            )
    host = str(addresses[0]) if addresses[0].version == 4 else f"[{addresses[0]}]"
    netloc = f"{host}:{port}"
    return Aim(
        urlunsplit(("http", netloc, direct.path or "/", direct.query, "")),
        urlunsplit(("http", netloc, health.path or "/", health.query, "")),
    )


_RESOLVED: dict[str, tuple[float, list[IpAddress]]] = {}  # host -> (when, addresses): pushes repeat hosts


async def resolve_cached(host: str, ttl: float = 60.0) -> list[IpAddress]:
    """``resolve`` remembered for ``ttl`` seconds (a CallBackURL is checked on every push)."""
    loop = asyncio.get_running_loop()
    known = _RESOLVED.get(host)
    if known is not None and loop.time() - known[0] < ttl:
        return known[1]
    addresses = await resolve(host)
    if len(_RESOLVED) >= 256:
        _RESOLVED.clear()
    _RESOLVED[host] = (loop.time(), addresses)
    return addresses


async def callback_refusal(
    url: object, *, source: str | None, server_port: int | None, networks: list[IpNetwork]
) -> str | None:
    """Why the emulator may not post a push's callbacks to ``url`` (None: it may).

    In the workshop the emulator posts callbacks where a participant says, so the same rule as a
    direct URL applies: the workshop server itself (the inbox the lab puts there; the inbox
    route checks its token) or the participant's own address (or an opted-in network). Anything
    else would let a participant make the server knock on any host and port of the venue.
    """
    if not isinstance(url, str):
        return None  # not a URL at all: the emulator's own validation answers it
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        addresses = await resolve_cached(parts.hostname)
    except Refused:
        return f"its host {parts.hostname[:60]!r} does not resolve"
    try:
        seen = normal(ipaddress.ip_address((source or "").split("%")[0]))
    except ValueError:
        seen = None
    for address in addresses:
        if is_this_machine(address) and port == server_port:
            continue  # the workshop server: the inbox (any other route there answers 404 / 401)
        if seen is not None and (address == seen or (address.is_loopback and seen.is_loopback)):
            continue  # the participant's own machine
        if any(address in net for net in networks if net.version == address.version):
            continue
        return (
            f"in the workshop a CallBackURL must be your inbox on the workshop server (the lab sets it) "
            f"or a URL on your own machine ({seen})"
        )
    return None


async def probe(aim: Aim) -> bool:
    """Does the listener answer its health URL with 200? (The body is never read.)"""
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=PROBE_TIMEOUT, follow_redirects=False) as client:
            async with client.stream("GET", aim.health_url) as response:
                return response.status_code == 200
    except (httpx.HTTPError, OSError, ValueError):
        return False
