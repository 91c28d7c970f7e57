"""`mpesa-lab workshop serve` as a real process: the room's URL, the page, the files, a restart."""

from __future__ import annotations

import csv

import httpx

from tests.test_cli_jobs import Running, env  # noqa: F401 - the fixture


def test_workshop_serve_writes_cards_and_keeps_them_across_a_restart(env, tmp_path):  # noqa: F811
    room = tmp_path / "room"
    names = tmp_path / "names.txt"
    names.write_text("Wanjiru Kamau\n\nOtieno Ouma\n")
    server = Running(
        [
            "workshop",
            "serve",
            "--port",
            "0",
            "--participants",
            "1",
            "--dir",
            str(room),
            "--title",
            "CLI room",
            "--names",
            str(names),
        ],
        env,
        tmp_path,
    )
    try:
        url = server.wait_for_line(r"Daraja for the room\s+(http://127\.0\.0\.1:\d+)").group(1)
        page = server.wait_for_line(r"Facilitator's page\s+(\S+)").group(1)
        assert page.startswith(url + "/_workshop/?token=")
        assert "CLI room" in httpx.get(page).text
        assert httpx.get(f"{url}/_workshop/api/room").status_code == 404  # no token, no room
        rows = list(csv.DictReader((room / "credentials.csv").open()))
        assert [r["id"] for r in rows] == ["p01", "p02"] and rows[0]["workshop_url"] == url
        assert [r["name"] for r in rows] == ["Wanjiru Kamau", "Otieno Ouma"]
        token = httpx.get(
            f"{url}/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(rows[1]["consumer_key"], rows[1]["consumer_secret"]),
        )
        assert token.status_code == 200 and token.json()["expires_in"] == "3599"
    finally:
        assert server.interrupt() == 0
    assert (room / "cards.html").exists()

    again = Running(["workshop", "serve", "--port", "0", "--participants", "3", "--dir", str(room)], env, tmp_path)
    try:
        again.wait_for_line(r"workshop server for 3 participants")
        later = list(csv.DictReader((room / "credentials.csv").open()))
        assert later[:2] == [{**r, "workshop_url": later[0]["workshop_url"]} for r in rows]
        assert later[2]["id"] == "p03"
    finally:
        assert again.interrupt() == 0
