"""How long the course takes to run headless: every notebook, top to bottom, against the emulator.

    python bench/bench_notebooks.py            # learner notebooks, each run twice in one kernel
    python bench/bench_notebooks.py --quick    # one run each

Each notebook runs in its own fresh kernel (the project's Python) with a scratch MPESA_LAB_HOME,
exactly as tests/notebooks runs it. Reports per notebook: kernel start + runs (wall seconds), and
the total for the set. Target: the whole set (two runs each) in <= 180 s. Results go to
bench/results/bench_notebooks.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.notebooks.runner import execute, learner_notebooks, solution_notebooks  # noqa: E402

TARGET_S = 180.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per notebook instead of two")
    parser.add_argument("--solutions", action="store_true", help="also run the solution notebooks (strict checks)")
    args = parser.parse_args()
    runs = 1 if args.quick else 2
    paths = learner_notebooks() + (solution_notebooks() if args.solutions else [])
    rows = []
    started = time.perf_counter()
    for path in paths:
        with tempfile.TemporaryDirectory() as scratch:
            t0 = time.perf_counter()
            report = execute(path, Path(scratch), runs=runs, strict="solutions" in path.parts)
            wall = time.perf_counter() - t0
        rows.append(
            {
                "notebook": f"{path.parent.name}/{path.name}",
                "wall_s": round(wall, 2),
                "runs_s": [round(r.seconds, 2) for r in report.runs],
            }
        )
        print(f"{rows[-1]['notebook']:45} {wall:6.1f} s  runs {rows[-1]['runs_s']}", flush=True)
    total = time.perf_counter() - started
    result = {
        "runs_per_notebook": runs,
        "notebooks": rows,
        "total_s": round(total, 1),
        "target_s": TARGET_S,
        "within_target": total <= TARGET_S,
    }
    out = ROOT / "bench" / "results" / "bench_notebooks.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"total {total:.1f} s for {len(rows)} notebooks x {runs} run(s) (target <= {TARGET_S:g} s)")
    return 0 if total <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
