"""Waiting in tests: the one poll-until every test uses (servers and widgets change from their own threads)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT = 15.0  # generous: the machine may be loaded


def eventually(check: Callable[[], T], timeout: float = TIMEOUT, what: str = "condition", interval: float = 0.02) -> T:
    """Poll ``check`` until it returns something truthy, and return that; else AssertionError
    naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s (last value: {value!r})")
        time.sleep(interval)


def holds_within(predicate: Callable[[], object], timeout: float = TIMEOUT, interval: float = 0.01) -> bool:
    """True as soon as ``predicate()`` holds, False if it still does not after ``timeout`` seconds."""
    try:
        eventually(predicate, timeout, interval=interval)
    except AssertionError:
        return False
    return True
