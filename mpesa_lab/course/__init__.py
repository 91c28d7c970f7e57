"""The course's helpers (merchant side): exercise checks and where each lesson keeps its store.

In a notebook::

    from mpesa_lab.course import check, lesson_store
    lab = Lab.start(store=lesson_store("02-access-token"))   # re-running continues the same store
    check.password(my_password, shortcode="174379", passkey=..., timestamp=...)
"""

from __future__ import annotations

from mpesa_lab.course import check
from mpesa_lab.course.lessons import course_time_scale, dataset, lesson_store
from mpesa_lab.course.tables import readable
from mpesa_lab.course.verdict import ExerciseFailed, Verdict

__all__ = ["ExerciseFailed", "Verdict", "check", "course_time_scale", "dataset", "lesson_store", "readable"]
