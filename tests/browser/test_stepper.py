"""The sequence stepper in a real browser: step through a real push, from the request to the
callback, as notebook 01 ("the journey") has the learner do.

On notebook 01 after Run All Cells (its cells leave the stepper on step 6: the walk goes back to
step 1 with Previous, then forward with Next) and on a scratch notebook with a fresh stepper.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, expect

from mpesa_lab.widgets.stepper import STEPS
from tests.browser.page import NotebookPage, button, expect_text
from tests.browser.scratch import run_course_or_scratch

WAIT = 45_000
CELLS = [
    "from mpesa_lab.lab import Lab\n\nlab = Lab.start(fresh=True)",
    "push = lab.push('254708374149', 12, 'INV-01', 'Lesson 01')\ncallback = push.wait(timeout=30)\n"
    "status = push.query()\nprint(callback.result_code, status.result_code)",
    "from mpesa_lab.widgets import SequenceStepper\n\nstepper = SequenceStepper(lab, push.checkout_request_id)\nstepper",
]


class Stepper:
    def __init__(self, notebook: NotebookPage) -> None:
        self.notebook = notebook
        page = notebook.page
        self.root = notebook.widget(".mpl-panel").filter(has=page.locator(".mpl-title", has_text="step by step"))
        self.next = button(self.root, "Next")
        self.previous = button(self.root, "Previous")
        self.detail = self.root.locator(".widget-html").filter(has_text=re.compile(r"^\s*\d\. "))
        self.diagram = self.root.locator("svg")
        self.name = "stepper"

    def expect_step(self, number: int) -> None:
        """Step ``number`` is shown: its title under the diagram, its arrow highlighted (bold)."""
        title, _src, _dst, label = STEPS[number - 1]
        expect_text(self.detail, f"{number}. {title}", timeout=WAIT)
        expect(self.diagram.locator("text[font-weight='700']").filter(has_text=label)).to_have_count(1, timeout=WAIT)
        expect(self.diagram.locator("rect[fill='#ddf4ff']")).to_have_count(1)


def current_step(stepper: Stepper) -> int:
    expect(stepper.detail).to_have_text(re.compile(r"^\s*\d\. "), timeout=WAIT)
    return int(stepper.detail.inner_text().strip().split(".")[0])


def walk_to_the_callback(stepper: Stepper) -> Locator:
    for number in range(current_step(stepper) - 1, 0, -1):
        stepper.previous.click()
        stepper.expect_step(number)
    stepper.expect_step(1)
    expect(stepper.previous).to_be_disabled()
    expect_text(stepper.detail, "POST /mpesa/stkpush/v1/processrequest")
    expect_text(stepper.detail, "Bearer <masked>")
    for number in range(2, 7):
        stepper.next.click()
        stepper.expect_step(number)
    return stepper.detail


NOTEBOOK_01 = "notebooks/01-the-journey.ipynb"


@pytest.fixture(params=["notebook-01", "scratch"])
def stepper(request, course_copy, jupyterlab, page) -> Iterator[Stepper]:
    notebook = run_course_or_scratch(page, jupyterlab, course_copy, request.param, NOTEBOOK_01, CELLS)
    stepper = Stepper(notebook)
    stepper.name = request.param
    expect(stepper.root).to_have_count(1, timeout=WAIT)
    yield stepper
    notebook.shutdown()


def test_step_through_a_real_push_to_its_callback(stepper, screenshot_dir):
    detail = walk_to_the_callback(stepper)
    # Step 6 is the callback as the listener stored it: a POST with the stkCallback, ResultCode 0.
    expect_text(detail, "ResultCode 0")
    expect_text(detail, re.compile(r"POST /\S* HTTP/1.1"))
    expect_text(detail, '"stkCallback"')
    expect_text(detail, "MpesaReceiptNumber")
    expect_text(detail, re.compile(r"ms after step 5|s after step 5"))
    expect(stepper.next).to_be_enabled()  # step 7 (the query) is still ahead
    stepper.notebook.screenshot_from(screenshot_dir / f"stepper-{stepper.name}-callback.png", stepper.root, 1500)


def test_no_label_of_the_diagram_crosses_a_lifeline(course_copy, jupyterlab, page, screenshot_dir):
    """Issue 18, item 10: measured in the browser (the real font), no arrow label overlaps a
    lane's dashed lifeline."""
    notebook = run_course_or_scratch(page, jupyterlab, course_copy, "scratch", NOTEBOOK_01, CELLS)
    stepper = Stepper(notebook)
    expect(stepper.root).to_have_count(1, timeout=WAIT)
    expect(stepper.diagram.locator("text.mpl-step-label")).to_have_count(len(STEPS), timeout=WAIT)
    measured = stepper.diagram.evaluate("""svg => ({
        lines: [...svg.querySelectorAll('line.mpl-lifeline')].map(l => l.x1.baseVal.value),
        labels: [...svg.querySelectorAll('text.mpl-step-label')].map(t => {
            const b = t.getBBox(); return [t.textContent, b.x, b.x + b.width]; }),
    })""")
    assert len(measured["lines"]) == 3
    for text, start, end in measured["labels"]:
        crossed = [x for x in measured["lines"] if start - 2 < x < end + 2]
        assert not crossed, f"{text!r} ({start:.0f}-{end:.0f} px) crosses the lifeline at {crossed}"
    notebook.screenshot(screenshot_dir / "stepper-diagram-labels.png", stepper.diagram)
    notebook.shutdown()
