"""The check-callback widget in a real browser: a learner types the endpoint's URLs, presses Run,
and reads a verdict per scenario with its fix (lesson 10's widget, on a scratch notebook serving
the lesson's reference endpoint in FastAPI)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.page import NotebookPage, button, expect_text, text_field, type_into
from tests.browser.scratch import write_notebook

WAIT = 45_000
CELLS = [
    "from mpesa_lab.course.endpoints import OrderBook, fastapi_app, serve_asgi\n"
    "endpoint = serve_asgi(fastapi_app(OrderBook()), name='browser-endpoint')\n"
    "print('URL:', endpoint.callback_url)",
    "from mpesa_lab.widgets import CallbackCheckWidget\nCallbackCheckWidget()",
]


def test_typing_the_url_and_pressing_run_shows_each_verdict_and_fix(page, jupyterlab, course_copy, screenshot_dir):
    write_notebook(course_copy / "scratch/callback-check.ipynb", CELLS)
    notebook = NotebookPage(page, jupyterlab.tree_url("scratch/callback-check.ipynb")).open()
    notebook.run_all(timeout=120_000)
    notebook.assert_no_errors()
    url = (
        page.locator(".jp-OutputArea-output").filter(has_text="URL: http").first.inner_text().split("URL: ")[1].strip()
    )
    root = notebook.widget(".mpl-callback-check")
    expect(root).to_have_count(1, timeout=WAIT)

    type_into(text_field(root, "Callback URL"), url)
    button(root, "Run check-callback").click()
    table = root.locator("table")
    expect_text(root, "PASSED", timeout=WAIT)
    expect(table.locator("tbody tr")).to_have_count(13, timeout=WAIT)
    expect_text(table, "not verified", timeout=WAIT)  # no read-back URL yet: duplicate, amount, forged
    expect_text(table, "--readback", timeout=WAIT)

    type_into(text_field(root, "Read-back URL"), url.replace("/mpesa/callback", "/orders"))
    button(root, "Run check-callback").click()
    expect_text(root, "13 passed, 0 failed, 0 not verified", timeout=WAIT)
    notebook.screenshot(screenshot_dir / "callback-check.png", root)
    notebook.shutdown()
