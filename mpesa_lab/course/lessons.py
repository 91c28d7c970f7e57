"""Where a lesson keeps its data: one SQLite store per notebook, so a re-run continues it."""

from __future__ import annotations

import re
from pathlib import Path

from mpesa_lab.listener.store import lab_home


def lesson_store(lesson: str) -> Path:
    """``lab_home()/course/<lesson>.sqlite``: the same file every time the lesson's lab starts.

    Passing it to ``Lab.start(store=...)`` makes a re-run start cell continue the lesson's store
    instead of opening a new, empty one (so no rows vanish).
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", lesson):
        raise ValueError(f"lesson name {lesson!r}: use letters, digits, '.', '_' or '-' (e.g. '02-access-token')")
    folder = lab_home() / "course"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{lesson}.sqlite"
