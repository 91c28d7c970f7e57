"""Callback bodies (from tests/store/bodies.py) and a listener process for the listener tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.store.bodies import encode, stk_body, success_items

__all__ = ["blast", "encode", "start_listener_process", "stk_body", "success_items"]


def start_listener_process(
    db: Path, token: str, log_path: Path, *quiet: str, timeout: float = 60.0
) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``python -m mpesa_lab.listener`` on a free port; return it and its callback URL."""
    import sys
    import time

    log = open(log_path, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpesa_lab.listener", "--port", "0", "--db", str(db), "--token", token, *quiet],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        lines = log_path.read_text(errors="replace").splitlines()
        for line in lines[seen:]:
            if line.startswith("Callback URL:"):
                return proc, line.split(":", 1)[1].strip()
        seen = max(seen, len(lines) - 1)
        if proc.poll() is not None:
            raise RuntimeError(f"listener exited with {proc.returncode}: {log_path.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"listener did not print its URL within {timeout} s: {log_path.read_text()}")


async def blast(
    url: str, items: list[tuple[str, bytes]], concurrency: int, on_ack: Any = None
) -> tuple[set[str], list[str]]:
    """POST every body from ``concurrency`` keep-alive connections; return (IDs answered 200
    with the Accepted body, other outcomes).

    A small HTTP/1.1 client on asyncio streams: httpx's async pool, not the listener, becomes
    the bottleneck at 64 concurrent requests. A sender stops at its first transport error (the
    listener died); ``on_ack(cid, count)`` is called after each acknowledgement.
    """
    import asyncio
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    accepted = json.dumps({"ResultCode": 0, "ResultDesc": "Accepted"}).encode()
    acked: set[str] = set()
    problems: list[str] = []
    pending = iter(items)

    async def sender() -> None:
        reader = writer = None
        try:
            for cid, body in pending:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(
                    f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json"
                    f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    status = int(lines[0].split()[1])
                    fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
                    answer = await reader.readexactly(int(fields.get("content-length", "0")))
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    problems.append(f"{cid}: {type(exc).__name__}")
                    return
                if status == 200 and answer == accepted:
                    acked.add(cid)
                    if on_ack is not None:
                        on_ack(cid, len(acked))
                else:
                    problems.append(f"{cid}: HTTP {status}")
                if fields.get("connection") == "close":
                    writer.close()
                    reader = writer = None
        except OSError as exc:  # could not connect: the listener is gone
            problems.append(f"connect: {type(exc).__name__}")
        finally:
            if writer is not None:
                writer.close()

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return acked, problems
