"""Where a lesson finds its data."""

from __future__ import annotations

import pytest

from mpesa_lab.course import dataset
from tests.course.helpers import ROOT


def test_dataset_finds_the_week_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert dataset("week") == ROOT / "data" / "week"
    monkeypatch.chdir(ROOT / "notebooks")
    assert dataset("week").resolve() == (ROOT / "data" / "week").resolve()
    with pytest.raises(FileNotFoundError, match="ships with the repository"):
        dataset("no-such-set")
    # An installed wheel's course copy: data/ beside the notebooks, the kernel in that folder.
    copy = tmp_path / "course"
    (copy / "data" / "other-set").mkdir(parents=True)
    monkeypatch.chdir(copy)
    assert dataset("other-set") == copy / "data" / "other-set"
