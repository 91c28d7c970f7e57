"""Time the README's newcomer path: fresh clone -> venv -> `mpesa-lab lab` -> first callback in 04.

    python tools/newcomer_path.py [--repo PATH] [--branch NAME] [--shots DIR] [--keep]

What a newcomer does, in wall time: clone into a temporary folder, make a venv and
``pip install -e .`` (pip's cache as it is on this machine), start ``mpesa-lab lab --no-browser``,
open ``04-first-push.ipynb`` in headless Chromium, run its cells down to the three widgets
(Shift+Enter), press Send on the form, type 1234 on the virtual phone, press OK, and wait until
the live callbacks table shows the paid callback. Reading time is not counted. Needs Playwright
(the test extra) in the Python running this script and Debian's /usr/bin/chromium.
With ``--shots`` it also saves screenshots of 04 (after the callback) and of 07 (run to the end).
The temporary folder (the clone, its venv, the lab home: about 850 MB) is deleted at the end,
whatever happened; ``--keep`` keeps it and says where.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def step(label: str, started: float, marks: list[tuple[str, float]]) -> None:
    marks.append((label, time.perf_counter() - started))
    print(f"{marks[-1][1]:7.1f} s  {label}", flush=True)


def run_cells_until(page, text: str, timeout: float = 180) -> None:
    """Shift+Enter from the first cell until the cell whose source contains ``text`` has run."""
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Escape")  # command mode on the first cell
    cells = page.locator(".jp-Notebook .jp-Cell")
    target = next(i for i in range(cells.count()) if text in cells.nth(i).inner_text())
    for _ in range(target + 1):
        page.keyboard.press("Shift+Enter")
        page.wait_for_timeout(150)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-InputArea-prompt").all_inner_texts()
        if (
            not any("*" in p for p in prompts[: target + 1])
            and cells.nth(target).locator(".jp-OutputArea-output").count()
        ):
            return
        page.wait_for_timeout(250)
    raise TimeoutError(f"cells up to {text!r} still running after {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--branch", default=None)
    parser.add_argument("--shots", default=None)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary clone, venv and lab home (~850 MB) instead of deleting them",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mpesa-lab-newcomer-"))
    try:
        return walk(args, work)
    finally:
        if args.keep:
            print(f"kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


def walk(args: argparse.Namespace, work: Path) -> int:
    """The newcomer's path in ``work``; the wall time of each step printed as it ends."""
    from playwright.sync_api import expect, sync_playwright

    clone = work / "mpesa-lab"
    env = {
        **os.environ,
        "MPESA_LAB_HOME": str(work / "home"),
        "JUPYTER_CONFIG_DIR": str(work / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(work / "jupyter-runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
    }
    env.pop("VIRTUAL_ENV", None)
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    branch = ["-b", args.branch] if args.branch else []
    subprocess.run(["git", "clone", "-q", *branch, args.repo, str(clone)], check=True)
    step("git clone", started, marks)
    subprocess.run(["python3", "-m", "venv", ".venv"], cwd=clone, check=True)
    subprocess.run(
        [".venv/bin/pip", "install", "-q", "-e", "."],
        cwd=clone,
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    step("python3 -m venv .venv && pip install -e .", started, marks)
    server = subprocess.Popen(
        [".venv/bin/mpesa-lab", "lab", "--no-browser", "--port", "0"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = None
    try:
        for line in server.stdout:  # type: ignore[union-attr]
            found = re.search(r"Open (http\S+)/lab\?token=(\S+)", line)
            if found:
                url, token = found.group(1), found.group(2)
                break
        if url is None:
            raise RuntimeError("mpesa-lab lab printed no URL")
        step("mpesa-lab lab: JupyterLab answers", started, marks)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(90_000)
            page.goto(f"{url}/lab/tree/04-first-push.ipynb?reset&token={token}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook")
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            step("04-first-push.ipynb open, kernel idle", started, marks)
            run_cells_until(page, "live = LiveCallbacks(lab)")
            step("cells run down to the three widgets", started, marks)
            errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
            if errors.count():
                raise RuntimeError("a cell raised:\n" + errors.first.inner_text()[-3000:])
            page.locator(".jp-OutputArea button", has_text="Send").first.click()
            phone = page.locator(".mpl-phone").first
            expect(phone.locator("button", has_text=re.compile(r"^OK$"))).to_be_enabled(timeout=60_000)
            for key in "1234":
                phone.locator(".mpl-keypad button", has_text=re.compile(f"^{key}$")).click()
            phone.locator("button", has_text=re.compile(r"^OK$")).click()
            live = page.locator(".jp-OutputArea .mpl-live").last
            expect(live).to_contain_text(re.compile(r"paid"), timeout=60_000)
            step("first callback seen in the live table", started, marks)
            if args.shots:
                shots = Path(args.shots)
                shots.mkdir(parents=True, exist_ok=True)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(shots / "04-first-callback.png"), full_page=True)
                page.goto(f"{url}/lab/tree/07-result-code-analytics.ipynb?reset&token={token}")
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
                page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
                page.wait_for_timeout(3000)
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=180_000)
                page.wait_for_timeout(2000)
                cells = page.locator(".jp-Notebook .jp-Cell")
                for text, name in (
                    ("result_code == 0   ->", "07-trap.png"),
                    ("summary = analytics.summary(tx)", "07-summary.png"),
                    ("fig = plots.result_codes(tx)", "07-plot.png"),
                ):
                    cell = cells.filter(has_text=text).first
                    cell.scroll_into_view_if_needed()
                    cell.screenshot(path=str(shots / name))
                errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]').count()
                print(
                    f"07 run in JupyterLab: {errors} error output(s), "
                    f"{page.locator('.jp-OutputArea-output img').count()} image(s)"
                )
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    total = marks[-1][1] if marks else 0.0
    print(f"newcomer path: {total:.1f} s wall ({total / 60:.1f} min); load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
