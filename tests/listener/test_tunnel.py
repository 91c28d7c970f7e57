"""The ngrok tunnel, offline: a fake agent (fake_ngrok.py) stands in for ngrok's binary."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mpesa_lab.listener import Listener, TunnelError, open_tunnel

from .helpers import encode, stk_body

FAKE = Path(__file__).with_name("fake_ngrok.py")
TOKEN = "fake-authtoken-2fSecretValue"


class Agent:
    """A fake ngrok executable at ``path``, and what it recorded."""

    def __init__(self, tmp_path: Path, mode: str) -> None:
        self.path = tmp_path / f"ngrok-{mode}"
        self.record = tmp_path / f"record-{mode}.jsonl"
        self.config = tmp_path / "ngrok.yml"
        self.path.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" --mode {mode} --record "{self.record}" "$@"\n'
        )
        self.path.chmod(0o755)

    def events(self) -> list[dict]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def pid(self) -> int:
        return next(e["pid"] for e in self.events() if e["event"] == "started")


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # reap it if it is our zombie child
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch):
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.delenv("PYNGROK_NGROK_PATH", raising=False)


def test_success_gives_https_url_and_close_stops_the_agent(tmp_path):
    agent = Agent(tmp_path, "ok")
    tunnel = open_tunnel(8123, authtoken=TOKEN, ngrok_path=agent.path, config_path=agent.config, timeout=30)
    try:
        assert tunnel.public_url == "https://abcd.ngrok-free.app"
        started = agent.events()[0]
        assert started["authtoken_given"] is True
        create = next(e for e in agent.events() if e["event"] == "create")
        assert create["options"]["upstream"]["url"] == "http://127.0.0.1:8123"
        assert TOKEN not in repr(tunnel)
        pid = agent.pid()
    finally:
        tunnel.close()
    assert tunnel.closed
    assert any(e["event"] == "delete" for e in agent.events())
    assert gone(pid)
    tunnel.close()  # twice is fine


def test_the_authtoken_is_on_no_command_line(tmp_path):
    """`ps -eo args` shows every user the agent's arguments: the token reaches it in its
    environment (readable by its owner only), and ours is as it was afterwards."""
    agent = Agent(tmp_path, "ok")
    with open_tunnel(8129, authtoken=TOKEN, ngrok_path=agent.path, config_path=agent.config, timeout=30):
        started = agent.events()[0]
        assert started["authtoken_given"] is True
        assert started["authtoken_on_command_line"] is False
        assert not any(TOKEN in arg for arg in started["argv"])
        assert TOKEN.encode() not in Path(f"/proc/{started['pid']}/cmdline").read_bytes()
    assert "NGROK_AUTHTOKEN" not in os.environ


def test_token_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    agent = Agent(tmp_path, "ok")
    with open_tunnel(8124, ngrok_path=agent.path, config_path=agent.config, timeout=30) as tunnel:
        assert tunnel.public_url.startswith("https://")
        assert agent.events()[0]["authtoken_given"] is True
        assert agent.events()[0]["authtoken_on_command_line"] is False


def test_missing_authtoken_fails_before_starting_anything(tmp_path):
    agent = Agent(tmp_path, "ok")
    with pytest.raises(TunnelError, match="NGROK_AUTHTOKEN"):
        open_tunnel(8125, ngrok_path=agent.path, config_path=agent.config, timeout=30)
    assert agent.events() == []


def test_token_saved_in_the_ngrok_config_is_enough(tmp_path):
    agent = Agent(tmp_path, "ok")
    agent.config.write_text(f'version: "3"\nagent:\n  authtoken: {TOKEN}\n')
    with open_tunnel(8126, ngrok_path=agent.path, config_path=agent.config, timeout=30) as tunnel:
        assert tunnel.public_url == "https://abcd.ngrok-free.app"


def test_agent_that_exits_at_once(tmp_path):
    agent = Agent(tmp_path, "exit")
    with pytest.raises(TunnelError, match="could not start") as info:
        open_tunnel(8127, authtoken=TOKEN, ngrok_path=agent.path, config_path=agent.config, timeout=30)
    assert "fake agent told to fail" in str(info.value)
    assert TOKEN not in str(info.value)


def test_agent_that_refuses_the_authtoken(tmp_path):
    agent = Agent(tmp_path, "badauth")
    with pytest.raises(TunnelError, match="refused the authtoken") as info:
        open_tunnel(8128, authtoken=TOKEN, ngrok_path=agent.path, config_path=agent.config, timeout=30)
    assert TOKEN not in str(info.value)


def test_agent_that_never_becomes_ready_is_killed_at_the_deadline(tmp_path):
    agent = Agent(tmp_path, "hang")
    started = time.monotonic()
    with pytest.raises(TunnelError, match="did not become ready within 2 s"):
        open_tunnel(8129, authtoken=TOKEN, ngrok_path=agent.path, config_path=agent.config, timeout=2)
    # Generous bound: the point is that it does not wait forever.
    assert time.monotonic() - started < 30
    # On a slow machine the agent may be killed before it even logged; either way none survives.
    assert all(gone(e["pid"]) for e in agent.events() if e["event"] == "started")
    from pyngrok import process

    assert all(p.proc.poll() is not None for p in process._current_processes.values())


def test_agent_cannot_be_downloaded_fails_fast(tmp_path, monkeypatch):
    from pyngrok import installer

    # ngrok's CDN cannot be reached here; point the download at a closed local port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setattr(installer, "get_ngrok_cdn_url", lambda version: f"http://127.0.0.1:{closed_port}/ngrok.tgz")
    missing = tmp_path / "bin" / "ngrok"
    with pytest.raises(TunnelError, match="could not be downloaded") as info:
        open_tunnel(8130, authtoken=TOKEN, ngrok_path=missing, config_path=tmp_path / "n.yml", timeout=10)
    assert "ngrok_path" in str(info.value)


def test_agent_download_that_hangs_is_cut_at_the_deadline(tmp_path, monkeypatch):
    from pyngrok import installer

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    port = silent.getsockname()[1]
    monkeypatch.setattr(installer, "get_ngrok_cdn_url", lambda version: f"http://127.0.0.1:{port}/ngrok.tgz")
    try:
        started = time.monotonic()
        with pytest.raises(TunnelError, match="could not be downloaded"):
            open_tunnel(
                8131,
                authtoken=TOKEN,
                ngrok_path=tmp_path / "bin" / "ngrok",
                config_path=tmp_path / "n.yml",
                timeout=1.5,
            )
        assert time.monotonic() - started < 30
    finally:
        silent.close()


def test_listener_expose_and_stop(tmp_path, store):
    agent = Agent(tmp_path, "ok")
    listener = Listener(store, name="test-expose")
    try:
        url = listener.expose(TOKEN, ngrok_path=agent.path, config_path=agent.config, timeout=30)
        assert listener.running
        assert url == f"https://abcd.ngrok-free.app/{listener.path_token}/callback"
        assert listener.callback_url == url
        create = next(e for e in agent.events() if e["event"] == "create")
        assert create["options"]["upstream"]["url"] == f"http://127.0.0.1:{listener.port}"
        # The local endpoint still works (the agent would forward to it).
        response = httpx.post(listener.local_callback_url, content=encode(stk_body("ws_CO_E1")), timeout=30)
        assert response.status_code == 200
        assert listener.expose(TOKEN, ngrok_path=agent.path, config_path=agent.config) == url
        pid = agent.pid()
    finally:
        listener.stop()
    assert listener.tunnel is None and gone(pid)


def test_nothing_left_running(tmp_path):
    # pyngrok keeps module-level state; after the tests above none of our agents is tracked alive.
    from pyngrok import process

    alive = [p for p in process._current_processes.values() if p.proc.poll() is None]
    assert alive == []
    assert threading.active_count() < 50
