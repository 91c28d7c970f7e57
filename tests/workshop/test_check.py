"""`mpesa-lab workshop check`: the verdict a participant gets, on loopback, for real.

A direct participant (the room reaches the check's listener), a relayed one (its listener listens
on 127.0.0.2 while it offers 127.0.0.1, so the room's probe is refused, as on a Wi-Fi with client
isolation), one that cannot reach the room, and a captive portal answering instead of the room.
"""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path

import pytest

from mpesa_lab.cli import main
from mpesa_lab.workshop import WorkshopServer
from mpesa_lab.workshop.check import check_room


def card(server: WorkshopServer, participant_id: str, folder: Path) -> Path:
    """The participant's card pasted into ``.env`` (what the printed card says)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".env"
    path.write_text("\n".join(server.room.desk(participant_id).participant.env_lines(server.url)) + "\n")
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_participant_the_room_reaches_gets_direct_callbacks(server, tmp_path):
    verdict = check_room(card(server, "p01", tmp_path / "p01"), listen_host="127.0.0.1", timeout=10)
    assert verdict.ok and verdict.kind == "direct"
    assert verdict.line == "OK: direct callbacks reach you"
    mine = server.summary()["participants"][0]
    assert mine["id"] == "p01" and mine["pushes"] == 1  # one real push went through the room


def test_a_participant_the_room_cannot_reach_gets_callbacks_by_relay(server, tmp_path):
    verdict = check_room(card(server, "p02", tmp_path / "p02"), listen_host="127.0.0.2", timeout=10)
    assert verdict.ok and verdict.kind == "relay"
    assert verdict.line.startswith("OK via relay: your laptop is not reachable from the room")
    assert "callbacks come through the relay" in verdict.line
    assert any("no HTTP 200 from your listener" in detail for detail in verdict.details)


def test_a_participant_who_cannot_reach_the_room_is_told_what_to_check(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    verdict = check_room(url)
    assert not verdict.ok and verdict.kind == "fail"
    assert verdict.line.startswith(f"FAIL: cannot reach the room at {url}")
    assert "room's Wi-Fi" in verdict.details[0] and "hotspot" in verdict.details[0]
    # a card pointing there fails the same way, before any lab starts
    (tmp_path / ".env").write_text(
        f"MPESA_ENV=workshop\nMPESA_BASE_URL={url}\nMPESA_CONSUMER_KEY=k\nMPESA_CONSUMER_SECRET=s\n"
        "MPESA_SHORTCODE=600001\nMPESA_PASSKEY=p\n"
    )
    assert check_room(tmp_path / ".env").line.startswith("FAIL: cannot reach the room")


def test_a_captive_portal_is_not_taken_for_the_room():
    class Portal(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            self.send_response(302)
            self.send_header("Location", "http://portal.example/login")
            self.end_headers()

        def log_message(self, *args):
            pass

    portal = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=portal.serve_forever, daemon=True).start()
    try:
        verdict = check_room(f"http://127.0.0.1:{portal.server_address[1]}")
    finally:
        portal.shutdown()
        portal.server_close()
    assert not verdict.ok
    assert "not the workshop server" in verdict.line and "captive portal" in verdict.details[0]


def test_the_command_prints_the_verdict_and_exits_by_it(server, tmp_path, capsys, monkeypatch):
    assert main(["workshop", "check", server.url]) == 0
    assert capsys.readouterr().out.startswith(f"OK: the room answers at {server.url}")
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["workshop", "check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL: no card at .env")


@pytest.mark.parametrize("missing", ["MPESA_CONSUMER_SECRET", "MPESA_PASSKEY"])
def test_an_incomplete_card_names_what_is_missing(server, tmp_path, missing, monkeypatch):
    monkeypatch.delenv(missing, raising=False)
    path = card(server, "p03", tmp_path)
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if not line.startswith(missing)))
    verdict = check_room(path)
    assert not verdict.ok and missing in verdict.line


def test_a_card_saved_by_windows_notepad_works_or_is_named(server, tmp_path):
    """Notepad may save UTF-8 with a byte-order mark and CRLF line ends, and as ``.env.txt``."""
    lines = server.room.desk("p03").participant.env_lines(server.url)
    notepad = tmp_path / "notepad"
    notepad.mkdir()
    (notepad / ".env.txt").write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    verdict = check_room(notepad / ".env")
    assert verdict.line == f"FAIL: no card at {notepad / '.env'}, but there is .env.txt"
    assert "ren .env.txt .env" in verdict.details[0] and "Rename-Item .env.txt .env" in verdict.details[0]
    (notepad / ".env.txt").rename(notepad / ".env")
    verdict = check_room(notepad / ".env", listen_host="127.0.0.1", timeout=10)
    assert verdict.ok, verdict
