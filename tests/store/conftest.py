"""Shared fixtures: a lab home in tmp (never the real ~/.mpesa-lab), a fresh store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mpesa_lab.store import CallbackStore


@pytest.fixture(autouse=True)
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never write to the real ~/.mpesa-lab from tests."""
    home = tmp_path / "lab-home"
    monkeypatch.setenv("MPESA_LAB_HOME", str(home))
    return home


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CallbackStore]:
    s = CallbackStore(tmp_path / "store.sqlite")
    yield s
    s.close()
