"""Committed notebooks: no outputs, nothing that looks like a credential, built from their sources."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.runner import NOTEBOOKS, learner_notebooks, load_build, solution_notebooks
from tests.notebooks.secrets_scan import find_secrets

ALL = learner_notebooks() + solution_notebooks()
SOURCES = sorted((NOTEBOOKS / "source").glob("*.py"))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_the_course_has_all_ten_notebooks():
    names = [p.name for p in learner_notebooks()]
    for lesson in [f"{n:02d}-" for n in range(10)]:
        assert any(n.startswith(lesson) for n in names), f"notebook {lesson}* missing from {names}"
    assert [p.name for p in solution_notebooks()] == names, "every notebook needs its solutions twin"
    for name in names:
        assert re.fullmatch(r"\d\d-[a-z0-9-]+\.ipynb", name), f"{name}: name notebooks NN-name.ipynb"


def dirty_cells(nb) -> list[int]:
    """Indexes of code cells with outputs or an execution count."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]


def notebook_secrets(nb, label: str) -> list[str]:
    """Credential-looking values in a notebook's cells, outputs and metadata."""
    texts = [(f"cell {i}", c.source) for i, c in enumerate(nb.cells)]
    texts.append(("metadata", json.dumps(nb.metadata)))
    texts += [(f"cell {i} outputs", json.dumps(c.get("outputs", []))) for i, c in enumerate(nb.cells)]
    return [hit for where, text in texts for hit in find_secrets(text, f"{label} {where}")]


def test_the_checks_catch_a_dirty_notebook():
    """The two checks below can fail: an executed cell and a token in an output are both caught."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("token = lab.client.tokens.token().reveal()\nprint(token)")]
    )
    assert dirty_cells(nb) == [] and notebook_secrets(nb, "clean") == []
    nb.cells[0].execution_count = 1
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="Xy7Kp2Qw9Lm4Nz8Rt6Vb3Hd5Fg1J\n")]
    assert dirty_cells(nb) == [0]
    assert notebook_secrets(nb, "dirty"), "a token printed in an output was not found"


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_committed_notebook_has_no_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = dirty_cells(nb)
    assert not dirty, (
        f"{_id(path)}: cells {dirty} have outputs or execution counts; rebuild with python notebooks/build.py"
    )
    assert "widgets" not in nb.metadata, f"{_id(path)}: saved widget state in metadata"


@pytest.mark.parametrize("path", ALL + SOURCES, ids=_id)
def test_no_credentials_in_notebooks_or_their_sources(path: Path):
    if path.suffix == ".ipynb":
        found = notebook_secrets(nbformat.read(path, as_version=4), _id(path))
    else:
        found = find_secrets(path.read_text(encoding="utf-8"), f"{_id(path)} source")
    assert not found, "credential-looking values:\n" + "\n".join(found)


def test_notebooks_match_their_sources():
    build = load_build()
    assert build.main(["--check"]) == 0, "a notebook differs from its source: run python notebooks/build.py"


@pytest.mark.parametrize("path", learner_notebooks(), ids=_id)
def test_notebook_shape(path: Path):
    """Objectives, prerequisites and time first; summary and next last; two exercises or more, each checked."""
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    for part in ("You will be able to", "Prerequisites", "Time"):
        assert part in first.source, f"{path.name}: the opening cell lacks {part!r}"
    closing = [c.source for c in nb.cells[-3:] if c.cell_type == "markdown"]
    assert closing and "## Summary" in closing[-1] and "**Next:**" in closing[-1], (
        f"{path.name}: no summary/next at the end"
    )
    exercises = [i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", [])]
    assert len(exercises) >= 2, f"{path.name}: {len(exercises)} exercise(s); at least two"
    for i in exercises:
        after = nb.cells[i + 1]
        assert after.cell_type == "code" and after.source.lstrip().startswith("check."), (
            f"{path.name}: exercise cell {i} is not followed by its check cell"
        )
    solved = nbformat.read(NOTEBOOKS / "solutions" / path.name, as_version=4)
    assert [i for i, c in enumerate(solved.cells) if "solution" in c.metadata.get("tags", [])] == exercises
    for i in exercises:
        assert solved.cells[i].source != nb.cells[i].source, f"{path.name}: exercise {i} has no solution"
