"""The participant's side: joining with the card's settings, and the relay's promise: a callback
is acknowledged to the server only once it is durably stored, and stored once."""

from __future__ import annotations

import time

import pytest

from mpesa_lab.daraja.errors import ConfigError
from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.lab import Lab
from mpesa_lab.listener.relay import WorkshopError
from mpesa_lab.workshop import WorkshopServer, mailbox
from mpesa_lab.workshop.simulation import join


def _wait(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def server(tmp_path):
    srv = WorkshopServer(
        tmp_path / "room", participants=2, config=EmulatorConfig(seed=5), name="workshop-relay-test"
    ).start()
    yield srv
    srv.stop()


def test_lab_start_reads_the_card_from_env_file(server, tmp_path):
    p = server.participants[0]
    env = tmp_path / ".env"
    env.write_text("\n".join(p.env_lines(server.url)) + "\n")
    lab = Lab.start("workshop", store=tmp_path / "me.sqlite", env_file=env)
    try:
        assert lab.settings.environment == "workshop" and lab.settings.shortcode == p.shortcode
        assert lab.workshop.delivery == "direct"  # loopback: the server reaches the listener
        assert p.consumer_secret.reveal() not in repr(lab) + repr(lab.workshop) + str(lab.settings)
        assert p.passkey.reveal() not in repr(lab) + repr(lab.workshop) + str(lab.settings)
        callback = lab.push("254711000100", 20).wait(15)
        assert callback.checkout_request_id in set(lab.pushes()["checkout_request_id"])
        lab.workshop.report_progress("09.2")
        row = server.summary()["participants"][0]
        assert row["exercise"] == "09.2" and row["pushes"] == 1
    finally:
        lab.stop()
    assert not lab.workshop.running


def test_missing_card_lines_and_wrong_server(server, tmp_path):
    with pytest.raises(ConfigError, match="MPESA_SHORTCODE, MPESA_PASSKEY"):
        Lab.start(
            "workshop",
            store=tmp_path / "x.sqlite",
            env_file=None,
            base_url=server.url,
            consumer_key="k",
            consumer_secret="s",
        )
    creds = server.credentials("p01")
    with pytest.raises(WorkshopError, match="MPESA_CONSUMER_KEY"):
        Lab.start("workshop", store=tmp_path / "y.sqlite", env_file=None, **{**creds, "consumer_secret": "wrong"})
    with pytest.raises(WorkshopError, match="cannot reach the workshop server"):
        Lab.start("workshop", store=tmp_path / "z.sqlite", env_file=None, **{**creds, "base_url": "http://127.0.0.1:9"})


def test_answer_the_rooms_phone(server, tmp_path):
    server.room.desk("p01").state.configure(interactive=True)
    lab = join(server.credentials("p01"), tmp_path / "a.sqlite", name="ws-answer")
    try:
        push = lab.push("254711000101", 21)
        _wait(lambda: server.room.desk("p01").state.pending_prompts())
        push.answer()
        assert push.wait(15).result_code == "0"
    finally:
        lab.stop()


def test_not_acknowledged_until_stored(server, tmp_path, monkeypatch):
    monkeypatch.setattr(mailbox, "LEASE", 0.3)
    lab = join(server.credentials("p01"), tmp_path / "a.sqlite", direct=False, name="ws-store-fails")
    desk = server.room.desk("p01")
    link = lab.workshop
    real_store = link._store
    failures = []

    async def failing_store(body, letter):
        if len(failures) < 3:
            failures.append(letter["id"])
            raise OSError("disk full")
        return await real_store(body, letter)

    monkeypatch.setattr(link, "_store", failing_store)
    try:
        assert link.delivery == "relay"
        push = lab.push("254711000102", 22)
        _wait(lambda: len(failures) >= 1)
        assert lab.store.count_deliveries() == 0
        assert desk.mailbox.waiting == 1  # not acknowledged: still the server's
        assert push.wait(15).result_code is not None  # offered again after the lease, then stored
        _wait(lambda: desk.mailbox.waiting == 0)
        assert len(failures) == 3 and len(set(failures)) == 1
        assert lab.store.count_deliveries() == 1
        assert desk.mailbox.counts["reoffered"] >= 3
    finally:
        lab.stop()


def test_lost_ack_does_not_store_twice(server, tmp_path, monkeypatch):
    monkeypatch.setattr(mailbox, "LEASE", 0.3)
    lab = join(server.credentials("p02"), tmp_path / "b.sqlite", direct=False, name="ws-lost-ack")
    desk = server.room.desk("p02")
    link = lab.workshop
    real_ack = link._ack
    lost = []

    async def lossy_ack(client, ids):
        if not lost:
            lost.extend(ids)  # the ack never reaches the server
            return
        await real_ack(client, ids)

    monkeypatch.setattr(link, "_ack", lossy_ack)
    try:
        lab.push("254711000103", 23).wait(15)
        _wait(lambda: desk.mailbox.waiting == 0)
        assert lost and desk.mailbox.counts["reoffered"] >= 1
        assert lab.store.count_deliveries() == 1  # re-offered, recognised, acknowledged only
        assert desk.mailbox.counts["relay"] == 1
    finally:
        lab.stop()


def test_direct_failure_falls_back_to_the_relay(server, tmp_path):
    lab = join(server.credentials("p01"), tmp_path / "c.sqlite", name="ws-fallback")
    desk = server.room.desk("p01")
    try:
        assert lab.workshop.delivery == "direct"
        lab.push("254711000104", 24).wait(15)
        _wait(lambda: desk.mailbox.counts["direct"] == 1)  # the listener answered the server too
        # The laptop moves to a network that blocks incoming connections: the server's posts no
        # longer reach its listener (here: a closed port), its outbound connection still works.
        desk.mailbox.direct_url = "http://127.0.0.1:9" + lab.listener.app.callback_path
        callback = lab.push("254711000105", 25).wait(20)
        assert callback.result_code is not None
        _wait(lambda: desk.mailbox.counts["relay"] == 1)  # stored first, acknowledged after
        assert desk.mailbox.counts["direct_failures"] >= 1
        assert lab.store.count_deliveries() == 2
    finally:
        lab.stop()


def test_a_server_restart_mid_session(tmp_path):
    folder = tmp_path / "room"
    first = WorkshopServer(folder, participants=1, name="ws-restart-a").start()
    port = int(first.url.rsplit(":", 1)[1])
    lab = join(first.credentials("p01"), tmp_path / "me.sqlite", name="ws-restart-lab")
    second = None
    try:
        assert lab.workshop.delivery == "direct"
        lab.push("254711000106", 26).wait(15)
        first.stop()
        _wait(lambda: lab.workshop.last_error is not None)  # the relay noticed
        second = WorkshopServer(folder, name="ws-restart-b").start(port=port)
        # Same credentials and inbox from the roster; the relay says hello again, the client
        # fetches a new token (the old one died with the first server).
        _wait(lambda: lab.workshop.last_error is None, 20)
        assert lab.workshop.delivery == "direct"
        assert second.room.desk("p01").mailbox.direct_url is not None
        lab.push("254711000107", 27).wait(15)
        assert lab.store.count_deliveries() == 2
    finally:
        lab.stop()
        if second is not None:
            second.stop()
