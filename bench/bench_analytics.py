"""Analytics at scale: raw callback lines -> frames, and the store's views, beside the baselines.

    python bench/bench_analytics.py             # 1M callback lines; stores of 10k, 100k, 1M rows
    python bench/bench_analytics.py --quick     # 100k lines; stores of 10k and 100k
    python bench/bench_analytics.py --lines 1000000 --stores 10000 --skip-pandas-above 100000

Two measurements, every contender in its own fresh process (its seconds from the first import to
the frame, and its peak RSS), inputs generated here into a temp folder (never committed):

1. issue 9: N raw callback lines (JSON lines, as people log them; one in five wrapped with a
   received time, string and number codes) -> ``mpesa_lab.analytics.load``
   (transactions + callbacks frames) + ``summary``; beside the obvious pandas way
   (``pandas.read_json(lines=True)`` + ``json_normalize``) on the same file, as a ratio.
2. issue 14: ``CallbackStore.transactions()`` and ``.callbacks()`` (and, issue 22, the week's
   questions of ``mpesa_lab.analytics.questions`` on those transactions) over stores of 10k / 100k / 1M
   pushes with their callbacks (filled by bench/store_fill.py: the store's own schema and text
   forms, bulk-inserted); beside DuckDB reading the same callbacks as JSON lines into a frame, and
   the obvious pandas way on that file.

mpesa-lab's contenders run ``--rounds`` times (3) and the median run is kept, with every round's
seconds in ``rounds_s``; the baselines run once (pandas takes half a minute at 1M).

Each result has wall ``seconds`` (from the first import), ``cpu_s`` (user + system, its child
processes included), ``peak_mib`` (its own peak RSS), ``child_peak_mib`` (the largest child's,
e.g. the store's ADBC reader) and ``load_before`` (the machine's 1-minute load average).

The loader also runs as ``mpesa-lab report FILE`` runs it in a terminal (issue 18): under rich's
progress bar, drawn on a pseudo-terminal; same targets.

Targets: 1M lines -> frames + summary <= 3 s and <= 1 GiB, >= 10x faster than pandas; store
views at 1M rows <= 3 s and <= 1 GiB. Writes bench/results/bench_analytics.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_analytics.json"
sys.path.insert(0, str(HERE))

# Each contender: code run in a fresh interpreter; it prints nothing, the harness times it.
CONTENDERS = {
    "mpesa_lab_load": """
from mpesa_lab.analytics import load, summary
out = load(PATH)
summary(out.transactions)
ROWS = len(out.transactions)
""",
    # What `mpesa-lab report FILE` does before the page, in a terminal: the loader under rich's
    # progress bar drawn on a pseudo-terminal (issue 18: the bar once crashed the command).
    "mpesa_lab_report_load_tty": """
import os, threading
from pathlib import Path
from rich.console import Console
from mpesa_lab.analytics import summary
from mpesa_lab.analytics.cli import _load_with_progress
screen, tty = os.openpty()
def show():
    try:
        while os.read(screen, 65536):
            pass
    except OSError:
        pass
threading.Thread(target=show, daemon=True).start()
console = Console(file=open(tty, "w", closefd=False))
assert console.is_terminal
out = _load_with_progress(console, Path(PATH))
summary(out.transactions)
ROWS = len(out.transactions)
""",
    "pandas_read_json": """
import pandas as pd
raw = pd.read_json(PATH, lines=True)
flat = pd.json_normalize(raw.to_dict("records"))
ROWS = len(flat)
""",
    "duckdb_read_json": """
import duckdb
df = duckdb.sql(f"SELECT Body.stkCallback.CheckoutRequestID AS checkout_request_id, "
                f"CAST(Body.stkCallback.ResultCode AS VARCHAR) AS result_code, "
                f"Body.stkCallback.ResultDesc AS result_desc, Body.stkCallback.CallbackMetadata AS metadata "
                f"FROM read_json('{PATH}', format='newline_delimited', ignore_errors=true)").df()
ROWS = len(df)
""",
    "store_transactions": """
