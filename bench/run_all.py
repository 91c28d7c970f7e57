"""Run every benchmark, then write the latest numbers into bench/README.md.

    python bench/run_all.py              # full runs (a few minutes; the soak bench's short run)
    python bench/run_all.py --quick      # smaller runs (a minute or two)
    python bench/run_all.py --long-soak  # the emulator soak at full length (1,000,000 pushes or 10 min)
    python bench/run_all.py --table      # only rebuild the README table from bench/results/
    python bench/run_all.py --quick --baseline-src /tmp/base   # before and after, side by side

``--baseline-src DIR`` takes another source tree of this project (e.g. ``git worktree add
/tmp/base main~5``) and runs every benchmark twice, the baseline's and the current one's,
interleaved (baseline, current, next benchmark...) so both see the same machine. Each tree runs
its own bench scripts against its own package (PYTHONPATH and the working folder are the tree), so
a refactor that moves modules is measured fairly; the side-by-side table is printed and written
to bench/results/baseline_comparison.md. ``--only`` picks benchmarks, ``--args`` passes extra
arguments to each (e.g. ``--only bench_analytics --args "--lines 1000000 --stores 1000000"``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BENCHES = (
    "bench_client",
    "bench_emulator",
    "bench_listener",
    "bench_analytics",
    "bench_workshop",
    "bench_startup",
    "bench_soak",
)
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _load(name: str, results: Path | None = None) -> dict:
    path = (results or RESULTS) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _get(data: dict, dotted: str) -> object:
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _fmt(value: object, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def rows(results: Path | None = None) -> list[tuple[str, str, str, str]]:
    """(what, measured, target, side by side) for the README table (from ``results``, default ours)."""
    client, emulator, listener, analytics, workshop, startup, soak = (_load(name, results) for name in BENCHES)
    start = _get(startup, "medians") or {}
    fastest = _get(startup, "minima") or {}
    tree = "current" if "current" in start else next((k for k in start if k != "python"), "current")
    python_pass = f"{_fmt(_get(startup, 'python_c_pass_min_s'), 3)} / {_fmt(_get(startup, 'python_c_pass_s'), 3)}"

    def both(key: str) -> str:
        return f"{_fmt(_get(fastest, f'{tree}.{key}'), 3)} / {_fmt(_get(start, f'{tree}.{key}'), 3)}"

    soak_run = _get(soak, "results.current") or {}
    return [
        (
            "DarajaClient pushes/s vs bare httpx.Client (same run, local endpoint)",
            f"{_fmt(_get(client, 'sync.daraja_client_pushes_per_s'))} vs {_fmt(_get(client, 'sync.bare_httpx_pushes_per_s'))}",
            ">= 0.8",
            f"ratio {_fmt(_get(client, 'sync.ratio'), 3)}",
        ),
        ("OAuth requests per 1,000 pushes", _fmt(_get(client, "oauth_requests_per_1000_pushes")), "1", ""),
        (
            "Emulator accepted pushes/s, concurrency 1 (p50 / p99 ms)",
            f"{_fmt(_get(emulator, 'phases.emulator_c1.per_second'))} "
            f"({_fmt(_get(emulator, 'phases.emulator_c1.p50_ms'), 2)} / {_fmt(_get(emulator, 'phases.emulator_c1.p99_ms'), 2)})",
            "",
            f"bare Starlette {_fmt(_get(emulator, 'phases.bare_c1.per_second'))}, ratio {_fmt(_get(emulator, 'ratio_c1'), 3)}",
        ),
        (
            "Emulator accepted pushes/s, concurrency 32 (p50 / p99 ms)",
            f"{_fmt(_get(emulator, 'phases.emulator_c32.per_second'))} "
            f"({_fmt(_get(emulator, 'phases.emulator_c32.p50_ms'), 2)} / {_fmt(_get(emulator, 'phases.emulator_c32.p99_ms'), 2)})",
            ">= 0.4 x bare",
            f"bare Starlette {_fmt(_get(emulator, 'phases.bare_c32.per_second'))}, ratio {_fmt(_get(emulator, 'ratio_c32'), 3)}",
        ),
        (
            "Completed transactions/s end to end (push -> callback received)",
            _fmt(_get(emulator, "end_to_end.completed_per_second")),
            "",
            f"p50 / p99 push->callback {_fmt(_get(emulator, 'end_to_end.push_to_callback_p50_ms'))} / "
            f"{_fmt(_get(emulator, 'end_to_end.push_to_callback_p99_ms'))} ms",
        ),
        (
            "Listener callbacks durably stored/s, concurrency 32 (p50 / p99 ms)",
            f"{_fmt(_get(listener, 'listener.per_second'))} "
            f"({_fmt(_get(listener, 'listener.p50_ms'), 2)} / {_fmt(_get(listener, 'listener.p99_ms'), 2)})",
            ">= 0.25 x bare",
            f"bare Starlette {_fmt(_get(listener, 'bare_starlette.per_second'))}, ratio {_fmt(_get(listener, 'ratio'), 3)}",
        ),
        *_analytics_rows(analytics),
        *_workshop_rows(workshop),
        (
            "`import mpesa_lab.lab`, fresh process (s, fastest / median)",
            both("import_lab"),
            "<= 0.25",
            f"python -c pass {python_pass}",
        ),
        (
            "`mpesa-lab --help`, fresh process (s, fastest / median)",
            both("cli_help"),
            "<= 0.3",
            f"python -c pass {python_pass}",
        ),
        (
            "`Lab.start()` -> first callback stored, fresh process (s, fastest / median)",
            both("first_callback_start_to_first_callback_s"),
            "<= 0.5",
            f"import before it {both('first_callback_import_s')}",
        ),
        (
            "`mpesa-lab sandbox` accepted pushes/s, concurrency 32, own process",
            _fmt(_get(soak_run, "throughput.median.emulator.per_second")),
            ">= 0.5 x bare",
            f"bare Starlette {_fmt(_get(soak_run, 'throughput.median.bare.per_second'))}, ratio "
            f"{_fmt(_get(soak_run, 'throughput.ratio_c32'), 3)} (server CPU ratio {_fmt(_get(soak_run, 'throughput.cpu_ratio_c32'), 3)})",
        ),
        (
            "Sandbox soak: p99 late / fresh, concurrency 32",
            f"{_fmt(_get(soak_run, 'soak.late_p99_ms_median'), 1)} / {_fmt(_get(soak_run, 'soak.fresh_p99_ms'), 1)} ms",
            "<= 2x fresh",
            f"x{_fmt(_get(soak_run, 'soak.p99_late_over_fresh'), 2)} after "
            f"{_fmt(_get(soak_run, 'soak.accepted'))} pushes in {_fmt(_get(soak_run, 'soak.seconds'))} s",
        ),
        (
            "Sandbox soak: peak RSS (MB)",
            _fmt(_get(soak_run, "soak.peak_rss_mb")),
            "<= 250",
            f"RSS {_fmt(_get(soak_run, 'soak.rss_start_mb'))} at start",
        ),
    ]


def _run(result: dict | None) -> str:
    """'s wall (cpu s CPU), MiB peak' for one bench_analytics contender."""
    if not result or "seconds" not in result:
        return "skipped" if result and result.get("skipped") else "n/a"
    peak = result["peak_mib"] + result.get("child_peak_mib", 0.0)
    rounds = result.get("rounds_s")
    median = f" (median of {len(rounds)})" if rounds and len(rounds) > 1 else ""
    return f"{result['seconds']:.2f} s{median} ({result.get('cpu_s', 0):.1f} s CPU), {peak:,.0f} MiB"


def _analytics_rows(data: dict) -> list[tuple[str, str, str, str]]:
    if not data:
        return []
    lines = data.get("lines", {})
    out = [
        (
            f"{lines.get('n', 0):,} raw callback lines -> transactions + callbacks frames + summary "
            f"(wall, CPU, peak RSS; load avg {_get(lines, 'mpesa_lab.load_before')})",
            _run(lines.get("mpesa_lab")),
            "<= 3 s, <= 1 GiB, >= 10x pandas",
            f"pandas read_json + json_normalize {_run(lines.get('pandas'))}; x{lines.get('speedup')}",
        )
    ]
    if lines.get("report_load_in_terminal"):
        out.append(
            (
                f"The same lines loaded as `mpesa-lab report FILE` loads them in a terminal (progress "
                f"bar on a pseudo-terminal; load avg {_get(lines, 'report_load_in_terminal.load_before')})",
                _run(lines["report_load_in_terminal"]),
                "<= 3 s, <= 1 GiB",
                "",
            )
        )
    for n, row in data.get("stores", {}).items():
        out.append(
            (
                f"Store views over {int(n):,} pushes: transactions() / callbacks() "
                f"(load avg {_get(row, 'transactions.load_before')})",
                f"{_run(row.get('transactions'))} / {_run(row.get('callbacks'))}",
                "<= 3 s, <= 1 GiB at 1M",
                f"DuckDB read_json {_run(row.get('duckdb_json'))}; pandas {_run(row.get('pandas_json'))}",
            )
        )
    return out


def _workshop_rows(data: dict) -> list[tuple[str, str, str, str]]:
    """Workshop server (N participants, direct and relayed) beside the single-user emulator."""
    single = (
        f"single-user emulator {_fmt(_get(data, 'single.pushes_per_second'))}/s, "
        f"{_fmt(_get(data, 'single.push_to_store_p50_ms'))} / {_fmt(_get(data, 'single.push_to_store_p99_ms'))} ms"
    )
    rows = []
    for way in ("direct", "relay"):
        key = f"workshop_{way}"
        rows.append(
            (
                f"Workshop, {_fmt(_get(data, 'participants'))} participants, {way}: pushes/s "
                "(push -> participant store p50 / p99 ms)",
                f"{_fmt(_get(data, key + '.pushes_per_second'))} ({_fmt(_get(data, key + '.push_to_store_p50_ms'))} / "
                f"{_fmt(_get(data, key + '.push_to_store_p99_ms'))})",
                "",
                single,
            )
        )
    return rows


def write_table() -> str:
    lines = ["| benchmark | measured | target | side by side |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows()]
    table = "\n".join(lines)
    readme = HERE / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    return table


def _command(tree: Path, name: str, args: argparse.Namespace) -> list[str]:
    script = tree / "bench" / f"{name}.py"
    if name == "bench_soak" and args.long_soak:
        return [sys.executable, str(script), "--long"]
    return [sys.executable, str(script), *(["--quick"] if args.quick else []), *shlex.split(args.args or "")]


def _run_in(tree: Path, command: list[str]) -> bool:
    """Run a bench script with ``tree``'s package first on the path, from ``tree``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    print(f"+ (in {tree})", " ".join(command), flush=True)
    return subprocess.run(command, cwd=tree, env=env).returncode == 0


