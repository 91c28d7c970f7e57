"""Build the course notebooks from their sources: ``python notebooks/build.py [--check]``.

Each ``notebooks/source/NN_name.py`` is a notebook in jupytext's percent format: real Python that
ruff and editors read. Its header's ``mpesa_lab`` block names the lesson (``lesson:
02-access-token``) and its facts (``title``, ``minutes``, ``expects_rule_17``), copied into the
notebook's metadata. Cells start at ``# %%`` (code) or ``# %% [markdown]`` (markdown, each line
behind ``# ``). An exercise is two cells in a row: ``# %% tags=["exercise"]``, the starter the
learner completes, then ``# %% tags=["solution"]``, its solution. (Each exercise's typical mistake
lives beside the tests, in tests/notebooks/mistakes.py.)

This writes two plain .ipynb files per source, with no outputs:

- ``notebooks/NN-name.ipynb``: the learner's notebook (exercise cells hold the starter, tagged
  ``exercise``);
- ``notebooks/solutions/NN-name.ipynb``: the facilitator's copy (the same cells, exercise cells
  replaced by their solution and tagged ``solution``).

The sources are the truth; ``--check`` fails when a committed notebook differs from what its
source builds (tests/notebooks run it). Cell ids are stable (``NN-<index>``, an exercise and its
solution one cell), so rebuilding changes nothing unless a source changed. Markdown may hold
``{{ name }}`` placeholders filled from the course's own facts (notebook 09's timing table, see
timing.py).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "source"
SOLUTIONS = HERE / "solutions"
sys.path.insert(0, str(HERE))
import timing  # noqa: E402  (beside this script, which is not a package)

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@dataclass
class Exercise:
    starter: str
    solution: str = ""


@dataclass
class Lesson:
    """One source: its name (``02-access-token``), its facts, and its cells in order: markdown and
    code as text, exercises as :class:`Exercise`."""

    name: str
    meta: dict
    cells: list[tuple[str, str] | Exercise] = field(default_factory=list)

    @property
    def exercises(self) -> list[Exercise]:
        return [cell for cell in self.cells if isinstance(cell, Exercise)]


def load_source(path: Path) -> Lesson:
    """A percent-format source, read by jupytext, as a :class:`Lesson`."""
    nb = jupytext.read(path, fmt="py:percent")
    meta = dict(nb.metadata.get("mpesa_lab", {}))
    if "lesson" not in meta:
        raise ValueError(f"{path.name}: the header has no mpesa_lab: lesson: NN-name")
    lesson = Lesson(meta.pop("lesson"), meta)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        where = f"{path.name}: cell {len(lesson.cells)} ({cell.source[:40]!r})"
        if cell.cell_type == "markdown":
            lesson.cells.append(("md", cell.source))
        elif cell.cell_type != "code":
            raise ValueError(f"{where}: a {cell.cell_type} cell; use # %% or # %% [markdown]")
        elif "solution" in tags:
            previous = lesson.cells[-1] if lesson.cells else None
            if not isinstance(previous, Exercise) or previous.solution:
                raise ValueError(f"{where}: a solution cell must follow its exercise cell")
            previous.solution = cell.source
        elif "exercise" in tags:
            lesson.cells.append(Exercise(cell.source))
        else:
            lesson.cells.append(("code", cell.source))
    unsolved = [e.starter[:40] for e in lesson.exercises if not e.solution]
    if unsolved:
        raise ValueError(f"{path.name}: exercise(s) with no solution cell after them: {unsolved}")
    return lesson


def _fill(text: str, fills: dict[str, str]) -> str:
    for key, value in fills.items():
        text = text.replace("{{ " + key + " }}", value)
    return text


def build(
    lesson: Lesson, *, solutions: bool, mistakes: list[str] | None = None, fills: dict[str, str] | None = None
) -> nbformat.NotebookNode:
    """One notebook from a lesson: the learner's (``solutions=False``) or the facilitator's.

    ``mistakes`` (one per exercise, in order) puts each exercise's typical mistake in its cell
    instead (for the tests).
    """
    if mistakes is not None and len(mistakes) != len(lesson.exercises):
        raise ValueError(f"{lesson.name}: {len(mistakes)} mistakes for {len(lesson.exercises)} exercises")
    fills = course_fills() if fills is None else fills
    wrong = iter(mistakes or [])
    cells = []
    for index, cell in enumerate(lesson.cells):
        cell_id = f"{lesson.name[:2]}-{index:03d}"
        if isinstance(cell, Exercise):
            text = next(wrong) if mistakes is not None else cell.solution if solutions else cell.starter
            new = new_code_cell(text, id=cell_id)
            new.metadata["tags"] = ["solution" if solutions and mistakes is None else "exercise"]
        elif cell[0] == "md":
            new = new_markdown_cell(_fill(cell[1], fills), id=cell_id)
        else:
            new = new_code_cell(cell[1], id=cell_id)
        cells.append(new)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["mpesa_lab"] = {"lesson": lesson.name, "solutions": solutions, **lesson.meta}
    nbformat.validate(nb)
    return nb


def sources() -> list[Path]:
    return sorted(SOURCES.glob("[0-9][0-9]_*.py"))


def course_fills(lessons: list[Lesson] | None = None) -> dict[str, str]:
    """The placeholders' values, from every lesson's header and its prerequisites (timing.py)."""
    lessons = [load_source(path) for path in sources()] if lessons is None else lessons
    return timing.fills({lesson.name[:2]: plan_facts(lesson) for lesson in lessons})


def plan_facts(lesson: Lesson) -> dict:
    """What the plan needs of a lesson: its header's facts, with ``requires`` from the header or,
    failing that, from its first cell's "**Prerequisites:**" line."""
    first = next((text for kind, text in (c for c in lesson.cells if not isinstance(c, Exercise)) if kind == "md"), "")
    return {**lesson.meta, "requires": timing.requires(lesson.meta, first)}


def targets() -> dict[Path, nbformat.NotebookNode]:
    """Every notebook path and the notebook its source builds."""
    lessons = [load_source(path) for path in sources()]
    fills = course_fills(lessons)
    out: dict[Path, nbformat.NotebookNode] = {}
    for lesson in lessons:
        out[HERE / f"{lesson.name}.ipynb"] = build(lesson, solutions=False, fills=fills)
        out[SOLUTIONS / f"{lesson.name}.ipynb"] = build(lesson, solutions=True, fills=fills)
    return out


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed notebook is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, nb in targets().items():
        text = render(nb)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print(
            "out of date (run python notebooks/build.py):",
            *[str(p.relative_to(HERE.parent)) for p in stale],
            sep="\n  ",
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
