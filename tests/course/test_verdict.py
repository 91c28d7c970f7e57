"""A verdict renders as text and HTML, is recorded, and raises in strict mode."""

from __future__ import annotations

import pytest

from mpesa_lab.course import ExerciseFailed, check
from mpesa_lab.course.verdict import STRICT_ENV, history
from tests.course.helpers import ok


def test_verdicts_render_as_text_and_html_and_are_recorded():
    before = len(history())
    verdict = check.token_refresh(3600, expires_in="3599", margin=60)
    assert len(history()) == before + 1 and history()[-1] is verdict
    assert not verdict and "<li>" in verdict._repr_html_() and "✘" in repr(verdict)
    good = check.token_refresh(3539.0, expires_in="3599", margin=60)
    assert good and "correct" in good._repr_html_()


def test_strict_mode_raises_with_the_message(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseFailed, match="added the margin"):
        check.token_refresh(3659, expires_in="3599", margin=60)
    with pytest.raises(ExerciseFailed, match="not answered yet"):
        check.token_refresh(..., expires_in="3599", margin=60)
    ok(check.token_refresh(3539, expires_in="3599", margin=60))
