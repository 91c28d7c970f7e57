"""The emulator under steady load: throughput, p99 and memory as pushes pile up.

Servers run as they are deployed, each in its own process: the emulator as ``mpesa-lab sandbox``
(its defaults, retention included), and the ceiling, a bare Starlette endpoint returning a fixed
push ack, on the same uvicorn. This process is the load generator (raw asyncio keep-alive
connections, concurrency 32, every push to a new phone, so every push also makes a subscriber on
the fly) and the CallBackURL (a minimal endpoint counting callbacks).

1. Throughput, same run: rounds alternating bare and a fresh emulator, ``--seconds`` each;
   medians; the ratio emulator / bare (target >= 0.5).
2. Soak: one emulator process pushed without pause, in segments of ``--segment`` seconds, until
   ``--max-pushes`` accepted pushes or ``--duration`` seconds; per segment: pushes/s, p50 / p99,
   the server's RSS, and what it retains. Target: p99 of the late segments within 2x of the first
   (fresh) segment's, RSS <= 250 MB whatever the count.

``--baseline-src DIR`` runs the same schedule against another source tree's sandbox (e.g.
``git worktree add /tmp/base main``) in the same run: before and after, side by side.

    python bench/bench_soak.py              # short: 3 rounds x 3 s, a 30 s soak (~1 min)
    python bench/bench_soak.py --quick      # 2 rounds x 2 s, a 10 s soak
    python bench/bench_soak.py --long       # 3 rounds x 5 s, soak up to 1,000,000 pushes or 10 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_emulator import ACK, TIMESTAMP, _pct, _read_response  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "bench_soak.json"
CONCURRENCY = 32
BARE_APP = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

ACK = {ack!r}

async def push(request):
    await request.body()
    return JSONResponse(ACK)

app = Starlette(routes=[Route("/mpesa/stkpush/v1/processrequest", push, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False, lifespan="off")
"""


# ---------------------------------------------------------------------- servers (child processes)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server in its own process; waits until it accepts connections."""

    def __init__(self, kind: str, src: Path | None = None) -> None:
        self.kind, self.port = kind, _free_port()
        env = {**os.environ, "MPESA_LAB_HOME": tempfile.mkdtemp(prefix="mpesa-lab-soak-")}
        env.pop("PYTHONPATH", None)
        if src is not None:
            env["PYTHONPATH"] = str(src)
        if kind == "bare":
            args = [sys.executable, "-c", BARE_APP.format(ack=ACK), str(self.port)]
        else:  # exactly `mpesa-lab sandbox`
            args = [
                sys.executable,
                "-c",
                "import sys; from mpesa_lab.cli import main; sys.exit(main())",
                "sandbox",
                "--port",
                str(self.port),
            ]
        self.proc = subprocess.Popen(
            args, env=env, cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} server did not start") from None
                time.sleep(0.05)

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident memory of the server process, MB."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def measured(self, coro: Any) -> dict[str, Any]:
        """Run a load phase; add the server's CPU ms per request (robust to a busy machine)."""
        cpu = self.cpu_s()
        row = await coro
        await asyncio.sleep(0.2)  # the phase's last callbacks are part of its cost
        row["server_cpu_ms_per_request"] = round((self.cpu_s() - cpu) * 1000 / max(1, row["requests_all"]), 4)
        return row

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------------- load (this process)


class CallbackCounter:
    """The CallBackURL: answers every POST with the conventional ack and counts them."""

    def __init__(self) -> None:
        self.count = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 37\r\n\r\n"
            b'{"ResultCode": 0, "ResultDesc": "OK"}'
        )
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:].strip())
                await reader.readexactly(length)
                self.count += 1
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


