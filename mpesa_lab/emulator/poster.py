"""A lean HTTP/1.1 POST over keep-alive connections, for callbacks to plain-http URLs.

Why not httpx here: its AsyncClient spends about 1.3 ms of CPU per POST (more under concurrency),
which is more than everything else the emulator does for a transaction; callbacks to a local
listener are the hot path of every lab. This client does only what a callback needs: one POST
with a JSON body, a status code back, and the answer's body read (Content-Length, chunked or
until close) so the connection can be reused. https and non-ASCII URLs go through httpx.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 8 * 1024 * 1024


class PostError(Exception):
    """The POST did not get an HTTP answer; the message reads like httpx's (ConnectError: ...)."""


def supports(url: str) -> bool:
    """True for URLs this client handles (plain http, ASCII only)."""
    return url.isascii() and url[:7].lower() == "http://"


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class KeepAlivePoster:
    """POSTs with a small pool of idle keep-alive connections per origin (one event loop only)."""

    def __init__(self, max_idle_per_origin: int = 64) -> None:
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._max_idle = max_idle_per_origin
        self._targets: dict[tuple[str, str], tuple[tuple[str, int], bytes]] = {}

    async def post(self, url: str, body: bytes, timeout: float, user_agent: str = "mpesa-lab-emulator") -> int:
        """POST ``body`` as JSON to ``url``; the answer's status code, or PostError."""
        known = self._targets.get((url, user_agent))
        if known is None:
            known = self._target(url, user_agent)
        origin, head = known
        request = head + f"Content-Length: {len(body)}\r\nAccept: */*\r\n\r\n".encode("ascii") + body
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(origin, request)
        except TimeoutError:
            raise PostError(f"Timeout: no complete answer within {timeout:g} s") from None

    def _target(self, url: str, user_agent: str) -> tuple[tuple[str, int], bytes]:
        """(host, port) and the request's head up to Content-Length, remembered per URL: a lab
        sends thousands of callbacks to the same few URLs."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or 80
        except ValueError:
            raise PostError(f"InvalidURL: bad port in {url!r}") from None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        authority = parts.netloc.rsplit("@", 1)[-1]
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {user_agent}\r\n"
            "Content-Type: application/json\r\n"
        ).encode("ascii")
        if len(self._targets) >= 256:
            self._targets.clear()
        known = self._targets[(url, user_agent)] = ((host, port), head)
        return known

    async def _exchange(self, origin: tuple[str, int], request: bytes) -> int:
        reused = True
        connection = self._take_idle(origin)
        if connection is None:
            reused = False
            connection = await self._connect(origin)
        while True:
            reader, writer = connection
            try:
                writer.write(request)
                status, keep = await _read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                writer.close()
                if reused:
                    # The server had closed this idle connection before reading: nothing was
                    # processed, so one more try on a fresh connection is safe.
                    reused = False
                    connection = await self._connect(origin)
                    continue
                if isinstance(exc, asyncio.IncompleteReadError):
                    raise PostError(
                        "RemoteProtocolError: the server closed the connection without a complete answer"
                    ) from None
                raise PostError(f"WriteError: {exc}") from None
            except ValueError as exc:  # a malformed answer
                writer.close()
                raise PostError(f"RemoteProtocolError: {exc}") from None
            except BaseException:
                writer.close()
                raise
            if keep:
                self._give_back(origin, connection)
            else:
                writer.close()
            return status

    async def _connect(self, origin: tuple[str, int]) -> Connection:
        try:
            return await asyncio.open_connection(origin[0], origin[1], limit=MAX_HEAD)
        except OSError as exc:
            raise PostError(f"ConnectError: {exc}") from None

    def _take_idle(self, origin: tuple[str, int]) -> Connection | None:
        pool = self._idle.get(origin)
        while pool:
            reader, writer = pool.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    def _give_back(self, origin: tuple[str, int], connection: Connection) -> None:
        pool = self._idle.setdefault(origin, [])
        if len(pool) < self._max_idle:
            pool.append(connection)
        else:
            connection[1].close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for pool in idle.values():
            for _, writer in pool:
                writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one answer: (status, whether the connection can be reused)."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise ValueError("the answer's headers are too long") from None
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/") or not status_line[1].isdigit():
            raise ValueError(f"not an HTTP answer: {lines[0][:60]!r}")
        status = int(status_line[1])
        if status >= 200 or status == 101:
            break  # 1xx interim answers are skipped
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    keep = status_line[0] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if status in (204, 304):
        return status, keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return status, keep
            total += size
            if total > MAX_BODY:
                raise ValueError("the answer's body is too large")
            await reader.readexactly(size + 2)
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length < 0 or length > MAX_BODY:
            raise ValueError("the answer's Content-Length is out of range")
        await reader.readexactly(length)
        return status, keep
    # No framing: the body runs until the server closes.
    total = 0
    while chunk := await reader.read(65536):
        total += len(chunk)
        if total > MAX_BODY:
            raise ValueError("the answer's body is too large")
    return status, False
