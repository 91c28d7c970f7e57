"""What every part of the emulator's state shares: settings, one lock, the clockwork, the ids.

``EmulatorState`` (state.py) is built from parts, one job per module, each adding its job on top
of the one below:

    StateCore  (this module)  settings, the lock and its condition, engine, ids, callback delivery
    Registry   (registry.py)  apps, access tokens, merchants, subscribers; forgetting subscribers
    Machine    (machine.py)   a transaction's life: prompt, answer, timeout, pay, finalize, callback
    Intake     (intake.py)    an STK push becoming a transaction (or refused); the STK query
    Admission  (admission.py) Apigee's policies: spike arrest, quota, injected errors

They are classes of one object (not separate objects) because they share one lock and one set of
records, and the push path runs through all of them on every request: plain attribute access,
no forwarding layer. HTTP handlers, the engine thread and Python control calls all come through
the lock; nothing in here blocks (timers and callback POSTs are handed to the engine).
"""

from __future__ import annotations

import threading
from datetime import datetime

from mpesa_lab.emulator.config import EmulatorConfig
from mpesa_lab.emulator.delivery import Deliverer, FaultBook
from mpesa_lab.emulator.engine import Engine
from mpesa_lab.emulator.ids import IdFactory


class StateCore:
    """The shared ground of the state's parts."""

    def __init__(self, config: EmulatorConfig, engine: Engine) -> None:
        # Read through ``self.config`` every time: configure() (and tests) replace it live.
        self.config = config
        self.engine = engine
        self.lock = threading.RLock()
        # Notified on every change a waiter may look for (prompt shown, result, callback attempt).
        self._changed = threading.Condition(self.lock)
        self.faults = FaultBook()
        self._step_at: datetime | None = None  # the moment of the step being run, if shared
        # Not reseeded by reset(): ids and receipts must never repeat within one emulator's life.
        # Replaceable (the workshop makes ids unique across a room).
        self.ids = IdFactory(config.seed)

    # Set by EmulatorState, which wires it to the Machine's record of callback attempts.
    deliverer: Deliverer
