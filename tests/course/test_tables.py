"""readable(frame): what a lesson shows where it says "read this column" is shown whole."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from mpesa_lab import codes
from mpesa_lab.course import readable

LONG = codes.lookup("1037").mitigation + " " + codes.lookup("2001").mitigation  # well over 50 characters


def test_long_text_is_shown_whole_and_wrapped():
    frame = pd.DataFrame([{"code": "1037", "fix": LONG}])
    assert "..." in frame._repr_html_()  # what pandas alone shows: the fix cut at 50 characters
    shown = readable(frame)._repr_html_()
    assert LONG in shown and "..." not in shown
    assert "white-space: normal" in shown and "max-width" in shown
    assert LONG in repr(readable(frame))


def test_only_the_chosen_columns():
    frame = pd.DataFrame([{c: c * 3 for c in "abcdefghijklmnopqrstuvwxyz"}])
    shown = readable(frame, ["c", "a"])._repr_html_()
    assert len(re.findall(r"<th[ >]", shown)) == 2 and "ccc" in shown and "zzz" not in shown
    with pytest.raises(KeyError, match="no column 'nope'"):
        readable(frame, ["nope"])
