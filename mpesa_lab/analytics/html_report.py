"""The HTML report (`mpesa-lab report`): one self-contained page plus the PNGs beside it.

The page embeds every plot (so it can be mailed as one file) and links the PNG written next to
it; it lists every result code present with what it means and what to do, the funnel, latency,
the callbacks that never arrived, duplicates, and what in the input could not be read. This
module computes the text of every number and cell; ``templates/report/page.html`` lays it out.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab._templates import render
from mpesa_lab.analytics.outcomes import Outcomes, Progress
from mpesa_lab.analytics.sources import load

if TYPE_CHECKING:
    import pandas as pd

PLOTS = (
    ("result_codes", "Outcomes by result code"),
    ("success_rate", "Success rate over time"),
    ("latency", "Latency: push to callback"),
    ("funnel", "Funnel"),
    ("by_hour", "Outcomes by hour of day"),
    ("hour_heatmap", "Transactions by hour and day of week"),
    ("latency_by_code", "Latency by result code"),
)


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = False  # right-aligned, tabular figures


@dataclass(frozen=True)
class Table:
    """A frame made ready for the page: caption, column names, cells as text (or ``empty``)."""

    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    empty: str

    @property
    def shown(self) -> bool:
        return bool(self.columns) and bool(self.rows)


@dataclass(frozen=True)
class Figure:
    name: str
    caption: str
    file: str
    png_base64: str  # embedded so the page travels as one file


def report(
    source: Any,
    out_dir: str | os.PathLike[str],
    *,
    title: str | None = None,
    freq: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Load ``source`` (anything ``load`` takes, or ``Outcomes``), write ``out_dir/index.html``
    and one PNG per plot; return the page's path."""
    from mpesa_lab.analytics import analyses, plots, questions

    outcomes = source if isinstance(source, Outcomes) else load(source, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tx, cb = outcomes.transactions, outcomes.callbacks
    freq = freq or _pick_freq(tx)
    figures = {}
    import matplotlib.pyplot as plt

    for name, caption in PLOTS:
        kwargs = {"freq": freq} if name == "success_rate" else {}
        path = out / f"{name}.png"
        fig = plots.ALL[name](tx, save=path, **kwargs)
        plt.close(fig)
        figures[name] = Figure(name, caption, path.name, base64.b64encode(path.read_bytes()).decode("ascii"))

    missing = analyses.missing_callbacks(tx)
    page = render(
        "report/page.html",
        title=title or "M-Pesa Express outcomes",
        source=outcomes.source,
        span=_span(tx),
        tiles=_tiles(outcomes, tx),
        figures=figures,
        codes=_code_rows(analyses.summary(tx)),
        refusals=_refusal_rows(analyses.refusals(tx)),
        about=_about(outcomes.source),
        by_shortcode=_noted(
            questions.by_shortcode(tx)[list(SHORTCODE_COLUMNS)], "By shortcode", percent=("success_rate",)
        )
        if tx["shortcode"].notna().any()
        else None,
        by_hour=_noted(
            questions.by_hour(tx), "By hour of day", percent=("success_rate", "cancel_rate", "no_answer_rate")
        ),
        latency_by_code=_noted(questions.latency_by_code(tx), "Latency by result code (seconds)"),
        callback_funnel=_noted(questions.callback_funnel(tx), "Callbacks and STK queries", percent=_SHARES),
        retries=_noted(
            questions.retry_conversion(tx), "Retries after 1032 / 1037", percent=("conversion", "recovered")
        ),
        reconciliation=_noted(questions.reconciliation(tx), "Reconciliation: amount paid against amount requested"),
        mismatches=_table(
            questions.amount_mismatches(tx).head(100),
            "Paid with another amount than requested",
            empty="Every paid callback carried the requested amount (or none to compare).",
        ),
        latency=_table(analyses.latency(tx), "Latency (seconds), pushes answered by a callback"),
        funnel=_table(analyses.funnel(tx), "Funnel", percent=("share_of_first", "kept_from_previous")),
        missing=_table(
            missing.head(100),
            f"{len(missing):,} push(es) without a callback",
            empty="Every accepted push got its callback.",
        ),
        duplicates=_table(
            analyses.duplicates(cb).head(50),
            "Duplicated callbacks (same CheckoutRequestID more than once)",
            empty="No duplicated callbacks.",
        ),
        strangers=_table(
            analyses.unknown_callbacks(cb)[["received_at", "checkout_request_id", "result_code", "result_desc"]].head(
                50
            ),
            "Callbacks for pushes this source does not know",
            empty="None.",
        ),
        phones=_table(_phones(tx), "Phones with the most failures", empty="No failures."),
        problem_counts=", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in sorted(outcomes.counts.items()) if v)
        if outcomes.problems
        else None,
        problems=_table(outcomes.problems_frame().head(100), "Problems") if outcomes.problems else None,
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


_SHARES = ("share_of_accepted", "share_of_received")
#: what the page shows of ``questions.by_shortcode`` (all of it is wider than the text)
SHORTCODE_COLUMNS = (
    "shortcode",
    "kind",
    "transactions",
    "paid",
    "cancelled",
    "no answer",
    "success_rate",
    "deliveries",
    "amount_paid",
    "p50_latency_s",
)


def _noted(df: pd.DataFrame, caption: str, *, percent: tuple[str, ...] = ()) -> Table:
    """A table whose caption says what it counts (the analysis's ``attrs["note"]``)."""
    note = df.attrs.get("note")
    return _table(df, f"{caption}: {note}" if note else caption, empty=note or "Nothing to show.", percent=percent)


def _about(source: str) -> str | None:
    """What a dataset folder says it is (its ABOUT.md: e.g. "simulated production traffic")."""
    path = Path(source)
    try:
        text = (path / "ABOUT.md").read_text(encoding="utf-8", errors="replace") if path.is_dir() else None
    except OSError:
        return None
    return " ".join(text.split())[:600] or None if text else None


def _pick_freq(tx: pd.DataFrame) -> str:
    times = tx["pushed_at"].dropna()
    if times.empty:
        times = tx["callback_at"].dropna()
    if times.empty:
        return "1D"
    span = (times.max() - times.min()).total_seconds()
    for seconds, freq in ((2 * 3600, "5min"), (2 * 86400, "1h"), (20 * 86400, "6h")):
        if span <= seconds:
            return freq
    return "1D"


def _text(value: Any) -> str:
    """A cell's text as a reader reads it: nothing for missing, times to the second, 1,234."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    try:
        import pandas as pd

        if value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
            return ""
    except (TypeError, ValueError):
        pass
    import numbers
    from datetime import datetime

    if isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):  # pandas' Timestamp too: to the second, as a reader reads it
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        number = float(value)
        return f"{number:,.3f}" if abs(number) < 1 else f"{number:,.2f}"
    return str(value)


def _span(tx: pd.DataFrame) -> str:
    times = tx["pushed_at"].dropna()
    if times.empty:
        times = tx["callback_at"].dropna()
    return (
        f"{times.min():%Y-%m-%d %H:%M} to {times.max():%Y-%m-%d %H:%M} (Nairobi)"
        if not times.empty
        else "no times in the source"
    )


def _tiles(outcomes: Outcomes, tx: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The headline numbers: (label, value, note)."""
    paid = int((tx["status"] == "paid").sum())
    refused = int((tx["status"] == "rejected").sum())
    cb = outcomes.callbacks
    answered = int((tx["callbacks"] > 0).sum())
    copies, strangers = int(cb["duplicate"].sum()), int(cb["unknown"].sum())
    # The callbacks tile counts deliveries; the funnel and latency count pushes answered: say both.
    why = [f"{answered:,} transactions answered"]
    if copies:
        why.append(f"{copies:,} duplicate cop{'y' if copies == 1 else 'ies'}")
    if strangers:
        why.append(f"{strangers:,} for pushes not in this source")
    return [
        ("transactions", f"{len(tx):,}", ""),
        ("paid", f"{paid:,}", ""),
        ("success rate", f"{paid / len(tx):.1%}" if len(tx) else "n/a", "paid / transactions"),
        ("refused", f"{refused:,}", "no prompt was sent; codes below"),
        ("callbacks received", f"{len(cb):,}", ", ".join(why)),
        ("unreadable records", f"{outcomes.malformed:,}", ""),
    ]


def _code_rows(summary: pd.DataFrame) -> list[dict[str, str | None]]:
    """Every result code present: its words, category (and colour), count, share, meaning, fix."""
    from mpesa_lab.analytics.plots import CATEGORY_COLOURS, CATEGORY_LABELS

    return [
        {
            "code": r["result_code"] if isinstance(r["result_code"], str) else None,
            "name": _text(r["result_name"]),
            "colour": CATEGORY_COLOURS.get(r["category"], "#777"),
            "category": _text(CATEGORY_LABELS.get(r["category"], r["category"])),
            "desc": _text(r["result_desc"]),
            "count": f"{r['count']:,}",
            "share": f"{r['share']:.1%}",
            "explanation": _text(r["explanation"]),
            "mitigation": "" if r["result_code"] == "0" else _text(r["mitigation"]),
        }
        for _, r in summary.iterrows()
    ]


def _refusal_rows(refused: pd.DataFrame) -> list[dict[str, str | None]]:
    """Pushes refused before a prompt, by Daraja's errorCode, with meaning and mitigation."""
    return [
        {
            "code": r["error_code"] if isinstance(r["error_code"], str) else None,
            "message": _text(r["error_message"]),
            "count": f"{r['count']:,}",
            "share": f"{r['share']:.1%}",
            "explanation": _text(r["explanation"]),
            "mitigation": _text(r["mitigation"]),
        }
        for _, r in refused.iterrows()
    ]


def _table(df: pd.DataFrame, caption: str, *, empty: str = "Nothing to show.", percent: tuple[str, ...] = ()) -> Table:
    """A frame as a table's text; ``percent`` columns (shares 0..1) shown as percentages."""
    from mpesa_lab.analytics.plots import percent as as_percent

    if df.empty:
        return Table(caption, [], [], empty)
    shown = [c in percent for c in df.columns]

    def cell(v: Any, as_share: bool) -> Cell:
        if as_share:
            return Cell("" if _text(v) == "" else as_percent(float(v)), numeric=True)
        return Cell(_text(v), numeric=isinstance(v, (int, float)) and not isinstance(v, bool))

    rows = [[cell(v, p) for v, p in zip(row, shown, strict=True)] for row in df.itertuples(index=False)]
    return Table(caption, [str(c) for c in df.columns], rows, empty)


def _phones(tx: pd.DataFrame) -> pd.DataFrame:
    from mpesa_lab.analytics.analyses import success_rate

    rates = success_rate(tx.loc[tx["phone"].notna(), ["phone", "status", "pushed_at"]], by="phone")
    rates = rates[rates["failed"] > 0].sort_values(["failed", "transactions"], ascending=False)
    return rates.head(10)
