"""Issue 19's done-when at a reduced size (the full one, with p99 side by side, is
``python bench/bench_workshop.py --attacker``): one participant tries items 3 and 4 at once while
others push; the server's memory grows by far less than 200 MB, no honest callback is lost, and
the room's page data stays small."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.workshop import WorkshopServer

from .conftest import Participant

pytestmark = pytest.mark.slow


def _rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_one_attacker_does_not_cost_the_room_memory_or_callbacks(tmp_path):
    server = WorkshopServer(
        tmp_path / "room", participants=6, config=EmulatorConfig(seed=19), name="workshop-attacked"
    ).start()
    port = server.url.rsplit(":", 1)[1]
    bad = Participant(server, "p06")
    inbox_path = f"/_workshop/inbox/{server.room.desk('p06').participant.inbox_token.reveal()}"
    stop = threading.Event()
    sent = {"gib": 0, "letters": 0, "codes": 0, "hellos": 0}

    def gigabytes() -> None:
        auth = bad.basic["Authorization"]
        while not stop.is_set():
            for route in ("/_workshop/relay/hello", "/_workshop/progress"):
                try:
                    with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as sock:
                        sock.sendall(
                            f"POST {route} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
                            f"Content-Length: {1 << 30}\r\n\r\n".encode()
                        )
                        for _ in range(64):
                            sock.sendall(b" " * (1 << 20))
                except OSError:
                    pass
                sent["gib"] += 1

    def letters() -> None:
        pad = "x" * 64_000
        with httpx.Client(timeout=10) as http:
            n = 0
            while not stop.is_set():
                n += 1
                body = {
                    "Body": {
                        "stkCallback": {
                            "CheckoutRequestID": f"A{n}",
                            "ResultCode": f"E{n}",
                            "ResultDesc": pad if n % 2 else "d",
                        }
                    }
                }
                http.post(server.url + inbox_path, json=body)
                sent["letters"] += 1

    def hellos() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            while not stop.is_set():
                for host in ("127.0.0.1", "2130706433", "[::ffff:127.0.0.1]", "0.0.0.0"):
                    url = f"http://{host}:{port}{inbox_path}"
                    answer = http.post(
                        "/_workshop/relay/hello", json={"direct_url": url, "health_url": url}, headers=bad.basic
                    )
                    assert answer.json()["delivery"] == "relay"
                    sent["hellos"] += 1
                bad.push(phone=f"2547080{sent['hellos'] % 100000:05d}", CallBackURL=server.url + inbox_path)

    honest = [Participant(server, pid) for pid in ("p01", "p02", "p03")]
    before = _rss_mib()
    threads = [threading.Thread(target=f, daemon=True) for f in (gigabytes, letters, hellos)]
    for thread in threads:
        thread.start()
    try:
        expected: dict[str, set[str]] = {p.id: set() for p in honest}
        for n in range(30):
            p = honest[n % 3]
            token = server.room.desk(p.id).participant.inbox_token.reveal()
            answer = p.push(phone=f"2547120{n:05d}", CallBackURL=f"{server.url}/_workshop/inbox/{token}")
            assert answer.status_code == 200, answer.text
            expected[p.id].add(answer.json()["CheckoutRequestID"])
        deadline = time.monotonic() + 20
        while True:
            got = {
                pid: {letter.checkout_request_id for letter in server.room.desk(pid).mailbox.letters.values()}
                for pid in expected
            }
            if all(expected[pid] <= got[pid] for pid in expected):
                break
            assert time.monotonic() < deadline, {pid: len(expected[pid] - got[pid]) for pid in expected}
            time.sleep(0.1)
        time.sleep(2)  # the attack goes on a little longer
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    grown = _rss_mib() - before
    assert grown < 200, f"the process grew {grown:.0f} MiB under attack ({sent})"
    assert sent["gib"] >= 4 and sent["letters"] >= 50 and sent["hellos"] >= 8, sent
    desk = server.room.desk("p06")
    assert desk.mailbox.held <= server.limits.mailbox_bytes
    assert desk.mailbox.counts["direct"] == 0 and desk.mailbox.direct_url is None  # never posted to itself
    room = httpx.get(
        f"{server.url}/_workshop/api/room", headers={"Authorization": f"Bearer {server.facilitator_token}"}, timeout=10
    )
    assert room.status_code == 200 and len(room.content) < 60_000
    assert len(json.loads(room.content)["participants"][5]["results"]) <= server.limits.codes_per_participant + 1
    for p in [*honest, bad]:
        p.close()
    server.stop()
