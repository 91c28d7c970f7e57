"""check-callback: test any M-Pesa Express callback endpoint the way Daraja will treat it.

It plays Daraja toward a merchant's endpoint (floor 3, beside the listener): it POSTs real
stkCallback bodies (paid, cancelled, no answer, duplicates, text codes, forgeries...) and, through
the optional read-back protocol, checks what the endpoint recorded. See docs/callback-check.md.

    from mpesa_lab.callback_check import check_callback
    report = check_callback("http://127.0.0.1:8000/mpesa/callback", readback_url="http://127.0.0.1:8000/orders")
    report.passed, report.results
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mpesa_lab._exports import lazy_exports

if TYPE_CHECKING:
    from mpesa_lab.callback_check.bodies import Callback, Order, new_order
    from mpesa_lab.callback_check.budget import DEFAULT_BUDGET_S, DEFAULT_TIMEOUT_S
    from mpesa_lab.callback_check.check import check_callback, describe_scenarios, scenario_names
    from mpesa_lab.callback_check.errors import CallbackCheckError
    from mpesa_lab.callback_check.readback import ReadbackHook
    from mpesa_lab.callback_check.report import CallbackCheckReport, ScenarioResult

__getattr__, __dir__, __all__ = lazy_exports(__name__)
