"""One call for a workshop screen: the lab's card, the push form, the phone and the live table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from mpesa_lab.display import lab_html
from mpesa_lab.widgets._base import style
from mpesa_lab.widgets.form import PushForm
from mpesa_lab.widgets.live import LiveCallbacks
from mpesa_lab.widgets.phone import VirtualPhone

if TYPE_CHECKING:
    from mpesa_lab.lab import Lab


class Dashboard(widgets.VBox):
    """Form and phone side by side, the live callbacks below. ``close()`` stops their watchers."""

    def __init__(self, lab: Lab, phone: str | None = None, **form_options: Any) -> None:
        self.lab = lab
        self.form = PushForm(lab, **form_options)
        self.form.layout.margin = "0 24px 0 0"
        # The phone is only there when there is an emulator to drive (local mode).
        self.phone: VirtualPhone | None = None
        if getattr(lab, "emulator", None) is not None:
            self.phone = VirtualPhone(lab, phone) if phone is not None else VirtualPhone(lab)
        self.live = LiveCallbacks(lab)
        self.card = widgets.HTML(lab_html(lab))
        top = [self.form] + ([self.phone] if self.phone is not None else [])
        super().__init__(
            [
                style(),
                self.card,
                widgets.HBox(top, layout=widgets.Layout(align_items="flex-start", justify_content="flex-start")),
                self.live,
            ]
        )
        self.form.on_push(lambda _push: setattr(self.card, "value", lab_html(lab)))

    def close(self) -> None:
        for part in (self.phone, self.live, self.form):
            if part is not None:
                part.close()
        super().close()


def dashboard(lab: Lab | None = None, **options: Any) -> Dashboard:
    """Lay out form, phone and live callbacks for ``lab`` (default: the lab started last)."""
    if lab is None:
        from mpesa_lab.lab import active_lab

        lab = active_lab()
        if lab is None:
            raise RuntimeError("no lab is running: start one with lab = Lab.start(), then dashboard(lab)")
    return Dashboard(lab, **options)
