"""Listener lifecycle (background thread) and the foreground runner / ``python -m``."""

from __future__ import annotations

import asyncio
import io
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest

from mpesa_lab.listener import CallbackStore, Listener, run_listener

from .helpers import blast, encode, start_listener_process, stk_body, success_items


def test_start_is_rerun_safe_and_stop_is_clean(store):
    first = Listener(store, name="test-rerun").start()
    port = first.port
    assert first.start() is first and first.port == port  # starting again is a no-op
    second = Listener(store, name="test-rerun").start(port=port)
    try:
        assert not first.running
        assert second.running and second.port == port
        response = httpx.post(second.callback_url, content=encode(stk_body("ws_CO_R1")), timeout=30)
        assert response.status_code == 200
    finally:
        second.stop()
    second.stop()
    assert not second.running
    with pytest.raises(RuntimeError, match="start"):
        _ = second.url
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://127.0.0.1:{port}/", timeout=2)


def test_tokens(store):
    a, b = Listener(store), Listener(store)
    assert a.path_token != b.path_token and len(a.path_token) >= 22
    mine = Listener(store, path_token="my-secret_token1")
    with mine.start():
        assert mine.callback_url.endswith("/my-secret_token1/callback")
        assert mine.callback_url.startswith("http://127.0.0.1:")
        assert mine.path_token not in repr(mine)
    for bad in ("short", "has/slash", "space here", "x" * 200):
        with pytest.raises(ValueError, match="path_token"):
            Listener(store, path_token=bad)


def test_store_given_as_a_path(tmp_path):
    listener = Listener(tmp_path / "lab.sqlite")
    assert isinstance(listener.store, CallbackStore)
    assert listener.store.path == (tmp_path / "lab.sqlite").resolve()


def test_wait_for_over_http(listener):
    listener.store.record_push(
        {"Amount": 1, "PhoneNumber": "254708374149"}, {"CheckoutRequestID": "ws_CO_HW1", "ResponseCode": "0"}
    )

    def later() -> None:
        time.sleep(0.2)
        httpx.post(listener.callback_url, timeout=30, content=encode(stk_body("ws_CO_HW1", metadata=success_items(7))))

    thread = threading.Thread(target=later)
    thread.start()
    try:
        cb = listener.wait_for("ws_CO_HW1", timeout=30)
    finally:
        thread.join()
    assert cb.amount == 7 and not cb.unknown and not cb.duplicate
    assert listener.transactions().loc[0, "status"] == "paid"
    assert len(listener.callbacks()) == 1 and len(listener.deliveries()) == 1


