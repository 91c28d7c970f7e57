"""The roster: credentials per participant, written as CSV and cards, kept across restarts."""

from __future__ import annotations

import csv
import io
import json
import stat

import pytest

from mpesa_lab.workshop import Roster, RosterError, WorkshopServer


def test_files_written_private_with_env_lines(tmp_path):
    roster = Roster(tmp_path, title="Nairobi <DevFest>")
    roster.ensure(3, names=["Wanjiru", "Otieno <b>", "Achieng"])
    paths = roster.save("http://10.0.0.5:8000")
    for path in paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert [r["id"] for r in rows] == ["p01", "p02", "p03"]
    assert len({r["consumer_key"] for r in rows}) == len({r["shortcode"] for r in rows}) == 3
    people = list(roster)
    assert rows[1]["consumer_secret"] == people[1].consumer_secret.reveal()
    assert rows[1]["passkey"] == people[1].passkey.reveal()
    cards = paths["cards"].read_text()
    assert cards.count('class="card"') == 3
    for line in people[2].env_lines("http://10.0.0.5:8000"):
        assert line in cards
    assert "MPESA_ENV=workshop" in cards and "MPESA_BASE_URL=http://10.0.0.5:8000" in cards
    assert "Otieno &lt;b&gt;" in cards and "Otieno <b>" not in cards
    assert "Nairobi &lt;DevFest&gt;" in cards


def test_secrets_never_in_reprs(tmp_path):
    roster = Roster(tmp_path)
    roster.ensure(2)
    p = roster.get("p01")
    shown = repr(p) + str(p) + repr(roster) + repr(list(roster))
    for secret in (
        p.consumer_secret.reveal(),
        p.passkey.reveal(),
        p.inbox_token.reveal(),
        roster.facilitator_token.reveal(),
    ):
        assert secret not in shown
    assert p.consumer_secret.reveal() not in json.dumps(p.public())


def test_restart_keeps_credentials_and_adds_late_arrivals(tmp_path):
    first = WorkshopServer(tmp_path, participants=3, name="ws-restart").start()
    before = {p.id: p.to_record() for p in first.participants}
    token = first.facilitator_token
    first.stop()
    second = WorkshopServer(tmp_path, participants=5, name="ws-restart").start()
    try:
        after = {p.id: p.to_record() for p in second.participants}
        assert second.facilitator_token == token
        assert list(after) == ["p01", "p02", "p03", "p04", "p05"]
        for pid, record in before.items():
            assert after[pid] == record
        assert len({r["shortcode"] for r in after.values()}) == 5
        # the files handed out list everybody, old and new
        assert second.files["csv"].read_text().count("\n") == 6
    finally:
        second.stop()


def test_broken_roster_says_what_to_do(tmp_path):
    (tmp_path / "roster.json").write_text("{not json")
    with pytest.raises(RosterError, match="restore it from a backup"):
        Roster(tmp_path)
    (tmp_path / "roster.json").write_text(json.dumps({"participants": [{"id": "p01"}]}))
    with pytest.raises(RosterError, match="consumer_key"):
        Roster(tmp_path)


def test_bad_participant_count(tmp_path):
    with pytest.raises(RosterError, match="whole number"):
        Roster(tmp_path).ensure(-1)
