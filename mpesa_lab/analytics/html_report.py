"""The HTML report (`mpesa-lab report`): one self-contained page plus the PNGs beside it.

The page embeds every plot (so it can be mailed as one file) and links the PNG written next to
it; it lists every result code present with what it means and what to do, the funnel, latency,
the callbacks that never arrived, duplicates, and what in the input could not be read.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab.analytics.outcomes import Outcomes, Progress
from mpesa_lab.analytics.sources import load

if TYPE_CHECKING:
    import pandas as pd

PLOTS = (("result_codes", "Outcomes by result code"), ("success_rate", "Success rate over time"),
         ("latency", "Latency: push to callback"), ("funnel", "Funnel"))

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1b1b1b;padding:0 1rem;line-height:1.45}
h1{margin-bottom:.2rem}.muted{color:#666}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #ddd;border-radius:8px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem;font-size:.9rem}
th,td{border-bottom:1px solid #e4e4e4;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f6f6}td{overflow-wrap:anywhere}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;overflow-wrap:normal}
.scroll{max-width:100%;overflow-x:auto}.card small{display:block;color:#666;font-size:.8rem}
figure{margin:1rem 0 2rem}figure img{max-width:100%;border:1px solid #eee}
.cat{display:inline-block;width:.75rem;height:.75rem;border-radius:2px;margin-right:.35rem;vertical-align:middle}
code{background:#f3f3f3;padding:0 .25rem;border-radius:3px}
"""


def report(source: Any, out_dir: str | os.PathLike[str], *, title: str | None = None,
           freq: str | None = None, progress: Progress | None = None) -> Path:
    """Load ``source`` (anything ``load`` takes, or ``Outcomes``), write ``out_dir/index.html``
    and one PNG per plot; return the page's path."""
    from mpesa_lab.analytics import analyses, plots

    outcomes = source if isinstance(source, Outcomes) else load(source, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tx, cb = outcomes.transactions, outcomes.callbacks
    freq = freq or _pick_freq(tx)
    images = {}
    import matplotlib.pyplot as plt

    for name, _ in PLOTS:
        kwargs = {"freq": freq} if name == "success_rate" else {}
        fig = plots.ALL[name](tx, save=out / f"{name}.png", **kwargs)
        plt.close(fig)
        images[name] = out / f"{name}.png"

    summary = analyses.summary(tx)
    sections = [
        _header(outcomes, title, tx),
        _figure("result_codes", images),
        "<h2>Every result code, what it means, what to do</h2>",
        _summary_table(summary),
        _refusals(analyses.refusals(tx)),
        _figure("success_rate", images),
        _table(analyses.success_rate(tx, by="shortcode"), "By shortcode",
               percent=("success_rate", "settled_success_rate")) if tx["shortcode"].notna().any() else "",
        _figure("latency", images),
        _table(analyses.latency(tx), "Latency (seconds), pushes answered by a callback"),
        _figure("funnel", images),
        _table(analyses.funnel(tx), "Funnel", percent=("share_of_first", "kept_from_previous")),
        _missing(analyses.missing_callbacks(tx)),
        _table(analyses.duplicates(cb).head(50), "Duplicated callbacks (same CheckoutRequestID more than once)",
               empty="No duplicated callbacks."),
        _table(analyses.unknown_callbacks(cb)[["received_at", "checkout_request_id", "result_code",
                                               "result_desc"]].head(50),
               "Callbacks for pushes this source does not know", empty="None."),
        _table(_phones(tx), "Phones with the most failures", empty="No failures."),
        _problems(outcomes),
    ]
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title or 'M-Pesa Express outcomes')}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(sections)}<p class='muted'>Made by mpesa-lab. Explain any code: "
            f"<code>mpesa-lab codes CODE</code>.</p></body></html>")
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _pick_freq(tx: "pd.DataFrame") -> str:
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


def _esc(value: Any) -> str:
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
        return html.escape(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):,.3f}" if abs(value) < 1 else f"{float(value):,.2f}"
    return html.escape(str(value))


def _header(outcomes: Outcomes, title: str | None, tx: "pd.DataFrame") -> str:
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
    cards = [("transactions", f"{len(tx):,}", ""), ("paid", f"{paid:,}", ""),
             ("success rate", f"{paid / len(tx):.1%}" if len(tx) else "n/a", "paid / transactions"),
             ("refused", f"{refused:,}", "no prompt was sent; codes below"),
             ("callbacks received", f"{len(cb):,}", ", ".join(why)),
             ("unreadable records", f"{outcomes.malformed:,}", "")]
    times = tx["pushed_at"].dropna()
    if times.empty:
        times = tx["callback_at"].dropna()
    span = (f"{times.min():%Y-%m-%d %H:%M} to {times.max():%Y-%m-%d %H:%M} (Nairobi)"
            if not times.empty else "no times in the source")
    return (f"<h1>{html.escape(title or 'M-Pesa Express outcomes')}</h1>"
            f"<p class='muted'>Source: <code>{html.escape(outcomes.source)}</code> &middot; {span}</p>"
            "<div class='cards'>" + "".join(
                f"<div class='card'>{k}<b>{v}</b>{f'<small>{html.escape(note)}</small>' if note else ''}</div>"
                for k, v, note in cards)
            + "</div>")


