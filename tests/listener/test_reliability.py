"""Reliability at a size CI can run: none lost, none doubled, nothing acknowledged then lost.

Size: ``MPESA_LAB_RELIABILITY_N`` callbacks (default 10,000) from 64 concurrent senders, against
the listener running as its own process (``python -m mpesa_lab.listener``), as in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3

import httpx
import pytest

from mpesa_lab.listener import CallbackStore

from .helpers import blast, encode, start_listener_process, stk_body, success_items

N = int(os.environ.get("MPESA_LAB_RELIABILITY_N", "10000"))
SENDERS = 64

pytestmark = pytest.mark.slow


def bodies(n: int, prefix: str) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        cid = f"ws_CO_{prefix}{i:07d}"
        metadata = success_items(1 + i % 500, receipt=f"SG{i:08d}") if i % 3 else None
        out.append((cid, encode(stk_body(cid, result_code=0 if i % 3 else 1032, metadata=metadata))))
    return out


def stored_ids(db) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT checkout_request_id FROM callbacks")]


def stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except Exception:
            proc.kill()
            proc.wait()


def test_n_callbacks_from_64_senders_none_lost_none_doubled(tmp_path):
    db = tmp_path / "load.sqlite"
    items = bodies(N, "L")
    proc, url = start_listener_process(db, "reliability-token", tmp_path / "load.log", "--quiet")
    try:
        acked, problems = asyncio.run(blast(url, items, SENDERS))
    finally:
        stop(proc)
    assert problems == []
    assert len(acked) == N
    store = CallbackStore(db)
    assert store.count_deliveries() == N
    assert store.count_deliveries("accepted") == N
    ids = stored_ids(db)
    assert len(ids) == N and set(ids) == {cid for cid, _ in items}
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT checkout_request_id, body FROM deliveries"))
        assert conn.execute("SELECT COUNT(*) FROM deliveries WHERE duplicate = 1").fetchone()[0] == 0
    assert all(stored[cid] == body for cid, body in items)


def test_sigkill_mid_load_loses_nothing_that_was_acknowledged(tmp_path):
    db = tmp_path / "kill.sqlite"
    token = "sigkill-token-1"
    items = bodies(N, "K")
    kill_at = max(1, N // 3)
    proc, url = start_listener_process(db, token, tmp_path / "kill.log", "--quiet")

    def on_ack(cid: str, count: int) -> None:
        if count == kill_at:
            proc.send_signal(signal.SIGKILL)

    try:
        acked, problems = asyncio.run(blast(url, items, SENDERS, on_ack))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= kill_at
    assert len(acked) < N, "the listener should have died mid-load"
    assert problems, "senders should have seen the listener die"

    # Restart on the same file: it opens (WAL recovery) and goes on accepting.
    proc, url = start_listener_process(db, token, tmp_path / "restart.log", "--quiet")
    try:
        after = httpx.post(url, content=encode(stk_body("ws_CO_after_restart")), timeout=30)
        assert after.status_code == 200
        ids = stored_ids(db)
    finally:
        stop(proc)
    stored = set(ids)
    missing = acked - stored
    assert not missing, f"{len(missing)} acknowledged callbacks lost, e.g. {sorted(missing)[:3]}"
    assert len(ids) == len(stored), "a callback was stored twice"
    assert "ws_CO_after_restart" in stored
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
