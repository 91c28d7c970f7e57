"""Notebook 04's story in a real browser: fill the push form and press Send, answer on the
virtual phone, watch the callback arrive in the live table. Pay gives ResultCode 0, Cancel 1032,
a wrong PIN 2001.

Twice: on notebook 04 itself (form, phone and table each in its own cell) and on the one-call
workshop dashboard (all three in one output). The tests of each continue on one notebook (one
kernel, one lab), as a learner would; each round pushes its own amount (the same amount to the
same phone within two minutes is rule 17).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.page import NotebookPage
from tests.browser.scratch import write_notebook
from tests.browser.shop import Shop

DASHBOARD_CELLS = [
    "from mpesa_lab.lab import Lab\nfrom mpesa_lab.widgets import dashboard\n\nlab = Lab.start(fresh=True)",
    "board = dashboard(lab)\nboard",
]
NOTEBOOK_04 = "notebooks/04-first-push.ipynb"
TEST_PHONE = "0708374149"  # the sandbox test number; its PIN is 1234


def open_dashboard(course_copy, jupyterlab, page) -> NotebookPage:
    write_notebook(course_copy / "scratch" / "dashboard.ipynb", DASHBOARD_CELLS)
    notebook = NotebookPage(page, jupyterlab.tree_url("scratch/dashboard.ipynb")).open()
    notebook.run_all()
    notebook.assert_no_errors()
    return notebook


def open_notebook_04(course_copy, jupyterlab, page) -> NotebookPage:
    assert (course_copy / NOTEBOOK_04).is_file(), f"{NOTEBOOK_04} is not in the course"
    notebook = NotebookPage(page, jupyterlab.tree_url(NOTEBOOK_04)).open()
    # As a learner: Run All Cells, then use the form and the phone (the lab stays running).
    notebook.run_all(timeout=240_000)
    notebook.assert_no_errors()
    return notebook


@pytest.fixture(scope="module", params=["notebook-04", "dashboard"])
def shop(request, course_copy, jupyterlab, module_page) -> Iterator[Shop]:
    opener = open_notebook_04 if request.param == "notebook-04" else open_dashboard
    notebook = opener(course_copy, jupyterlab, module_page)
    shop = Shop(notebook, name=request.param)
    shop.check_rendered()
    yield shop
    notebook.shutdown()


def test_pay_with_the_right_pin(shop, screenshot_dir):
    checkout = shop.push(TEST_PHONE, 21)
    shop.wait_for_prompt(21)
    shop.answer_on_phone("1234", "OK")
    outcome = shop.expect_callback(checkout, "0", "paid", "Confirmed. Ksh21.00 sent to")
    assert outcome.row.locator("td").nth(6).inner_text().strip(), "a paid row has an MpesaReceiptNumber"
    shop.screenshot(screenshot_dir / f"{shop.name}-paid.png")


def test_cancel_gives_1032(shop, screenshot_dir):
    checkout = shop.push(TEST_PHONE, 22)
    shop.wait_for_prompt(22)
    shop.answer_on_phone("", "Cancel")
    shop.expect_callback(checkout, "1032", "failed", "You cancelled the payment of Ksh22.00")
    shop.screenshot(screenshot_dir / f"{shop.name}-cancelled.png")


def test_wrong_pin_gives_2001(shop, screenshot_dir):
    checkout = shop.push(TEST_PHONE, 23)
    shop.wait_for_prompt(23)
    shop.answer_on_phone("9876", "OK")
    shop.expect_callback(checkout, "2001", "failed", "Wrong PIN: the payment of Ksh23.00")
    shop.screenshot(screenshot_dir / f"{shop.name}-wrong-pin.png")
