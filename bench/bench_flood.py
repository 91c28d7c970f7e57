"""Valid callbacks served while a connect-flood hammers the listener at a low open-file limit.

    python bench/bench_flood.py                      # RLIMIT_NOFILE 1024 and 256, 10 s each
    python bench/bench_flood.py --nofile 256 --seconds 20
    python bench/bench_flood.py --src /tmp/base      # another source tree (before/after)

Three processes, as on a real machine:

- the listener (a ``Listener``, exactly as the lab runs it) with its soft RLIMIT_NOFILE lowered
  to ``--nofile`` before anything is imported;
- the flood: raw non-blocking sockets that connect, send nothing, and reconnect the moment the
  server closes them (its open-file limit raised to the hard limit, ``--flood-sockets`` at once);
- this process: ``--senders`` clients posting valid stkCallback bodies, one per new connection
  (as Daraja does), each waiting for the answer (timeout ``--request-timeout``).

Reported: connects/s achieved by the flood, callbacks sent, served (200 and the listener's
acknowledgement), reset/refused, timed out, and whether every acknowledged callback is in the
store (it must be: nothing acknowledged is ever lost). Writes bench/results/bench_flood.json.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import selectors
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bench_flood.json"
CLIENT = "socket"  # or "httpx" (--client)
CONNECT_TIMES: list[float] = []  # how long each valid client's connect() took
ACCEPTED = json.dumps({"ResultCode": 0, "ResultDesc": "Accepted"}).encode()


# ---- the listener (child process) -----------------------------------------------------------


def serve(db: str, nofile: int) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
    from mpesa_lab.listener import Listener

    listener = Listener(db, name="bench-flood").start()
    print(f"READY {listener.callback_url}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    guard = listener._server.guard if listener._server is not None else None
    try:  # the process's connection budget (in background.py before issue 20, for --baseline-src)
        from mpesa_lab._uvicorn_guard import _budget as budget
    except ImportError:
        from mpesa_lab.background import _budget as budget

    stats = {
        "evicted": getattr(guard, "evicted", None),
        "timed_out": getattr(guard, "timed_out", None),
        "refused_at_accept": budget.refused,
        "let_in_over_budget": getattr(budget, "overdrawn", None),
    }
    listener.stop()
    print(f"STATS {json.dumps(stats)}", flush=True)


# ---- the flood (child process) --------------------------------------------------------------


def flood(host: str, port: int, seconds: float, sockets: int) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    selector = selectors.DefaultSelector()
    connects = failures = 0

    def open_one() -> None:
        nonlocal failures
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            failures += 1
            sock.close()
            return
        selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, "connecting")

    for _ in range(sockets):
        open_one()
    print("FLOODING", flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, events in selector.select(0.05):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if key.data == "connecting":
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    connects += 1  # a completed handshake (the server may have closed it already)
                    if not events & selectors.EVENT_READ:
                        selector.modify(sock, selectors.EVENT_READ, "open")  # idle: sends nothing
                        continue
                else:
                    failures += 1
            # readable: the server closed it (EOF or reset), or the connect failed: reconnect
            selector.unregister(sock)
            sock.close()
            open_one()
        if len(selector.get_map()) < sockets:
            for _ in range(sockets - len(selector.get_map())):
                open_one()
    print(json.dumps({"connects": connects, "failures": failures, "seconds": seconds}), flush=True)


# ---- valid callbacks (this process) ---------------------------------------------------------


def callback_body(i: int) -> bytes:
    items = [
        {"Name": "Amount", "Value": 1},
        {"Name": "MpesaReceiptNumber", "Value": f"FL{i:08d}"},
        {"Name": "TransactionDate", "Value": 20240710091526},
        {"Name": "PhoneNumber", "Value": 254708374149},
    ]
    return json.dumps(
        {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": f"flood-{i:012d}",
                    "CheckoutRequestID": f"ws_CO_flood{i:012d}",
                    "ResultCode": 0,
                    "ResultDesc": "The service request is processed successfully.",
                    "CallbackMetadata": {"Item": items},
                }
            }
        }
    ).encode()


def post_httpx(host: str, port: int, path: str, i: int, timeout: float) -> str:
    """One callback through httpx (--client httpx): more time between connect and send."""
    import httpx

    try:
        with httpx.Client(timeout=timeout) as client:
            r = client.post(f"http://{host}:{port}{path}", content=callback_body(i), headers={"Connection": "close"})
    except httpx.TimeoutException:
        return "timeout"
    except httpx.HTTPError:
        return "reset"
    return "served" if r.status_code == 200 else "other"


def post_one(host: str, port: int, path: str, i: int, timeout: float) -> str:
    """One callback on a new connection: 'served', 'reset', 'timeout' or 'other'."""
    if CLIENT == "httpx":
        return post_httpx(host, port, path, i, timeout)
    raw = callback_body(i)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n"
    ).encode() + raw
    try:
        started = time.perf_counter()
        with socket.create_connection((host, port), timeout=timeout) as sock:
            CONNECT_TIMES.append(time.perf_counter() - started)
            sock.sendall(request)
            answer = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
    except TimeoutError:
        return "timeout"
    except OSError:
        return "reset"
    if answer.startswith(b"HTTP/1.1 200") and answer.endswith(ACCEPTED):
        return "served"
    return "reset" if not answer else "other"


def send_callbacks(
    url: str, seconds: float, senders: int, timeout: float
) -> tuple[dict[str, int], list[int], list[float]]:
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    counts = {"served": 0, "reset": 0, "timeout": 0, "other": 0}
    served: list[int] = []
    latencies: list[float] = []
    lock = threading.Lock()
    numbers = iter(range(10**9))
    deadline = time.monotonic() + seconds

    def sender() -> None:
        while time.monotonic() < deadline:
            with lock:
                i = next(numbers)
            started = time.perf_counter()
            outcome = post_one(host, port, path, i, timeout)
            took = time.perf_counter() - started
            with lock:
                counts[outcome] += 1
                if outcome == "served":
                    served.append(i)
                    latencies.append(took)

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts, served, latencies


def run(nofile: int, seconds: float, senders: int, flood_sockets: int, request_timeout: float, src: str | None) -> dict:
    env = dict(os.environ)
    env["MPESA_LAB_HOME"] = tempfile.mkdtemp(prefix="mpesa-lab-flood-home-")
    if src:
        env["PYTHONPATH"] = src
    workdir = tempfile.mkdtemp(prefix="mpesa-lab-flood-")
    db = os.path.join(workdir, "store.sqlite")
    server_log = open(os.path.join(workdir, "server.log"), "w")  # its flood warnings, not ours
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", db, "--nofile", str(nofile)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=server_log,
        text=True,
        env=env,
    )
    assert server.stdin is not None and server.stdout is not None
    line = server.stdout.readline()
    if not line.startswith("READY "):
        server.kill()
        raise SystemExit(f"listener did not start: {line!r}")
    url = line.split(" ", 1)[1].strip()
    parts = urlsplit(url)
    flooder = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--flood",
            str(parts.hostname),
            str(parts.port),
            str(seconds + 1),
            str(flood_sockets),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert flooder.stdout is not None
    assert flooder.stdout.readline().strip() == "FLOODING"
    time.sleep(0.5)  # the flood is at full strength before the first callback
    CONNECT_TIMES.clear()
    counts, served, latencies = send_callbacks(url, seconds, senders, request_timeout)
    flood_out = json.loads(flooder.stdout.readline())
    flooder.wait(30)
    server.stdin.close()
    stats_line = server.stdout.read()
    server.wait(60)
    stats = next((json.loads(x.split(" ", 1)[1]) for x in stats_line.splitlines() if x.startswith("STATS ")), {})
    with sqlite3.connect(db) as conn:
        stored = {row[0] for row in conn.execute("SELECT checkout_request_id FROM callbacks")}
    lost = [i for i in served if f"ws_CO_flood{i:012d}" not in stored]
    sent = sum(counts.values())
    return {
        "nofile": nofile,
        "flood_connects_per_s": round(flood_out["connects"] / flood_out["seconds"]),
        "sent": sent,
        **counts,
        "served_share": round(counts["served"] / sent, 3) if sent else None,
        "served_per_s": round(counts["served"] / seconds, 1),
        "served_latency_ms_p50_p99": _percentiles(latencies),
        "connect_ms_p50_p99": _percentiles(CONNECT_TIMES),
        "acknowledged_lost": len(lost),
        "server": stats,
    }


def _percentiles(values: list[float]) -> list[float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return [round(1000 * ordered[int(q * (len(ordered) - 1))], 1) for q in (0.5, 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nofile", type=int, action="append")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--flood-sockets", type=int, default=3000)
    parser.add_argument("--request-timeout", type=float, default=5.0)
    parser.add_argument("--src", help="measure another source tree (PYTHONPATH)")
    parser.add_argument(
        "--client",
        choices=("socket", "httpx"),
        default="socket",
        help="how valid callbacks are sent: a raw socket (request written right after connect) or httpx",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--flood", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    global CLIENT
    CLIENT = args.client
    if args.serve:
        serve(args.serve, (args.nofile or [1024])[0])
        return
    if args.flood:
        host, port, seconds, sockets = args.flood
        flood(host, int(port), float(seconds), int(sockets))
        return
    results = [
        run(n, args.seconds, args.senders, args.flood_sockets, args.request_timeout, args.src)
        for n in (args.nofile or [1024, 256])
    ]
    for result in results:
        print(json.dumps(result))
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"runs": results, "src": args.src or "this tree"}, indent=2) + "\n")


if __name__ == "__main__":
    main()
