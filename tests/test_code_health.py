"""The habits the project keeps, checked by the test command (so by CI): lint, format, types, floors.

Each tool runs as a person would run it from the repository root (``ruff check .``,
``ruff format --check .``, ``mypy``, ``lint-imports``), configured in pyproject.toml. The
structure drawn from the imports (tools/import_graph.py) must have no arrow back up a floor and no
circle, and no module may grow past the size DESIGN.md allows without its docstring saying why.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# DESIGN.md: "under ~600 lines"; the check allows the "~" (ruff format's line breaks count too).
MAX_LINES = 650


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy",),
        ("lint-imports",),
    ],
    ids=lambda c: " ".join(c),
)
def test_tool_passes(command: tuple[str, ...]) -> None:
    done = _run(str(BIN / command[0]), *command[1:])
    assert done.returncode == 0, f"`{' '.join(command)}` failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"


def test_the_import_graph_has_no_arrow_back_up_and_no_circle() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import import_graph
    finally:
        sys.path.pop(0)
    summary = import_graph.summarize(import_graph.read_graph())
    assert summary["unplaced_rooms"] == [], "a new room needs its floor in tools/import_graph.py FLOORS"
    assert summary["arrows_back_up"] == []
    assert summary["module_circles"] == [] and summary["room_circles"] == []


def test_no_module_over_the_size_limit_without_a_stated_reason() -> None:
    """A module over about 600 lines says why in its docstring ("Why one module: ...")."""
    too_big = []
    for path in sorted((ROOT / "mpesa_lab").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "why one module" not in doc.lower():
            too_big.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert too_big == [], f"split these by job, or say 'Why one module: ...' in the docstring: {too_big}"
