"""What check-callback found: one ScenarioResult per scenario, and the report over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.table import Table

Verdict = Literal["pass", "fail", "not verified"]


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario's verdict, what was seen (``detail``) and, when it did not pass, the fix."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""
    seconds: float | None = None  # the slowest answer the scenario got

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict, "detail": self.detail, "fix": self.fix}


@dataclass
class CallbackCheckReport:
    """Every scenario's result for one endpoint. ``passed``: no scenario failed ("not verified"
    is not a failure: it says what could not be checked without a read-back)."""

    url: str
    results: list[ScenarioResult] = field(default_factory=list)
    budget_s: float = 0.0
    readback: bool = False

    @property
    def passed(self) -> bool:
        return all(r.verdict != "fail" for r in self.results)

    @property
    def failures(self) -> list[ScenarioResult]:
        return [r for r in self.results if r.verdict == "fail"]

    def counts(self) -> dict[str, int]:
        return {v: sum(r.verdict == v for r in self.results) for v in ("pass", "fail", "not verified")}

    def summary(self) -> str:
        c = self.counts()
        head = "PASSED" if self.passed else "FAILED"
        return f"{head}: {c['pass']} passed, {c['fail']} failed, {c['not verified']} not verified ({self.url})"

    def result(self, name: str) -> ScenarioResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def __repr__(self) -> str:
        return f"<CallbackCheckReport {self.summary()}>"

    def _repr_html_(self) -> str:
        from mpesa_lab._templates import render

        return render("callback_check/report.html", report=self, counts=self.counts())

    def table(self) -> Table:
        """The results as a rich Table (the command prints this)."""
        from rich.table import Table

        styles = {"pass": "green", "fail": "bold red", "not verified": "yellow"}
        table = Table(title=f"check-callback {self.url}", show_lines=True)
        for column in ("scenario", "verdict", "what happened", "fix"):
            table.add_column(column, overflow="fold")
        for r in self.results:
            table.add_row(r.name, f"[{styles[r.verdict]}]{r.verdict}[/]", _plain(r.detail), _plain(r.fix))
        return table

    def __rich__(self) -> Table:
        return self.table()


def _plain(text: str) -> str:
    from rich.markup import escape

    return escape(text)
