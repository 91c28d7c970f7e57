"""Fixtures for the browser suite: one JupyterLab per session, one Chromium, a page per test.

Every test here is marked ``browser``. A machine without Chromium gets Debian's, installed once at
collection (tests/browser/chromium.py); where that is impossible the suite fails loudly
(BrowserMissing), never skips: the widgets only exist in a browser, and a silent skip would hide that.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import BrowserMissing, require_chromium
from tests.browser.jupyter import CHROMIUM_ARGS, JupyterLab, start_jupyterlab
from tests.browser.page import NotebookPage

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    browser_items = [item for item in items if "tests/browser/" in str(item.fspath).replace(os.sep, "/")]
    for item in browser_items:
        item.add_marker(pytest.mark.browser)
    # A fresh machine gets Debian's chromium here, once, before any test runs: installing it
    # inside the first test's fixture would count against that test's timeout.
    if any("browser" in item.fixturenames for item in browser_items):
        try:
            require_chromium()
        except BrowserMissing:
            pass  # the `browser` fixture raises it again, in every test that needs the browser


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where finished scenarios are photographed (printed, so a person can look)."""
    folder = Path(os.environ.get("MPESA_LAB_SCREENSHOTS", REPO / "build" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {folder}")
    return folder


@pytest.fixture(scope="session")
def course_copy() -> Iterator[Path]:
    """A scratch copy of the course (notebooks/ and data/) for JupyterLab to run."""
    root = Path(tempfile.mkdtemp(prefix="mpesa-lab-browser-"))
    for name in ("notebooks", "data"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (root / "scratch").mkdir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def jupyterlab(course_copy: Path) -> Iterator[JupyterLab]:
    home = Path(tempfile.mkdtemp(prefix="mpesa-lab-jupyter-"))
    lab = start_jupyterlab(course_copy, home)
    yield lab
    lab.stop()
    shutil.rmtree(home, ignore_errors=True)


# Package scope: Playwright's sync API keeps an event loop running in the main thread while it is
# open, which breaks every later test that runs its own loop (asyncio.run, anyio): close it as soon
# as the browser tests are done.
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _new_page(browser: object) -> tuple[object, object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context, page = _new_page(browser)
    yield page
    context.close()


@pytest.fixture(scope="module")
def module_page(browser: object) -> Iterator[object]:
    """One page for a module whose tests continue on the same notebook (e.g. pay, then cancel)."""
    context, page = _new_page(browser)
    yield page
    context.close()


@pytest.fixture
def open_notebook(page: object, jupyterlab: JupyterLab):
    """Open a notebook of the scratch copy (a path relative to its root) in a fresh workspace."""

    def opener(relative: str) -> NotebookPage:
        return NotebookPage(page, jupyterlab.tree_url(relative)).open()  # type: ignore[arg-type]

    return opener
