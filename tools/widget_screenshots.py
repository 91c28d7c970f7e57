"""Screenshots of every widget rendered live in JupyterLab, in headless Chromium.

    python tools/widget_screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]

Writes a notebook that starts a local lab and shows each widget and rich display, starts
JupyterLab token-less on loopback with throw-away settings and workspace folders, opens the
notebook in Chromium (Playwright), runs every cell, and saves one PNG per output. It is a look
at the real thing for a person, not a test (the browser test suite is its own piece of work).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nbformat

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# (screenshot name, cell source). The first cell starts the lab and makes some history.
CELLS: list[tuple[str | None, str]] = [
    (
        None,
        """\
import time
from mpesa_lab.lab import Lab
from mpesa_lab.widgets import (PushForm, VirtualPhone, LiveCallbacks, CodeExplorer, SequenceStepper,
                               dashboard)
lab = Lab.start(store=STORE)
for phone, amount in (("254708000000", 120), ("254708001032", 45), ("254708002001", 300), ("254708000001", 80)):
    lab.push(phone, amount, "SHOP-42", "Order").wait(20)
paid = lab.push("0708374149", 250, "INV-2025", "Shoes")
callback = paid.wait(20)
query = paid.query()
time.sleep(0.3)""",
    ),
    ("lab", "lab"),
    ("push", "paid"),
    ("callback", "callback"),
    ("query", "query"),
    (
        "form-invalid",
        """\
form = PushForm(lab, phone="0733 123 456", amount="10.50", account_reference="INVOICE-2025-0001")
form""",
    ),
    (
        "form-sent",
        """\
sent = PushForm(lab, phone="0708374149", amount="99", account_reference="INV-77", description="Books")
sent.click(); time.sleep(1.0)
sent""",
    ),
    (
        "phone-prompt",
        """\
phone = VirtualPhone(lab, "0711000222")
lab.push("0711000222", 1500, "TABLE-7", "Dinner")
time.sleep(0.8)
phone""",
    ),
    (
        "phone-sms",
        """\
phone2 = VirtualPhone(lab, "0711000333")
p2 = lab.push("0711000333", 75, "CAB-9", "Taxi")
time.sleep(0.8)
for k in "1234": phone2.press(k)
phone2.send_pin()
phone2""",
    ),
    ("live", "live = LiveCallbacks(lab)\nlive"),
    (
        "explorer",
        """\
explorer = CodeExplorer(lab)
explorer.search.value = "PIN"
explorer.select("2001")
explorer.fire(block=True)
explorer""",
    ),
    (
        "stepper",
        """\
stepper = SequenceStepper(lab, paid.checkout_request_id)
stepper.go(6)
stepper""",
    ),
    ("dashboard", "board = dashboard(lab)\nboard"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_notebook(folder: Path) -> Path:
    store = folder / "screens.sqlite3"
    cells = []
    for name, source in CELLS:
        source = source.replace("STORE", repr(str(store)))
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["shot"] = name
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "widgets.ipynb"
    nbformat.write(nb, path)
    return path


def start_lab(folder: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        (folder / name.lower()).mkdir(exist_ok=True)
        env[name] = str(folder / name.lower())
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={folder}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.open_browser=False",
        "--LabApp.expose_app_in_browser=True",
        "--ServerApp.disable_check_xsrf=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")
    # Render every cell (JupyterLab 4 otherwise only draws the cells in view).
    tracker = folder / "jupyterlab_settings_dir" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    news = folder / "jupyterlab_settings_dir" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    log = open(folder / "jupyterlab.log", "w")
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError("JupyterLab did not start")


def shoot(url: str, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2400}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector(".jp-Notebook", timeout=90_000)
        page.wait_for_function("window.jupyterapp && document.querySelector('.jp-Notebook')", timeout=60_000)
        # Wait for the kernel, then run everything.
        page.wait_for_function("document.body.innerText.includes('Idle')", timeout=90_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        count = cells.count()
        deadline = time.monotonic() + 90
        last_kick = time.monotonic()
        while True:  # every cell has an execution count
            prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
            if all(p.strip() == "[ ]:" for p in prompts) and time.monotonic() - last_kick > 10:
                # the kernel was not ready for the first request: ask again
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                last_kick = time.monotonic()
            if prompts and all(p.strip() not in ("[ ]:", "[*]:", "") for p in prompts):
                break
            if time.monotonic() > deadline:
                page.screenshot(path=str(out / "debug-page.png"), full_page=True)
                raise RuntimeError(f"cells did not all run: {prompts} (see debug-page.png)")
            time.sleep(0.5)
        time.sleep(3.0)  # let widget views and background updates settle
        for index, (name, _source) in enumerate(CELLS):
            if name is None or index >= count:
                continue
            output = cells.nth(index).locator(".jp-OutputArea-output").first
            output.scroll_into_view_if_needed()
            time.sleep(0.3)
            path = out / f"{name}.png"
            output.screenshot(path=str(path))
            saved.append(path)
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
        if errors:
            print(f"warning: {errors} cell(s) wrote to stderr; look at the screenshots", file=sys.stderr)
        browser.close()
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mpesa-lab-shots-") as tmp:
        folder = Path(tmp)
        notebook = write_notebook(folder)
        port = free_port()
        server = start_lab(folder, port)
        try:
            saved = shoot(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}", args.out.resolve(), args.chromium)
        finally:
            server.terminate()
            server.wait(30)
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
