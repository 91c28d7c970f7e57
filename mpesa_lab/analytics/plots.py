"""Matplotlib figures of outcomes, one function each: titled, labelled, readable at notebook width.

Each takes a frame (transactions, or callbacks where said), returns the ``Figure``, and writes a
PNG when ``save`` is a path. Headless (no display, as in the CLI or CI) they draw with Agg.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: one colour per catalogue category (colour-blind friendly, Okabe-Ito)
CATEGORY_COLOURS = {
    "success": "#009E73",
    "customer_action": "#E69F00",
    "customer_funds": "#D55E00",
    "limits": "#CC79A7",
    "merchant_config": "#0072B2",
    "system": "#56B4E9",
    "pending": "#999999",
    "rejected": "#000000",
    "unknown": "#6A3D9A",
}
CATEGORY_LABELS = {
    "success": "success",
    "customer_action": "customer action",
    "customer_funds": "customer funds",
    "limits": "limits",
    "merchant_config": "merchant configuration",
    "system": "system",
    "pending": "pending",
    "rejected": "refused by Daraja",
    "unknown": "unknown code",
}
WIDTH = 9.0  # inches: fits a notebook cell at 100 dpi


def percent(share: float) -> str:
    """A share as a percentage a reader can trust: whole percents from 10 %, one decimal below
    (11 of 2,500 is "0.4%", not "0%"), "<0.1%" for a non-zero share that would round to zero."""
    if share != share:  # NaN
        return "n/a"
    if share == 0 or share >= 0.1:
        return f"{share:.0%}"
    if share < 0.001:
        return "<0.1%"
    return f"{share:.1%}"


def literal(text: str) -> str:
    """Text from data drawn as it is: a ``$`` would start matplotlib's mathtext (``$x^$`` once
    broke the report), so every one is escaped."""
    return str(text).replace("$", r"\$")


def _pyplot():  # noqa: ANN202 - the pyplot module
    import matplotlib

    if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Figure, save: str | os.PathLike[str] | None) -> Figure:
    fig.tight_layout()
    if save is not None:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=110, bbox_inches="tight")
    return fig


def _empty(ax, text: str) -> None:  # noqa: ANN001
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def result_codes(
    tx: pd.DataFrame,
    *,
    top: int = 15,
    save: str | os.PathLike[str] | None = None,
    title: str = "Outcomes by result code",
) -> Figure:
    """Horizontal bars, one per result code with its description, coloured by category."""
    from mpesa_lab.analytics.analyses import summary

    plt = _pyplot()
    table = summary(tx).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(WIDTH, 1.2 + 0.42 * max(len(table), 1)))
    if table.empty:
        _empty(ax, "no transactions")
        ax.set_title(title)
        return _finish(fig, save)
    labels = []
    for _, row in table.iterrows():
        desc = row["result_desc"] if isinstance(row["result_desc"], str) else row["result_name"]
        desc = desc if len(desc) <= 48 else desc[:47] + "…"
        label = f"{row['result_code']}  {desc}" if isinstance(row["result_code"], str) else desc
        labels.append(literal(label))
    colours = [CATEGORY_COLOURS.get(c, "#777777") for c in table["category"]]
    bars = ax.barh(labels, table["count"], color=colours)
    for bar, count, share in zip(bars, table["count"], table["share"], strict=True):
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {count:,} ({percent(share)})",
            va="center",
            fontsize=9,
        )
    ax.set_xlabel("transactions")
    ax.set_title(f"{title} ({len(tx):,} transactions)")
    ax.set_xlim(0, table["count"].max() * 1.22)
    ax.spines[["top", "right"]].set_visible(False)
    from matplotlib.patches import Patch

    present = list(dict.fromkeys(table["category"].iloc[::-1]))
    ax.legend(
        handles=[Patch(color=CATEGORY_COLOURS.get(c, "#777777"), label=CATEGORY_LABELS.get(c, c)) for c in present],
        loc="lower right",
        fontsize=8,
        title="category",
        title_fontsize=8,
        frameon=False,
    )
    return _finish(fig, save)


def success_rate(
    tx: pd.DataFrame,
    *,
    freq: str = "1D",
    save: str | os.PathLike[str] | None = None,
    title: str = "Success rate over time",
) -> Figure:
    """Share of transactions paid per time bin (line), with the number of transactions (bars)."""
    from mpesa_lab.analytics.analyses import success_rate as rates

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8))
    table = rates(tx, freq=freq) if len(tx) else None
    if table is None or table.empty:
        _empty(ax, "no transactions with a time")
        ax.set_title(title)
        return _finish(fig, save)
    when = table.columns[0]
    x = table[when].dt.tz_localize(None)
    import pandas as pd

    width = x.diff().median() if len(x) > 1 else pd.Timedelta(freq)
    x = x + width / 2  # each bin drawn at its middle
    ax2 = ax.twinx()
    ax2.bar(x, table["transactions"], width=width * 0.8, color="#DDDDDD", label="transactions", zorder=0)
    ax2.set_ylabel("transactions", color="#777777")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(x, table["success_rate"] * 100, marker="o", color=CATEGORY_COLOURS["success"], label="paid %")
    overall = (tx["status"] == "paid").mean() * 100
    ax.axhline(overall, color="#555555", linestyle="--", linewidth=1, label=f"overall {overall:.1f} %")
    ax.set_ylim(0, 105)
    ax.set_ylabel("paid (% of transactions)")
    ax.set_xlabel(f"{when.replace('_', ' ')} (Nairobi time), bins of {freq}")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    return _finish(fig, save)


def latency(
    tx: pd.DataFrame,
    *,
    bins: int = 40,
    save: str | os.PathLike[str] | None = None,
    title: str = "Latency: push to callback",
) -> Figure:
    """Histogram of seconds from push to first callback, with the median and p95 marked."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    values = tx["latency_s"].dropna().to_numpy(dtype="float64")
    if not len(values):
        _empty(ax, "no latencies (the source has no push times)")
        ax.set_title(title)
        return _finish(fig, save)
    ax.hist(values, bins=bins, color="#0072B2", alpha=0.85)
    for p, style in ((50, "-"), (95, "--")):
        v = float(np.percentile(values, p))
        ax.axvline(v, color="#D55E00", linestyle=style, linewidth=1.2, label=f"p{p} {v:.1f} s")
    ax.set_xlabel("seconds from push to first callback")
    ax.set_ylabel("transactions")
    ax.set_title(f"{title} ({len(values):,} pushes answered by a callback)")
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _finish(fig, save)


