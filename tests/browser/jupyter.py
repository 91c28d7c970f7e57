"""JupyterLab and headless Chromium for the browser suite: started as a learner would meet them.

JupyterLab runs on a free loopback port with its own settings, workspace and runtime folders (no
restored sessions, no news or update pop-ups), on a copy of the course so running cells never
edits the committed notebooks. Chromium is Debian's, driven by Playwright (no browser download).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.browser.chromium import BrowserMissing, require_chromium  # noqa: F401 (re-exported)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab's own settings: no news, no update checks, no restored layout between tests.
QUIET_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    # Every cell in the DOM: with windowing, cells scrolled away are not rendered and a test
    # (like a learner scrolling back) would not find their widgets.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JupyterLab:
    """A running JupyterLab server (token-less, loopback only) and where its files live."""

    url: str
    root: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def tree_url(self, relative: str) -> str:
        """The URL that opens a file of the root folder, with a fresh (reset) workspace."""
        return f"{self.url}/lab/tree/{relative}?reset"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_jupyterlab(
    root: Path, home: Path, *, timeout: float = 90.0, extra_env: dict[str, str] | None = None
) -> JupyterLab:
    """Start JupyterLab on ``root`` with every Jupyter folder under ``home``; wait until it answers."""
    settings = home / "lab-settings"
    for name, value in QUIET_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))
    for folder in ("workspaces", "runtime", "config", "data", "lab-home"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "MPESA_LAB_HOME": str(home / "lab-home"),
        # The kernel is this Python (its ipykernel), whatever else is on the machine.
        "JUPYTER_PATH": str(home / "data"),
        **(extra_env or {}),
    }
    log_path = home / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={root}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--allow-root",
        "--LabApp.news_url=",
        "--ServerApp.open_browser=False",
        "--LabServerApp.workspaces_dir=" + str(home / "workspaces"),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    lab = JupyterLab(f"http://127.0.0.1:{port}", root, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{lab.log_tail()}")
        try:
            if httpx.get(f"{lab.url}/api/status", timeout=2).status_code == 200:
                return lab
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    lab.stop()
    raise RuntimeError(f"JupyterLab did not answer within {timeout:g} s:\n{lab.log_tail()}")
