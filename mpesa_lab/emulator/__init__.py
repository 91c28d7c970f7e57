"""The Safaricom side: a local Daraja for M-Pesa Express (STK push), faithful and playable.

``Emulator().start()`` serves OAuth, STK push and STK query on a free loopback port, moves each
transaction through prompt, customer action and result, and POSTs the stkCallback. Magic test
numbers (``TRIGGERS``) produce every documented result code on purpose; see docs/emulator.md.

Never imports the merchant side (mpesa_lab.daraja.client & co, mpesa_lab.listener).
"""

from mpesa_lab.emulator.config import EmulatorConfig
from mpesa_lab.emulator.emulator import Emulator
from mpesa_lab.emulator.errors import EmulatorError, EnvelopeError, UnknownTransaction
from mpesa_lab.emulator.scenarios import (
    ERROR_PHONES,
    ERROR_TRIGGERS,
    PROFILES,
    SCENARIOS,
    TRIGGERS,
    ErrorTrigger,
    Trigger,
)

__all__ = [
    "ERROR_PHONES",
    "ERROR_TRIGGERS",
    "Emulator",
    "EmulatorConfig",
    "EmulatorError",
    "EnvelopeError",
    "ErrorTrigger",
    "PROFILES",
    "SCENARIOS",
    "TRIGGERS",
    "Trigger",
    "UnknownTransaction",
]
