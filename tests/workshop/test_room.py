"""The whole room: 30 simulated participants, each a real Lab with its own store, pushing
concurrently through room-wide faults. Every callback the workshop server acknowledged reaches
the right participant's store exactly once (directly or relayed), and none reaches another's."""

from __future__ import annotations

import time
from collections import Counter

from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.lab import Push
from mpesa_lab.workshop import simulate

PARTICIPANTS = 30
PUSHES_EACH = 3


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_thirty_participants_through_room_faults(tmp_path):
    sim = simulate(PARTICIPANTS, relay_every=2, folder=tmp_path, config=EmulatorConfig(seed=11))
    try:
        server, labs = sim.server, sim.labs
        ways = Counter(lab.workshop.delivery for lab in labs.values())
        assert ways == {"direct": PARTICIPANTS // 2, "relay": PARTICIPANTS // 2}

        # Room-wide faults: callbacks late and doubled, and each participant's next one dropped.
        server.start_fault("delay", 60, delay=0.3)
        server.start_fault("duplicate", 60)
        server.start_fault("drop", 60)
        results = sim.push_all(PUSHES_EACH, wait=None)
        assert all(isinstance(r, Push) for r in results), [r for r in results if not isinstance(r, Push)]

        desks = server.room.desks

        def settled() -> bool:
            for desk in desks.values():
                with desk.state.lock:
                    txs = list(desk.state.transactions.values())
                if len(txs) != PUSHES_EACH or not all(tx.final for tx in txs):
                    return False
                for tx in txs:
                    dropped = any(a.fault == "drop" for a in tx.callback_attempts)
                    if len(tx.callback_attempts) != (1 if dropped else 2):
                        return False
            return True

        _wait(settled, 30, "every transaction's callbacks to be posted to the inboxes")
        _wait(
            lambda: all(d.mailbox.waiting == 0 for d in desks.values()),
            30,
            "every mailbox to be emptied (direct posts and relay acks)",
        )

        all_cids: dict[str, str] = {}
        for pid, desk in desks.items():
            lab = labs[pid]
            acked: Counter = Counter()
            dropped = []
            for tx in desk.state.transactions.values():
                for attempt in tx.callback_attempts:
                    if attempt.delivered:
                        acked[tx.checkout_request_id] += 1
                    elif attempt.fault == "drop":
                        dropped.append(tx.checkout_request_id)
            assert len(dropped) == 1, (pid, dropped)  # the room's drop fault took exactly one each
            assert sum(acked.values()) == 2 * (PUSHES_EACH - 1)

            callbacks = lab.store.callbacks()
            stored = Counter(callbacks["checkout_request_id"])
            assert stored == acked, pid  # each acknowledged POST is one delivery in this store
            own = set(lab.pushes()["checkout_request_id"])
            assert set(stored) <= own, pid  # nothing from anyone else
            firsts = callbacks[~callbacks["duplicate"]]
            assert Counter(firsts["checkout_request_id"]) == Counter(set(acked)), pid  # counted once each
            assert dropped[0] not in stored
            way = lab.workshop.delivery
            assert desk.mailbox.counts[way] == sum(acked.values()), (pid, desk.mailbox.counts)
            assert desk.mailbox.counts["relay" if way == "direct" else "direct"] == 0
            for cid in own:
                assert cid not in all_cids, f"{cid} pushed by both {all_cids.get(cid)} and {pid}"
                all_cids[cid] = pid

        # The dropped callback is where the STK query earns its keep.
        lab = labs["p01"]
        missing = set(lab.pushes()["checkout_request_id"]) - set(lab.store.callbacks()["checkout_request_id"])
        assert len(missing) == 1
        assert lab.query(missing.pop()).result_code is not None

        room = server.summary()
        assert room["totals"]["pushes"] == PARTICIPANTS * PUSHES_EACH
        assert sum(r["count"] for r in room["results"]) == PARTICIPANTS * 2 * (PUSHES_EACH - 1)
    finally:
        sim.stop()
