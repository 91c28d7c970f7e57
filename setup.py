"""Build hook: the course notebooks (top-level notebooks/) ship inside the wheel as
mpesa_lab/notebooks, so `mpesa-lab lab` can give an installed learner a working copy.
Everything else is declared in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SUFFIXES = {".ipynb", ".md", ".csv", ".json", ".jsonl", ".parquet", ".png", ".svg"}  # as notebook_server
# Authoring sources stay in the repository; solutions too (facilitators take them from a clone:
# a learner's copy of the course should not hold the answers).
SKIP = {".ipynb_checkpoints", "__pycache__", "source", "solutions"}
# The course's data sets (notebook 07 reads data/week), shipped beside the notebooks.
DATA = ["week", "messy_callbacks.jsonl"]


class build_py_with_notebooks(build_py):
    def run(self):
        super().run()
        source = HERE / "notebooks"
        # An editable install runs from the clone, where `mpesa-lab lab` opens notebooks/ in place.
        if getattr(self, "editable_mode", False) or not source.is_dir():
            return
        target = Path(self.build_lib) / "mpesa_lab" / "notebooks"
        self._copy_tree(source, target)
        for name in DATA:
            path = HERE / "data" / name
            if path.is_dir():
                self._copy_tree(path, target / "data" / name)
            elif path.is_file():
                self._copy_tree(path.parent, target / "data", only=name)

    def _copy_tree(self, source, target, only=None):
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if only is not None and str(relative) != only:
                continue
            if path.is_file() and path.suffix.lower() in SUFFIXES and not SKIP & set(relative.parts):
                self.mkpath(str((target / relative).parent))
                self.copy_file(str(path), str(target / relative))


setup(cmdclass={"build_py": build_py_with_notebooks})
