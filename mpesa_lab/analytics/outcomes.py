"""What a load found: ``Outcomes`` (the two frames, and what was wrong with the input) and
``Problem``, and the few steps every reader ends with (frames from record tables, unknown codes
reported with where they were)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mpesa_lab.store import frames

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

Progress = Callable[[int, int], None]  # (bytes done, bytes total)

#: problems listed one by one (the rest are only counted)
MAX_PROBLEMS_KEPT = 200


@dataclass(frozen=True)
class Problem:
    """One record that could not be used, or one code the catalogue does not know."""

    location: str
    kind: str  # "malformed" | "unknown_code" | "skipped_file" | "quarantined"
    detail: str


@dataclass
class Outcomes:
    """What ``load`` found: the two frames, and what was wrong with the input."""

    source: str
    transactions: pd.DataFrame
    callbacks: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    records: int = 0

    @property
    def malformed(self) -> int:
        return self.counts.get("malformed", 0) + self.counts.get("skipped_file", 0)

    @property
    def unknown_codes(self) -> dict[str, int]:
        """Codes outside the catalogue and how many callbacks carried each."""
        df = self.callbacks
        unknown = df.loc[df["category"] == "unknown", "result_code"]
        return {str(k): int(v) for k, v in unknown.value_counts().items()}

    def summary(self) -> pd.DataFrame:
        from mpesa_lab.analytics.analyses import summary

        return summary(self.transactions)

    def problems_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([p.__dict__ for p in self.problems], columns=["location", "kind", "detail"])

    def __repr__(self) -> str:
        parts = [f"{len(self.transactions):,} transactions", f"{len(self.callbacks):,} callbacks"]
        if self.malformed:
            parts.append(f"{self.malformed:,} malformed")
        if self.unknown_codes:
            parts.append(f"{sum(self.unknown_codes.values()):,} with unknown codes")
        return f"<Outcomes from {self.source}: {', '.join(parts)}>"


def from_records(
    callbacks: pa.Table,
    pushes: pa.Table | None,
    queries: pa.Table | None,
    source: str,
    problems: list[Problem],
    counts: dict[str, int],
) -> Outcomes:
    """Outcomes whose two frames are built from one set of record tables."""
    transactions, callback_frame = frames.build_frames(callbacks, pushes, queries)
    return Outcomes(source, transactions, callback_frame, list(problems), dict(counts), records=len(callback_frame))


def note_unknown_codes(out: Outcomes, locate: Callable[[Any], str]) -> None:
    """Add one problem per code the catalogue does not know, with where (``locate(callback_id)``)."""
    import numpy as np

    df = out.callbacks
    rows = np.flatnonzero((df["category"] == "unknown").to_numpy())
    if not len(rows):
        return
    # Only the few rows and three columns needed: a boolean mask over the whole frame would
    # rebuild every text column (hundreds of MiB at a million rows) to keep a handful.
    unknown = df[["result_code", "result_desc", "callback_id"]].take(rows)
    out.counts["unknown_code"] = len(unknown)
    for code, group in unknown.groupby("result_code", sort=True, observed=True):
        where = ", ".join(locate(i) for i in group["callback_id"].head(3).tolist())
        more = f" and {len(group) - 3} more" if len(group) > 3 else ""
        desc = group["result_desc"].dropna()
        said = f" ({desc.iloc[0]!r})" if len(desc) else ""
        out.problems.append(
            Problem(
                where + more,
                "unknown_code",
                f"ResultCode {code}{said} is not in the catalogue: {len(group)} callback(s)",
            )
        )


def empty(source: str, problems: list[Problem]) -> Outcomes:
    """No records at all, and why."""
    out = from_records(frames.empty_records("callbacks"), None, None, source, problems, {"malformed": len(problems)})
    out.records = 0
    return out
