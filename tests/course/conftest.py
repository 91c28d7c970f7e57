"""Fixtures of the course's check tests: lenient checks, a real lab, the committed week."""

from __future__ import annotations

import os

import pytest

from mpesa_lab.course.verdict import STRICT_ENV
from tests.course.helpers import ROOT


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from mpesa_lab.lab import Lab

    home = tmp_path_factory.mktemp("lab-home")
    saved = os.environ.get("MPESA_LAB_HOME")
    os.environ["MPESA_LAB_HOME"] = str(home)
    lab = Lab.start(store=home / "checks.sqlite")
    yield lab
    lab.stop()
    if saved is None:
        os.environ.pop("MPESA_LAB_HOME", None)
    else:
        os.environ["MPESA_LAB_HOME"] = saved


@pytest.fixture(scope="module")
def week():
    from mpesa_lab import analytics

    return analytics.load(ROOT / "data" / "week").transactions