from mpesa_lab.listener import CallbackStore
ROWS = len(CallbackStore(PATH).transactions())
""",
    # Issue 22: the week's questions over the store's transactions (the frame, then every
    # answer the report shows); the questions' own cost is this minus store_transactions.
    "store_questions": """
from mpesa_lab.listener import CallbackStore
from mpesa_lab import analytics
tx = CallbackStore(PATH).transactions()
for answer in (analytics.by_hour, analytics.hour_heatmap, analytics.latency_by_code, analytics.callback_funnel,
               analytics.retry_conversion, analytics.reconciliation, analytics.amount_mismatches,
               analytics.by_shortcode):
    answer(tx)
ROWS = len(tx)
""",
    "store_callbacks": """
from mpesa_lab.listener import CallbackStore
ROWS = len(CallbackStore(PATH).callbacks())
""",
}

_HARNESS = """
import json, resource, sys, time
PATH = sys.argv[1]
started = time.perf_counter()
exec(compile(sys.argv[2], "<contender>", "exec"))
seconds = time.perf_counter() - started
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": round(seconds, 3), "peak_mib": round(me.ru_maxrss / 1024, 1),
                  "child_peak_mib": round(kids.ru_maxrss / 1024, 1),
                  "cpu_s": round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 2),
                  "rows": ROWS}))
