"""pushes.time_scale: a nullable column, added at open to stores made before it, read as NaN
from files that still lack it (the frames' real_latency_s is then unknown, never an error)."""

from __future__ import annotations

import sqlite3

from mpesa_lab.store import CallbackStore
from mpesa_lab.store.arrow import read_store
from mpesa_lab.store.schema import APPLICATION_ID, SCHEMA


def _store_before_time_scale(path) -> None:
    """A version-2 store as mpesa-lab wrote it before pushes.time_scale existed."""
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA.replace(",\n    time_scale REAL", ""))
        conn.execute(
            "INSERT INTO pushes (at, at_ts, checkout_request_id, amount, response_code) "
            "VALUES ('x', 1.0, 'ws_CO_OLD', '5', '0')"
        )
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 2")
    with sqlite3.connect(path) as conn:
        assert "time_scale" not in {row[1] for row in conn.execute("PRAGMA table_info(pushes)")}


def test_an_older_file_is_read_as_is_with_an_unknown_time_scale(tmp_path):
    path = tmp_path / "old.sqlite"
    _store_before_time_scale(path)
    pushes = read_store(path)["pushes"]
    assert pushes.num_rows == 1 and pushes["time_scale"].null_count == 1


def test_an_older_store_gains_the_column_at_open_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    _store_before_time_scale(path)
    store = CallbackStore(path)
    try:
        assert store.count_pushes() == 1
        frame = store.transactions()
        assert frame["real_latency_s"].isna().all()
        store.record_push({"PhoneNumber": "254708374149", "Amount": "1"}, {"ResponseCode": "0"}, time_scale=0.05)
        assert list(store.pushes()["time_scale"].isna()) == [True, False]
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert "time_scale" in {row[1] for row in conn.execute("PRAGMA table_info(pushes)")}
