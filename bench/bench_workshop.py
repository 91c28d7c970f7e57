"""The workshop server with 100 participants, next to the single-user emulator, in one run.

Both servers run in their own process (as they would on the facilitator's machine); this process
plays the room: real participant labs (``mpesa_lab.workshop.simulation.join``: a listener with its
own SQLite store, the workshop link, a DarajaClient), pushing from 32 threads round-robin across
participants, each push to a fresh phone. Measured per phase:

- pushes/s: accepted STK pushes per second of the push phase (Lab.push: token, request, store);
- push -> store latency p50 / p99: from just before ``lab.push`` to the moment the callback is
  committed in that participant's store (the listener's and the relay's on_delivery hook);
- completed/s: callbacks stored per second, from the first push to the last callback stored.

Phases: ``single``: one lab on the single-user emulator (``Emulator``), the baseline;
``direct``: 100 participants whose listeners the server can reach (callbacks posted to them);
``relay``: the same 100 with incoming connections "blocked" (callbacks pulled by the relay).

    python bench/bench_workshop.py            # 1,500 pushes per phase
    python bench/bench_workshop.py --quick    # 300 pushes per phase
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "bench_workshop.json"
CONCURRENCY = 32

SERVER_SCRIPT = r"""
import json, sys
from mpesa_lab.emulator import EmulatorConfig
kind, folder, participants = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = EmulatorConfig(seed=254, enforce_duplicate_rule=False)
if kind == "workshop":
    from mpesa_lab.workshop import WorkshopServer
    server = WorkshopServer(folder, participants=participants, config=config, name="bench-workshop").start()
    creds = [server.credentials(p.id) for p in server.participants]
    print(json.dumps({"url": server.url, "credentials": creds}), flush=True)
else:
    from mpesa_lab.emulator import Emulator
    server = Emulator(config, name="bench-single").start()
    print(json.dumps({"url": server.url}), flush=True)
sys.stdin.read()  # until the bench closes our stdin
server.stop()
"""


class ServerProcess:
    def __init__(self, kind: str, folder: Path, participants: int = 0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, kind, str(folder), str(participants)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        self.info = json.loads(self.proc.stdout.readline())

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


class Clock:
    """Push-sent and stored moments per CheckoutRequestID, from any thread."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.stored: dict[str, float] = {}
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)

    def on_delivery(self, stored: Any) -> None:
        now = time.perf_counter()
        cb = stored.callback
        if cb is None:
            return
        with self.lock:
            self.stored.setdefault(cb.checkout_request_id, now)
            self.done.notify_all()


def _pct(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def run_phase(labs: list[Any], total: int, clock: Clock, timeout: float = 120.0) -> dict[str, Any]:
    """``total`` pushes from CONCURRENCY threads, round-robin over ``labs``; wait for every callback."""
    counter = iter(range(total))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> int:
        done = 0
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return done
            lab = labs[n % len(labs)]
            phone = f"2547120{n:05d}"
            started = time.perf_counter()
            try:
                push = lab.push(phone, 1 + n % 900)
            except Exception as exc:  # counted, not fatal: the bench reports them
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with clock.lock:
                clock.sent[push.checkout_request_id] = started
            done += 1

    first = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        accepted = sum(pool.map(lambda _: worker(), range(CONCURRENCY)))
    pushed = time.perf_counter()
    with clock.lock:
        clock.done.wait_for(lambda: all(cid in clock.stored for cid in clock.sent), timeout)
        latencies = [(clock.stored[c] - t) * 1000 for c, t in clock.sent.items() if c in clock.stored]
        last = max((clock.stored[c] for c in clock.sent if c in clock.stored), default=pushed)
        missing = sum(1 for c in clock.sent if c not in clock.stored)
    return {
        "pushes": total, "accepted": accepted, "errors": len(errors), "first_errors": errors[:3],
        "pushes_per_second": round(accepted / (pushed - first), 1),
        "completed_per_second": round(len(latencies) / (last - first), 1),
        "push_to_store_p50_ms": round(_pct(latencies, 50), 1),
        "push_to_store_p99_ms": round(_pct(latencies, 99), 1),
        "callbacks_missing": missing,
    }


def single_phase(folder: Path, total: int) -> dict[str, Any]:
    from mpesa_lab.config import Settings
    from mpesa_lab.daraja.client import DarajaClient
    from mpesa_lab.lab import Lab
    from mpesa_lab.listener import Listener

    server = ServerProcess("single", folder)
    clock = Clock()
    listener = Listener(folder / "single.sqlite", name="bench-single-listener", on_delivery=clock.on_delivery).start()
    settings = Settings.local(base_url=server.info["url"], callback_url=listener.callback_url)
    lab = Lab(settings, DarajaClient(settings), listener)
    try:
        cpu = server.cpu_seconds()
        result = run_phase([lab], total, clock)
        result["server_cpu_ms_per_push"] = round((server.cpu_seconds() - cpu) * 1000 / max(1, result["accepted"]), 2)
        return result
    finally:
        lab.stop()
        server.stop()


def workshop_phases(folder: Path, participants: int, total: int) -> dict[str, Any]:
    from mpesa_lab.workshop.simulation import join

    server = ServerProcess("workshop", folder / "room", participants)
    out: dict[str, Any] = {}
    try:
        for way in ("direct", "relay"):
            clock = Clock()

            def one(item: tuple[int, dict[str, str]]) -> Any:
                index, creds = item
                lab = join(creds, folder / f"{way}-{index:03d}.sqlite", direct=False if way == "relay" else None,
                           name=f"bench-{way}-{index}")
                lab.listener.app.on_delivery = clock.on_delivery  # the relay calls the same hook
                return lab

            with ThreadPoolExecutor(8) as pool:
                labs = list(pool.map(one, enumerate(server.info["credentials"])))
            try:
                ways = {lab.workshop.delivery for lab in labs}
                assert ways == {way}, ways
                cpu = server.cpu_seconds()
                result = run_phase(labs, total, clock)
                result["server_cpu_ms_per_push"] = round((server.cpu_seconds() - cpu) * 1000 / max(1, result["accepted"]), 2)
                result["participants"] = len(labs)
                stored = sum(lab.store.count_deliveries() for lab in labs)
                result["deliveries_stored"] = stored
                out[way] = result
            finally:
                with ThreadPoolExecutor(16) as pool:
                    list(pool.map(lambda lab: lab.stop(), labs))
    finally:
        server.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 pushes per phase")
    parser.add_argument("--pushes", type=int, default=None)
    parser.add_argument("--participants", type=int, default=100)
    args = parser.parse_args()
    total = args.pushes or (300 if args.quick else 1500)
    with tempfile.TemporaryDirectory(prefix="mpesa-lab-bench-workshop-") as tmp:
        folder = Path(tmp)
        single = single_phase(folder, total)
        print(f"single-user emulator: {json.dumps(single)}", flush=True)
        room = workshop_phases(folder, args.participants, total)
        for way, result in room.items():
            print(f"workshop {way}: {json.dumps(result)}", flush=True)
    data = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "concurrency": CONCURRENCY, "pushes_per_phase": total, "participants": args.participants,
        "single": single, "workshop_direct": room["direct"], "workshop_relay": room["relay"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"results in {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
