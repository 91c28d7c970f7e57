"""Shared fixtures: a lab home in tmp, a fresh store per test, a running listener."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mpesa_lab.listener import CallbackStore, Listener


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


@pytest.fixture(scope="module")
def _shared_listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    # Stopping uvicorn takes ~0.2 s; one server per module keeps the suite fast.
    lst = Listener(tmp_path_factory.mktemp("shared") / "unused.sqlite", name="test-listener").start()
    yield lst
    lst.stop()


@pytest.fixture
def listener(_shared_listener: Listener, store: CallbackStore) -> Listener:
    """A running listener (default options) writing to this test's own fresh store."""
    _shared_listener.store = store
    _shared_listener.app.store = store
    return _shared_listener
