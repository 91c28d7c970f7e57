"""Scratch notebooks the scenarios write into the course copy's ``scratch/`` folder."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells, with the Python 3 kernel named (no kernel dialog)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def run_course_or_scratch(page, jupyterlab, course_copy: Path, which: str, course_path: str, scratch_cells: list[str]):
    """Open the course notebook (``which != "scratch"``) or a scratch one of ``scratch_cells``,
    Run All Cells as a learner would, and check no cell raised."""
    from tests.browser.page import NotebookPage

    if which == "scratch":
        path = f"scratch/{Path(course_path).stem}.ipynb"
        write_notebook(course_copy / path, scratch_cells)
    else:
        assert (course_copy / course_path).is_file(), f"{course_path} is not in the course"
        path = course_path
    notebook = NotebookPage(page, jupyterlab.tree_url(path)).open()
    notebook.run_all(timeout=240_000)
    notebook.assert_no_errors()
    return notebook
