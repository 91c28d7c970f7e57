"""CallbackCheckWidget: ``check-callback`` from a form: the endpoint's URL (and read-back URL), a
Run button, a table of verdicts with the fix for each.

The run happens in a background thread (it POSTs a dozen callbacks and may wait on a slow
endpoint), which only sets the widgets' traits; ``done`` is set when it ends.
"""

from __future__ import annotations

import threading

import ipywidgets as widgets

from mpesa_lab.callback_check import CallbackCheckError, CallbackCheckReport, check_callback
from mpesa_lab.callback_check.budget import DEFAULT_BUDGET_S
from mpesa_lab.display import esc
from mpesa_lab.widgets._base import run_in_background, style


class CallbackCheckWidget(widgets.VBox):
    """A URL field, an optional read-back URL, Run, and the results with their fixes."""

    def __init__(self, url: str = "", readback_url: str = "", *, budget_s: float = DEFAULT_BUDGET_S) -> None:
        self.budget_s = budget_s
        self.url = widgets.Text(
            value=url,
            description="Callback URL",
            placeholder="http://127.0.0.1:8000/mpesa/callback",
            layout=widgets.Layout(width="620px"),
            style={"description_width": "110px"},
        )
        self.readback = widgets.Text(
            value=readback_url,
            description="Read-back URL",
            placeholder="optional: http://127.0.0.1:8000/orders",
            layout=widgets.Layout(width="620px"),
            style={"description_width": "110px"},
        )
        self.run = widgets.Button(description="Run check-callback", button_style="primary", icon="play")
        self.status = widgets.HTML()
        self.results = widgets.HTML()
        self.report: CallbackCheckReport | None = None
        self.done = threading.Event()
        self.run.on_click(lambda _button: self.start())
        super().__init__([style(), self.url, self.readback, widgets.HBox([self.run, self.status]), self.results])
        self.add_class("mpl-callback-check")

    def start(self) -> threading.Thread:
        """What Run does: check the endpoint in the background; the table appears when it ends."""
        self.done.clear()
        self.run.disabled = True
        self.status.value = "<i>posting callbacks…</i>"
        url, readback = self.url.value.strip(), self.readback.value.strip() or None
        return run_in_background("callback-check", lambda: self._check(url, readback))

    def _check(self, url: str, readback: str | None) -> None:
        try:
            self.report = check_callback(url, readback_url=readback, budget_s=self.budget_s)
            self.results.value = self.report._repr_html_()
            self.status.value = f"<b>{esc(self.report.summary())}</b>"
        except CallbackCheckError as exc:
            self.report = None
            self.results.value = ""
            self.status.value = f'<span style="color:#c62828">error: {esc(str(exc))}</span>'
        finally:
            self.run.disabled = False
            self.done.set()
