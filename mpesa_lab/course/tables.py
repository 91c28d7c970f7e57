"""Frames a learner can read: chosen columns, long text wrapped, nothing cut.

pandas shows at most 50 characters of a cell ("Ask the customer to keep the phone on and unlo...")
and every column of a wide frame, most of it scrolled off to the side. Where a lesson says "read
the fix column", it shows the frame through :func:`readable` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_STYLE = (
    "<style>"
    ".mpl-readable table { border-collapse: collapse; font-size: 12px; }"
    ".mpl-readable th { text-align: left; vertical-align: bottom; padding: 4px 8px; border-bottom: 2px solid #d0d7de; }"
    ".mpl-readable td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid #eaeef2;"
    " white-space: normal; overflow-wrap: anywhere; max-width: 34em; }"
    "</style>"
)


class ReadableFrame:
    """A frame displayed whole: every character of every shown cell, long text wrapped."""

    def __init__(self, frame: Any, columns: Sequence[str] | None = None, *, index: bool = False) -> None:
        missing = [c for c in (columns or ()) if c not in frame.columns]
        if missing:
            raise KeyError(
                f"no column {', '.join(map(repr, missing))} in this frame; it has {', '.join(map(str, frame.columns))}"
            )
        self.frame = frame[list(columns)] if columns else frame
        self.index = index

    def _repr_html_(self) -> str:
        import pandas as pd

        with pd.option_context("display.max_colwidth", None):
            table = self.frame.to_html(index=self.index, escape=True, na_rep="", border=0)
        return f"{_STYLE}<div class='mpl-readable'>{table}</div>"

    def __repr__(self) -> str:
        import pandas as pd

        with pd.option_context("display.max_colwidth", None, "display.width", 10_000, "display.max_columns", None):
            return self.frame.to_string(index=self.index, na_rep="")

    def __len__(self) -> int:
        return len(self.frame)


def readable(frame: Any, columns: Sequence[str] | None = None, *, index: bool = False) -> ReadableFrame:
    """``frame`` (only ``columns``, if given) for display: no cell cut short, text wrapped."""
    return ReadableFrame(frame, columns, index=index)


__all__ = ["ReadableFrame", "readable"]
