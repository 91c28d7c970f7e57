"""The course in the room, in Chromium (issue 23 item 1): the facilitator's page shows a
participant's lesson progress move as their checks pass, the last error go once they succeed,
the room's view per exercise, a hint sent from the page; and nothing a participant sends (name,
exercise, problem) or the facilitator types is ever run as HTML."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from playwright.sync_api import expect

from mpesa_lab.listener import room_report
from mpesa_lab.workshop import WorkshopServer

EVIL_NAME = '<img src=x onerror="window.__pwned=1">Amina'
EVIL_EXERCISE = "<script>window.__pwned=2</script>ex"
EVIL_PROBLEM = '<img src=x onerror="window.__pwned=3"> fix it'


@pytest.fixture
def room(tmp_path, monkeypatch):
    server = WorkshopServer(tmp_path / "room", participants=1, title="Course room", name="browser-course-room").start()
    server.room.add_participant(EVIL_NAME)  # as the page's "add participant" would
    creds = server.credentials("p01")
    card = tmp_path / "card.env"
    card.write_text(
        f"MPESA_BASE_URL={creds['base_url']}\nMPESA_CONSUMER_KEY={creds['consumer_key']}\n"
        f"MPESA_CONSUMER_SECRET={creds['consumer_secret']}\n"
    )
    monkeypatch.setenv(room_report.ROOM_ENV, str(card))
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path / "home"))
    try:
        yield server
    finally:
        if room_report._reporter is not None:
            room_report._reporter.stop()
        room_report._reporter = room_report._reporter_from = None
        server.stop()


def test_the_page_follows_a_lesson_as_its_checks_pass(room, page, screenshot_dir):
    from mpesa_lab.course import check, lesson_store

    page.goto(room.facilitator_url)
    p01 = page.locator('tr[data-participant="p01"]')
    lesson = p01.locator("td.lesson")
    expect(lesson).to_have_text("-")

    lesson_store("00-start-here")  # what the lesson's start cell runs
    check.msisdn("0708374149", expected="254708374149")  # a wrong answer first
    expect(lesson).to_have_attribute("data-failed", "1", timeout=10_000)
    expect(lesson).to_contain_text("00-start-here")
    expect(p01).to_contain_text("Phone number for Daraja")  # the last error: the check's own advice
    check.msisdn("254708374149", expected="254708374149")  # then right: progress moves
    expect(lesson).to_have_attribute("data-passed", "1", timeout=10_000)
    expect(lesson).to_have_attribute("data-failed", "0")
    expect(p01).not_to_contain_text("Phone number for Daraja")  # the last error cleared
    expect(page.locator("#exercises")).to_contain_text("Phone number for Daraja")

    # A hostile participant's report, and a facilitator's hint typed with markup: shown as text.
    p02 = room.credentials("p02")
    auth = base64.b64encode(f"{p02['consumer_key']}:{p02['consumer_secret']}".encode()).decode()
    body = {
        "lesson": "00-start-here",
        "events": [{"kind": "check", "exercise": EVIL_EXERCISE, "status": "failed", "problem": EVIL_PROBLEM}],
    }
    sent = httpx.post(
        f"{room.url}/_workshop/course", content=json.dumps(body), headers={"Authorization": f"Basic {auth}"}
    )
    assert sent.status_code == 200, sent.text
    page.fill("#hint-text", '<b>Query</b> <img src=x onerror="window.__pwned=4">')
    page.click("#hint-send")
    expect(page.locator("#hints")).to_contain_text(
        '<b>Query</b> <img src=x onerror="window.__pwned=4">', timeout=10_000
    )
    evil = page.locator('tr[data-participant="p02"]')
    expect(evil).to_contain_text(EVIL_NAME, timeout=10_000)
    expect(evil).to_contain_text(EVIL_PROBLEM)
    expect(page.locator("#exercises")).to_contain_text(EVIL_EXERCISE)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#people img, #exercises img, #hints img, #people script, #exercises script").count() == 0
    page.screenshot(path=str(screenshot_dir / "workshop-course-room.png"), full_page=True)
