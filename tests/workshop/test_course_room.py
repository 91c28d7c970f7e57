"""The course in the room (issue 23, items 1 and 6): a lesson notebook's Lab and checks report to
the workshop server with nothing but ``MPESA_LAB_ROOM`` set; the facilitator's page data shows
lessons, exercises, pushes, callbacks and errors; hints and room faults reach the lesson."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mpesa_lab.constants import OAUTH_PATH
from mpesa_lab.listener import room_report
from mpesa_lab.workshop import WorkshopLimits, WorkshopServer

from .conftest import assert_envelope


def write_card(folder: Path, creds: dict[str, str], name: str = "card.env") -> Path:
    card = folder / name
    card.write_text(
        "\n".join(
            [
                "MPESA_ENV=workshop",
                f"MPESA_BASE_URL={creds['base_url']}",
                f"MPESA_CONSUMER_KEY={creds['consumer_key']}",
                f"MPESA_CONSUMER_SECRET={creds['consumer_secret']}",
                f"MPESA_SHORTCODE={creds['shortcode']}",
                f"MPESA_PASSKEY={creds['passkey']}",
            ]
        )
        + "\n"
    )
    return card


@pytest.fixture
def in_room(server, tmp_path, monkeypatch) -> Iterator[Path]:
    """This process is participant p01 of ``server``'s room, as `mpesa-lab lab --room CARD` makes it."""
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path / "home"))
    card = write_card(tmp_path, server.credentials("p01"))
    monkeypatch.setenv(room_report.ROOM_ENV, str(card))
    monkeypatch.delenv(room_report.LESSON_ENV, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    try:
        yield card
    finally:
        if room_report._reporter is not None:
            room_report._reporter.stop()
        room_report._reporter = room_report._reporter_from = None


def me(server) -> dict[str, Any]:
    return server.summary()["participants"][0]


def eventually(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def basic(creds: dict[str, str], secret: str | None = None) -> dict[str, str]:
    pair = f"{creds['consumer_key']}:{secret or creds['consumer_secret']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def test_a_lesson_joins_the_room_by_itself_and_the_page_shows_its_progress(server, in_room):
    from mpesa_lab.course import check, lesson_store
    from mpesa_lab.lab import Lab

    lab = Lab.start(store=lesson_store("04-first-push"))  # exactly what the notebooks write
    try:
        assert lab.emulator is not None and lab.room is not None  # the lesson's own emulator, and the room
        check.msisdn("0708 374 149", expected="254708374149")  # wrong: not the 2547... form
        push = lab.push("254708374149", 10)
        push.answer(pin="1234")
        paid = push.wait()
        check.customer_answer(paid, "paid", lab=lab)
        check.customer_answer(..., "cancelled", lab=lab)  # not answered yet
        # The callback is reported by the listener's thread once stored, maybe after wait() returned.
        eventually(lambda: lab.room.flush() and me(server)["results"] == {"0": 1})
        eventually(lambda: me(server)["lesson_counts"]["passed"] == 1)
        p01 = me(server)
        assert p01["lesson"] == "04-first-push"
        statuses = {x["exercise"]: x["status"] for x in p01["lesson_exercises"]}
        assert statuses == {
            "Phone number for Daraja": "failed",
            "A push the customer paid": "passed",
            "A push the customer cancelled": "not_yet",
        }
        assert (p01["pushes"], p01["accepted"]) == (1, 1)
        room = server.summary()
        view = {x["exercise"]: (x["passed"], x["failed"], x["not_yet"]) for x in room["exercises"]}
        assert view["A push the customer paid"] == (1, 0, 2)  # 3 participants: 2 not yet
        assert view["Phone number for Daraja"] == (0, 1, 2)
        assert room["lessons"] == ["04-first-push"]
    finally:
        lab.stop()


def test_a_failed_check_shows_its_mitigation_and_clears_when_the_participant_succeeds(server, in_room):
    from mpesa_lab.course import check, lesson_store

    lesson_store("00-start-here")
    check.msisdn("0708374149", expected="254708374149")
    room = room_report.reporter()
    assert room is not None and room.flush()
    eventually(lambda: me(server)["last_error"] is not None)
    error = me(server)["last_error"]
    assert (error["code"], error["message"], error["where"]) == ("check", "Phone number for Daraja", "00-start-here")
    assert "254" in error["mitigation"]  # the check's own words on what to do
    check.msisdn("254708374149", expected="254708374149")
    assert room.flush()
    eventually(lambda: me(server)["last_error"] is None)


def test_the_last_error_of_oauth_clears_when_a_token_is_then_issued(server):
    """Item 6: the page's "last error" cleared only on an accepted push; a participant who fixed
    their consumer secret and got a token still showed the OAuth error."""
    creds = server.credentials("p01")
    with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as http:
        refused = http.get(OAUTH_PATH, params={"grant_type": "nonsense"}, headers=basic(creds))
        assert refused.status_code == 400
        assert me(server)["last_error"]["where"] == "oauth"
        ok = http.get(OAUTH_PATH, params={"grant_type": "client_credentials"}, headers=basic(creds))
        assert ok.status_code == 200
    assert me(server)["last_error"] is None


def test_a_paid_callback_clears_the_error_of_a_failed_one(server):
    from mpesa_lab.workshop.room import Progress

    progress = Progress(server.room.limits)
    progress.note_error("1032", "Request cancelled by user", "callback")
    progress.note_success(only=("oauth",))  # a token does not mend a callback
    assert progress.last_error is not None
    progress.note_success()
    assert progress.last_error is None


def test_a_hint_and_a_room_fault_reach_the_lesson_in_progress(server, in_room):
    from mpesa_lab.course import lesson_store
    from mpesa_lab.lab import Lab

    lab = Lab.start(store=lesson_store("05-callbacks-listener"))
    try:
        room = lab.room
        assert room is not None and room.flush()
        eventually(lambda: me(server)["lesson"] == "05-callbacks-listener")
        server.room.broadcast("not for you", lesson="07-result-code-analytics")
        server.room.broadcast("Query when a callback is late", lesson="05-callbacks-listener")
        server.room.start_fault("delay", 30, delay=1.5, lesson="05-callbacks-listener")
        room._wake.set()  # the next heartbeat, now
        eventually(lambda: room.faults != [])
        assert [h["text"] for h in room.take_hints()] == [
            "Query when a callback is late",
            "room fault: " + room.faults[0]["what"],
        ]
        config = lab.emulator.state.config
        assert "delay" in config.callback_faults and config.callback_delay == 1.5
        assert room.flush()
        eventually(lambda: me(server)["faults_hit"] == ["delay"])
        server.room.stop_fault("delay")
        room._wake.set()
        eventually(lambda: room.faults == [])
        assert "delay" not in lab.emulator.state.config.callback_faults
    finally:
        lab.stop()


def test_an_unreachable_room_costs_the_notebook_nothing(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    creds = {"base_url": f"http://127.0.0.1:{port}", "consumer_key": "k", "consumer_secret": "s"}
    creds |= {"shortcode": "600001", "passkey": "x"}
    monkeypatch.setenv(room_report.ROOM_ENV, str(write_card(tmp_path, creds)))
    try:
        from mpesa_lab.course import check

        started = time.perf_counter()
        for _ in range(20):
            check.msisdn("254708374149", expected="254708374149")
        assert time.perf_counter() - started < 0.5  # never waits for the room
        room = room_report.reporter()
        assert room is not None and room.flush(5)
        assert room.reachable is False and room.dropped == 20 and room.sent == 0
    finally:
        if room_report._reporter is not None:
            room_report._reporter.stop()
        room_report._reporter = room_report._reporter_from = None


def test_a_card_that_cannot_be_read_is_said_once_and_the_lesson_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv(room_report.ROOM_ENV, str(tmp_path / "missing.env"))
    try:
        with pytest.warns(UserWarning, match="not reporting to the workshop room: cannot read the room card"):
            assert room_report.reporter() is None
        assert room_report.reporter() is None  # no second warning (pytest would fail on one)
        bad = tmp_path / "half.env"
        bad.write_text("MPESA_BASE_URL=http://10.0.0.1:8000\n")
        with pytest.raises(room_report.RoomCardError, match="no MPESA_CONSUMER_KEY, MPESA_CONSUMER_SECRET"):
            room_report.read_card(bad)
    finally:
        room_report._reporter = room_report._reporter_from = None


def test_mpesa_lab_lab_room_refuses_a_card_it_cannot_read_in_one_line(tmp_path, capsys):
    from mpesa_lab.cli import main

    assert main(["lab", "--room", str(tmp_path / "nope.env"), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert "Cannot join the room" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "lesson"),
    [
        ("04-first-push", "04-first-push"),
        ("/home/me/.mpesa-lab/course/10-your-own-endpoint.sqlite", "10-your-own-endpoint"),
        ("notebooks/11_troubleshooting.ipynb", "11-troubleshooting"),
        ("scratch.ipynb", None),
        (None, None),
    ],
)
def test_any_lesson_is_named_from_its_store_or_notebook(name, lesson):
    assert room_report.lesson_of(name) == lesson


# ---- a hostile participant ------------------------------------------------------------------------


def course(http: httpx.Client, headers: dict[str, str], body: Any) -> httpx.Response:
    return http.post("/_workshop/course", headers=headers, content=json.dumps(body))


def test_course_reports_are_authenticated_checked_and_bounded(tmp_path):
    limits = WorkshopLimits(course_reports_per_minute=60, lessons_per_participant=2, exercises_per_lesson=3)
    srv = WorkshopServer(tmp_path / "room", participants=2, limits=limits, name="workshop-course-hostile").start()
    try:
        creds = srv.credentials("p01")
        ok = basic(creds)
        with httpx.Client(base_url=srv.url, trust_env=False, timeout=10) as http:
            check = {"kind": "check", "exercise": "e", "status": "passed"}
            assert_envelope(course(http, {}, {"events": [check]}), "404.001.03", 404)
            assert_envelope(course(http, basic(creds, "wrong"), {"events": [check]}), "404.001.03", 404)
            big = {"lesson": "01", "events": [{"kind": "check", "exercise": "x" * 20_000, "status": "passed"}]}
            assert_envelope(course(http, ok, big), "413.001.01", 413)
            assert_envelope(course(http, ok, {"lesson": "01", "events": [check] * 51}), "400.002.02", 400)
            assert_envelope(course(http, ok, {"lesson": "01", "secret": 1}), "400.002.02", 400)
            bad = {"kind": "check", "exercise": "a\x1bb", "status": "passed"}
            assert_envelope(course(http, ok, {"lesson": "01", "events": [bad]}), "400.002.02", 400)
            assert_envelope(course(http, ok, {"lesson": "01", "events": [{"kind": "shell"}]}), "400.002.02", 400)
            for lesson in ("01", "02", "03"):  # a third lesson is not kept
                events = [{"kind": "check", "exercise": f"e{i}", "status": "failed"} for i in range(5)]
                assert course(http, ok, {"lesson": lesson, "events": events}).status_code == 200
            kept = srv.room.desk("p01").progress.course.lessons
            assert list(kept) == ["01", "02"] and all(len(ex) == 3 for ex in kept.values())
            refused = 0
            for _ in range(40):  # the burst is 30 a participant; p02 is not slowed by p01
                refused += course(http, ok, {"lesson": "01"}).status_code == 429
            assert refused > 0
            assert course(http, basic(srv.credentials("p02")), {"lesson": "01"}).status_code == 200
            summary = json.dumps(srv.summary())
            assert creds["consumer_secret"] not in summary and creds["passkey"] not in summary
    finally:
        srv.stop()


def test_mpesa_lab_lab_room_hands_every_kernel_the_cards_file_name_not_its_secret(tmp_path, monkeypatch):
    import os

    from mpesa_lab import notebook_server
    from mpesa_lab.cli import main

    creds = {"base_url": "http://10.0.0.5:8000", "consumer_key": "ws-p07-k", "consumer_secret": "s3cret-value"}
    card = write_card(tmp_path, creds | {"shortcode": "600007", "passkey": "pk"})
    seen: dict[str, str | None] = {}

    def fake_run_lab(*args: Any, **kwargs: Any) -> int:  # JupyterLab itself is tested elsewhere
        seen["room"] = os.environ.get(room_report.ROOM_ENV)
        return 0

    monkeypatch.setattr(notebook_server, "run_lab", fake_run_lab)
    monkeypatch.delenv(room_report.ROOM_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["lab", "--room", "card.env", "--no-browser"]) == 0
    assert seen["room"] == str(card.resolve())
    assert "s3cret-value" not in " ".join(f"{k}={v}" for k, v in os.environ.items())


def test_the_room_view_and_hints_stay_small_and_timely():
    from mpesa_lab.workshop.course import CourseProgress, Hints, exercise_view

    limits = WorkshopLimits(exercises_per_lesson=100)
    honest, hostile = CourseProgress(limits), CourseProgress(limits)
    honest.note_check("04", "real", "passed")
    hostile.note_check("04", "real", "failed")
    for i in range(200):  # the 100 kept: its lesson's cap
        hostile.note_check("04", f"made-up {i}", "failed")
    assert len(hostile.lessons["04"]) == 100
    rows = exercise_view([honest, hostile], most=10)
    assert len(rows) == 10  # the most reported first: "real" (2 participants) is kept
    real = next(r for r in rows if r["exercise"] == "real")
    assert (real["passed"], real["failed"], real["not_yet"]) == (1, 1, 0)
    hints = Hints()
    old = hints.add("old news")
    old_item = hints.items[-1]
    old_item["at"] -= 3600
    hints.add("for 05", lesson="05-callbacks-listener")
    hints.add("now")
    assert [h["text"] for h in hints.since(0, "05-callbacks-listener")] == ["for 05", "now"]
    assert [h["text"] for h in hints.since(old["id"] + 1, "04-first-push")] == ["now"]


def test_a_lone_surrogate_from_a_participant_never_breaks_the_facilitators_page(server):
    """``"\\ud800"`` is valid JSON but no UTF-8: kept as sent (the progress route did), every
    later /api/room answered 500 and the facilitator's page went blank for the rest of the day."""
    creds = server.credentials("p01")
    lone = json.dumps({"exercise": "\ud800"})
    with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as http:
        assert http.post("/_workshop/progress", content=lone, headers=basic(creds)).status_code == 200
        report = {"lesson": "01", "events": [{"kind": "push", "ok": False, "code": "\ud800", "message": "\udfff"}]}
        assert course(http, basic(creds), report).status_code == 200
        room = http.get("/_workshop/api/room", headers={"Authorization": f"Bearer {server.facilitator_token}"})
    assert room.status_code == 200, room.text
    assert room.json()["participants"][0]["last_error"]["code"] == "?"


def test_a_report_the_room_rate_limits_is_kept_and_sent_again(tmp_path):
    limits = WorkshopLimits(course_reports_per_minute=1)  # one report, then 429 for a minute
    srv = WorkshopServer(tmp_path / "room", participants=1, limits=limits, name="workshop-course-429").start()
    card = room_report.read_card(write_card(tmp_path, srv.credentials("p01")))
    room = room_report.RoomReporter(card, heartbeat=0.5)
    room.set_lesson("01-the-journey")
    try:
        room.note("check", exercise="first", status="passed")
        assert room.flush() and room.sent == 1
        room.note("check", exercise="second", status="passed")
        assert not room.flush(1.0)  # refused: still queued, not dropped
        assert room.dropped == 0 and [e["exercise"] for e in room._queue] == ["second"]
        srv.room.desk("p01").course_rate.tokens = 1  # the minute is over
        assert room.flush(5) and room.sent == 2
        assert [x["exercise"] for x in srv.summary()["participants"][0]["lesson_exercises"]] == ["first", "second"]
    finally:
        room.stop()
        srv.stop()