"""


def run(name: str, path: Path, timeout: float = 900) -> dict:
    load = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, "-c", _HARNESS, str(path), CONTENDERS[name]], capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-600:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_before"] = round(load, 1)  # the machine is shared: the 1-minute load average
    return result


def median_of(name: str, path: Path, rounds: int) -> dict:
    """The run with the median wall time of ``rounds`` fresh processes (one process's wall time
    swings ~15 % on this shared machine), with every round's seconds beside it."""
    runs = [run(name, path) for _ in range(rounds)]
    timed = sorted((r for r in runs if "seconds" in r), key=lambda r: r["seconds"])
    if not timed:
        return runs[0]
    middle = dict(timed[len(timed) // 2])
    middle["rounds_s"] = [r["seconds"] for r in runs if "seconds" in r]
    return middle


def write_lines(path: Path, n: int, seed: int = 9) -> Path:
    """N raw callback lines as people log them: mostly bare bodies, one in five wrapped with a
    received time, codes as numbers or strings, Balance with no Value. No broken line: the pandas
    baseline stops at the first one (the loader's handling of them is tested in tests/analytics)."""
    rng = random.Random(seed)
    codes = [
        (0, "The service request is processed successfully.", 80),
        (1032, "Request cancelled by user", 8),
        (1037, "DS timeout user cannot be reached", 5),
        (1, "The balance is insufficient for the transaction.", 3),
        (2001, "The initiator information is invalid.", 2.5),
        (1019, "Transaction has expired.", 1.5),
        ("SFC_IC0003", "The operator does not exist", 0.5),
        (1036, "SMSC ACK timeout", 0.2),
    ]
    weights = [w for *_, w in codes]
    # Daraja's TransactionDate is a Nairobi wall-clock time, YYYYMMDDHHmmss: 5,000 real seconds
    # from 09:00 (adding to the number itself once gave times such as 09:00:81).
    first = datetime(2026, 6, 1, 9, 0, 0)
    dates = [int((first + timedelta(seconds=s)).strftime("%Y%m%d%H%M%S")) for s in range(5000)]
    with path.open("w") as fh:
        for i in range(n):
            code, desc, _ = rng.choices(codes, weights)[0]
            cid = f"ws_CO_0106202609{i % 60:02d}{i:010d}"
            stk = {
                "MerchantRequestID": f"{i % 9999}-{i}-1",
                "CheckoutRequestID": cid,
                "ResultCode": str(code) if rng.random() < 0.1 else code,
                "ResultDesc": desc,
            }
            if code == 0:
                stk["CallbackMetadata"] = {
                    "Item": [
                        {"Name": "Amount", "Value": rng.choice([1, 10.0, 100, "250.00"])},
                        {"Name": "MpesaReceiptNumber", "Value": f"TF{i:08d}"},
                        {"Name": "Balance"},
                        {"Name": "TransactionDate", "Value": dates[i % 5000]},
                        {"Name": "PhoneNumber", "Value": 254708000000 + i % 100000},
                    ]
                }
            body = {"Body": {"stkCallback": stk}}
            if i % 5 == 0:
                line = json.dumps({"received_at": f"2026-06-01T09:{i % 60:02d}:00+03:00", "body": body})
            else:
                line = json.dumps(body)
            fh.write(line + "\n")
    return path


def store_lines(store: Path, out: Path) -> Path:
    """The store's callback bodies as JSON lines (the same callbacks, for DuckDB and pandas)."""
    import sqlite3

    conn = sqlite3.connect(store)
    with out.open("wb") as fh:
        for (body,) in conn.execute("SELECT body FROM deliveries WHERE outcome = 'accepted' ORDER BY id"):
            fh.write(body + b"\n")
    conn.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--lines", type=int, default=None)
    parser.add_argument("--stores", type=int, nargs="*", default=None)
    parser.add_argument(
        "--skip-pandas-above",
        type=int,
        default=None,
        help="skip the (slow, memory-hungry) pandas baseline above this many rows",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated inputs here")
    parser.add_argument(
        "--rounds", type=int, default=3, help="fresh processes per mpesa-lab contender; the median is reported"
    )
    args = parser.parse_args(argv)
    lines = args.lines or (100_000 if args.quick else 1_000_000)
    sizes = (
        args.stores if args.stores is not None else ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    )
    pandas_limit = args.skip_pandas_above if args.skip_pandas_above is not None else 10**9
    results: dict = {"lines": {}, "stores": {}, "machine": {"cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory(prefix="mpesa-lab-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        # 1. raw callback lines
        path = folder / f"callbacks-{lines}.jsonl"
        started = time.perf_counter()
        write_lines(path, lines)
        print(
            f"wrote {lines:,} lines ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        ours = median_of("mpesa_lab_load", path, args.rounds)
        in_terminal = median_of("mpesa_lab_report_load_tty", path, args.rounds)
        theirs = run("pandas_read_json", path) if lines <= pandas_limit else {"skipped": True}
        ratio = (theirs["seconds"] / ours["seconds"]) if "seconds" in theirs and "seconds" in ours else None
        results["lines"] = {
            "n": lines,
            "mpesa_lab": ours,
            "report_load_in_terminal": in_terminal,
            "pandas": theirs,
            "speedup": round(ratio, 1) if ratio else None,
        }
        print(
            f"{lines:,} lines: mpesa-lab {ours} | in a terminal {in_terminal} | pandas {theirs} | x{ratio and round(ratio, 1)}",
            file=sys.stderr,
        )
        # 2. store views
        from store_fill import fill

        for n in sizes:
            store = folder / f"store-{n}.sqlite"
            for stale in (store, Path(f"{store}-wal"), Path(f"{store}-shm")):  # --keep: fill anew
                stale.unlink(missing_ok=True)
            started = time.perf_counter()
            fill(store, n)
            jsonl = store_lines(store, folder / f"store-{n}.jsonl")
            print(f"filled a store of {n:,} pushes in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            row = {
                "transactions": median_of("store_transactions", store, args.rounds),
                "callbacks": median_of("store_callbacks", store, args.rounds),
                "questions": median_of("store_questions", store, args.rounds),
                "duckdb_json": run("duckdb_read_json", jsonl),
                "pandas_json": run("pandas_read_json", jsonl) if n <= pandas_limit else {"skipped": True},
            }
            results["stores"][str(n)] = row
            print(f"store {n:,}: {row}", file=sys.stderr)
            if args.keep is None:
                store.unlink()
                jsonl.unlink()
    RESULTS.parent.mkdir(exist_ok=True)
    if RESULTS.exists():  # a partial run (e.g. --stores with no size) keeps the other part's numbers
        previous = json.loads(RESULTS.read_text())
        for part in ("lines", "stores"):
            if not results[part] and previous.get(part):
                results[part] = previous[part]
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
