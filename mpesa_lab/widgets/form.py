"""The push form: an STK push built field by field, validated live by the client's own rules.

Each field is checked by the same function ``StkPushRequest`` calls (so the message under a
field is the client's, word for word), and the whole request by ``client.build_push``, the first
step of ``DarajaClient.stk_push``. Send stays disabled while anything is refused.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from mpesa_lab.config import BUY_GOODS, PAYBILL
from mpesa_lab.constants import SANDBOX_TEST_MSISDN
from mpesa_lab.daraja import requests as rules
from mpesa_lab.daraja.errors import MpesaLabError, ValidationError
from mpesa_lab.display import error_html, esc, push_html
from mpesa_lab.widgets._base import run_in_background, style

if TYPE_CHECKING:
    from mpesa_lab.daraja.requests import StkPushRequest
    from mpesa_lab.lab import Lab, Push

# Daraja's field name -> the form field that shows its message.
_FIELD_OF = {
    "PhoneNumber": "phone",
    "PartyA": "phone",
    "Amount": "amount",
    "AccountReference": "account_reference",
    "TransactionDesc": "description",
    "TransactionType": "transaction_type",
    "PartyB": "transaction_type",
}


class PushForm(widgets.VBox):
    """Phone, amount, account reference, description, transaction type; Send; Daraja's answer.

    ``form.errors`` maps each refused field to the client's message; ``form.last_push`` /
    ``form.last_error`` hold the outcome of the last Send. ``on_push(fn)`` calls ``fn(push)``
    after each accepted push (the dashboard uses it).
    """

    def __init__(
        self,
        lab: Lab,
        phone: str = "0" + SANDBOX_TEST_MSISDN[3:],
        amount: Any = 10,
        account_reference: str = "INV-001",
        description: str = "Payment",
        transaction_type: str | None = None,
        *,
        follow_callbacks: bool = True,
    ) -> None:
        self.lab = lab
        self.follow_callbacks = follow_callbacks
        wide = widgets.Layout(width="360px")
        label = {"description_width": "130px"}
        self.phone = widgets.Text(
            value=str(phone), description="Phone", placeholder="0722 000 000", layout=wide, style=label
        )
        self.amount = widgets.Text(
            value=str(amount), description="Amount (KES)", placeholder="10", layout=wide, style=label
        )
        self.account_reference = widgets.Text(
            value=account_reference,
            description="Account reference",
            placeholder="up to 12 characters",
            layout=wide,
            style=label,
        )
        self.description = widgets.Text(
            value=description, description="Description", placeholder="up to 13 characters", layout=wide, style=label
        )
        self.transaction_type = widgets.Dropdown(
            options=[(f"{PAYBILL} (paybill)", PAYBILL), (f"{BUY_GOODS} (till)", BUY_GOODS)],
            value=transaction_type or lab.settings.transaction_type,
            description="Transaction type",
            layout=wide,
            style=label,
        )
        self.fields: dict[str, widgets.Widget] = {
            "phone": self.phone,
            "amount": self.amount,
            "account_reference": self.account_reference,
            "description": self.description,
            "transaction_type": self.transaction_type,
        }
        self.messages = {name: widgets.HTML(layout=widgets.Layout(margin="0 0 0 136px")) for name in self.fields}
        self.general = widgets.HTML()
        self.send_button = widgets.Button(
            description="Send STK push",
            button_style="success",
            icon="paper-plane",
            layout=widgets.Layout(width="200px", margin="6px 0 6px 136px"),
        )
        self.answer = widgets.HTML()
        self.errors: dict[str, str] = {}
        self.warnings: dict[str, str] = {}
        self.request: StkPushRequest | None = None
        self.last_push: Push | None = None
        self.last_error: BaseException | None = None
        self._listeners: list[Callable[[Push], None]] = []

        rows: list[widgets.Widget] = [
            style(),
            widgets.HTML(
                f"<div class='mpl-title'>STK push</div><div style='color:#57606a;font-size:12px'>"
                f"to {esc(lab.settings.base_url)} as shortcode {esc(lab.settings.shortcode)}</div>"
            ),
        ]
        for name, field in self.fields.items():
            rows += [field, self.messages[name]]
            field.observe(self._changed, names="value")
        rows += [self.general, self.send_button, self.answer]
        super().__init__(rows, layout=widgets.Layout(width="auto", min_width="520px"))
        self.add_class("mpl-panel")
        self.send_button.on_click(self._on_send)
        self.validate()

    # ---- validation ----------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """What the form would send, as typed."""
        return {
            "phone": self.phone.value,
            "amount": self.amount.value,
            "account_reference": self.account_reference.value,
            "description": self.description.value,
            "transaction_type": self.transaction_type.value,
        }

    @property
    def valid(self) -> bool:
        return not self.errors

    def _changed(self, _change: Any = None) -> None:
        self.validate()

    def validate(self) -> bool:
        """Check every field, then the whole request, with the client's code; update the form."""
        v = self.values()
        errors: dict[str, str] = {}
        notes: dict[str, str] = {}
        # Field by field, so that every refused field says why at once (the request alone
        # would stop at the first).
        checks: dict[str, Callable[[], Any]] = {
            "phone": lambda: rules.normalize_phone(v["phone"]),
            "amount": lambda: rules.validate_amount(v["amount"]),
            "account_reference": lambda: rules.validate_account_reference(v["account_reference"]),
            "description": lambda: rules.validate_transaction_desc(v["description"]),
            "transaction_type": lambda: rules.validate_transaction_type(v["transaction_type"]),
        }
        field_warnings: dict[str, str] = {}
        for name, check in checks.items():
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                try:
                    normalised = check()
                except ValidationError as exc:
                    errors[name] = str(exc)
                    continue
            if said:  # accepted, but the client has something to say (e.g. longer than documented)
                field_warnings[name] = " ".join(str(w.message) for w in said)
            elif name == "phone":
                notes[name] = f"sent as {normalised}"
        general: ValidationError | None = None
        request = None
        caught: list[warnings.WarningMessage] = []
        if not errors:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    request = self.lab.client.build_push(
                        v["phone"],
                        v["amount"],
                        v["account_reference"],
                        v["description"],
                        transaction_type=v["transaction_type"],
                    )
                except ValidationError as exc:
                    target = _FIELD_OF.get(exc.field)
                    if target is not None:
                        errors[target] = str(exc)
                    else:  # CallBackURL, BusinessShortCode: the lab's settings, not the form
                        errors["settings"] = str(exc)
                        general = exc
        self.errors = errors
        self.request = request
        self.warnings = field_warnings
        for name, box in self.messages.items():
            if name in errors:
                box.value = f"<div class='mpl-field-error'>{esc(errors[name])}</div>"
            elif name in field_warnings:
                box.value = f"<div class='mpl-field-warning'>Warning: {esc(field_warnings[name])}</div>"
            elif name in notes:
                box.value = f"<div class='mpl-field-ok'>{esc(notes[name])}</div>"
            else:
                box.value = ""
        seen = set(field_warnings.values())
        warning_text = " ".join(esc(w.message) for w in caught if str(w.message) not in seen)
        if general:
            self.general.value = error_html(general)
        elif warning_text:
            self.general.value = f"<div style='color:#7d4e00;font-size:12px'>Warning: {warning_text}</div>"
        else:
            self.general.value = ""
        self.send_button.disabled = bool(errors)
        self.send_button.tooltip = "fix the fields in red first" if errors else "send the push to Daraja"
        return not errors

    # ---- sending -------------------------------------------------------------------------

    def on_push(self, fn: Callable[[Push], None]) -> None:
        """Call ``fn(push)`` after every accepted push."""
        self._listeners.append(fn)

    def click(self) -> None:
        """Press Send (as a learner would)."""
        self.send_button.click()

    def _on_send(self, _button: Any = None) -> None:
        if not self.validate():
            return
        v = self.values()
        self.send_button.disabled = True
        self.answer.value = "<i>sending…</i>"
        # A click runs on the kernel's thread: warnings (e.g. "expect 17") are shown here, not
        # lost in the kernel's log.
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            failure: MpesaLabError | None = None
            try:
                push = self.lab.push(
                    v["phone"],
                    v["amount"],
                    v["account_reference"],
                    v["description"],
                    transaction_type=v["transaction_type"],
                )
            except MpesaLabError as exc:
                push, failure = None, exc
        try:
            notes = "".join(
                f"<div class='mpl-field-warning'>Warning: {esc(w.message)}</div>"
                for w in said
                if str(w.message) not in set(self.warnings.values())
            )
            if failure is not None:
                self.last_error, self.last_push = failure, None
                self.answer.value = notes + error_html(failure)
            elif push is not None:
                self.last_error, self.last_push = None, push
                self.answer.value = notes + push_html(push)
                for fn in self._listeners:
                    fn(push)
                if self.follow_callbacks:
                    self._follow(push)
        finally:
            self.validate()

    def _follow(self, push: Push) -> None:
        """Show the outcome under the form when the callback is stored, without blocking the kernel."""

        def wait() -> None:
            try:
                self.lab.listener.wait_for(push.checkout_request_id, timeout=180)
            except TimeoutError:
                return
            if self.last_push is push:  # a newer push owns the answer area now
                head, marker = self.answer.value, '<div class="mpl-card"'
                notes = head[: head.index(marker)] if marker in head else ""
                self.answer.value = notes + push_html(push)

        run_in_background("push-form-follow", wait)
