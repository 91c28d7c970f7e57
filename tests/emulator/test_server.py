"""Serving: background start, re-run safety, clean stop, resume after restart, foreground sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, SANDBOX_PASSKEY
from mpesa_lab.emulator import TRIGGERS, Emulator, EmulatorConfig

from .conftest import TIMEOUT, Daraja, callback_of


def _oauth(url: str) -> httpx.Response:
    return httpx.get(
        f"{url}/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=(LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET),
        timeout=TIMEOUT,
        trust_env=False,
    )


def test_start_is_rerun_safe_and_stop_frees_the_port():
    first = Emulator(name="test-rerun-emulator").start()
    url = first.url
    assert first.start() is first and first.url == url  # starting again is a no-op
    second = Emulator(name="test-rerun-emulator").start()  # a re-run notebook cell
    try:
        assert not first.running and second.running
        assert _oauth(second.url).status_code == 200
        with pytest.raises(httpx.ConnectError):
            _oauth(url)
    finally:
        second.stop()
    assert not second.running and not second.engine.running
    with pytest.raises(RuntimeError, match="start"):
        _ = second.url


def test_context_manager():
    with Emulator(name="test-context-emulator") as emulator:
        assert _oauth(emulator.url).status_code == 200
        assert "test-context-emulator" in repr(emulator)
    assert not emulator.running


def test_unfinished_transactions_resume_after_a_restart(collector):
    emulator = Emulator(EmulatorConfig(interactive=True, prompt_delay=0), name="test-resume-emulator").start()
    try:
        lab = Daraja(emulator, collector.url)
        cid = lab.push_ok("254711900001")
        lab.http.close()
        deadline = time.monotonic() + TIMEOUT
        while not emulator.pending_prompts() and time.monotonic() < deadline:
            time.sleep(0.01)
        emulator.stop()
        emulator.start()
        emulator.answer(cid, pin="1234")
        assert callback_of(collector.wait_for(cid)[0])["ResultCode"] == 0
    finally:
        emulator.stop()


def test_run_sandbox_prints_credentials_and_stops_on_ctrl_c(tmp_path):
    code = "from mpesa_lab.emulator.cli import run_sandbox; run_sandbox(port=0, log_level='warning')"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        assert "listening on http://127.0.0.1:" in text, text + proc.stderr.read()
        url = text.split("listening on ", 1)[1].split()[0]
        for needle in (LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, "174379", SANDBOX_PASSKEY, "174381", "seed 254"):
            assert needle in text
        for trigger in TRIGGERS:
            assert trigger.phone in text
        assert _oauth(url).status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "emulator stopped" in out
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_sandbox_beyond_loopback_prints_its_control_token_and_requires_it(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPESA_LAB_HOME=str(tmp_path))
    env.pop("MPESA_LAB_CONTROL_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpesa_lab.cli", "sandbox", "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        lines: list[str] = []
        url = token = None
        deadline = time.monotonic() + 60
        while (url is None or token is None) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "listening on" in line:
                url = line.rsplit(" ", 1)[1].strip()
            if "Control token" in line:
                token = line.split()[2]
        assert url and token, "".join(lines)
        assert httpx.get(f"{url}/_lab/config", timeout=TIMEOUT).status_code == 401
        allowed = httpx.get(f"{url}/_lab/config", headers={"X-Lab-Token": token}, timeout=TIMEOUT)
        assert allowed.status_code == 200 and allowed.json()["control_api"] is True
        assert _oauth(url).status_code == 200  # Daraja's paths stay open
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _sandbox_log(access_log: bool) -> str:
    """Start `run_sandbox` at log level info, make one OAuth request, stop it: what it printed
    (uvicorn's access log goes to stdout, its other logs to stderr)."""
    code = f"from mpesa_lab.emulator.cli import run_sandbox; run_sandbox(port=0, access_log={access_log})"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        text = ""
        deadline = time.monotonic() + 30
        while "Ctrl-C" not in text and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            text += line
        url = text.split("listening on ", 1)[1].split()[0]
        assert _oauth(url).status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        return out + err  # after the banner
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_sandbox_access_log_is_off_unless_asked_for():
    # one line per request costs ~15 % of a load test's throughput: off by default
    assert '"GET /oauth/v1/generate' not in _sandbox_log(access_log=False)
    assert '"GET /oauth/v1/generate' in _sandbox_log(access_log=True)