def _key(what: str) -> str:
    """A row's name without what changes from run to run (the load average it ran at)."""
    return re.sub(r";? ?\(?load avg [^);]*\)?", "", what).strip()


def compare(baseline: Path) -> str:
    """The README table's rows, baseline beside current."""
    before = {_key(what): measured for what, measured, _, _ in rows(baseline / "bench" / "results")}
    lines = ["| benchmark | baseline | current | target |", "| --- | --- | --- | --- |"]
    for what, measured, target, _ in rows():
        lines.append(f"| {what} | {before.get(_key(what), 'n/a')} | {measured} | {target} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--table", action="store_true", help="only rebuild the README table")
    parser.add_argument(
        "--long-soak", action="store_true", help="run bench_soak at full length (1,000,000 pushes or 10 minutes)"
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="another source tree of the project: run its benchmarks too, side by side",
    )
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=None, help="run only these benchmarks")
    parser.add_argument("--args", default=None, help="extra arguments for every benchmark run")
    args = parser.parse_args()
    failed = []
    here = HERE.parent
    baseline = args.baseline_src.resolve() if args.baseline_src else None
    if baseline is not None and not (baseline / "bench" / "run_all.py").exists():
        parser.error(f"--baseline-src {baseline} is not a source tree of this project (no bench/run_all.py)")
    if not args.table:
        for name in args.only or BENCHES:
            if baseline is not None and not _run_in(baseline, _command(baseline, name, args)):
                failed.append(f"{name} (baseline)")
            if not _run_in(here, _command(here, name, args)):
                failed.append(name)
    print(write_table())
    if baseline is not None:
        table = compare(baseline)
        (RESULTS / "baseline_comparison.md").write_text(f"baseline: {baseline}\n\n{table}\n")
        print(f"\nbaseline ({baseline}) beside current:\n{table}")
    if failed:
        print("failed:", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
