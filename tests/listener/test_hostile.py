"""The listener as a hostile or careless client meets it, over real HTTP: slow and stalled
connections, forged proxy headers, numbers and text that must not become data, and the
application's own logging left alone."""

from __future__ import annotations

import logging
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mpesa_lab.listener import CallbackStore, Listener

from .helpers import encode, stk_body, success_items

FD_LIMIT = 256  # the listener process's open-file limit in the flood test
STALLED = 400  # more stalled connections than that limit


def _listener_process(
    db: Path, token: str, log_path: Path, *args: str, fd_limit: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    def lower_limit() -> None:
        if fd_limit is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, hard))

    out = open(log_path.with_suffix(".out"), "wb")
    err = open(log_path, "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mpesa_lab.listener",
            "--port",
            "0",
            "--db",
            str(db),
            "--token",
            token,
            "--quiet",
            *args,
        ],
        stdout=out,
        stderr=err,
        preexec_fn=lower_limit,
    )
    out.close()
    err.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log_path.with_suffix(".out").read_text(errors="replace").splitlines():
            if line.startswith("Callback URL:"):
                return proc, line.split(":", 1)[1].strip()
        if proc.poll() is not None:
            raise RuntimeError(f"listener exited: {log_path.read_text(errors='replace')}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("listener did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _closed_by_peer(sock: socket.socket) -> bool:
    """True once the listener has closed the connection (any answer before that is read)."""
    sock.settimeout(0.05)
    try:
        while sock.recv(65536):
            pass
        return True
    except TimeoutError:
        return False
    except OSError:  # reset by the peer
        return True


# ---- item 1: slow and stalled clients ----------------------------------------------------------


def test_a_flood_of_stalled_connections_does_not_lock_out_callbacks(tmp_path):
    """More stalled connections than the listener may hold files: valid callbacks still get in
    and are acknowledged, stalled ones are closed after the request timeout, and the log says
    so once instead of a traceback per failed accept()."""
    db = tmp_path / "flood.sqlite"
    log_path = tmp_path / "flood.err"
    proc, url = _listener_process(db, "flood-token-1", log_path, "--request-timeout", "3", fd_limit=FD_LIMIT)
    port = int(url.split(":")[2].split("/")[0])
    stalled: list[socket.socket] = []
    try:
        for i in range(STALLED):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            # Part of a request (to a wrong path: no token needed), then nothing more.
            sock.sendall(
                b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Le"
                if i % 2
                else b"POST /flood-token-1/callback HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"
            )
            stalled.append(sock)
        acked = []
        with httpx.Client(timeout=10) as client:
            for i in range(20):
                cid = f"ws_CO_FLOOD{i:03d}"
                response = client.post(url, content=encode(stk_body(cid)), headers={"Connection": "close"})
                assert response.status_code == 200, response.text
                acked.append(cid)
        # The request timeout closes what is still stalled.
        time.sleep(4.5)
        still_open = [s for s in stalled if not _closed_by_peer(s)]
        assert not still_open, f"{len(still_open)} stalled connections were never closed"
        with httpx.Client(timeout=10) as client:
            assert client.post(url, content=encode(stk_body("ws_CO_AFTER"))).status_code == 200
    finally:
        for sock in stalled:
            sock.close()
        _stop(proc)
    stored = CallbackStore(db)
    assert {cid for cid in acked} | {"ws_CO_AFTER"} <= set(stored.callbacks()["checkout_request_id"])
    stored.close()
    err = log_path.read_text(errors="replace")
    assert "Too many open files" not in err
    assert "Traceback" not in err
    assert len(err) < 5_000, err[:2000]  # a line or two, not one per connection


def test_a_body_that_stalls_is_cut_off_and_nothing_is_stored(tmp_path):
    store = CallbackStore(tmp_path / "slow.sqlite")
    with Listener(store, request_timeout=1.0, name="test-slow-body") as lst:
        path = lst.local_callback_url.split(str(lst.port), 1)[1]
        with socket.create_connection(("127.0.0.1", lst.port), timeout=10) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode())
            started = time.monotonic()
            sock.settimeout(10)
            try:
                sock.recv(1024)
            except OSError:
                pass
            waited = time.monotonic() - started
        assert waited < 5  # closed by the listener, not by the test's own 10 s timeout
        assert httpx.post(lst.local_callback_url, content=encode(stk_body("ws_CO_S1")), timeout=10).status_code == 200
    assert store.count_deliveries() == 1  # the stalled body was never acknowledged nor kept
    store.close()


