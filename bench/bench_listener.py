"""Callbacks durably stored per second, against a bare Starlette endpoint on the same setup.

    python bench/bench_listener.py            # 5,000 callbacks at concurrency 32 (~10 s)
    python bench/bench_listener.py --quick    # 1,500 callbacks
    python bench/bench_listener.py --requests 20000 --sync NORMAL

Each server runs in its own process, exactly as the lab runs it (uvicorn in a BackgroundServer
thread on a socket from ``background.bind_socket``); this process is the load: ``--concurrency``
keep-alive connections posting stkCallback bodies. The listener acknowledges each callback only after its
SQLite transaction (WAL, ``synchronous=FULL`` by default) has committed, so its acknowledgements
per second are callbacks durably stored per second; the bench checks the store holds them all.
The bare endpoint reads the body and returns the same fixed JSON. Target: ratio >= 0.25.
Writes bench/results/bench_listener.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ACCEPTED = json.dumps({"ResultCode": 0, "ResultDesc": "Accepted"}).encode()
RESULTS = Path(__file__).resolve().parent / "results" / "bench_listener.json"


# ---- server side (run in a child process) ---------------------------------------------------


def serve(kind: str, db: str, sync: str) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from mpesa_lab.background import BackgroundServer
    from mpesa_lab.listener import CallbackStore, Listener

    if kind == "listener":
        listener = Listener(CallbackStore(db, synchronous=sync), name="bench-listener").start()
        url = listener.callback_url
    else:

        async def endpoint(request: Request) -> Response:
            await request.body()
            return Response(ACCEPTED, media_type="application/json")

        app = Starlette(routes=[Route("/bench/callback", endpoint, methods=["POST"])])
        server = BackgroundServer(app, name="bench-bare", proxy_headers=False).start()
        url = f"{server.url}/bench/callback"
    print(f"READY {url}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin


def start_server(kind: str, db: str, sync: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--db", db, "--sync", sync],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"{kind} server did not start: {line!r}")
    return proc, line.split(" ", 1)[1].strip()


def stop_server(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- load side ------------------------------------------------------------------------------


def body(i: int) -> bytes:
    cid = f"ws_CO_{1007202409152617 + i}"
    items = [
        {"Name": "Amount", "Value": 1 + i % 100},
        {"Name": "MpesaReceiptNumber", "Value": f"SG{i:08d}"},
        {"Name": "TransactionDate", "Value": 20240710091526},
        {"Name": "PhoneNumber", "Value": 254708374149},
    ]
    return json.dumps(
        {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": f"2654-4b64-97ff-{i:016d}",
                    "CheckoutRequestID": cid,
                    "ResultCode": 0,
                    "ResultDesc": "The service request is processed successfully.",
                    "CallbackMetadata": {"Item": items},
                }
            }
        }
    ).encode()


async def load(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Post every body over ``concurrency`` keep-alive connections; (seconds, latencies)."""
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    pending = iter(bodies)
    latencies: list[float] = []

    async def sender() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for raw in pending:
                request = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: "
                    f"application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
                ).encode() + raw
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
                )
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if not lines[0].startswith("HTTP/1.1 200") or answer != ACCEPTED:
                    raise SystemExit(f"unexpected answer: {lines[0]} {answer!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def measure(kind: str, n: int, concurrency: int, sync: str, workdir: str) -> dict[str, float]:
    db = os.path.join(workdir, f"{kind}.sqlite")
    proc, url = start_server(kind, db, sync)
    try:
        warmup = [body(-1 - i) for i in range(min(300, n))]
        asyncio.run(load(url, warmup, concurrency))
        elapsed, latencies = asyncio.run(load(url, [body(i) for i in range(n)], concurrency))
    finally:
        stop_server(proc)
    result = {
        "requests": n,
        "seconds": round(elapsed, 3),
        "per_second": round(n / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 2),
    }
    if kind == "listener":
        from mpesa_lab.listener import CallbackStore

        stored = CallbackStore(db).count_callbacks()
        expected = n + len(warmup)
        if stored != expected:
            raise SystemExit(f"store holds {stored} callbacks, expected {expected}")
        result["stored"] = stored
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sync", default="FULL", choices=["FULL", "NORMAL", "OFF"])
    parser.add_argument("--quick", action="store_true", help="1,500 requests")
    parser.add_argument("--serve", choices=["listener", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.sync)
        return
    n = 1500 if args.quick else args.requests

    with tempfile.TemporaryDirectory() as workdir:
        bare = measure("bare", n, args.concurrency, args.sync, workdir)
        listener = measure("listener", n, args.concurrency, args.sync, workdir)
    ratio = listener["per_second"] / bare["per_second"]
    report = {
        "benchmark": "listener",
        "concurrency": args.concurrency,
        "synchronous": args.sync,
        "cpus": os.cpu_count(),
        "bare_starlette": bare,
        "listener": listener,
        "ratio": round(ratio, 3),
        "target_ratio": 0.25,
        "meets_target": ratio >= 0.25,
    }
    print(f"{'server':<16}{'requests':>9}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, row in (("bare Starlette", bare), ("listener", listener)):
        print(f"{name:<16}{row['requests']:>9}{row['per_second']:>10.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}")
    print(
        f"ratio listener / bare = {ratio:.2f} (target >= 0.25), synchronous={args.sync}, concurrency={args.concurrency}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
