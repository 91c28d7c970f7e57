"""The facilitator's page in Chromium: it lists the participants, follows their pushes as they
happen, shows the last error with its mitigation, and turns a room fault on and off."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from mpesa_lab.daraja.errors import MpesaLabError
from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.workshop import simulate


@pytest.fixture
def room(tmp_path):
    sim = simulate(4, relay_every=2, folder=tmp_path, title="Browser room", config=EmulatorConfig(seed=3))
    yield sim
    sim.stop()


def test_facilitator_page_follows_the_room(room, page, screenshot_dir):
    page.goto(room.server.facilitator_url)
    rows = page.locator("#people tbody tr")
    expect(rows).to_have_count(4)
    p01 = page.locator('tr[data-participant="p01"]')
    expect(p01.locator("td.pushes")).to_have_text("0")
    expect(page.locator('tr[data-participant="p02"]')).to_contain_text("relay")
    expect(p01).to_contain_text("direct")

    # A participant pushes: the page shows it without a reload.
    push = room.push("p01", phone="254708374149", amount=15)
    push.wait(15)
    expect(p01.locator("td.pushes")).to_have_text("1", timeout=10_000)
    expect(page.locator("#chart")).to_contain_text("0 The service request is processed successfully")
    expect(p01).to_contain_text("0: 1")

    # The facilitator turns 'system busy' on from the page: pushes are refused room-wide.
    page.select_option("#fault-kind", "busy")
    page.fill("#fault-seconds", "120")
    page.click("#fault-start")
    expect(page.locator("#faults")).to_contain_text("busy", timeout=10_000)
    assert "busy" in room.server.room.faults
    with pytest.raises(MpesaLabError):
        room.labs["p03"].client.max_retries = 0
        room.push("p03", phone="254711000200", amount=16)
    p03 = page.locator('tr[data-participant="p03"]')
    expect(p03).to_contain_text("500.003.02", timeout=10_000)
    expect(p03).to_contain_text("Retry the request after a short wait")
    room.labs["p02"].workshop.report_progress("09.3 faults")
    expect(page.locator('tr[data-participant="p02"]')).to_contain_text("09.3 faults", timeout=10_000)
    shot = screenshot_dir / "workshop-facilitator-page.png"
    page.screenshot(path=str(shot), full_page=True)

    page.click("#fault-stop")
    expect(page.locator("#faults")).to_contain_text("the room runs clean", timeout=10_000)
    assert room.server.room.faults == {}
    room.push("p03", phone="254711000201", amount=17).wait(15)
    expect(p03.locator("td.pushes")).to_have_text("2", timeout=10_000)
    # That push went through: the row's last error is history (issue 18 item 12), the room's
    # error chart still counts it.
    expect(p03).not_to_contain_text("500.003.02", timeout=10_000)
    expect(page.locator("#errors")).to_contain_text("500.003.02")
