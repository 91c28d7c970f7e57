"""The ground the course stands on: ipywidgets render in this JupyterLab, clicks reach the
kernel, and a trait set from a background thread (as the listener's thread does for the live
table) reaches the page."""

from __future__ import annotations

from pathlib import Path

import nbformat

from tests.browser.page import expect_text

CELLS = [
    "import threading, time\nimport ipywidgets as w",
    "label = w.Label('not clicked')\nbutton = w.Button(description='Press me')\n"
    "button.on_click(lambda _: setattr(label, 'value', 'clicked once'))\n"
    "w.VBox([button, label])",
    "ticker = w.HTML('waiting for the thread')\n"
    "def tick():\n    time.sleep(1.0)\n    ticker.value = '<b>set from a thread</b>'\n"
    "threading.Thread(target=tick, daemon=True).start()\nticker",
]


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_widgets_render_click_and_update_from_a_thread(course_copy, open_notebook, screenshot_dir):
    write_notebook(course_copy / "scratch" / "plumbing.ipynb")
    notebook = open_notebook("scratch/plumbing.ipynb")
    notebook.run_all()
    notebook.assert_no_errors()

    button = notebook.widget("button:has-text('Press me')")
    expect_text(notebook.widget("div.widget-label"), "not clicked")
    button.click()
    expect_text(notebook.widget("div.widget-label"), "clicked once")
    expect_text(notebook.widget("div.widget-html"), "set from a thread")
    notebook.screenshot(screenshot_dir / "plumbing.png")
