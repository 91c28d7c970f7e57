"""`mpesa-lab report`: the command's work, kept here so cli.py stays a thin parser."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROGRESS_FROM_BYTES = 8 << 20  # a progress bar for inputs above 8 MiB


def newest_store() -> Path | None:
    """This folder's store (the one a Lab started here uses), else the most recently changed
    store under the lab's home, if any."""
    from mpesa_lab.paths import lab_home

    try:
        from mpesa_lab.paths import folder_store_path

        here = folder_store_path()
        if here.exists():
            return here
    except ImportError:  # an older checkout without per-folder stores
        pass
    stores = sorted((lab_home() / "stores").glob("*.sqlite"), key=lambda p: p.stat().st_mtime)
    return stores[-1] if stores else None


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def run_report(console: Any, err_console: Any, source: str | None, out: Path, *,
               title: str | None = None, freq: str | None = None) -> int:
    from mpesa_lab.analytics.load import LoadError

    path = Path(source).expanduser() if source else newest_store()
    if path is None:
        err_console.print("[red]No source given and no store under the lab's home.[/] Pass a file or "
                          "folder: mpesa-lab report data/week --out report/")
        return 2
    if not path.exists():
        err_console.print(f"[red]{path}: no such file or folder.[/] Pass a store (.sqlite), JSON "
                          "lines, a JSON array, a folder of .json files, CSV or Parquet.")
        return 2
    try:
        outcomes = _load_with_progress(console, path)
        from mpesa_lab.analytics.report import report

        index = report(outcomes, out, title=title, freq=freq)
    except LoadError as exc:
        err_console.print(f"[red]{exc}[/]")
        return 2
    tx = outcomes.transactions
    paid = int((tx["status"] == "paid").sum())
    rate = f"{paid / len(tx):.1%}" if len(tx) else "n/a"
    console.print(f"{len(tx):,} transactions ({paid:,} paid, {rate}) from {path}")
    if outcomes.malformed or outcomes.unknown_codes:
        console.print(f"{outcomes.malformed:,} unreadable record(s), "
                      f"{sum(outcomes.unknown_codes.values()):,} callback(s) with codes outside the "
                      "catalogue: listed at the end of the page.")
    console.print(f"Report: {index}", soft_wrap=True)
    console.print(f"Open it: file://{os.path.abspath(index)}", soft_wrap=True)
    return 0


def _load_with_progress(console: Any, path: Path) -> Any:
    from mpesa_lab.analytics.load import load

    if _size(path) < PROGRESS_FROM_BYTES:
        with console.status(f"Loading {path}..."):
            return load(path)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("Loading {task.description}"), BarColumn(), DownloadColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(path.name, total=_size(path))
        outcomes = load(path, progress=lambda done, total: bar.update(task, completed=done, total=total))
        bar.update(task, description=f"{path.name} (building frames)")
    return outcomes
