"""The dashboard in a real browser: fill the push form, answer on the virtual phone, watch the
live table. Pay gives ResultCode 0, Cancel 1032, a wrong PIN 2001 (notebook 04's story on the
one-call workshop dashboard).

The three tests continue on one notebook (one kernel, one lab), as a learner would: each round
pushes its own amount (the same amount to the same phone within two minutes is rule 17).
"""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.browser.page import NotebookPage
from tests.browser.scratch import write_notebook
from tests.browser.shop import Shop

CELLS = [
    "from mpesa_lab.lab import Lab\nfrom mpesa_lab.widgets import dashboard\n\nlab = Lab.start(fresh=True)",
    "board = dashboard(lab)\nboard",
]
TEST_PHONE = "0708374149"  # the sandbox test number; its PIN is 1234


@pytest.fixture(scope="module")
def shop(course_copy, jupyterlab, module_page) -> Iterator[Shop]:
    write_notebook(course_copy / "scratch" / "dashboard.ipynb", CELLS)
    notebook = NotebookPage(module_page, jupyterlab.tree_url("scratch/dashboard.ipynb")).open()
    notebook.run_all()
    notebook.assert_no_errors()
    shop = Shop(notebook)
    shop.check_rendered()
    yield shop
    notebook.shutdown()


def test_pay_with_the_right_pin(shop, screenshot_dir):
    checkout = shop.push(TEST_PHONE, 21)
    shop.wait_for_prompt(21)
    shop.answer_on_phone("1234", "OK")
    outcome = shop.expect_callback(checkout, "0", "paid", "Confirmed. Ksh21.00 sent to")
    # Paid: a receipt in the row, and the form's answer says the callback is stored.
    assert outcome.row.locator("td").nth(6).inner_text().strip(), "a paid row has an MpesaReceiptNumber"
    shop.screenshot(screenshot_dir / "dashboard-paid.png")


def test_cancel_gives_1032(shop, screenshot_dir):
    checkout = shop.push(TEST_PHONE, 22)
    shop.wait_for_prompt(22)
    shop.answer_on_phone("", "Cancel")
    shop.expect_callback(checkout, "1032", "failed", "You cancelled the payment of Ksh22.00")
    shop.screenshot(screenshot_dir / "dashboard-cancelled.png")


def test_wrong_pin_gives_2001(shop, screenshot_dir):
    checkout = shop.push(TEST_PHONE, 23)
    shop.wait_for_prompt(23)
    shop.answer_on_phone("9876", "OK")
    shop.expect_callback(checkout, "2001", "failed", "Wrong PIN: the payment of Ksh23.00")
    shop.screenshot(screenshot_dir / "dashboard-wrong-pin.png")