def test_an_idle_connection_that_never_sends_is_closed(tmp_path):
    store = CallbackStore(tmp_path / "idle.sqlite")
    with Listener(store, request_timeout=1.0, name="test-idle") as lst:
        with socket.create_connection(("127.0.0.1", lst.port), timeout=10) as sock:
            started = time.monotonic()
            assert sock.recv(1024) == b""
            assert time.monotonic() - started < 5
    store.close()


# ---- item 11: X-Forwarded-For only from a proxy the user named ---------------------------------


def test_safaricom_only_is_not_fooled_by_a_local_process(tmp_path):
    db = tmp_path / "xff.sqlite"
    proc, url = _listener_process(db, "xff-token-123", tmp_path / "xff.err", "--safaricom-only")
    try:
        forged = httpx.post(
            url, content=encode(stk_body("ws_CO_X1")), headers={"X-Forwarded-For": "196.201.214.200"}, timeout=10
        )
    finally:
        _stop(proc)
    assert forged.status_code == 403
    proc, url = _listener_process(
        db, "xff-token-123", tmp_path / "xff2.err", "--safaricom-only", "--trust-proxy", "127.0.0.1"
    )
    try:
        named = httpx.post(
            url, content=encode(stk_body("ws_CO_X2")), headers={"X-Forwarded-For": "196.201.214.200"}, timeout=10
        )
    finally:
        _stop(proc)
    assert named.status_code == 200


# ---- item 10: numbers and text that must not become data --------------------------------------

NOT_DATA = {
    "ResultCode NaN": b'{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_N1","ResultCode":NaN}}}',
    "ResultCode Infinity": b'{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_N2","ResultCode":-Infinity}}}',
    "Amount 1e999": (
        b'{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_N3","ResultCode":0,'
        b'"CallbackMetadata":{"Item":[{"Name":"Amount","Value":1e999}]}}}}'
    ),
    "Amount of 400 digits": (
        b'{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_N4","ResultCode":0,'
        b'"CallbackMetadata":{"Item":[{"Name":"Amount","Value":1' + b"0" * 400 + b"}]}}}}"
    ),
    "ResultCode of 5000 digits": (
        b'{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_N5","ResultCode":' + b"9" * 5000 + b"}}}"
    ),
    "lone surrogate in CheckoutRequestID": (
        b'{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_\\ud800","ResultCode":0}}}'
    ),
    "lone surrogate in a key": b'{"Body":{"stkCallback":{"CheckoutRequestID":"ws_CO_N7","ResultCode":0,"\\udc00":1}}}',
    "nested 30,000 deep": b'{"Body":' + b"[" * 30_000 + b"]" * 30_000 + b"}",
}


