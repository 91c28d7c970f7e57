"""ipywidgets for the lab, on the merchant side except the phone.

- :class:`PushForm`: an STK push validated live by the client's own rules; Send; Daraja's answer.
- :class:`VirtualPhone`: the customer's handset, driving the local emulator (the one exception).
- :class:`LiveCallbacks`: the callbacks the listener stores, newest first, updating by itself.
- :class:`CodeExplorer`: the catalogue of codes, searchable, each one triggerable.
- :class:`SequenceStepper`: the seven steps of M-Pesa Express through a real transaction.
- :func:`dashboard`: form, phone and live table together.
- :class:`CallbackCheckWidget`: check-callback from a form (any endpoint's URL, Run, the verdicts).

Background threads only set widget traits; nothing blocks the kernel waiting for a callback.
"""

from mpesa_lab.widgets.callback_check import CallbackCheckWidget
from mpesa_lab.widgets.dashboard import Dashboard, dashboard
from mpesa_lab.widgets.explorer import CodeExplorer
from mpesa_lab.widgets.form import PushForm
from mpesa_lab.widgets.live import LiveCallbacks
from mpesa_lab.widgets.phone import VirtualPhone
from mpesa_lab.widgets.stepper import SequenceStepper, transaction_steps

__all__ = [
    "CallbackCheckWidget",
    "CodeExplorer",
    "Dashboard",
    "LiveCallbacks",
    "PushForm",
    "SequenceStepper",
    "VirtualPhone",
    "dashboard",
    "transaction_steps",
]
