"""How long until a learner can do something? Start-up costs, each in a fresh process.

Every measure runs in a new interpreter, beside ``python -c pass`` measured the same way in the
same run (rounds alternate, medians reported), so the numbers say what mpesa-lab adds:

- ``import mpesa_lab.lab`` (target <= 0.25 s, wall time of the whole process);
  each as the fastest round and the median (on a shared machine the median carries the others' load);
- ``mpesa-lab --help`` (target <= 0.3 s): exactly what the console script runs;
- ``Lab.start()`` to the first callback stored (target <= 0.5 s): start emulator + listener +
  client, push to the test phone, wait for its callback (the default prompt and answer delays,
  0.15 s, are part of it); the import before ``Lab.start()`` is reported apart.

``--baseline-src DIR`` measures another source tree too (e.g. ``git worktree add /tmp/base main``
then ``--baseline-src /tmp/base``), in the same rounds: before and after, side by side.

    python bench/bench_startup.py             # 7 rounds
    python bench/bench_startup.py --quick     # 3 rounds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bench_startup.json"
TARGETS = {"import_lab": 0.25, "cli_help": 0.3, "lab_start_to_first_callback": 0.5}

HELP = "import sys; from mpesa_lab.cli import main; sys.argv = ['mpesa-lab', '--help']; sys.exit(main())"
FIRST_CALLBACK = """
import json, sys, time
t0 = time.perf_counter()
from mpesa_lab.lab import Lab
t1 = time.perf_counter()
lab = Lab.start(store=sys.argv[1])
t2 = time.perf_counter()
push = lab.push("254708374149", 1)
callback = push.wait(timeout=30)
t3 = time.perf_counter()
assert callback.result_code == "0", callback
lab.stop()
print(json.dumps({"import_s": t1 - t0, "start_s": t2 - t1, "start_to_first_callback_s": t3 - t1}))
"""


def _env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)  # ahead of the installed package
    env["MPESA_LAB_HOME"] = tempfile.mkdtemp(prefix="mpesa-lab-bench-home-")
    return env


# Processes start in an empty folder: `python -c` puts the working directory first on sys.path.
CWD = tempfile.mkdtemp(prefix="mpesa-lab-bench-cwd-")


def _wall(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, cwd=CWD)
    return time.perf_counter() - started


def _first_callback(env: dict[str, str], store: Path) -> dict[str, float]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", FIRST_CALLBACK, str(store)], env=env, check=True, capture_output=True, text=True, cwd=CWD
    ).stdout
    row = json.loads(out.strip().splitlines()[-1])
    row["process_s"] = time.perf_counter() - started
    return row


def _check_source(src: Path | None, env: dict[str, str]) -> str:
    where = subprocess.run(
        [sys.executable, "-c", "import mpesa_lab; print(mpesa_lab.__file__)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=CWD,
    ).stdout.strip()
    if src is not None and not where.startswith(str(src)):
        raise SystemExit(f"--baseline-src {src}: mpesa_lab still imported from {where}")
    return where


def measure(rounds: int, trees: dict[str, Path | None]) -> dict[str, dict[str, list[float]]]:
    runs: dict[str, dict[str, list[float]]] = {name: {} for name in ("python", *trees)}
    envs = {name: _env(src) for name, src in trees.items()}
    for name, src in trees.items():
        print(f"{name}: mpesa_lab from {_check_source(src, envs[name])}", flush=True)
    base_env = _env(None)
    with tempfile.TemporaryDirectory(prefix="mpesa-lab-bench-startup-") as tmp:
        for r in range(rounds):
            runs["python"].setdefault("python_c_pass", []).append(_wall([sys.executable, "-c", "pass"], base_env))
            for name, env in envs.items():
                row = runs[name]
                row.setdefault("import_lab", []).append(_wall([sys.executable, "-c", "import mpesa_lab.lab"], env))
                row.setdefault("cli_help", []).append(_wall([sys.executable, "-c", HELP], env))
                first = _first_callback(env, Path(tmp) / f"{name}-{r}.sqlite")
                for key, value in first.items():
                    row.setdefault(f"first_callback_{key}", []).append(value)
            print(f"round {r + 1}/{rounds} done", flush=True)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--baseline-src", type=Path, help="another source tree to measure beside this one")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    trees: dict[str, Path | None] = {"current": None}
    if args.baseline_src:
        trees = {"baseline": args.baseline_src.resolve(), "current": ROOT}
    runs = measure(rounds, trees)
    medians = {name: {k: round(statistics.median(v), 4) for k, v in row.items()} for name, row in runs.items()}
    # The fastest round is the cost itself; the median adds what other processes took (a shared
    # machine): both are reported.
    minima = {name: {k: round(min(v), 4) for k, v in row.items()} for name, row in runs.items()}
    python = medians["python"]["python_c_pass"]
    print(
        f"\nStart-up, {rounds} fresh processes each, seconds as min / median (python -c pass = "
        f"{minima['python']['python_c_pass']:.3f} / {python:.3f})\n"
    )
    print(f"{'measure':<38}" + "".join(f"{n:>16}" for n in trees) + f"{'target':>9}")
    for key, label in (
        ("import_lab", "import mpesa_lab.lab"),
        ("cli_help", "mpesa-lab --help"),
        ("first_callback_start_to_first_callback_s", "Lab.start() -> first callback"),
        ("first_callback_start_s", "  of which Lab.start()"),
        ("first_callback_import_s", "import before Lab.start() (in-proc)"),
        ("first_callback_process_s", "whole first-callback process"),
    ):
        target = TARGETS.get(key) or (
            TARGETS["lab_start_to_first_callback"] if key.endswith("to_first_callback_s") else None
        )
        print(
            f"{label:<38}"
            + "".join(f"{minima[n][key]:>9.3f} /{medians[n][key]:>5.3f}"[-16:].rjust(16) for n in trees)
            + (f"{target:>9.2f}" if target else "")
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "bench_startup",
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "rounds": rounds,
                "targets_s": TARGETS,
                "python_c_pass_s": python,
                "python_c_pass_min_s": minima["python"]["python_c_pass"],
                "medians": medians,
                "minima": minima,
                "runs": runs,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
