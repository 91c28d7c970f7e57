"""What a learner does in JupyterLab, as Playwright steps: open a notebook, run it, read it."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

ERROR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'


class NotebookPage:
    """One notebook open in JupyterLab in a Playwright page."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        base, _, rest = url.partition("/lab/tree/")
        self.server = base
        self.path = rest.split("?")[0]

    def open(self, timeout: float = 60_000) -> NotebookPage:
        self.page.goto(self.url)
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=timeout)
        self.wait_for_kernel_idle(timeout)
        return self

    def _accept_kernel_dialog(self) -> None:
        # On a busy machine JupyterLab may ask which kernel to use before it has read the
        # kernelspecs; a learner would accept the proposed Python 3.
        dialog = self.page.locator(".jp-Dialog", has_text="Select Kernel")
        if dialog.count():
            dialog.locator("button", has_text="Select").last.click()

    def _kernel_running(self) -> bool:
        """The server has a session with a kernel for this notebook (not just a status label)."""
        sessions = self.page.request.get(f"{self.server}/api/sessions").json()
        return any(s.get("path", "").endswith(self.path) and s.get("kernel") for s in sessions)

    def kernel_status(self) -> str | None:
        indicator = self.page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator")
        if indicator.count() == 0:
            return None
        return indicator.first.get_attribute("data-status")

    def wait_for_kernel_idle(self, timeout: float = 60_000) -> None:
        deadline = time.monotonic() + timeout / 1000
        while time.monotonic() < deadline:
            self._accept_kernel_dialog()
            if self.kernel_status() == "idle" and self._kernel_running():
                return
            self.page.wait_for_timeout(200)
        raise AssertionError(f"kernel not idle after {timeout / 1000:g} s (status {self.kernel_status()!r})")

    def run_all(self, timeout: float = 120_000) -> None:
        """Run > Run All Cells from the menu bar, then wait until every cell has run."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        self.wait_until_done(timeout)

    def run_all_above(self, cell_text: str, timeout: float = 120_000) -> None:
        """Select the cell showing ``cell_text``, then Run > Run All Above Selected Cell."""
        cell = self.page.locator(".jp-NotebookPanel:visible .jp-Cell").filter(has_text=cell_text)
        expect(cell, f"no cell shows {cell_text!r}").to_have_count(1)
        cell.locator(".jp-Cell-inputWrapper").click()
        expect(cell).to_have_class(re.compile(r"\bjp-mod-selected\b"))
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Above Selected Cell$")).click()
        self.wait_until_done(timeout)

    def wait_until_done(self, timeout: float = 120_000) -> None:
        deadline = time.monotonic() + timeout / 1000
        self.page.wait_for_timeout(300)
        while time.monotonic() < deadline:
            self._accept_kernel_dialog()
            prompts = self.page.locator(".jp-NotebookPanel:visible .jp-InputArea-prompt").all_inner_texts()
            busy = any("*" in p for p in prompts)
            if not busy and self.kernel_status() == "idle":
                return
            self.page.wait_for_timeout(250)
        raise AssertionError(f"cells still running after {timeout / 1000:g} s")

    def errors(self) -> list[str]:
        return self.page.locator(ERROR_OUTPUT).all_inner_texts()

    def assert_no_errors(self) -> None:
        errors = self.errors()
        assert not errors, "a cell raised:\n" + "\n---\n".join(e[-2000:] for e in errors)

    def widget(self, selector: str) -> Locator:
        """A rendered widget (or part of one) anywhere in the notebook's outputs."""
        return self.page.locator(f".jp-NotebookPanel:visible .jp-OutputArea {selector}")

    def shutdown(self) -> None:
        """Shut this notebook's kernel down (its lab and widget threads stop using the CPU)."""
        for session in self.page.request.get(f"{self.server}/api/sessions").json():
            if session.get("path", "").endswith(self.path):
                self.page.request.delete(f"{self.server}/api/sessions/{session['id']}")

    def screenshot(self, path: Path, locator: Locator | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        (locator or self.page).screenshot(path=str(path))
        return path

    def screenshot_from(self, path: Path, top: Locator, height: int = 1800, bottom: Locator | None = None) -> Path:
        """The window, made ``height`` tall for the picture, scrolled so ``top`` starts it (and
        ``bottom``, if given, is in view): JupyterLab scrolls inside the notebook, so a full-page
        screenshot would not show more of it."""
        size = self.page.viewport_size or {"width": 1400, "height": 1000}
        self.page.set_viewport_size({"width": size["width"], "height": height})
        try:
            top.evaluate("e => e.scrollIntoView({block: 'start'})")
            if bottom is not None:
                expect(bottom).to_be_in_viewport()
            return self.screenshot(path)
        finally:
            self.page.set_viewport_size(size)


def expect_text(
    locator: Locator, pattern: str | re.Pattern[str], timeout: float = 20_000, message: str | None = None
) -> None:
    expect(locator, message).to_contain_text(pattern, timeout=timeout)


def text_field(scope: Locator, label: str) -> Locator:
    """The input of an ipywidgets Text (or Password) whose description is ``label``."""
    return (
        scope.locator(".widget-text, .widget-password")
        .filter(has=scope.page.locator("label", has_text=re.compile(f"^{re.escape(label)}$")))
        .locator("input")
    )


def button(scope: Locator, name: str) -> Locator:
    """An ipywidgets Button by its exact description."""
    return scope.locator("button.jupyter-button").filter(has_text=re.compile(f"^\\s*{re.escape(name)}\\s*$"))


def type_into(field: Locator, value: str) -> None:
    """Replace a field's text as a person does (select all, type), so every keystroke reaches the kernel."""
    field.click()
    field.press("ControlOrMeta+a")
    field.press_sequentially(value, delay=20)
    field.press("Tab")  # ipywidgets Text sends on blur as well as on each keystroke (continuous_update)
