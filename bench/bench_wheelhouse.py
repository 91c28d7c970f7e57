"""The workshop's offline install, for real, beside the online one, in one run.

1. Build the Linux (x86-64) wheelhouse from the registry: ``mpesa-lab workshop wheelhouse DIR
   --platform linux-x86_64`` with a cold, private pip cache (seconds, MB).
2. Offline installs into fresh venvs, no index: pip from the folder; uv from the folder; pip from
   the workshop server (``mpesa-lab workshop serve --wheelhouse``, over loopback HTTP).
3. The online install a participant does without a wheelhouse: ``pip install`` of the same
   project wheel into a fresh venv, from the registry, no cache (seconds).
4. In the offline (pip) venv: ``mpesa-lab demo``, then notebook 04 executed headless from the
   course the wheel carries. A failure anywhere fails the bench.

pip runs with no user or site configuration (``PIP_CONFIG_FILE`` set to the null device, no
``PIP_*`` find-links or extra indexes), so the online numbers are the public registry's, not a
local mirror's. The machine's network speed decides the online and build numbers; the offline
ones are what a participant's laptop spends (disk and CPU only).

    python bench/bench_wheelhouse.py            # writes bench/results/bench_wheelhouse.json
    python bench/bench_wheelhouse.py --keep DIR # keep the wheelhouse and venvs in DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bench_wheelhouse.json"
PLATFORM = "linux-x86_64"


def clean_env(cache: Path) -> dict[str, str]:
    """This environment with pip's configuration cut to the public registry and a private cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_CACHE_DIR"] = str(cache)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["UV_CACHE_DIR"] = str(cache / "uv")
    env["UV_NO_CONFIG"] = "1"
    return env


# Every command runs in the bench's own folder: from the clone, `python -m pip` would see the
# clone's mpesa_lab.egg-info on sys.path and take mpesa-lab as already installed.
WORK: Path | None = None


LOADS: list[float] = []  # the 1-minute load average at the start of each timed step


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    cwd = cwd or WORK
    LOADS.append(round(os.getloadavg()[0], 1))
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"FAILED ({done.returncode}): {' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
    return took


def megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def fresh_venv(where: Path, env: dict[str, str]) -> Path:
    timed([sys.executable, "-m", "venv", str(where)], env)
    return where / "bin" / "python"


def run_notebook_04(python: Path, work: Path, env: dict[str, str]) -> float:
    """Notebook 04 as the installed wheel ships it, executed headless by the venv's own Jupyter."""
    found = subprocess.run(
        [str(python), "-c", "import mpesa_lab, pathlib; print(pathlib.Path(mpesa_lab.__file__).parent / 'notebooks')"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=work,
    ).stdout.strip()
    if not found.startswith(str(python.parent.parent)):
        raise SystemExit(f"mpesa_lab was not imported from the venv under test but from {found}")
    course = work / "course"
    shutil.copytree(found, course)
    notebook = course / "04-first-push.ipynb"
    return timed(
        [
            str(python),
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output",
            "04-ran.ipynb",
            "--ExecutePreprocessor.timeout=120",
            str(notebook),
        ],
        env,
        cwd=course,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    parser.add_argument("--online-first", action="store_true", help="also an online install before the offline ones")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-wheelhouse-"))
    work.mkdir(parents=True, exist_ok=True)
    global WORK
    WORK = work
    env = clean_env(work / "pip-cache")
    env["MPESA_LAB_HOME"] = str(work / "lab-home")
    house = work / "wheelhouse"
    out: dict[str, object] = {"platform": PLATFORM, "python": sys.version.split()[0]}
    out["load_avg_start"] = round(os.getloadavg()[0], 1)  # a shared machine: say how busy it was
    try:
        out["build_s"] = timed(
            [sys.executable, "-m", "mpesa_lab.cli", "workshop", "wheelhouse", str(house), "--platform", PLATFORM], env
        )
        manifest = json.loads((house / "wheelhouse.json").read_text())
        out["wheels"] = len(manifest["files"])
        out["wheelhouse_mb"] = round(sum(manifest["files"].values()) / 1e6, 1)
        project_wheel = house / "wheels" / manifest["project_wheel"]
        offline = ["--no-index", "--find-links", str(house / "wheels")]

        online_cmd = ["-m", "pip", "install", "--no-cache-dir", str(project_wheel)]
        if args.online_first:  # the other order, to see what the machine's load does to each
            out["online_pip_first_s"] = timed([str(fresh_venv(work / "venv-online-first", env)), *online_cmd], env)

        # offline, pip, from the folder (a USB stick)
        python = fresh_venv(work / "venv-offline-pip", env)
        out["offline_pip_s"] = timed([str(python), "-m", "pip", "install", *offline, "mpesa-lab"], env)
        out["venv_mb"] = round(megabytes(work / "venv-offline-pip"), 1)

        # offline, uv, from the folder (uv itself installed from the wheelhouse first)
        uv_python = fresh_venv(work / "venv-offline-uv", env)
        took = timed([str(uv_python), "-m", "pip", "install", *offline, "uv"], env)
        took += timed(
            [
                str(work / "venv-offline-uv" / "bin" / "uv"),
                "pip",
                "install",
                "--python",
                str(uv_python),
                "--offline",
                *offline,
                "mpesa-lab",
            ],
            env,
        )
        out["offline_uv_s"] = took

        # offline, pip, from the workshop server over loopback HTTP
        sys.path.insert(0, str(ROOT))
        from mpesa_lab.workshop import WorkshopServer

        server = WorkshopServer(work / "room", participants=1, wheelhouse=house).start()
        try:
            served = fresh_venv(work / "venv-served-pip", env)
            url = f"{server.url}/install/wheels/"
            out["served_pip_s"] = timed(
                [
                    str(served),
                    "-m",
                    "pip",
                    "install",
                    "--no-index",
                    "--find-links",
                    url,
                    "--trusted-host",
                    "127.0.0.1",
                    "mpesa-lab",
                ],
                env,
            )
        finally:
            server.stop()

        # online: the same project wheel, its dependencies from the registry, no cache
        online = fresh_venv(work / "venv-online-pip", env)
        out["online_pip_s"] = timed([str(online), *online_cmd], env)

        # the offline venv runs the lab: the demo, then notebook 04
        out["demo_s"] = timed([str(python.parent / "mpesa-lab"), "demo"], env, cwd=work)
        out["notebook_04_s"] = run_notebook_04(python, work, env)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    out["load_avg_end"] = round(os.getloadavg()[0], 1)
    out["load_avg_per_step"] = LOADS
    out = {k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
