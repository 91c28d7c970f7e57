"""Build the course notebooks from their sources: ``python notebooks/build.py [--check]``.

Each ``notebooks/source/NN_name.py`` defines ``NAME`` (e.g. ``"02-access-token"``), ``META`` and
``CELLS``, a list of ``("md", text)``, ``("code", text)`` and ``("exercise", starter, solution,
wrong)`` (``wrong``, a typical mistake, is not written anywhere: tests run it to prove each check
cell names the problem).
This writes two plain .ipynb files per source, with no outputs:

- ``notebooks/NN-name.ipynb``: the learner's notebook (exercise cells hold the starter, tagged
  ``exercise``);
- ``notebooks/solutions/NN-name.ipynb``: the facilitator's copy (the same cells, exercise cells
  replaced by their solution and tagged ``solution``).

The sources are the truth; ``--check`` fails when a committed notebook differs from what its
source builds (tests/notebooks run it). Cell ids are stable, so rebuilding changes nothing unless
a source changed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "source"
SOLUTIONS = HERE / "solutions"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _text(value: str) -> str:
    return textwrap.dedent(value).strip("\n")


def load_source(path: Path):
    spec = importlib.util.spec_from_file_location(f"_nbsource_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def build(module, *, solutions: bool, wrong: bool = False) -> nbformat.NotebookNode:
    """One notebook from a source module: the learner's (``solutions=False``) or the facilitator's.

    ``wrong=True`` puts each exercise's typical mistake in its cell instead (for the tests).
    """
    cells = []
    for index, cell in enumerate(module.CELLS):
        kind, *body = cell
        cell_id = f"{module.NAME[:2]}-{index:03d}"
        if kind == "md":
            new = new_markdown_cell(_text(body[0]), id=cell_id)
        elif kind == "code":
            new = new_code_cell(_text(body[0]), id=cell_id)
        elif kind == "exercise":
            starter, solution, mistake = body
            text = mistake if wrong else solution if solutions else starter
            new = new_code_cell(_text(text), id=cell_id)
            new.metadata["tags"] = ["solution" if solutions and not wrong else "exercise"]
        else:
            raise ValueError(f"{module.NAME}: cell {index} has unknown kind {kind!r}")
        cells.append(new)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["mpesa_lab"] = {"lesson": module.NAME, "solutions": solutions, **getattr(module, "META", {})}
    nbformat.validate(nb)
    return nb


def targets() -> dict[Path, nbformat.NotebookNode]:
    """Every notebook path and the notebook its source builds."""
    out: dict[Path, nbformat.NotebookNode] = {}
    for path in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        module = load_source(path)
        out[HERE / f"{module.NAME}.ipynb"] = build(module, solutions=False)
        out[SOLUTIONS / f"{module.NAME}.ipynb"] = build(module, solutions=True)
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
        print("out of date (run python notebooks/build.py):", *[str(p.relative_to(HERE.parent)) for p in stale], sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
