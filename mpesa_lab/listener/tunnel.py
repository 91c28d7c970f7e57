"""A public https URL for the listener through an ngrok agent (via pyngrok), for the real sandbox.

Safaricom can only POST callbacks to a public URL; ngrok forwards one to the local listener.
Everything here has a hard deadline: pyngrok may try to download the agent (no internet: that
must fail fast), the agent may fail to start, or wait forever for an authtoken. Each of these
ends in a :class:`TunnelError` that says what to do.

Authentication: ``authtoken=`` or ``NGROK_AUTHTOKEN``, else the authtoken already saved in the
ngrok config file (``ngrok config add-authtoken ...``).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NGROK_SIGNUP = "https://dashboard.ngrok.com/get-started/your-authtoken"


class TunnelError(RuntimeError):
    """The tunnel could not be opened; the message says why and what to do."""


@dataclass
class Tunnel:
    """An open ngrok tunnel. ``close()`` disconnects it and stops the agent this lab started."""

    public_url: str
    local_port: int
    _config: Any = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        """Disconnect and stop the agent. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._config is None:
            return
        from pyngrok import ngrok

        try:
            ngrok.disconnect(self.public_url, pyngrok_config=self._config)
        except Exception as exc:  # the agent may already be gone
            log.debug("ngrok disconnect failed: %s", exc)
        try:
            ngrok.kill(pyngrok_config=self._config)
        except Exception as exc:  # pragma: no cover
            log.debug("ngrok kill failed: %s", exc)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Tunnel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _saved_authtoken(config_path: str) -> bool:
    """Whether the ngrok config file already holds an authtoken (without reading it out)."""
    try:
        text = Path(config_path).read_text(encoding="utf-8")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key.strip() == "authtoken" and value.strip().strip("'\""):
            return True
    return False


def open_tunnel(
    port: int,
    *,
    authtoken: str | None = None,
    ngrok_path: str | os.PathLike[str] | None = None,
    timeout: float = 15.0,
    config_path: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
) -> Tunnel:
    """Open an https tunnel to ``host:port`` and return it; never waits longer than ``timeout``.

    ``ngrok_path``: the agent binary (default: pyngrok's, downloaded on first use; or set
    ``PYNGROK_NGROK_PATH``). ``config_path``: the ngrok config file (default: ngrok's own).
    """
    from pyngrok import conf, installer
    from pyngrok.exception import PyngrokError, PyngrokNgrokError, PyngrokNgrokInstallError

    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout}")
    token = authtoken or os.environ.get("NGROK_AUTHTOKEN") or None
    pyngrok_config = conf.PyngrokConfig(
        ngrok_path=str(ngrok_path) if ngrok_path is not None else None,
        config_path=str(config_path) if config_path is not None else None,
        auth_token=token,
        startup_timeout=max(1, math.ceil(timeout)),
        request_timeout=min(4.0, timeout),
        monitor_thread=False,
    )
    # pyngrok would hand the token to the agent as ``--authtoken T``: on its command line, which
    # every user of the machine can read (ps -eo args). The agent reads NGROK_AUTHTOKEN from its
    # environment instead (readable by its owner only); see _agent_environment.
    pyngrok_config.auth_token = None
    agent = pyngrok_config.ngrok_path
    effective_config = conf.get_config_path(pyngrok_config)
    if not token and not _saved_authtoken(effective_config):
        raise TunnelError(
            "ngrok is not authenticated: set NGROK_AUTHTOKEN (or pass authtoken=...) with the "
            f"authtoken from {NGROK_SIGNUP}, or run `ngrok config add-authtoken <token>` once"
        )

    outcome: dict[str, Any] = {}
    done = threading.Event()
    abandoned = threading.Event()

    def work() -> None:
        from pyngrok import ngrok

        try:
            if not os.path.exists(agent):
                outcome["installing"] = True
                # pyngrok writes "Downloading ngrok ..." progress straight to stdout, which lands in
                # a notebook cell's output; say it once in the log instead.
                log.info("downloading the ngrok agent to %s (first use)", agent)
                installer._print_progress_enabled = False
                installer.install_ngrok(agent, ngrok_version=pyngrok_config.ngrok_version, timeout=max(1.0, timeout))
                outcome.pop("installing", None)
            with _agent_environment(token):
                tunnel = ngrok.connect(f"http://{host}:{port}", proto="http", pyngrok_config=pyngrok_config)
            outcome["tunnel"] = tunnel
        except BaseException as exc:  # reported to the caller below
            outcome["error"] = exc
        finally:
            done.set()
            if abandoned.is_set() and "tunnel" in outcome:
                # The caller gave up before we finished: do not leave an agent running.
                _kill(agent)

    worker = threading.Thread(target=work, name="mpesa-lab-ngrok", daemon=True)
    worker.start()
    if not done.wait(timeout):
        abandoned.set()
        stage = "install" if outcome.get("installing") else "start"
        _kill(agent)
        done.wait(2.0)
        if stage == "install":
            raise TunnelError(
                f"the ngrok agent is not installed at {agent} and could not be downloaded within "
                f"{timeout:g} s (no internet?). Install ngrok from https://ngrok.com/download and "
                "pass ngrok_path=... (or set PYNGROK_NGROK_PATH)"
            )
        raise TunnelError(
            f"the ngrok agent at {agent} did not become ready within {timeout:g} s; check your "
            "network and authtoken, or run the agent by hand to see its log"
        )

    error = outcome.get("error")
    if error is not None:
        _kill(agent)
        raise _explain(error, agent, timeout, PyngrokNgrokInstallError, PyngrokNgrokError, PyngrokError) from None
    tunnel = outcome["tunnel"]
    public_url = str(tunnel.public_url or "")
    if public_url.startswith("http://"):
        # ngrok serves both schemes on the same host; Daraja wants https.
        public_url = "https://" + public_url[len("http://") :]
    if not public_url.startswith("https://"):
        _kill(agent)
        raise TunnelError(f"ngrok returned {tunnel.public_url!r}, not an https URL")
    return Tunnel(public_url=public_url.rstrip("/"), local_port=port, _config=pyngrok_config)


