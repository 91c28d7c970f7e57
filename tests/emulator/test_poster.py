"""The lean callback poster against real sockets and awkward servers."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

import pytest

from mpesa_lab.emulator.poster import KeepAlivePoster, PostError, supports

from .conftest import TIMEOUT


class Canned(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def serve(behaviour: Callable[[socket.socket, list[bytes]], None]) -> Iterator[tuple[str, list[bytes]]]:
    seen: list[bytes] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            behaviour(self.request, seen)

    server = Canned(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cb?x=1", seen
    finally:
        server.shutdown()
        server.server_close()


def post_all(url: str, bodies: list[bytes], timeout: float = TIMEOUT) -> list[int | str]:
    async def run() -> list[int | str]:
        poster = KeepAlivePoster()
        out: list[int | str] = []
        for body in bodies:
            try:
                out.append(await poster.post(url, body, timeout))
            except PostError as exc:
                out.append(str(exc))
        await poster.aclose()
        return out

    return asyncio.run(run())


@pytest.fixture
def keep_alive():
    def behaviour(conn: socket.socket, seen: list[bytes]) -> None:
        while True:
            request = read_request(conn)
            if not request:
                return
            seen.append(request)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")

    yield from serve(behaviour)


def test_posts_json_and_reuses_the_connection(keep_alive):
    url, seen = keep_alive
    assert post_all(url, [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']) == [200, 200, 200]
    assert len(seen) == 3
    head = seen[0].split(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /cb?x=1 HTTP/1.1")
    assert "Content-Type: application/json" in head and "Content-Length: 8" in head
    assert seen[0].endswith(b'{"a": 1}')


@pytest.fixture
def chunked_then_close():
    def behaviour(conn: socket.socket, seen: list[bytes]) -> None:
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n0\r\n\r\n")
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.0 201 Created\r\n\r\nno length, ends at close")
        conn.close()

    yield from serve(behaviour)


def test_chunked_and_close_delimited_answers(chunked_then_close):
    url, seen = chunked_then_close
    assert post_all(url, [b"{}", b"{}"]) == [202, 201]
    assert len(seen) == 2  # the chunked answer left the connection reusable


@pytest.fixture
def closes_idle():
    def behaviour(conn: socket.socket, seen: list[bytes]) -> None:
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        conn.close()  # keep-alive promised, then dropped: the next POST must use a new connection

    yield from serve(behaviour)


def test_a_stale_keep_alive_connection_is_replaced(closes_idle):
    url, seen = closes_idle
    assert post_all(url, [b"{}", b"{}", b"{}"]) == [200, 200, 200]
    assert len(seen) == 3


@pytest.fixture
def garbage():
    def behaviour(conn: socket.socket, seen: list[bytes]) -> None:
        read_request(conn)
        conn.sendall(b"SMTP ready\r\n\r\n")

    yield from serve(behaviour)


def test_a_non_http_answer_is_a_protocol_error(garbage):
    url, _ = garbage
    [result] = post_all(url, [b"{}"])
    assert isinstance(result, str) and result.startswith("RemoteProtocolError")


@pytest.fixture
def silent():
    release = threading.Event()

    def behaviour(conn: socket.socket, seen: list[bytes]) -> None:
        read_request(conn)
        release.wait(TIMEOUT)

    yield from serve(behaviour)
    release.set()


def test_silence_is_a_timeout(silent):
    url, _ = silent
    [result] = post_all(url, [b"{}"], timeout=0.2)
    assert result == "Timeout: no complete answer within 0.2 s"


def test_refused_connection_is_a_connect_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    [result] = post_all(f"http://127.0.0.1:{port}/cb", [b"{}"])
    assert isinstance(result, str) and result.startswith("ConnectError")


def test_which_urls_it_handles():
    assert supports("http://127.0.0.1:8000/cb") and supports("HTTP://example.com/x")
    assert not supports("https://example.com/cb") and not supports("http://exämple.com/cb")


def test_https_callbacks_go_through_httpx_and_errors_are_recorded(make_lab, keep_alive):
    lab = make_lab(callback_timeout=0.5)
    url, _ = keep_alive
    https_url = url.replace("http://", "https://")  # a plain-http server: the TLS handshake fails
    cid = lab.push_ok(CallBackURL=https_url)
    [attempt] = lab.emulator.wait_for_callbacks(cid, 1, TIMEOUT)
    assert attempt["status"] is None and attempt["error"]
    assert not attempt["delivered"]


def test_chunked_answer_counts_as_delivered_through_the_emulator(lab, chunked_then_close):
    url, seen = chunked_then_close
    cid = lab.push_ok(CallBackURL=url)
    [attempt] = lab.emulator.wait_for_callbacks(cid, 1, TIMEOUT)
    assert attempt["status"] == 202 and attempt["delivered"]
    assert b'"CheckoutRequestID": "' + cid.encode() in seen[0]
