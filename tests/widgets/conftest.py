"""A real lab (emulator + listener + client) for the widget tests, and a way to wait for the
widgets' background threads without sleeping blindly."""

from __future__ import annotations

import time
from typing import Callable, Iterator

import pytest

from mpesa_lab.lab import Lab

TIMEOUT = 15.0  # generous: the machine may be loaded


@pytest.fixture
def lab(tmp_path) -> Iterator[Lab]:
    lab = Lab.start(store=tmp_path / "widgets.sqlite3")
    yield lab
    lab.stop()


@pytest.fixture
def closing() -> Iterator[Callable]:
    """Register widgets to close (stopping their watcher threads) at the end of the test."""
    made = []

    def keep(widget):
        made.append(widget)
        return widget

    yield keep
    for widget in made:
        widget.close()


def eventually(check: Callable[[], object], timeout: float = TIMEOUT, what: str = "condition") -> object:
    """Poll ``check`` until it returns something truthy (the widgets update from their own threads)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)
