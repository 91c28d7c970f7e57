"""Run a course notebook headless, twice in one kernel, and report what each run left behind.

The kernel is the ``python3`` kernel of the interpreter running the tests (ipykernel's own spec,
so the project's venv), started in a scratch folder with ``MPESA_LAB_HOME`` pointing at a scratch
lab home. After each run a probe cell reports the exercise verdicts given and what the lesson's
store holds, so a test can tell a re-run that continued the store from one that lost rows.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
PROBE_MARK = "@@mpesa-lab-probe@@"

PROBE = f"""
import json as _json, sys as _sys
from mpesa_lab.course import lesson_store as _lesson_store
from mpesa_lab.course.verdict import history as _history, clear_history as _clear_history
from mpesa_lab.store import CallbackStore as _CallbackStore

_path = _lesson_store({{lesson!r}})
_report = {{{{"python": _sys.executable, "verdicts": [[v.exercise, v.ok, v.answered, str(v)] for v in _history()]}}}}
if _path.exists():
    _store = _CallbackStore(_path)
    _tx = _store.transactions()
    _report["pushes"] = int(_store.count_pushes())
    _report["deliveries"] = int(_store.count_deliveries())
    _report["rule_17"] = int((_tx["result_code"].astype("string") == "17").sum()) if len(_tx) else 0
    _store.close()
_clear_history()
print({PROBE_MARK!r} + _json.dumps(_report))
"""


@dataclass
class Run:
    seconds: float
    probe: dict = field(default_factory=dict)


@dataclass
class Report:
    path: Path
    runs: list[Run]
    metadata: dict
    notebook: nbformat.NotebookNode | None = None  # as executed: the last run's outputs

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)


def _probe_output(cell) -> dict:
    for output in cell.get("outputs", []):
        text = output.get("text", "")
        for line in text.splitlines():
            if line.startswith(PROBE_MARK):
                return json.loads(line[len(PROBE_MARK) :])
    raise AssertionError(f"the probe cell printed nothing: {cell.get('outputs')}")


def execute(
    path: Path | nbformat.NotebookNode, workdir: Path, *, runs: int = 2, strict: bool = False, cell_timeout: int = 90
) -> Report:
    """Execute a notebook (a path or a notebook) ``runs`` times in one kernel; raise
    CellExecutionError on any failing cell.

    ``strict`` turns on MPESA_LAB_STRICT_CHECKS, so a failed exercise check raises.
    """
    nb = nbformat.read(path, as_version=4) if isinstance(path, (str, Path)) else path
    lesson = nb.metadata["mpesa_lab"]["lesson"]
    nb.cells.append(nbformat.v4.new_code_cell(PROBE.format(lesson=lesson)))
    env = {"MPESA_LAB_HOME": str(workdir / "lab-home"), "MPESA_LAB_STRICT_CHECKS": "1" if strict else "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the test process's environment
    try:
        client = NotebookClient(
            nb, kernel_name="python3", timeout=cell_timeout, resources={"metadata": {"path": str(workdir)}}
        )
        done: list[Run] = []
        with client.setup_kernel():
            for _ in range(runs):
                started = time.perf_counter()
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
                done.append(Run(time.perf_counter() - started, _probe_output(nb.cells[-1])))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Report(path if isinstance(path, Path) else Path(lesson), done, dict(nb.metadata["mpesa_lab"]), nb)


def learner_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def solution_notebooks() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]-*.ipynb"))


def load_build():
    """notebooks/build.py as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_nb_build", NOTEBOOKS / "build.py")
    build = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = build  # its dataclasses look their module up there
    spec.loader.exec_module(build)
    return build
