"""The virtual phone in a real browser: a waiting prompt counts down (issue 18, item 7), and the
digits typed for a prompt that timed out do not stay in the PIN field."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.page import button, expect_text
from tests.browser.scratch import write_notebook

WAIT = 45_000
TIMEOUT_S = 12  # the lab's prompt_timeout for this scenario: long enough to read, short to wait
CELLS = [
    "from mpesa_lab.lab import Lab\nfrom mpesa_lab.widgets import VirtualPhone\n\n"
    f"lab = Lab.start(fresh=True)\nlab.emulator.configure(prompt_timeout={TIMEOUT_S})",
    "phone = VirtualPhone(lab)\nphone",
    "push = lab.push('254708374149', 17, 'INV-CD', 'Countdown')",
]


def test_the_phone_counts_down_and_a_timeout_clears_the_pin(course_copy, open_notebook, screenshot_dir):
    write_notebook(course_copy / "scratch" / "countdown.ipynb", CELLS)
    notebook = open_notebook("scratch/countdown.ipynb")
    notebook.run_all()
    notebook.assert_no_errors()
    phone = notebook.widget(".mpl-phone")
    screen = phone.locator(".widget-html").filter(has_text="Safaricom")
    expect_text(screen, "Enter M-PESA PIN", timeout=WAIT)
    left = phone.locator(".mpl-countdown-left")
    expect(left).to_have_text(re.compile(r"^\d+ s left$"), timeout=WAIT)
    expect_text(phone.locator(".mpl-countdown"), f"in this lab the prompt waits {TIMEOUT_S} s")
    expect_text(phone.locator(".mpl-countdown"), "PESA prompt ends about 30 s after the push")
    first = left.inner_text()
    expect(left, "the countdown did not change").not_to_have_text(first, timeout=WAIT)
    assert int(left.inner_text().split()[0]) < int(first.split()[0])
    for key in "12":
        button(phone, key).click()
    pin = phone.locator("input[type=password]")
    expect(pin).to_have_value("12", timeout=WAIT)
    notebook.screenshot(screenshot_dir / "phone-countdown.png", phone)
    expect_text(screen, "expired without an answer", timeout=WAIT + TIMEOUT_S * 1000)
    expect_text(screen, "ResultCode 1037")
    expect(pin, "the typed digits stayed after the timeout").to_have_value("", timeout=WAIT)
    expect(phone.locator(".mpl-countdown")).to_have_count(0, timeout=WAIT)
    notebook.shutdown()