def test_run_listener_prints_each_callback(tmp_path):
    out = io.StringIO()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            run_listener(
                "127.0.0.1", 0, tmp_path / "fg.sqlite", path_token="foreground-token", out=out, stop_event=stop
            )
        )
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while "Callback URL:" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        url = out.getvalue().split("Callback URL:", 1)[1].split()[0]
        assert url.endswith("/foreground-token/callback")
        assert f"Store:        {(tmp_path / 'fg.sqlite').resolve()}" in out.getvalue()
        httpx.post(url, content=encode(stk_body("ws_CO_FG1", metadata=success_items("10.00"))), timeout=30)
        httpx.post(
            url,
            content=encode(stk_body("ws_CO_FG2", result_code=1032, result_desc="Request cancelled by user")),
            timeout=30,
        )
        httpx.post(url, content=b"junk", timeout=30)
    finally:
        stop.set()
        thread.join(30)
    text = out.getvalue()
    assert result == [0]
    line1 = next(line for line in text.splitlines() if "ws_CO_FG1" in line)
    assert "0" in line1 and "The service request is processed successfully." in line1
    assert "KES 10.00" in line1 and "[unknown]" in line1
    line2 = next(line for line in text.splitlines() if "ws_CO_FG2" in line)
    assert "1032" in line2 and "Request cancelled by user" in line2
    assert "QUARANTINED" in text and "not valid JSON" in text
    assert "Stopped. 3 deliveries" in text


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_python_dash_m_stops_cleanly_on_a_signal_mid_load(tmp_path, sig):
    """Ctrl-C (SIGINT) or SIGTERM while callbacks stream in: exit 0, a clean message, no
    traceback, and every callback answered 200 is in the store."""
    db = tmp_path / "proc.sqlite"
    log = tmp_path / "listener.log"
    proc, url = start_listener_process(db, "process-token-1", log)
    signal_at = 200
    items = [(f"ws_CO_SIG{i:05d}", encode(stk_body(f"ws_CO_SIG{i:05d}"))) for i in range(3000)]

    def on_ack(cid: str, count: int) -> None:
        if count == signal_at:
            proc.send_signal(sig)

    try:
        response = httpx.post(url, content=encode(stk_body("ws_CO_PM1", metadata=success_items(3))), timeout=30)
        assert response.status_code == 200
        deadline = time.monotonic() + 30
        while "ws_CO_PM1" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        acked, _ = asyncio.run(blast(url, items, 16, on_ack))
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "ws_CO_PM1" in text and "KES 3" in text
    assert f"Stopping ({sig.name})" in text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    store = CallbackStore(db)
    stored = store.count_callbacks()
    assert f"Stopped. {store.count_deliveries()} deliveries in {db.resolve()}" in text
    assert signal_at <= len(acked) < len(items), "the signal should have stopped the load"
    with sqlite3.connect(db) as conn:
        ids = {row[0] for row in conn.execute("SELECT checkout_request_id FROM callbacks")}
    missing = acked - ids
    assert not missing, f"{len(missing)} acknowledged callbacks not stored, e.g. {sorted(missing)[:3]}"
    assert stored == len(ids), "a callback was stored twice"


def test_python_dash_m_reports_bad_arguments():
    done = subprocess.run(
        [sys.executable, "-m", "mpesa_lab.listener", "--port", "0", "--token", "bad"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "path_token must be" in done.stderr
    assert "Traceback" not in done.stderr


def test_runs_beside_a_running_event_loop_like_a_notebook_kernel(tmp_path):
    """A Jupyter cell runs on the kernel's event loop: start, use and stop must not need it."""

    async def cell() -> tuple[int, str, int]:
        loop_thread = threading.current_thread()
        seen: list[threading.Thread] = []
        lst = Listener(
            tmp_path / "nb.sqlite", name="test-notebook", on_delivery=lambda _: seen.append(threading.current_thread())
        ).start()
        try:
            # Blocking calls from the loop's own thread: the server must not be on this loop.
            status = httpx.post(lst.callback_url, content=encode(stk_body("ws_CO_NB1")), timeout=30).status_code
            cb = lst.wait_for("ws_CO_NB1", timeout=30)
        finally:
            lst.stop()
        assert seen and seen[0] is not loop_thread
        return status, cb.result_code, len(lst.callbacks())

    assert asyncio.run(cell()) == (200, "0", 1)


def test_stop_ends_the_writer_of_a_store_it_opened(tmp_path, store):
    def writers() -> int:
        return sum(t.name == "mpesa-lab-store-writer" and t.is_alive() for t in threading.enumerate())

    before = writers()
    own = Listener(tmp_path / "own.sqlite", name="test-own").start()
    httpx.post(own.callback_url, content=encode(stk_body("ws_CO_OWN")), timeout=30)
    shared = Listener(store, name="test-shared").start()
    httpx.post(shared.callback_url, content=encode(stk_body("ws_CO_SH")), timeout=30)
    assert writers() == before + 2
    own.stop()
    shared.stop()
    assert writers() == before + 1  # the caller's store is the caller's to close
    assert own.store.count_callbacks("ws_CO_OWN") == 1  # still readable after stop
    assert len(own.transactions()) == 0 and len(own.callbacks()) == 1
