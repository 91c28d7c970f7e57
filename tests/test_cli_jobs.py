"""The CLI's server jobs, run as real processes: demo, sandbox, listen, push, query."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET

CLI = [sys.executable, "-m", "mpesa_lab.cli"]


@pytest.fixture
def env(tmp_path):
    environment = dict(os.environ, MPESA_LAB_HOME=str(tmp_path / "home"), COLUMNS="200", PYTHONUNBUFFERED="1")
    for name in ("MPESA_ENV", "MPESA_BASE_URL", "MPESA_CALLBACK_URL"):
        environment.pop(name, None)
    return environment


class Running:
    """A CLI server process; a thread collects every line it prints."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            CLI + args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for_line(self, pattern: str, timeout: float = 30.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}; got:\n{''.join(self.lines)}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._reader.join(5)
        return self.proc.returncode


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_demo_runs_the_journey_and_says_where_the_store_is(env, tmp_path):
    store = tmp_path / "demo.sqlite3"
    done = run(["demo", "--store", str(store)], env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for needle in ("1032", "1037", "2001", "Request cancelled by user", "Wrong credentials", str(store)):
        assert needle in out
    assert store.exists()


def test_sandbox_serves_daraja_and_push_query_talk_to_it(env, tmp_path):
    server = Running(["sandbox", "--port", "0"], env, tmp_path)
    try:
        url = server.wait_for_line(r"(http://127\.0\.0\.1:\d+)").group(1)
        token = httpx.get(
            f"{url}/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET),
        ).json()
        assert token["expires_in"] == "3599"
        env = dict(env, MPESA_CALLBACK_URL="http://127.0.0.1:9/callback")
        pushed = run(["push", "0708374149", "5", "--base-url", url], env, tmp_path)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        checkout_id = re.search(r"checkout id\s+(ws_CO_\w+)", pushed.stdout).group(1)
        deadline = time.monotonic() + 30
        while True:
            queried = run(["query", checkout_id, "--base-url", url], env, tmp_path)
            assert queried.returncode == 0, queried.stdout + queried.stderr
            if "status       success" in queried.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "status       success" in queried.stdout
        refused = run(["push", "0708374149", "0", "--base-url", url], env, tmp_path)
        assert refused.returncode == 1 and "Amount" in refused.stderr
    finally:
        assert server.interrupt() in (0, 130)
    assert LAB_CONSUMER_KEY in "".join(server.lines)  # the banner names the lab credentials


def test_listen_prints_each_callback_it_stores(env, tmp_path):
    db = tmp_path / "listen.sqlite3"
    server = Running(["listen", "--port", "0", "--db", str(db), "--token", "testtoken123"], env, tmp_path)
    try:
        url = server.wait_for_line(r"(http://127\.0\.0\.1:\d+/testtoken123/callback)").group(1)
        body = {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": "29115-34620561-1",
                    "CheckoutRequestID": "ws_CO_191220191020363925",
                    "ResultCode": 1032,
                    "ResultDesc": "Request cancelled by user",
                }
            }
        }
        answer = httpx.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert answer.status_code == 200 and answer.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
        server.wait_for_line(r"ws_CO_191220191020363925.*1032")
    finally:
        assert server.interrupt() in (0, 130)


def test_push_in_local_mode_runs_a_throwaway_lab(env, tmp_path):
    done = run(["push", "0708374149", "3"], env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"result\s+0 ", done.stdout) and "receipt" in done.stdout


def test_sandbox_time_scale_flag_runs_the_timing_model(env, tmp_path):
    server = Running(["sandbox", "--port", "0", "--time-scale", "1/20"], env, tmp_path)
    try:
        url = server.wait_for_line(r"(http://127\.0\.0\.1:\d+)").group(1)
        server.wait_for_line(r"Timing: real-world delays x 0\.05")
        assert httpx.get(f"{url}/_lab/config").json()["time_scale"] == 0.05
    finally:
        assert server.interrupt() in (0, 130)
    refused = run(["sandbox", "--time-scale", "fast"], env, tmp_path)
    assert refused.returncode == 2 and "not a time scale: 'fast'" in refused.stderr
