"""The Safaricom side's memory: ``EmulatorState``, composed of one part per job (see core.py).

Registries (registry.py), the transaction state machine (machine.py), the STK push and query
(intake.py) and Apigee's admission policies (admission.py) share one lock and one set of records;
this module puts them together and owns what spans them all: a fresh start, a reset, live
settings. The lab's control functions over all of this are described once, in controls.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mpesa_lab.emulator.admission import Admission
from mpesa_lab.emulator.config import EmulatorConfig, field_names
from mpesa_lab.emulator.delivery import Deliverer
from mpesa_lab.emulator.engine import Engine
from mpesa_lab.emulator.errors import EmulatorError, UnknownTransaction
from mpesa_lab.emulator.intake import Intake

# EmulatorError and UnknownTransaction live in errors.py; importable from here as before.
__all__ = ["EmulatorError", "EmulatorState", "UnknownTransaction"]


class EmulatorState(Intake, Admission):
    """Everything the local Daraja knows, and the rules that move a transaction along."""

    def __init__(self, config: EmulatorConfig, engine: Engine) -> None:
        super().__init__(config, engine)
        self.deliverer = Deliverer(engine, self._record_attempt, lambda: self.config)
        engine.on_new_loop(self._resume)
        self._fresh(keep_tokens=False)

    def _fresh(self, *, keep_tokens: bool) -> None:
        self._fresh_machine()
        self._fresh_intake()
        self._fresh_admission()
        self._fresh_registry(keep_tokens=keep_tokens)  # last: it registers the lab's defaults

    def reset(self, *, keep_tokens: bool = True) -> None:
        """Forget transactions, subscribers, merchants, faults and instructions (defaults come back).

        Apps and access tokens survive unless ``keep_tokens=False``, so a client with a cached
        token keeps working after a reset.
        """
        with self.lock:
            for app in self.apps.values():
                app.used = 0
                app.recent.clear()
            self._fresh(keep_tokens=keep_tokens)
            self._changed.notify_all()

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change live settings (any EmulatorConfig field but ``seed`` and ``clock``)."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise EmulatorError(f"unknown setting(s) {', '.join(unknown)}; settings are: {', '.join(field_names())}")
        if "seed" in changes or "clock" in changes:
            raise EmulatorError("seed and clock are fixed when the emulator is created: make a new Emulator")
        with self.lock:
            candidate = replace(self.config, **changes)  # runs validation
            self.config = candidate
            return candidate
