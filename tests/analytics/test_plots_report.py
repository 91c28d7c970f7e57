"""Plots and the report render: files exist, are PNGs, the page references every image and
lists every code present; the CLI does the same and stays light at start-up."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mpesa_lab import analytics
from mpesa_lab.analytics import plots
from mpesa_lab.cli import main

ROOT = Path(__file__).resolve().parents[2]
MESSY = ROOT / "data" / "messy_callbacks.jsonl"
WEEK = ROOT / "data" / "week"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", sorted(plots.ALL))
def test_each_plot_saves_a_png_and_draws_on_empty_input(tmp_path, name):
    out = analytics.load(MESSY)
    fig = plots.ALL[name](out.transactions, save=tmp_path / f"{name}.png")
    data = (tmp_path / f"{name}.png").read_bytes()
    assert data.startswith(PNG) and len(data) > 5_000
    assert fig.axes[0].get_title()  # titled
    empty = out.transactions.iloc[0:0]
    plots.ALL[name](empty, save=tmp_path / f"{name}-empty.png")
    assert (tmp_path / f"{name}-empty.png").read_bytes().startswith(PNG)


def test_result_codes_plot_labels_codes_with_descriptions():
    out = analytics.load(MESSY)
    fig = plots.result_codes(out.transactions)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert any(label.startswith("1032  ") and "cancelled" in label for label in labels)
    assert any(label.startswith("SFC_IC0003") for label in labels)


def _check_page(index: Path, codes: set[str]) -> str:
    page = index.read_text()
    from mpesa_lab.analytics.html_report import PLOTS

    for name, _ in PLOTS:
        png = index.parent / f"{name}.png"
        assert png.read_bytes().startswith(PNG)
        assert f"data-file='{name}.png'" in page and f"href='{name}.png'" in page
    listed = set(re.findall(r"<td><code>([^<]+)</code></td>", page))
    assert codes <= listed, codes - listed
    return page


def test_report_of_the_messy_sample(tmp_path):
    index = analytics.report(MESSY, tmp_path / "r")
    out = analytics.load(MESSY)
    page = _check_page(index, set(out.transactions["result_code"].dropna()))
    assert "messy_callbacks.jsonl:20" in page  # the malformed lines, with where they were
    assert "4242" in page and "Every result code" in page


def test_report_of_the_week_lists_every_code_and_its_mitigation(tmp_path):
    index = analytics.report(WEEK, tmp_path / "week")
    out = analytics.load(WEEK)
    codes = set(out.transactions["result_code"].dropna()) | set(out.transactions["query_result_code"].dropna())
    page = _check_page(index, codes)
    assert "Ask the customer to top up M-PESA" in page  # mitigation of code 1
    assert "Callbacks that never arrived" in page


def test_cli_report_writes_the_page(tmp_path, capsys):
    assert main(["report", str(MESSY), "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "17 transactions" in out and (tmp_path / "cli" / "index.html").exists()
    assert main(["report", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x")]) == 2


def test_cli_help_imports_neither_pandas_nor_matplotlib():
    code = (
        "import sys; from mpesa_lab.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "try:\n    main(['report', '--help'])\nexcept SystemExit:\n    pass\n"
        "import mpesa_lab.analytics\n"
        "print(sorted(m for m in ('pandas', 'matplotlib', 'duckdb', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_cli_report_without_a_source_uses_this_folders_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--out", str(tmp_path / "none")]) == 2  # no store yet: says how
    from mpesa_lab.analytics.cli import newest_store
    from mpesa_lab.listener import CallbackStore
    from mpesa_lab.paths import folder_store_path

    CallbackStore(folder_store_path()).close()
    assert newest_store() == folder_store_path()
    capsys.readouterr()
    # An empty store: one line that says so (no page of empty plots), exit 1 (issue 18).
    assert main(["report", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "Nothing to report" in err and str(folder_store_path()) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def _section(page: str, heading: str) -> str:
    """The HTML from ``heading`` to the next heading."""
    start = page.index(heading)
    ends = [i for i in (page.find("<h2>", start + 1), page.find("<h3>", start + 1)) if i > 0]
    return page[start : min(ends) if ends else len(page)]


def test_report_of_the_week_says_what_each_number_counts(tmp_path):
    # Issue 18 (9): the callbacks tile (deliveries) beside the funnel (pushes answered); shares in
    # percent with sensible precision; times to the second; refused pushes by error code.
    from mpesa_lab.analytics import analyses
    from mpesa_lab.codes import lookup

    out = analytics.load(WEEK)
    tx, cb = out.transactions, out.callbacks
    page = analytics.report(out, tmp_path / "week").read_text()
    answered = int(analyses.funnel(tx).set_index("stage").loc["callback received", "count"])
    copies = int(cb["duplicate"].sum())
    assert len(cb) != answered  # the two numbers the page must explain
    tile = re.search(r"callbacks received<b>([\d,]+)</b><small>([^<]+)</small>", page)
    assert tile and tile.group(1) == f"{len(cb):,}"
    assert f"{answered:,} transactions answered" in tile.group(2) and f"{copies:,} duplicate" in tile.group(2)

    shortcodes = _section(page, "By shortcode")
    rates = re.findall(r"<td class='n'>([^<]*)</td>", shortcodes)
    assert any(r.endswith("%") for r in rates) and not any(re.fullmatch(r"0\.\d+", r) for r in rates)
    funnel = _section(page, "<h3>Funnel")
    assert "%" in funnel and not re.search(r">0\.\d{3}<", funnel)

    missing = _section(page, "push(es) without a callback")
    assert re.search(r"\d\d:\d\d:\d\d<", missing) and not re.search(r"\d\d:\d\d:\d\d\.\d", missing)

    refused = tx[tx["status"] == "rejected"]
    assert len(refused) and refused["error_code"].notna().all(), "every refused push has its code"
    listed = _section(page, "Pushes refused before a prompt")
    for (code, message), n in refused.groupby(["error_code", "error_message"]).size().items():
        text = html.unescape(listed)  # however the page spells an apostrophe (&#x27; or &#39;)
        assert f"<code>{code}</code>" in listed and message in text
        assert lookup(code, message).mitigation in text
        assert f"<td class='n'>{n:,}</td>" in listed


def test_shares_are_shown_with_sensible_precision():
    from mpesa_lab.analytics.plots import percent

    assert [percent(x) for x in (0, 11 / 2500, 0.0004, 0.05, 0.1, 0.755, 1.0)] == [
        "0%",
        "0.4%",
        "<0.1%",
        "5.0%",
        "10%",
        "76%",
        "100%",
    ]
    out = analytics.load(WEEK)
    fig = plots.result_codes(out.transactions, top=40)
    shown = [t.get_text() for t in fig.axes[0].texts]
    assert shown and not any(t.endswith("(0%)") for t in shown), shown  # every bar has at least one


def test_report_of_the_week_answers_the_weeks_questions(tmp_path):
    # Issue 22: hours, latency by code, queries, retries, reconciliation, per shortcode; each
    # table says what it counts, the numbers agree, and the page says the data is simulated.
    from mpesa_lab.analytics import questions

    out = analytics.load(WEEK)
    tx = out.transactions
    page = analytics.report(out, tmp_path / "week").read_text()
    assert "About this data:</b> Simulated production traffic, not the Daraja sandbox" in page
    for heading in (
        "By hour of day: transactions by the hour of their push",
        "Latency by result code (seconds): transactions answered by a callback",
        "Callbacks and STK queries: transactions (one per push)",
        "Retries after 1032 / 1037: chains whose first push",
        "Reconciliation: amount paid against amount requested: paid transactions",
        "Paid with another amount than requested",
        "By shortcode: transactions (one per push) per shortcode",
    ):
        assert heading in html.unescape(page), heading
    for name in ("by_hour.png", "hour_heatmap.png", "latency_by_code.png"):
        assert (tmp_path / "week" / name).stat().st_size > 1000 and f"data-file='{name}'" in page
    hours = _section(page, "<h3>By hour of day")
    counts = [
        int(n.replace(",", "")) for n in re.findall(r"<tr><td class='n'>\d+</td><td class='n'>([\d,]+)</td>", hours)
    ]
    assert len(counts) == 24 and sum(counts) == len(tx)
    shortcodes = _section(page, "<h3>By shortcode")
    assert "till 174381 (Buy Goods)" in shortcodes and "paybill" in shortcodes
    mismatched = questions.amount_mismatches(tx)
    listed = _section(page, "<h3>Paid with another amount")
    assert len(mismatched) and all(r in listed for r in mismatched["receipt"])


def test_report_of_a_callback_log_says_what_is_not_known(tmp_path):
    page = html.unescape(analytics.report(MESSY, tmp_path / "r").read_text())
    assert "retries not known: the source has no pushes" in page
    assert "latency not known" in page and "About this data" not in page