class Pushes:
    """Raw push requests, each to a new phone (2547 1XXXXXXX: never a magic trigger number)."""

    def __init__(self, port: int, token: str, password: str, callback_url: str) -> None:
        self.prefix = (
            f"POST /mpesa/stkpush/v1/processrequest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        ).encode()
        self.template = json.dumps(
            {
                "BusinessShortCode": "174379",
                "Password": password,
                "Timestamp": TIMESTAMP,
                "TransactionType": "CustomerPayBillOnline",
                "Amount": 1,
                "PartyA": "PHONE",
                "PartyB": "174379",
                "PhoneNumber": "PHONE",
                "CallBackURL": callback_url,
                "AccountReference": "SOAK",
                "TransactionDesc": "soak",
            }
        )
        self.next = 0

    def __call__(self) -> bytes:
        self.next += 1
        body = self.template.replace("PHONE", f"25471{self.next:07d}").encode()
        return self.prefix + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def bare_request(port: int) -> bytes:
    body = b'{"Amount": 1}'
    return (
        f"POST /mpesa/stkpush/v1/processrequest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def load(
    port: int, make: Any, seconds: float, max_requests: int | None = None, warmup: float = 0.0
) -> dict[str, Any]:
    """``CONCURRENCY`` keep-alive connections sending back to back for ``seconds``."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    budget = [max_requests if max_requests is not None else 1 << 62]
    sent = [0]
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while budget[0] > 0:
                now = time.perf_counter()
                if now >= stop_at:
                    return
                budget[0] -= 1
                writer.write(make())
                status, _ = await _read_response(reader)
                sent[0] += 1
                if now >= measure_from:
                    latencies.append(time.perf_counter() - now)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = min(time.perf_counter(), stop_at) - measure_from
    latencies.sort()
    ok = statuses.get(200, 0)
    return {
        "seconds": round(elapsed, 3),
        "requests": sum(statuses.values()),
        "requests_all": sent[0],
        "accepted": ok,
        "statuses": {str(k): v for k, v in statuses.items()},
        "per_second": round(ok / elapsed, 1),
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
    }


async def token_and_password(port: int) -> tuple[str, str]:
    import base64

    from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, SANDBOX_PASSKEY
    from mpesa_lab.daraja.password import build_password

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    basic = base64.b64encode(f"{LAB_CONSUMER_KEY}:{LAB_CONSUMER_SECRET}".encode()).decode()
    writer.write(
        f"GET /oauth/v1/generate?grant_type=client_credentials HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Basic {basic}\r\n\r\n".encode()
    )
    _, body = await _read_response(reader)
    writer.close()
    return json.loads(body)["access_token"], build_password("174379", SANDBOX_PASSKEY, TIMESTAMP)


async def lab_summary(port: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /_lab HTTP/1.1\r\nHost: x\r\n\r\n")
    status, body = await _read_response(reader)
    writer.close()
    state = json.loads(body).get("state", {}) if status == 200 else {}
    return {
        "transactions": state.get("transactions"),
        "subscribers": state.get("subscribers"),
        "retention": state.get("retention"),
    }


async def settle(callbacks: CallbackCounter, expected: int, timeout: float = 30.0) -> None:
    """Wait for the callbacks of the pushes made so far (so phases do not overlap)."""
    deadline = time.monotonic() + timeout
    while callbacks.count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------- schedule


async def run_tree(name: str, src: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    callbacks = CallbackCounter()
    await callbacks.start()
    callback_url = f"http://127.0.0.1:{callbacks.port}/callback"
    rounds: dict[str, list[dict[str, Any]]] = {"bare": [], "emulator": []}
    accepted = 0

    # 1. throughput: alternate bare and one fresh emulator process, round after round
    emulator = Server("emulator", src)
    bare = Server("bare")
    try:
        token, password = await token_and_password(emulator.port)
        make = Pushes(emulator.port, token, password, callback_url)
        bare_req = bare_request(bare.port)
        for _ in range(args.rounds):
            rounds["bare"].append(await bare.measured(load(bare.port, lambda: bare_req, args.seconds, warmup=0.3)))
            row = await emulator.measured(load(emulator.port, make, args.seconds, warmup=0.3))
            rounds["emulator"].append(row)
            accepted += row["accepted"]
            await settle(callbacks, accepted)
    finally:
        bare.stop()
        emulator.stop()
    median = {k: sorted(v, key=lambda r: r["per_second"])[len(v) // 2] for k, v in rounds.items()}
    ratio = median["emulator"]["per_second"] / median["bare"]["per_second"]
    per_round = [
        round(e["per_second"] / b["per_second"], 3) for b, e in zip(rounds["bare"], rounds["emulator"], strict=False)
    ]
    cpu = {k: statistics.median(r["server_cpu_ms_per_request"] for r in v) for k, v in rounds.items()}
    cpu_ratio = cpu["bare"] / cpu["emulator"]
    print(
        f"[{name}] throughput c={CONCURRENCY}: emulator {median['emulator']['per_second']:.0f}/s "
        f"vs bare {median['bare']['per_second']:.0f}/s = {ratio:.2f} (rounds {per_round}); server CPU "
        f"per request {cpu['emulator']:.3f} vs {cpu['bare']:.3f} ms = {cpu_ratio:.2f}",
        flush=True,
    )

    # 2. soak: a new emulator process, pushed without pause
    emulator = Server("emulator", src)
    segments: list[dict[str, Any]] = []
    callbacks.count = 0
    total = 0
    started = time.monotonic()
    try:
        token, password = await token_and_password(emulator.port)
        make = Pushes(emulator.port, token, password, callback_url)
        rss0 = emulator.rss_mb()[0]
        duration = args.baseline_duration if name == "baseline" and args.baseline_duration else args.duration
        while total < args.max_pushes and time.monotonic() - started < duration:
            row = await load(emulator.port, make, args.segment, max_requests=args.max_pushes - total)
            total += row["requests"]
            row["total_accepted"] = sum(s["accepted"] for s in segments) + row["accepted"]
            row["rss_mb"], row["peak_rss_mb"] = (round(x, 1) for x in emulator.rss_mb())
            row["elapsed_s"] = round(time.monotonic() - started, 1)
            row["callbacks_received"] = callbacks.count
            row.update(await lab_summary(emulator.port))
            segments.append(row)
            print(
                f"[{name}] {row['elapsed_s']:>6.1f} s  {row['total_accepted']:>9,} pushes  "
                f"{row['per_second']:>7.0f}/s  p50 {row['p50_ms']:>7.2f}  p99 {row['p99_ms']:>7.2f} ms  "
                f"RSS {row['rss_mb']:>6.1f} MB  kept {row['transactions']} tx / {row['subscribers']} subs",
                flush=True,
            )
        await settle(callbacks, sum(s["accepted"] for s in segments), timeout=60)
        final_rss = emulator.rss_mb()
    finally:
        emulator.stop()
    callbacks.server.close()  # type: ignore[union-attr]
    late = segments[len(segments) // 2 :] if len(segments) > 1 else segments
    late_p99 = round(statistics.median(s["p99_ms"] for s in late), 2)
    return {
        "throughput": {
            "rounds": rounds,
            "median": median,
            "ratio_c32": round(ratio, 3),
            "ratio_per_round": per_round,
            "server_cpu_ms_per_request": cpu,
            "cpu_ratio_c32": round(cpu_ratio, 3),
        },
        "soak": {
            "segments": segments,
            "accepted": sum(s["accepted"] for s in segments),
            "callbacks_received": callbacks.count,
            "seconds": round(time.monotonic() - started, 1),
            "rss_start_mb": round(rss0, 1),
            "rss_end_mb": round(final_rss[0], 1),
            "peak_rss_mb": round(final_rss[1], 1),
            "fresh_p99_ms": segments[0]["p99_ms"],
            "late_p99_ms_median": late_p99,
            "late_p99_ms_max": max(s["p99_ms"] for s in late),
            "p99_late_over_fresh": round(late_p99 / segments[0]["p99_ms"], 2),
            "per_second_first": segments[0]["per_second"],
            "per_second_late_median": statistics.median(s["per_second"] for s in late),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="the full soak: 1,000,000 pushes or 10 minutes")
    parser.add_argument("--quick", action="store_true", help="2 rounds x 2 s, a 10 s soak")
    parser.add_argument("--rounds", type=int, help="throughput rounds (bare / emulator alternate)")
    parser.add_argument("--seconds", type=float, help="seconds per throughput phase")
    parser.add_argument("--segment", type=float, help="seconds per soak segment")
    parser.add_argument("--duration", type=float, help="soak length cap, seconds")
    parser.add_argument("--max-pushes", type=int, help="soak length cap, accepted pushes")
    parser.add_argument("--baseline-src", type=Path, help="another source tree to run the same schedule on")
    parser.add_argument(
        "--baseline-duration", type=float, help="soak length cap for the baseline (default: --duration)"
    )
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.seconds = args.seconds or (5.0 if args.long else 2.0 if args.quick else 3.0)
    args.segment = args.segment or (30.0 if args.long else 5.0)
    args.duration = args.duration or (600.0 if args.long else 10.0 if args.quick else 30.0)
    args.max_pushes = args.max_pushes or 1_000_000

    trees: dict[str, Path | None] = {"current": None}
    if args.baseline_src:
        trees = {"baseline": args.baseline_src.resolve(), "current": ROOT}
    results = {name: asyncio.run(run_tree(name, src, args)) for name, src in trees.items()}

    print(f"\nEmulator soak ({os.cpu_count()} CPUs, concurrency {CONCURRENCY}, `mpesa-lab sandbox` defaults)\n")
    for name, r in results.items():
        t, s = r["throughput"], r["soak"]
        print(
            f"{name}: throughput {t['median']['emulator']['per_second']:.0f}/s vs bare "
            f"{t['median']['bare']['per_second']:.0f}/s, ratio {t['ratio_c32']:.2f} (target >= 0.5); "
            f"in server CPU per request {t['cpu_ratio_c32']:.2f}"
        )
        print(
            f"{name}: soak {s['accepted']:,} pushes in {s['seconds']} s; p99 fresh {s['fresh_p99_ms']} ms, "
            f"late {s['late_p99_ms_median']:.1f} ms (x{s['p99_late_over_fresh']}, target <= 2); "
            f"RSS {s['rss_start_mb']} -> {s['rss_end_mb']} MB, peak {s['peak_rss_mb']} MB (target <= 250)"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "bench_soak",
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "targets": {"ratio_c32": 0.5, "p99_late_over_fresh": 2.0, "peak_rss_mb": 250},
                "results": results,
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