def funnel(
    tx: pd.DataFrame, *, save: str | os.PathLike[str] | None = None, title: str = "Funnel: requested to paid"
) -> Figure:
    """Requested -> accepted by Daraja -> callback received -> paid, as shrinking bars."""
    from mpesa_lab.analytics.analyses import funnel as stages

    plt = _pyplot()
    table = stages(tx)
    table = table[table["count"].notna()]
    fig, ax = plt.subplots(figsize=(WIDTH, 0.9 + 0.55 * max(len(table), 1)))
    if table.empty or int(table["count"].max()) == 0:
        _empty(ax, "no transactions")
        ax.set_title(title)
        return _finish(fig, save)
    counts = table["count"].astype(int).to_numpy()
    colours = ["#56B4E9", "#0072B2", "#E69F00", "#009E73"][-len(table) :]
    ax.barh(table["stage"][::-1], counts[::-1], color=colours[::-1])
    top = counts[0]
    for i, count in enumerate(counts[::-1]):
        ax.text(count, i, f" {count:,} ({percent(count / top)})", va="center", fontsize=9)
    ax.set_xlim(0, top * 1.2)
    ax.set_xlabel("transactions")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    return _finish(fig, save)


def by_hour(
    tx: pd.DataFrame, *, save: str | os.PathLike[str] | None = None, title: str = "Outcomes by hour of day"
) -> Figure:
    """Paid, cancel and no-answer rates per hour of day (lines), with the transactions (bars)."""
    from mpesa_lab.analytics.questions import by_hour as hours

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8))
    table = hours(tx)
    if not table["transactions"].sum():
        _empty(ax, "no transactions with a time")
        ax.set_title(title)
        return _finish(fig, save)
    ax2 = ax.twinx()
    ax2.bar(table["hour"], table["transactions"], width=0.8, color="#DDDDDD", zorder=0)
    ax2.set_ylabel("transactions", color="#777777")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    busy = table["transactions"] >= 10  # a rate of 2 pushes is noise: drawn only where >= 10
    for column, label, colour in (
        ("success_rate", "paid", CATEGORY_COLOURS["success"]),
        ("cancel_rate", "cancelled (1032)", CATEGORY_COLOURS["customer_action"]),
        ("no_answer_rate", "no answer (1037, 1019, 1036)", "#0072B2"),
    ):
        ax.plot(table["hour"], (table[column] * 100).where(busy), marker="o", ms=3, color=colour, label=label)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlim(-0.6, 23.6)
    ax.set_ylim(0, 100)
    ax.set_xlabel("hour of day (Nairobi); rates drawn where >= 10 transactions")
    ax.set_ylabel("% of the hour's transactions")
    ax.set_title(title)
    ax.legend(loc="center left", fontsize=8, frameon=False)
    return _finish(fig, save)


