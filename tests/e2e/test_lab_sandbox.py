"""The Lab in sandbox mode, as far as this machine allows: credentials from the environment and a
public CallBackURL from a (fake) ngrok agent. The real sandbox is never contacted."""

from __future__ import annotations

import pytest

from mpesa_lab.background import running_servers
from mpesa_lab.daraja.errors import ConfigError
from mpesa_lab.lab import Lab, LabError
from tests.listener.test_tunnel import TOKEN, Agent

SECRET = "sandbox-consumer-secret-value-123"


@pytest.fixture
def sandbox_env(monkeypatch, tmp_path):
    for name in ("MPESA_CALLBACK_URL", "MPESA_BASE_URL", "MPESA_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPESA_CONSUMER_KEY", "sandbox-consumer-key")
    monkeypatch.setenv("MPESA_CONSUMER_SECRET", SECRET)
    monkeypatch.setenv("NGROK_AUTHTOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_sandbox_lab_takes_env_credentials_and_a_tunnel_callback(sandbox_env, tmp_path):
    agent = Agent(tmp_path, "ok")
    lab = Lab.start(
        environment="sandbox",
        store=tmp_path / "s.sqlite3",
        tunnel_options={"ngrok_path": str(agent.path), "config_path": str(agent.config), "timeout": 20},
    )
    try:
        assert lab.emulator is None
        assert lab.settings.base_url == "https://sandbox.safaricom.co.ke"
        assert lab.settings.shortcode == "174379"
        assert lab.callback_url.startswith("https://") and lab.callback_url.endswith("/callback")
        assert lab.listener.callback_url == lab.callback_url
        text = repr(lab) + repr(lab.settings) + str(lab.settings)
        assert SECRET not in text and TOKEN not in text
        with pytest.raises(LabError, match="answer it on the handset"):
            lab._emulator_or_fail("answer the prompt")
    finally:
        lab.stop()
    assert "lab-listener" not in running_servers()


def test_sandbox_lab_without_credentials_says_which_variables(monkeypatch, tmp_path):
    for name in ("MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_CALLBACK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="MPESA_CONSUMER_KEY"):
        Lab.start(environment="sandbox", store=tmp_path / "s.sqlite3", expose=False)
    assert "lab-listener" not in running_servers() and "lab-emulator" not in running_servers()
