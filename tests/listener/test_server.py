"""Listener lifecycle (background thread) and the foreground runner / ``python -m``."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from mpesa_lab.listener import CallbackStore, Listener, run_listener

from .helpers import encode, start_listener_process, stk_body, success_items


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
    listener.store.record_push({"Amount": 1, "PhoneNumber": "254708374149"},
                               {"CheckoutRequestID": "ws_CO_HW1", "ResponseCode": "0"})

    def later() -> None:
        time.sleep(0.2)
        httpx.post(listener.callback_url, timeout=30,
                   content=encode(stk_body("ws_CO_HW1", metadata=success_items(7))))

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
    thread = threading.Thread(target=lambda: result.append(run_listener(
        "127.0.0.1", 0, tmp_path / "fg.sqlite", path_token="foreground-token", out=out,
        stop_event=stop)))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while "Callback URL:" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        url = out.getvalue().split("Callback URL:", 1)[1].split()[0]
        assert url.endswith("/foreground-token/callback")
        assert f"Store:        {(tmp_path / 'fg.sqlite').resolve()}" in out.getvalue()
        httpx.post(url, content=encode(stk_body("ws_CO_FG1", metadata=success_items("10.00"))), timeout=30)
        httpx.post(url, content=encode(stk_body("ws_CO_FG2", result_code=1032,
                                                result_desc="Request cancelled by user")), timeout=30)
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


def test_python_dash_m_runs_and_stops_cleanly_on_sigterm(tmp_path):
    db = tmp_path / "proc.sqlite"
    log = tmp_path / "listener.log"
    proc, url = start_listener_process(db, "process-token-1", log)
    try:
        response = httpx.post(url, content=encode(stk_body("ws_CO_PM1", metadata=success_items(3))),
                              timeout=30)
        assert response.status_code == 200
        deadline = time.monotonic() + 30
        while "ws_CO_PM1" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "ws_CO_PM1" in text and "KES 3" in text
    assert "Stopped. 1 deliveries" in text
    assert CallbackStore(db).count_callbacks("ws_CO_PM1") == 1


def test_python_dash_m_reports_bad_arguments():
    done = subprocess.run([sys.executable, "-m", "mpesa_lab.listener", "--port", "0", "--token", "bad"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "path_token must be" in done.stderr
    assert "Traceback" not in done.stderr