def _figure(name: str, images: dict[str, Path]) -> str:
    path = images[name]
    data = base64.b64encode(path.read_bytes()).decode()
    caption = dict(PLOTS)[name]
    return (f"<figure><img src='data:image/png;base64,{data}' alt='{caption}' data-file='{path.name}'>"
            f"<figcaption class='muted'>{caption} &middot; <a href='{path.name}'>{path.name}</a></figcaption></figure>")


def _summary_table(summary: "pd.DataFrame") -> str:
    from mpesa_lab.analytics.plots import CATEGORY_COLOURS, CATEGORY_LABELS

    rows = []
    for _, r in summary.iterrows():
        colour = CATEGORY_COLOURS.get(r["category"], "#777")
        rows.append(
            f"<tr><td>{'<code>' + _esc(r['result_code']) + '</code>' if isinstance(r['result_code'], str) else ''}</td><td>{_esc(r['result_name'])}</td>"
            f"<td><span class='cat' style='background:{colour}'></span>{_esc(CATEGORY_LABELS.get(r['category'], r['category']))}</td>"
            f"<td>{_esc(r['result_desc'])}</td><td class='n'>{r['count']:,}</td><td class='n'>{r['share']:.1%}</td>"
            f"<td>{_esc(r['explanation'])}</td><td>{'' if r['result_code'] == '0' else _esc(r['mitigation'])}</td></tr>")
    head = ("<tr><th>code</th><th>name</th><th>category</th><th>as Daraja worded it</th><th>count</th>"
            "<th>share</th><th>what it means</th><th>what to do</th></tr>")
    return f"<div class='scroll'><table class='codes'>{head}{''.join(rows)}</table></div>"


def _table(df: "pd.DataFrame", caption: str, *, empty: str = "Nothing to show.",
           percent: tuple[str, ...] = ()) -> str:
    """A frame as an HTML table; ``percent`` columns (shares 0..1) shown as percentages."""
    from mpesa_lab.analytics.plots import percent as as_percent

    if df.empty:
        return f"<h3>{html.escape(caption)}</h3><p class='muted'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    shown = [c in percent for c in df.columns]

    def cell(v: Any, as_share: bool) -> str:
        if as_share:
            return f"<td class='n'>{'' if _esc(v) == '' else as_percent(float(v))}</td>"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return f"<td class='n'>{_esc(v)}</td>"
        return f"<td>{_esc(v)}</td>"

    body = "".join("<tr>" + "".join(cell(v, p) for v, p in zip(row, shown)) + "</tr>"
                   for row in df.itertuples(index=False))
    return (f"<h3>{html.escape(caption)}</h3><div class='scroll'><table>"
            f"{head and '<tr>' + head + '</tr>'}{body}</table></div>")


def _refusals(refused: "pd.DataFrame") -> str:
    """Pushes refused before a prompt, by Daraja's errorCode, with meaning and mitigation."""
    if refused.empty:
        return ""
    rows = "".join(
        f"<tr><td>{'<code>' + _esc(r['error_code']) + '</code>' if isinstance(r['error_code'], str) else '(none)'}</td>"
        f"<td>{_esc(r['error_message'])}</td><td class='n'>{r['count']:,}</td>"
        f"<td class='n'>{r['share']:.1%}</td><td>{_esc(r['explanation'])}</td><td>{_esc(r['mitigation'])}</td></tr>"
        for _, r in refused.iterrows())
    head = ("<tr><th>error code</th><th>as Daraja worded it</th><th>count</th><th>share of refused</th>"
            "<th>what it means</th><th>what to do</th></tr>")
    return ("<h2>Pushes refused before a prompt, by error code</h2>"
            "<p>Daraja (or the client, for a request Daraja would refuse) answered these pushes with an "
            "error: no prompt reached the phone. Explain any code: <code>mpesa-lab codes CODE</code>.</p>"
            f"<div class='scroll'><table class='refusals'>{head}{rows}</table></div>")


def _missing(missing: "pd.DataFrame") -> str:
    intro = ("<h2>Callbacks that never arrived</h2><p>Daraja accepted these pushes but no callback "
             "came. The STK query is the fallback: its answer is shown where one was asked.</p>")
    return intro + _table(missing.head(100), f"{len(missing):,} push(es) without a callback",
                          empty="Every accepted push got its callback.")


def _phones(tx: "pd.DataFrame") -> "pd.DataFrame":
    from mpesa_lab.analytics.analyses import success_rate

    rates = success_rate(tx.loc[tx["phone"].notna(), ["phone", "status", "pushed_at"]], by="phone")
    rates = rates[rates["failed"] > 0].sort_values(["failed", "transactions"], ascending=False)
    return rates.head(10)


def _problems(outcomes: Outcomes) -> str:
    if not outcomes.problems:
        return "<h2>Input</h2><p class='muted'>Every record was read; no code outside the catalogue.</p>"
    counts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in sorted(outcomes.counts.items()) if v)
    return (f"<h2>Input: what could not be used</h2><p>{html.escape(counts)}. Nothing was dropped "
            "silently; the first ones are listed with where they were.</p>"
            + _table(outcomes.problems_frame().head(100), "Problems"))