_ENVIRONMENT_LOCK = threading.Lock()


@contextmanager
def _agent_environment(token: str | None) -> Iterator[None]:
    """NGROK_AUTHTOKEN set to ``token`` while the agent starts (pyngrok gives the agent our
    environment, and no other way to pass one), then as it was."""
    if not token or os.environ.get("NGROK_AUTHTOKEN") == token:
        yield
        return
    with _ENVIRONMENT_LOCK:
        before = os.environ.get("NGROK_AUTHTOKEN")
        os.environ["NGROK_AUTHTOKEN"] = token
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("NGROK_AUTHTOKEN", None)
            else:
                os.environ["NGROK_AUTHTOKEN"] = before


def _kill(agent: str) -> None:
    """Stop the agent at ``agent`` without taking pyngrok's lock (a stuck start holds it).

    A start blocked reading the agent's log returns once the agent is dead, and pyngrok then
    cleans up its own state.
    """
    from pyngrok import process

    running = process._current_processes.get(agent)
    if running is None:
        return
    try:
        running.proc.kill()
        running.proc.wait(timeout=5)
    except Exception:  # already gone
        pass


def _explain(
    error: BaseException, agent: str, timeout: float, install_error: type, ngrok_error: type, pyngrok_error: type
) -> TunnelError:
    text = str(error)
    if isinstance(error, install_error):
        return TunnelError(
            f"the ngrok agent is not installed at {agent} and could not be downloaded ({text}). "
            "Without internet access install ngrok from https://ngrok.com/download yourself and "
            "pass ngrok_path=... (or set PYNGROK_NGROK_PATH)"
        )
    if isinstance(error, ngrok_error):
        detail = " ".join(str(getattr(error, "ngrok_error", "") or "").split()) or text
        lowered = (text + " " + detail).lower()
        if any(
            word in lowered
            for word in ("authtoken", "authentication", "err_ngrok_4018", "err_ngrok_105", "err_ngrok_107")
        ):
            return TunnelError(
                f"ngrok refused the authtoken ({detail}). Copy your authtoken again from "
                f"{NGROK_SIGNUP} into NGROK_AUTHTOKEN"
            )
        if "not found" in lowered:
            return TunnelError(f"the ngrok agent was not found at {agent}: {detail}")
        return TunnelError(f"the ngrok agent at {agent} could not start: {detail}")
    if isinstance(error, pyngrok_error):
        return TunnelError(f"ngrok could not open the tunnel: {text}")
    if isinstance(error, OSError):
        return TunnelError(f"the ngrok agent at {agent} could not be run: {text}")
    return TunnelError(f"ngrok could not open the tunnel: {type(error).__name__}: {text}")
