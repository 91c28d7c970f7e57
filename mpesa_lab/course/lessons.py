"""Where a lesson keeps its data: one SQLite store per notebook, so a re-run continues it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from mpesa_lab.paths import lab_home


def lesson_store(lesson: str) -> Path:
    """``lab_home()/course/<lesson>.sqlite``: the same file every time the lesson's lab starts.

    Passing it to ``Lab.start(store=...)`` makes a re-run start cell continue the lesson's store
    instead of opening a new, empty one (so no rows vanish).
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", lesson):
        raise ValueError(f"lesson name {lesson!r}: use letters, digits, '.', '_' or '-' (e.g. '02-access-token')")
    from mpesa_lab.listener.room_report import note_lesson

    note_lesson(lesson)  # in a workshop room, the room learns which lesson this is
    folder = lab_home() / "course"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{lesson}.sqlite"


#: the course's pace, 1/20 of real time (the emulator's ``config.COURSE_TIME_SCALE``)
COURSE_TIME_SCALE = 0.05


def course_time_scale() -> float | None:
    """The ``time_scale`` the course's timed lessons pass to ``Lab.start``: 1/20 of real time,
    or None when $MPESA_LAB_TIME_SCALE is set (the emulator then takes that one: 1 is real time)."""
    return None if os.environ.get("MPESA_LAB_TIME_SCALE", "").strip() else COURSE_TIME_SCALE


def dataset(name: str) -> Path:
    """The course data set ``name`` (e.g. ``"week"``): ``data/<name>`` of the clone this runs from.

    Looked for next to the notebooks (``../data``, a clone), in the working folder (``data/``: an
    installed wheel's course copy ships it beside its notebooks) and in the clone the package
    runs from, so a notebook finds it whatever folder its kernel starts in.
    """
    here = Path.cwd()
    clone = Path(__file__).resolve().parents[2]
    for folder in (here.parent / "data", here / "data", clone / "data"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(
        f"the course data set {name!r} is not here: it ships with the repository (data/{name}) and "
        "beside the notebooks of `mpesa-lab lab`'s copy; open the notebook with `mpesa-lab lab`, "
        "or regenerate it from a clone with python data/make_week.py"
    )
