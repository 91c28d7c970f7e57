"""``Emulator``: the local Daraja as one object: its ASGI app, a background server, and the
lab's control functions (inherited from ``Controls``, which the /_lab/ HTTP API is built from)."""

from __future__ import annotations

import threading
from typing import Any

from mpesa_lab.background import BackgroundServer
from mpesa_lab.emulator import defaults
from mpesa_lab.emulator.app import build_app
from mpesa_lab.emulator.config import EmulatorConfig
from mpesa_lab.emulator.control import control_token_for, require_token
from mpesa_lab.emulator.controls import Controls
from mpesa_lab.emulator.engine import Engine
from mpesa_lab.emulator.state import EmulatorState
from mpesa_lab.secret import Secret

_running: dict[str, Emulator] = {}
_running_lock = threading.Lock()


class Emulator(Controls):
    """M-Pesa Express, offline. ``Emulator().start()`` serves it on a free loopback port.

    Its control functions (``answer``, ``set_next_result``, ``inject_callback_fault``, ...) are
    the ``Controls`` of its state, the same ones the /_lab/ HTTP API serves.

    >>> emu = Emulator().start()          # doctest: +SKIP
    >>> emu.url                           # doctest: +SKIP
    'http://127.0.0.1:53211'
    """

    def __init__(self, config: EmulatorConfig | None = None, *, name: str = "emulator") -> None:
        self.name = name
        self.engine = Engine(name)
        super().__init__(EmulatorState(config or EmulatorConfig(), self.engine))
        self.app = build_app(self.state)
        self._server: BackgroundServer | None = None
        self.control_token: Secret | None = None

    # ------------------------------------------------------------------ serving

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    def start(self, host: str = "127.0.0.1", port: int = 0, *, control_token: str | Secret | None = None) -> Emulator:
        """Serve in a background thread (never on the caller's event loop). Safe to re-run: an
        emulator started earlier under the same name is stopped first.

        Beyond loopback (e.g. ``host="0.0.0.0"``) the /_lab/ control API needs a token in the
        ``X-Lab-Token`` header: ``control_token``, or a random one; ``emulator.control_token``
        holds it (a Secret: ``.reveal()`` it to share it).
        """
        self.control_token = control_token_for(host, control_token)
        require_token(self.state, self.control_token.reveal() if self.control_token else None)
        with _running_lock:
            previous = _running.get(self.name)
            _running[self.name] = self
        if previous is not None and previous is not self:
            previous.stop()
        if self._server is not None and self._server.running:
            return self
        self._server = BackgroundServer(self.app, name=self.name, host=host, port=port).start()
        return self

    @property
    def url(self) -> str:
        """The base URL to give a Daraja client (e.g. http://127.0.0.1:53211)."""
        if self._server is None or not self._server.running:
            raise RuntimeError("the emulator is not serving; call start() first")
        return self._server.url

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    def stop(self) -> None:
        """Stop serving and stop the clockwork (unfinished transactions resume on the next start)."""
        if self._server is not None:
            self.engine.run_on_serving_loop(self.state.deliverer.aclose)
            self.engine.detach()
            self._server.stop()
            self._server = None
        self.engine.stop()
        with _running_lock:
            if _running.get(self.name) is self:
                del _running[self.name]

    def __enter__(self) -> Emulator:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"at {self.url}" if self.running else "not serving"
        return f"<Emulator {self.name!r} {where}, {len(self.state.transactions)} transactions>"

    @property
    def credentials(self) -> dict[str, Any]:
        """The public lab credentials (only valid against the emulator)."""
        return {
            "consumer_key": defaults.LAB_CONSUMER_KEY,
            "consumer_secret": defaults.LAB_CONSUMER_SECRET,
            "shortcode": defaults.PAYBILL_SHORTCODE,
            "passkey": defaults.PAYBILL_PASSKEY,
            "till_shortcode": defaults.TILL_SHORTCODE,
            "till_number": defaults.TILL_NUMBER,
            "till_passkey": defaults.TILL_PASSKEY,
            "test_msisdn": defaults.TEST_MSISDN,
            "test_pin": defaults.TEST_PIN,
        }
