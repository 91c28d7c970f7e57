"""pyngrok's download progress never lands in a notebook cell (stdout); it goes to the log."""

from __future__ import annotations

import logging
import socket

import pytest

from mpesa_lab.listener import TunnelError, open_tunnel


def test_first_use_download_prints_nothing_to_stdout(tmp_path, monkeypatch, capfd, caplog):
    from pyngrok import installer

    monkeypatch.setattr(installer, "_print_progress_enabled", True)  # pyngrok's own default
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setattr(installer, "get_ngrok_cdn_url", lambda version: f"http://127.0.0.1:{closed_port}/ngrok.tgz")
    caplog.set_level(logging.INFO, logger="mpesa_lab.listener.tunnel")
    with pytest.raises(TunnelError, match="could not be downloaded"):
        open_tunnel(
            8132,
            authtoken="fake-authtoken-2fSecretValue",
            ngrok_path=tmp_path / "bin" / "ngrok",
            config_path=tmp_path / "n.yml",
            timeout=10,
        )
    out = capfd.readouterr().out
    assert "ngrok" not in out, out
    assert "downloading the ngrok agent" in caplog.text