def hour_heatmap(
    tx: pd.DataFrame,
    *,
    value: str = "transactions",
    save: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Hour of day (rows) by day of week (columns), shaded by ``value`` (see
    ``questions.hour_heatmap``, which gives the numbers)."""
    import numpy as np

    from mpesa_lab.analytics.questions import hour_heatmap as grid

    plt = _pyplot()
    table = grid(tx, value=value)
    title = title or f"{value.replace('_', ' ')} by hour and day of week"
    fig, ax = plt.subplots(figsize=(WIDTH * 0.6, 6.0))
    values = table.to_numpy(dtype="float64")
    if not np.nansum(values):
        _empty(ax, "no transactions with a time")
        ax.set_title(title)
        return _finish(fig, save)
    # No number in each cell: 168 labels tripled the drawing time; the table has the numbers.
    image = ax.imshow(values, aspect="auto", cmap="Blues" if value == "transactions" else "viridis")
    ax.set_xticks(range(7), list(table.columns))
    ax.set_yticks(range(24), [f"{h:02d}:00" for h in range(24)])
    ax.set_ylabel("hour of day (Nairobi)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.6, label=value.replace("_", " "))
    return _finish(fig, save)


def latency_by_code(
    tx: pd.DataFrame,
    *,
    top: int = 12,
    save: str | os.PathLike[str] | None = None,
    title: str = "Latency by result code: push to callback",
) -> Figure:
    """One row per result code (most frequent first): a bar from p50 to p90, a tick at p99,
    coloured by the code's category."""
    from mpesa_lab.analytics.questions import latency_by_code as table_of

    plt = _pyplot()
    table = table_of(tx).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(WIDTH, 1.2 + 0.4 * max(len(table), 1)))
    if table.empty:
        _empty(ax, "no latencies (the source has no push times)")
        ax.set_title(title)
        return _finish(fig, save)
    from mpesa_lab.codes import result_entry

    labels = [
        literal(f"{c}  {n} ({t:,})")
        for c, n, t in zip(table["result_code"], table["result_name"], table["transactions"], strict=True)
    ]
    colours = [CATEGORY_COLOURS.get(result_entry(c).category or "", "#777777") for c in table["result_code"]]
    y = range(len(table))
    ax.barh(y, table["p90_s"] - table["p50_s"], left=table["p50_s"], color=colours, height=0.55)
    ax.scatter(table["p50_s"], y, color="black", s=12, zorder=3, label="p50")
    ax.scatter(table["p99_s"], y, color="black", marker="|", s=90, zorder=3, label="p99")
    ax.set_yticks(list(y), labels)
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds from push to first callback (bar: p50 to p90, coloured by category)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _finish(fig, save)


#: Every plot by name (the report draws them in PLOTS order); each takes the transactions frame.
ALL: dict[str, Callable[..., Any]] = {
    "result_codes": result_codes,
    "success_rate": success_rate,
    "latency": latency,
    "funnel": funnel,
    "by_hour": by_hour,
    "hour_heatmap": hour_heatmap,
    "latency_by_code": latency_by_code,
}
