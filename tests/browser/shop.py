"""The push form, the virtual phone and the live table as a learner uses them in JupyterLab.

Shared by the dashboard scenario (form, phone and table in one output) and notebook 04 (each in
its own cell): every locator is found from the notebook's outputs by what the widget shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, expect

from tests.browser.page import NotebookPage, button, expect_text, text_field, type_into

# Generous: the machine is shared and loaded. Nothing checked is loosened by waiting longer.
WAIT = 45_000


@dataclass
class Outcome:
    checkout_request_id: str
    row: Locator  # the live table's row for this push


class Shop:
    """Form, phone and live table of one notebook (exactly one of each is expected)."""

    def __init__(self, notebook: NotebookPage, name: str = "shop") -> None:
        self.notebook = notebook
        self.name = name
        page = notebook.page
        self.form = notebook.widget(".mpl-panel").filter(has=page.locator("button", has_text="Send STK push"))
        self.phone = notebook.widget(".mpl-phone")
        self.live = notebook.widget(".mpl-panel").filter(has=page.locator(".mpl-live-host"))
        self.send = button(self.form, "Send STK push")
        self.answer = self.form.locator(".widget-html").filter(has_text=re.compile("Daraja said|sending|error", re.I))
        self.screen = self.phone.locator(".widget-html").filter(has_text="Safaricom")  # not the stylesheet
        self.pin = self.phone.locator("input[type=password]")

    def check_rendered(self) -> None:
        """One form, one phone, one live table, each drawn (a widget that fails to render is absent)."""
        for name, part in (("push form", self.form), ("virtual phone", self.phone), ("live table", self.live)):
            expect(part, f"the {name} is not on the page").to_have_count(1, timeout=WAIT)
            expect(part).to_be_visible()
        expect_text(self.screen, "No payment request", timeout=WAIT)

    def push(self, phone: str, amount: int) -> str:
        """Fill the form, press Send, wait for Daraja's acknowledgement; its CheckoutRequestID."""
        # The round before ended with an outcome on the phone: no prompt left open, no PIN typed.
        # (If it did not, say so here rather than as a confusing 500.001.1001 from Daraja.)
        expect(button(self.phone, "OK"), "the phone still waits for an answer from the round before").to_be_disabled(
            timeout=15_000
        )
        expect(self.pin, "the PIN field kept digits from the round before").to_have_value("")
        previous = self._shown_checkout_id()
        type_into(text_field(self.form, "Phone"), phone)
        type_into(text_field(self.form, "Amount (KES)"), str(amount))
        expect(self.send, "Send stays disabled for a valid push").to_be_enabled(timeout=WAIT)
        self.send.click()
        expect_text(self.answer, "Daraja said", timeout=WAIT)
        ident = self.answer.locator("code").first
        if previous:
            expect(ident).not_to_have_text(previous, timeout=WAIT)
        expect(ident).to_have_text(re.compile(r"^ws_CO_\w+$"), timeout=WAIT)
        expect_text(self.answer, "0 Success. Request accepted for processing", timeout=WAIT)
        return ident.inner_text().strip()

    def _shown_checkout_id(self) -> str | None:
        if self.answer.count() == 0 or "Daraja said" not in self.answer.inner_text():
            return None
        return self.answer.locator("code").first.inner_text().strip()

    def wait_for_prompt(self, amount: int) -> None:
        expect_text(self.screen, "Enter M-PESA PIN", timeout=WAIT)
        expect_text(self.screen, re.compile(rf"Ksh{amount}(\.00)?\b"), timeout=WAIT)
        expect(button(self.phone, "OK")).to_be_enabled(timeout=WAIT)

    def answer_on_phone(self, keys: str, action: str) -> None:
        """Type ``keys`` on the PIN pad (they must show in the PIN field), then press ``action``."""
        for key in keys:
            button(self.phone, key).click()
        expect(self.pin, f"the PIN pad did not type {keys!r}").to_have_value(keys, timeout=WAIT)
        button(self.phone, action).click()

    def row_for(self, checkout_request_id: str) -> Locator:
        return self.live.locator(f"tr[title*='CheckoutRequestID: {checkout_request_id}']")

    def expect_callback(self, checkout_request_id: str, code: str, status: str, sms: str | re.Pattern[str]) -> Outcome:
        """The phone's SMS, then the callback's row in the live table, with ``code``."""
        expect_text(
            self.screen,
            f"ResultCode {code}",
            timeout=WAIT,
            message=f"the phone shows no outcome with ResultCode {code}",
        )
        expect_text(self.screen, sms, timeout=WAIT)
        row = self.row_for(checkout_request_id)
        expect(row, f"no live-table row for {checkout_request_id}").to_have_count(1, timeout=WAIT)
        expect(row.locator("summary"), "the live row's ResultCode").to_have_text(code, timeout=WAIT)
        expect_text(row.locator("td").nth(1), status)
        # Newest first: the row just stored is the table's first.
        expect(self.live.locator("tbody tr").first).to_have_attribute(
            "title", re.compile(re.escape(f"CheckoutRequestID: {checkout_request_id}"))
        )
        return Outcome(checkout_request_id, row)

    def screenshot(self, path: Path, height: int = 2300) -> Path:
        """The three widgets (and what lies between them) in one picture."""
        return self.notebook.screenshot_from(path, self.form, height, bottom=self.live)
