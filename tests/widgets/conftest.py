"""A real lab (emulator + listener + client) for the widget tests, and a way to wait for the
widgets' background threads without sleeping blindly."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from mpesa_lab.lab import Lab
from tests.poll import TIMEOUT, eventually  # noqa: F401 (the widgets' tests import them from here)


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
