"""The code explorer in a real browser: search a code, read its meaning and mitigation, trigger
it in the emulator and see what came back (a callback, or Daraja's refusal).

On notebook 06, where the course shows the explorer, after Run All Cells as a learner would (the
lab stays running, so the explorer's triggers still work), and on a scratch notebook that shows
nothing but a fresh explorer.
Each trigger must bring back a new outcome, not the one shown before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, expect

from mpesa_lab import codes
from tests.browser.page import NotebookPage, button, expect_text, text_field, type_into
from tests.browser.scratch import run_course_or_scratch

WAIT = 45_000
CELLS = [
    "from mpesa_lab.lab import Lab\nfrom mpesa_lab.widgets import CodeExplorer\n\nlab = Lab.start(fresh=True)",
    "explorer = CodeExplorer(lab)\nexplorer",
]


class Explorer:
    def __init__(self, notebook: NotebookPage) -> None:
        page = notebook.page
        self.notebook = notebook
        self.root = notebook.widget(".mpl-panel").filter(has=page.locator("button", has_text="Trigger it now"))
        self.search = text_field(self.root, "Search")
        self.list = self.root.locator("select[size]")  # the list box, not the source dropdown
        self.detail = self.root.locator(".widget-html").filter(has_text="Daraja says")
        self.trigger = button(self.root, "Trigger it now")
        self.name = "explorer"

    def screenshot(self, path):
        return self.notebook.screenshot_from(path, self.root, 1000)

    def find(self, words: str, entry: codes.CodeEntry) -> None:
        """Type ``words`` in the search box and pick ``entry`` from what the list shows."""
        type_into(self.search, words)
        # The list draws spaces as no-break spaces: match words, not exact whitespace.
        words_of = r"\s+".join(re.escape(w) for w in entry.message.split()[:6])
        option = self.list.locator("option").filter(has_text=re.compile(rf"^\s*{re.escape(entry.code)}\s+{words_of}"))
        expect(option, f"{entry.code} ({entry.name}) is not listed for {words!r}").to_have_count(1, timeout=WAIT)
        shown = self.list.locator("option").count()
        assert 0 < shown < len(codes.error_codes()) + len(codes.result_codes()), f"{words!r} did not filter the list"
        self.list.select_option(value=option.get_attribute("value"))
        expect_text(self.detail, entry.message, timeout=WAIT)

    def result(self) -> Locator:
        """What the last trigger brought back: the output right under the button."""
        return self.root.locator("button.jupyter-button:has-text('Trigger it now') + .widget-html")

    def fire(self) -> Locator:
        """Press Trigger it now; wait until the output shows something else than before."""
        result = self.result()
        expect(result).to_have_count(1)
        before = result.inner_text()
        expect(self.trigger).to_be_enabled()
        self.trigger.click()
        if before.strip():
            expect(result, "the trigger's output did not change").not_to_have_text(before, timeout=WAIT)
        expect(self.trigger).to_be_enabled(timeout=WAIT)  # the trigger has finished
        return result


NOTEBOOK_06 = "notebooks/06-errors-result-codes.ipynb"


@pytest.fixture(scope="module", params=["notebook-06", "scratch"])
def explorer(request, course_copy, jupyterlab, module_page) -> Iterator[Explorer]:
    notebook = run_course_or_scratch(module_page, jupyterlab, course_copy, request.param, NOTEBOOK_06, CELLS)
    explorer = Explorer(notebook)
    explorer.name = request.param
    expect(explorer.root).to_have_count(1, timeout=WAIT)
    yield explorer
    notebook.shutdown()


def test_search_a_result_code_read_its_mitigation_and_trigger_it(explorer, screenshot_dir):
    entry = codes.lookup("1032")
    explorer.find("1032", entry)
    expect_text(explorer.detail, entry.explanation)
    expect_text(explorer.detail, entry.mitigation)
    # How to make it happen comes from the emulator: the magic phone number for 1032.
    expect_text(explorer.detail, re.compile(r"Push to PhoneNumber 254\d{9}"))
    result = explorer.fire()
    expect_text(result, "callback", timeout=WAIT)
    expect_text(result, re.compile(r"code\s*1032\s+Request cancelled by user"), timeout=WAIT)
    expect_text(result, entry.mitigation)
    expect_text(result.locator(".mpl-badge").first, "failed")
    explorer.screenshot(screenshot_dir / f"explorer-{explorer.name}-1032.png")


def test_search_an_error_code_by_words_and_trigger_it(explorer, screenshot_dir):
    entry = codes.by_name("subscriber_locked")
    explorer.find("lock subscriber", entry)
    expect_text(explorer.detail, entry.mitigation)
    result = explorer.fire()
    expect_text(result, "Daraja refused the request", timeout=WAIT)
    expect_text(result, re.compile(rf"errorCode\s*{re.escape(entry.code)}\s+Unable to lock subscriber"), timeout=WAIT)
    expect_text(result, entry.mitigation)
    explorer.screenshot(screenshot_dir / f"explorer-{explorer.name}-500.001.1001.png")


def test_a_new_selection_clears_the_previous_outcome_and_the_list_fits(explorer, screenshot_dir):
    """Issue 18, item 8: after triggering one code and selecting another, the outcome panel is
    empty (it kept the previous code's callback); the list's lines fit its box (nothing clipped)
    in a monospace font (the code column aligned)."""
    first = codes.lookup("1032")
    explorer.find("1032", first)
    result = explorer.fire()
    expect_text(result, re.compile(r"code\s*1032"), timeout=WAIT)
    second = codes.lookup("2001")
    explorer.find("2001", second)
    expect(result, "the outcome panel kept 1032's callback").to_have_text("", timeout=WAIT)
    font = explorer.list.evaluate("el => getComputedStyle(el).fontFamily")
    assert "mono" in font.lower(), font
    explorer.search.fill("")
    expect(explorer.list.locator("option")).to_have_count(
        len(codes.error_codes()) + len(codes.result_codes()), timeout=WAIT
    )
    widths = explorer.list.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert widths[0] <= widths[1], f"the list's lines are clipped: {widths[0]} px of text in {widths[1]} px"
    explorer.screenshot(screenshot_dir / f"explorer-{explorer.name}-new-selection.png")
