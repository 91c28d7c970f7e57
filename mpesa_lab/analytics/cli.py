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


def default_out(path: Path) -> Path:
    """Where a report goes without ``--out``: the lab home's ``reports/<source name>/`` (outside
    any clone; the same source's next report replaces it)."""
    from mpesa_lab.paths import lab_home

    name = path.stem if path.is_file() else path.name
    return lab_home() / "reports" / (name or "report")


def check_freq(freq: str | None) -> str | None:
    """``None`` when ``freq`` is a usable bin width for the success rate over time, else why not."""
    if freq is None:
        return None
    import pandas as pd

    try:
        offset = pd.tseries.frequencies.to_offset(freq)
        width = pd.Timedelta(offset)
    except (TypeError, ValueError):
        return (
            f"--freq {freq!r} is not a time bin: use a number and a unit, e.g. 5min, 1h, 6h "
            "or 1D (pandas offset aliases)"
        )
    if width <= pd.Timedelta(0):
        return f"--freq {freq!r} is not a time bin: it must be longer than zero, e.g. 1h"
    return None


def _out_problem(out: Path, *, make: bool = True) -> str | None:
    """Why ``out`` cannot hold the report (a file, or a folder that cannot be made), or None.
    ``make=False`` only looks (before the load, so a mistake costs no waiting)."""
    if out.exists() and not out.is_dir():
        return f"--out {out}: is a file, not a folder. Give a folder for index.html and its PNGs."
    if not make:
        above = next((p for p in out.absolute().parents if p.exists()), None)
        if above is not None and not above.is_dir():
            return f"--out {out}: cannot make this folder ({above} is a file). Give a folder you can write to."
        return None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--out {out}: cannot make this folder ({exc.strerror or exc}). Give a folder you can write to."
    if not os.access(out, os.W_OK | os.X_OK):
        return f"--out {out}: cannot write in this folder. Give a folder you can write to."
    return None


def run_report(
    console: Any,
    err_console: Any,
    source: str | None,
    out: Path | None,
    *,
    title: str | None = None,
    freq: str | None = None,
) -> int:
    """Load ``source`` (default: the newest store), write the page into ``out``, say where.

    Exit codes: 0 a page was written; 1 the source holds nothing to report (no pushes, no
    callbacks: one line says so, no page); 2 bad arguments or an unreadable source."""
    from mpesa_lab.analytics.limits import LoadError

    def error(text: str) -> None:
        # One line, whatever the width, and literally: a path or a message may hold "[...]".
        err_console.print(text, style="red", soft_wrap=True, markup=False, highlight=False)

    path = Path(source).expanduser() if source else newest_store()
    if path is None:
        error(
            "No source given and no store under the lab's home. Pass a file or "
            "folder: mpesa-lab report data/week --out report/"
        )
        return 2
    if not path.exists():
        error(
            f"{path}: no such file or folder. Pass a store (.sqlite), JSON "
            "lines, a JSON array, a folder of .json files, CSV or Parquet."
        )
        return 2
    problem = check_freq(freq) or (_out_problem(out, make=False) if out is not None else None)
    if problem:
        error(problem)
        return 2
    try:
        outcomes = _load_with_progress(console, path)
    except LoadError as exc:
        error(str(exc))
        return 2
    tx = outcomes.transactions
    if tx.empty and outcomes.callbacks.empty:
        err_console.print(_nothing_to_report(path, outcomes), markup=False)
        return 1
    out = out if out is not None else default_out(path)
    problem = _out_problem(out)
    if problem:
        error(problem)
        return 2
    from mpesa_lab.analytics.html_report import report

    try:
        index = report(outcomes, out, title=title, freq=freq)
    except OSError as exc:
        error(f"Cannot write the report into {out}: {exc.strerror or exc}.")
        return 2
    paid = int((tx["status"] == "paid").sum())
    rejected = int((tx["status"] == "rejected").sum())
    rate = f"{paid / len(tx):.1%}" if len(tx) else "n/a"
    if len(tx) and rejected == len(tx):
        codes = tx["error_code"].fillna("no code").value_counts()
        listed = ", ".join(f"{code} x{n:,}" for code, n in codes.items())
        console.print(
            f"{len(tx):,} push(es), every one refused before a prompt was sent ({listed}): "
            f"nothing was paid or failed; the report lists each code and what to do. "
            f"From {path}",
            soft_wrap=True,
            markup=False,
        )
    else:
        console.print(f"{len(tx):,} transactions ({paid:,} paid, {rate}) from {path}", soft_wrap=True, markup=False)
    if outcomes.malformed or outcomes.unknown_codes:
        console.print(
            f"{outcomes.malformed:,} unreadable record(s), "
            f"{sum(outcomes.unknown_codes.values()):,} callback(s) with codes outside the "
            "catalogue: listed at the end of the page.",
            soft_wrap=True,
        )
    console.print(f"Report: {index}", soft_wrap=True, markup=False)
    console.print(f"Open it: {Path(os.path.abspath(index)).as_uri()}", soft_wrap=True, markup=False)
    return 0


def _nothing_to_report(path: Path, outcomes: Any) -> str:
    """One line: the source holds no push and no callback (and why, when records were unreadable)."""
    line = f"Nothing to report: {path} holds no pushes and no callbacks"
    if outcomes.problems:
        first = outcomes.problems[0]
        line += (
            f" ({len(outcomes.problems):,} record(s) could not be used; the first, {first.location}: {first.detail})"
        )
    elif path.suffix in (".sqlite", ".sqlite3", ".db"):
        line += " yet. Make a push first (mpesa-lab push 0708374149 10), or pass a log: mpesa-lab report data/week"
    return line + "."


def _load_with_progress(console: Any, path: Path) -> Any:
    from mpesa_lab.analytics.sources import load

    if _size(path) < PROGRESS_FROM_BYTES:
        with console.status(f"Loading {path}..."):
            return load(path)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("Loading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(path.name, total=_size(path))
        outcomes = load(path, progress=lambda done, total: bar.update(task, completed=done, total=total))
        bar.update(task, description=f"{path.name} (building frames)")
    return outcomes