@pytest.mark.parametrize("name", list(NOT_DATA))
def test_non_finite_and_undecodable_input_is_quarantined_raw_with_the_reason(listener, store, name):
    raw = NOT_DATA[name]
    response = httpx.post(listener.callback_url, content=raw, timeout=30, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["error"] == "invalid_callback" and payload["message"]
    row = store.delivery(int(response.headers["x-mpesa-lab-delivery"]))
    assert row["outcome"] == "quarantined" and row["body"] == raw
    quarantine = store.quarantine()
    assert len(quarantine) == 1 and quarantine.loc[0, "body"] == raw
    assert quarantine.loc[0, "reason"] == payload["message"]
    assert store.count_callbacks() == 0  # never stored as data


def test_ordinary_big_and_precise_numbers_are_still_data(listener, store):
    raw = encode(stk_body("ws_CO_OK1", metadata=success_items(1.00, balance=123456789012.55)))
    response = httpx.post(listener.callback_url, content=raw, timeout=30)
    assert response.status_code == 200
    assert listener.callback("ws_CO_OK1").balance is not None


# ---- item 3: the application's logging is its own ----------------------------------------------


def test_starting_servers_never_closes_the_applications_log_handlers(tmp_path, store):
    from mpesa_lab.emulator import Emulator
    from mpesa_lab.lab import Lab

    log_file = tmp_path / "app.log"
    # mode "w": a handler closed behind the application's back does not quietly reopen.
    handler = logging.FileHandler(log_file, mode="w")
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    mine = logging.getLogger("my.app")
    try:
        mine.info("before")
        with Listener(store, name="test-log-listener"):
            mine.info("listener running")
        with Emulator(name="test-log-emulator").start():
            mine.info("emulator running")
        with Lab.start(store=tmp_path / "lab.sqlite") as lab:
            lab.push("254708374149", 1).wait(30)
            mine.info("lab running")
        mine.info("after")
        handler.flush()
        assert handler.stream is not None and not handler.stream.closed
        assert root.handlers.count(handler) == 1
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
    text = log_file.read_text()
    for line in ("before", "listener running", "emulator running", "lab running", "after"):
        assert line in text, text


# A client process that connects, sends nothing, and reconnects the moment the listener closes
# it: every slot the listener frees is taken again at once (issue 19 item 12).
RECONNECT_FLOOD = r"""
import errno, resource, selectors, socket, sys, time
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, seconds, width = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
selector = selectors.DefaultSelector()
def open_one():
    sock = socket.socket(); sock.setblocking(False)
    if sock.connect_ex(("127.0.0.1", port)) in (0, errno.EINPROGRESS):
        selector.register(sock, selectors.EVENT_READ)
    else:
        sock.close()
for _ in range(width):
    open_one()
print("flooding", flush=True)
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    for key, _ in selector.select(0.05):
        selector.unregister(key.fileobj); key.fileobj.close(); open_one()
    for _ in range(width - len(selector.get_map())):
        open_one()
"""


def test_a_reconnecting_flood_does_not_reset_valid_callbacks(tmp_path):
    """Idle connections reopened as fast as they are closed, at an open-file limit of 256:
    a valid callback (whose request is already waiting when it is accepted) still gets in, an
    idle connection gives way for it, and every acknowledged callback is stored. Before: about
    half the callbacks were reset at accept() (the budget full of the flood's connections)."""
    db = tmp_path / "reflood.sqlite"
    log_path = tmp_path / "reflood.err"
    proc, url = _listener_process(db, "reflood-token-1", log_path, fd_limit=FD_LIMIT)
    port = int(url.split(":")[2].split("/")[0])
    flood = subprocess.Popen(
        [sys.executable, "-c", RECONNECT_FLOOD, str(port), "300", "600"], stdout=subprocess.PIPE, text=True
    )
    outcomes: dict[str, int] = {}
    acked: list[str] = []
    try:
        assert flood.stdout is not None and flood.stdout.readline().strip() == "flooding"
        time.sleep(1.0)
        for i in range(40):
            cid = f"ws_CO_REFLOOD{i:03d}"
            try:
                with httpx.Client(timeout=10) as client:  # a new connection each, as Daraja
                    response = client.post(url, content=encode(stk_body(cid)), headers={"Connection": "close"})
                outcome = str(response.status_code)
                if response.status_code == 200:
                    acked.append(cid)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        assert flood.poll() is None, "the flood ended before the callbacks did"
    finally:
        flood.kill()
        flood.wait()
        _stop(proc)
    # Measured here: 37-40 of 40 (before the fix: 6-14; bench/bench_flood.py). The few refused
    # were accepted before their first bytes arrived (docs/limits.md, Listener under a flood).
    # The bar sits halfway between: a loaded CI machine widens the race, and the old code never
    # passed 14.
    assert len(acked) >= 24, outcomes
    stored = CallbackStore(db)
    assert set(acked) <= set(stored.callbacks()["checkout_request_id"])
    stored.close()
    assert "Traceback" not in log_path.read_text(errors="replace")
