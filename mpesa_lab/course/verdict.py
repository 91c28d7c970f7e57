"""What an exercise check answers: a Verdict that says precisely what is wrong, or that it is right.

A check never raises in a learner's notebook (a wrong answer is part of learning, and the notebook
must still run top to bottom). Set ``MPESA_LAB_STRICT_CHECKS=1`` to make a failed or unanswered
check raise :class:`ExerciseFailed` instead: that is how the solution notebooks are tested.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field

STRICT_ENV = "MPESA_LAB_STRICT_CHECKS"

# Every verdict given in this process, in order: the notebook tests read it back.
_history: list[Verdict] = []


class ExerciseFailed(AssertionError):
    """A check failed while strict checks were on (solution notebooks, tests)."""


@dataclass(frozen=True)
class Verdict:
    """The answer of one check: ``ok``, or the problems found, each with what to do instead."""

    exercise: str
    ok: bool
    problems: tuple[str, ...] = ()
    answered: bool = True
    note: str = ""
    extra: dict = field(default_factory=dict, repr=False, compare=False)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def message(self) -> str:
        """The whole verdict as plain text."""
        return str(self)

    def __str__(self) -> str:
        if self.ok:
            return f"✔ {self.exercise}: correct." + (f" {self.note}" if self.note else "")
        if not self.answered:
            return f"… {self.exercise}: not answered yet. " + " ".join(self.problems)
        lines = [f"✘ {self.exercise}: not yet."]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        if self.ok:
            colour, head = "#1b7a3a", f"✔ {self.exercise}: correct."
            body = html.escape(self.note)
        elif not self.answered:
            colour, head = "#8a6d00", f"… {self.exercise}: not answered yet."
            body = html.escape(" ".join(self.problems))
        else:
            colour, head = "#b3261e", f"✘ {self.exercise}: not yet."
            body = "<ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in self.problems) + "</ul>"
        return (
            f'<div style="border-left:4px solid {colour};padding:4px 10px">'
            f'<b style="color:{colour}">{html.escape(head)}</b> {body}</div>'
        )


def strict() -> bool:
    """True when failed checks should raise (``MPESA_LAB_STRICT_CHECKS`` set to 1/true/yes)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def give(verdict: Verdict) -> Verdict:
    """Record a verdict (and, in a workshop room, report it); in strict mode, raise when it is
    not ok."""
    _history.append(verdict)
    _report(verdict)
    if strict() and not verdict.ok:
        raise ExerciseFailed(str(verdict))
    return verdict


def _report(verdict: Verdict) -> None:
    """Tell the workshop room (when ``MPESA_LAB_ROOM`` names a card): queued, never waited for."""
    from mpesa_lab.listener.room_report import reporter

    try:
        room = reporter()
        if room is not None:
            status = "passed" if verdict.ok else "failed" if verdict.answered else "not_yet"
            problem = verdict.problems[0] if verdict.problems and verdict.answered else ""
            room.note("check", exercise=verdict.exercise, status=status, problem=problem)
    except Exception:  # a report must never cost the learner their verdict
        pass


def history() -> list[Verdict]:
    """Every verdict given in this process (oldest first)."""
    return list(_history)


def clear_history() -> None:
    _history.clear()
