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
    python bench/bench_workshop.py --attacker # each workshop phase twice: clean, then with an attacker

``--attacker`` (issue 19's done-when): one more participant, in a process of its own, tries
everything of issue 19 items 3 and 4 for the whole phase: hellos aiming direct delivery at the
server itself (every spelling), pushes with its own inbox as CallBackURL, 1 GiB bodies to hello
and progress, its own mailbox filled with 64 kB letters, thousands of distinct ResultCodes.
Reported side by side: the other participants' p99 clean and attacked (target ratio < 2) and the
server's RSS (target: < 200 MB more than clean).
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
ATTACKER_RESULTS = ROOT / "bench" / "results" / "bench_workshop_attacker.json"
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
    inboxes = [f"/_workshop/inbox/{p.inbox_token.reveal()}" for p in server.participants]
    print(json.dumps({"url": server.url, "credentials": creds, "inboxes": inboxes}), flush=True)
else:
    from mpesa_lab.emulator import Emulator
    server = Emulator(config, name="bench-single").start()
    print(json.dumps({"url": server.url}), flush=True)
sys.stdin.read()  # until the bench closes our stdin
server.stop()
"""


ATTACKER_SCRIPT = r"""
import base64, json, socket, sys, threading, time
import httpx
from mpesa_lab.daraja.password import build_password
creds, inbox_path = json.loads(sys.argv[1]), sys.argv[2]
url = creds["base_url"]
host, port = url.split("//")[1].split(":")
auth = (creds["consumer_key"], creds["consumer_secret"])
stop = threading.Event()
counts = {}

def count(name, n=1):
    counts[name] = counts.get(name, 0) + n

def hellos():  # item 3: direct delivery aimed at the server itself, every spelling
    with httpx.Client(base_url=url, auth=auth, timeout=10, trust_env=False) as http:
        while not stop.is_set():
            for h in ("127.0.0.1", "localhost", "2130706433", "0x7f000001", "0.0.0.0", "[::ffff:127.0.0.1]", "127.1"):
                target = f"http://{h}:{port}{inbox_path}"
                try:
                    answer = http.post("/_workshop/relay/hello", json={"direct_url": target, "health_url": target})
                    count("hello_" + answer.json().get("delivery", str(answer.status_code)))
                except (httpx.HTTPError, ValueError):
                    count("hello_errors")

def pushes():  # item 3: pushes whose callbacks go to the attacker's own inbox
    ts = "20240710091526"
    code = creds["shortcode"]
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as http:
        token = None
        while not stop.is_set():
            try:
                if token is None:
                    token = http.get("/oauth/v1/generate", params={"grant_type": "client_credentials"},
                                     auth=auth).json()["access_token"]
                body = {"BusinessShortCode": code, "Password": build_password(code, creds["passkey"], ts),
                        "Timestamp": ts, "TransactionType": "CustomerPayBillOnline", "Amount": 1,
                        "PartyA": "254708374149", "PartyB": code, "PhoneNumber": "2547" + str(time.time_ns())[-8:],
                        "CallBackURL": url + inbox_path, "AccountReference": "x", "TransactionDesc": "x"}
                answer = http.post("/mpesa/stkpush/v1/processrequest", json=body,
                                   headers={"Authorization": f"Bearer {token}"})
                count(f"push_{answer.status_code}")
            except (httpx.HTTPError, KeyError, ValueError):
                count("push_errors")
                token = None
            time.sleep(0.05)

def gigabytes():  # item 4: 1 GiB bodies to hello and progress (announced, then sent for real)
    chunk = b" " * (1024 * 1024)
    b = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    while not stop.is_set():
        for route in ("/_workshop/relay/hello", "/_workshop/progress"):
            sent = 0
            try:
                with socket.create_connection((host, int(port)), timeout=10) as sock:
                    sock.sendall(f"POST {route} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {b}\r\n"
                                 f"Content-Length: {1 << 30}\r\n\r\n".encode())
                    for _ in range(1024):  # keep sending until the server hangs up
                        sock.sendall(chunk)
                        sent += 1
                count("gib_sent_whole")
            except OSError:
                count("gib_cut_off")
            count("mib_sent", sent)

def letters():  # item 4: the attacker's own mailbox filled with 64 kB letters (never collected)
    pad = "x" * (64 * 1024 - 200)
    with httpx.Client(timeout=10, trust_env=False) as http:
        n = 0
        while not stop.is_set():
            n += 1
            body = {"Body": {"stkCallback": {"CheckoutRequestID": f"ws_CO_A{n}", "ResultCode": 0, "ResultDesc": pad}}}
            try:
                count(f"letter_{http.post(url + inbox_path, json=body).status_code}")
            except httpx.HTTPError:
                count("letter_errors")

def codes():  # item 4: distinct ResultCodes without end
    with httpx.Client(timeout=10, trust_env=False) as http:
        n = 0
        while not stop.is_set():
            n += 1
            body = {"Body": {"stkCallback": {"CheckoutRequestID": f"c{n}", "ResultCode": f"E{n:07d}" * 4,
                                             "ResultDesc": "d" * 500}}}
            try:
                count(f"code_{http.post(url + inbox_path, json=body).status_code}")
            except httpx.HTTPError:
                count("code_errors")

threads = [threading.Thread(target=f, daemon=True) for f in (hellos, pushes, gigabytes, letters, codes)]
for t in threads:
    t.start()
print("started", flush=True)
sys.stdin.read()
stop.set()
for t in threads:
    t.join(15)
print(json.dumps(counts), flush=True)
"""


class Attacker:
    """The attacking participant, in its own process (its loops must not slow the load process)."""

    def __init__(self, credentials: dict[str, str], inbox_path: str) -> None:
        # Niced: in a real room the attacker's own loops run on their laptop, not on the server's
        # cores; here they share the machine, and the bench measures the server, not that contention.
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ATTACKER_SCRIPT, json.dumps(credentials), inbox_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            preexec_fn=lambda: os.nice(19),
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()
        time.sleep(2.0)  # let it get going before the measured pushes start

    def stop(self) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        self.proc.wait(30)
        return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


class RssSampler:
    """The server process's RSS, sampled every 0.2 s while a phase runs (MiB)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> float:
        with open(f"/proc/{self.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.samples.append(self.rss())

    def __enter__(self) -> RssSampler:
        self.samples.append(self.rss())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.rss())

    def report(self) -> dict[str, float]:
        return {
            "server_rss_start_mib": round(self.samples[0], 1),
            "server_rss_max_mib": round(max(self.samples), 1),
            "server_rss_end_mib": round(self.samples[-1], 1),
        }


class ServerProcess:
    def __init__(self, kind: str, folder: Path, participants: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, kind, str(folder), str(participants)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
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


_PHASE_OFFSETS = iter(range(0, 10**9, 100_000))  # each phase its own block of phones (no repeat)


def run_phase(labs: list[Any], total: int, clock: Clock, timeout: float = 120.0) -> dict[str, Any]:
    """``total`` pushes from CONCURRENCY threads, round-robin over ``labs``; wait for every callback."""
    counter = iter(range(total))
    offset = next(_PHASE_OFFSETS)
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
            phone = f"25471{(offset + n) % 10_000_000:07d}"  # a fresh phone per push, across phases
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
        "pushes": total,
        "accepted": accepted,
        "errors": len(errors),
        "first_errors": errors[:3],
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


def workshop_phases(
    folder: Path, participants: int, total: int, attacker: bool = False, rounds: int = 1
) -> dict[str, Any]:
    from mpesa_lab.workshop.simulation import join

    # With an attacker: one more participant on the roster, who is not among the measured labs.
    server = ServerProcess("workshop", folder / "room", participants + (1 if attacker else 0))
    out: dict[str, Any] = {}
    honest = server.info["credentials"][:participants]
    try:
        for way in ("direct", "relay"):
            clock = Clock()

            def one(item: tuple[int, dict[str, str]], way: str = way, clock: Clock = clock) -> Any:
                index, creds = item
                lab = join(
                    creds,
                    folder / f"{way}-{index:03d}.sqlite",
                    direct=False if way == "relay" else None,
                    name=f"bench-{way}-{index}",
                )
                lab.listener.app.on_delivery = clock.on_delivery  # the relay calls the same hook
                return lab

            # The first lab alone: concurrent first imports are issue 19 item 1 (fixed elsewhere).
            labs = [one((0, honest[0]))]
            with ThreadPoolExecutor(8) as pool:
                labs += list(pool.map(one, enumerate(honest[1:], start=1)))
            try:
                ways = {lab.workshop.delivery for lab in labs}
                assert ways == {way}, ways
                if attacker:  # tokens, connections and first imports before anything is measured
                    run_phase(labs, min(total, 200), clock)
                for attacked in (False, True) * rounds if attacker else (False,):
                    with clock.lock:
                        clock.sent.clear()
                        clock.stored.clear()
                    bad = Attacker(server.info["credentials"][-1], server.info["inboxes"][-1]) if attacked else None
                    try:
                        cpu = server.cpu_seconds()
                        with RssSampler(server.proc.pid) as rss:
                            result = run_phase(labs, total, clock)
                    finally:
                        tried = bad.stop() if bad is not None else None
                    result["server_cpu_ms_per_push"] = round(
                        (server.cpu_seconds() - cpu) * 1000 / max(1, result["accepted"]), 2
                    )
                    result["participants"] = len(labs)
                    result.update(rss.report())
                    if tried is not None:
                        result["attacker_requests"] = tried
                    stored = sum(lab.store.count_deliveries() for lab in labs)
                    result["deliveries_stored"] = stored
                    out.setdefault(f"{way}_attacked" if attacked else way, []).append(result)
            finally:
                with ThreadPoolExecutor(16) as pool:
                    list(pool.map(lambda lab: lab.stop(), labs))
    finally:
        server.stop()
    return {name: results if attacker else results[0] for name, results in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 pushes per phase")
    parser.add_argument("--pushes", type=int, default=None)
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument(
        "--attacker",
        action="store_true",
        help="each workshop phase clean, then with one participant attacking (issue 19)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="with --attacker: alternating clean/attacked rounds")
    args = parser.parse_args()
    total = args.pushes or (300 if args.quick else 1500)
    if args.attacker:
        return attacker_main(args, total)
    with tempfile.TemporaryDirectory(prefix="mpesa-lab-bench-workshop-") as tmp:
        folder = Path(tmp)
        single = single_phase(folder, total)
        print(f"single-user emulator: {json.dumps(single)}", flush=True)
        room = workshop_phases(folder, args.participants, total)
        for way, result in room.items():
            print(f"workshop {way}: {json.dumps(result)}", flush=True)
    data = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "concurrency": CONCURRENCY,
        "pushes_per_phase": total,
        "participants": args.participants,
        "single": single,
        "workshop_direct": room["direct"],
        "workshop_relay": room["relay"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"results in {RESULTS}")
    return 0


def _median_round(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Median p99 and the largest RSS over rounds; missing callbacks summed."""
    p99s = sorted(r["push_to_store_p99_ms"] for r in results)
    return {
        "push_to_store_p99_ms": p99s[len(p99s) // 2],
        "server_rss_max_mib": max(r["server_rss_max_mib"] for r in results),
        "callbacks_missing": sum(r["callbacks_missing"] for r in results),
    }


def attacker_main(args: argparse.Namespace, total: int) -> int:
    with tempfile.TemporaryDirectory(prefix="mpesa-lab-bench-workshop-") as tmp:
        room = workshop_phases(Path(tmp), args.participants, total, attacker=True, rounds=args.rounds)
    data: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "concurrency": CONCURRENCY,
        "pushes_per_phase": total,
        "rounds": args.rounds,
        "participants": args.participants,
        "phases": room,
        "side_by_side": {},
    }
    print(
        f"{'phase':<8} {'p99 clean':>10} {'p99 attacked':>13} {'ratio':>6} {'RSS max clean':>14} "
        f"{'RSS max attacked':>17} {'RSS +':>7} {'missing':>8}"
    )
    for way in ("direct", "relay"):
        clean, hit = _median_round(room[way]), _median_round(room[f"{way}_attacked"])
        ratio = hit["push_to_store_p99_ms"] / clean["push_to_store_p99_ms"]
        grown = hit["server_rss_max_mib"] - clean["server_rss_max_mib"]
        data["side_by_side"][way] = {
            "p99_clean_ms": clean["push_to_store_p99_ms"],
            "p99_attacked_ms": hit["push_to_store_p99_ms"],
            "p99_ratio": round(ratio, 2),
            "rss_max_clean_mib": clean["server_rss_max_mib"],
            "rss_max_attacked_mib": hit["server_rss_max_mib"],
            "rss_growth_mib": round(grown, 1),
            "missing_callbacks_attacked": hit["callbacks_missing"],
            "within_target": ratio < 2 and grown < 200,
        }
        print(
            f"{way:<8} {clean['push_to_store_p99_ms']:>10} {hit['push_to_store_p99_ms']:>13} {ratio:>6.2f} "
            f"{clean['server_rss_max_mib']:>14} {hit['server_rss_max_mib']:>17} {grown:>7.1f} "
            f"{hit['callbacks_missing']:>8}",
            flush=True,
        )
        print(
            f"  p99 per round, clean: {[r['push_to_store_p99_ms'] for r in room[way]]}, attacked: "
            f"{[r['push_to_store_p99_ms'] for r in room[way + '_attacked']]}",
            flush=True,
        )
        print(f"  attacker's requests (last round): {room[way + '_attacked'][-1].get('attacker_requests')}", flush=True)
    ATTACKER_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    ATTACKER_RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"results in {ATTACKER_RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
