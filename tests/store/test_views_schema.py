"""The store's views against the per-row implementation they replaced (legacy_views.py), on a
small store with every kind of row: paid, failed, duplicates, a callback with no push, a
refused push, a push with no callback answered by an STK query, unknown and alphanumeric codes.

Deliberate schema changes (docs/analytics.md), each checked here:
- columns in the analytics order (status, result_code, result_desc, phone, amount, receipt,
  latency_s first); new: category, query_result_desc, push_id (transactions), category
  (callbacks);
- ``result_code`` is text (``str``), no longer a categorical; result_name / explanation /
  mitigation are categoricals (a million copies of one sentence cost nothing that way);
- text columns are always ``str`` (before, a column holding only NULLs came back ``object``);
- callbacks: ``items`` (a dict per row) became ``items_json`` (its JSON text);
- transactions: ``phone`` falls back to the callback's PhoneNumber when the push had none.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from mpesa_lab.clock import nairobi_now
from mpesa_lab.daraja.callbacks import parse_callback
from mpesa_lab.store import CallbackStore, DeliveryIn, frames
from mpesa_lab.store.arrow import read_store

from .bodies import encode, stk_body, success_items
from .legacy_views import legacy_callbacks, legacy_transactions

T0 = datetime(2026, 7, 10, 6, 15, 0, tzinfo=UTC)
CODES = [0, 0, 0, "1032", 1037, 1, "SFC_IC0003", 4242, 2001, "4999"]


def _fill(store: CallbackStore, n: int = 60, seed: int = 3) -> None:
    rng = random.Random(seed)
    for i in range(n):
        cid = f"ws_CO_{i:04d}"
        at = T0 + timedelta(seconds=10 * i)
        if i % 17 == 5:  # refused by Daraja
            store.record_push(
                {"PhoneNumber": "254708374149", "Amount": 1},
                None,
                at=at,
                error={"requestId": "r", "errorCode": "500.001.1001", "errorMessage": "Wrong credentials"},
            )
            continue
        store.record_push(
            {
                "BusinessShortCode": "174379",
                "Amount": rng.choice([1, 10, "20"]),
                "PhoneNumber": f"2547{rng.randrange(10**8):08d}" if i % 13 else None,
                "AccountReference": f"INV{i}",
            },
            {"MerchantRequestID": f"m-{i}", "CheckoutRequestID": cid, "ResponseCode": "0"},
            at=at,
            environment="local",
        )
        if i % 11 == 3:  # no callback; the STK query tells
            store.record_query(
                {"CheckoutRequestID": cid},
                {"ResponseCode": "0", "ResultCode": rng.choice(["1037", "0", "4999"]), "ResultDesc": "from the query"},
                at=at + timedelta(seconds=60),
            )
            continue
        code = rng.choice(CODES)
        metadata = (
            success_items(rng.choice(["1.00", 10, "20"]), balance=rng.choice([None, "5.5"])) if code == 0 else None
        )
        body = encode(stk_body(cid, result_code=code, result_desc=f"desc {code}", metadata=metadata))
        for copy in range(2 if i % 7 == 0 else 1):
            store.store_delivery(
                DeliveryIn(
                    received_at=at + timedelta(seconds=1.5 + copy),
                    remote_addr="x",
                    body=body,
                    outcome="accepted",
                    http_status=200,
                    callback=parse_callback(body),
                )
            )
    stranger = encode(stk_body("ws_CO_stranger", result_code=1032))
    store.store_delivery(
        DeliveryIn(
            received_at=nairobi_now(),
            remote_addr="x",
            body=stranger,
            outcome="accepted",
            http_status=200,
            callback=parse_callback(stranger),
        )
    )


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> CallbackStore:
    store = CallbackStore(tmp_path_factory.mktemp("views") / "views.sqlite")
    _fill(store)
    yield store
    store.close()


def _same(new: pd.Series, old: pd.Series) -> None:
    assert len(new) == len(old)
    for a, b in zip(new.astype(object).tolist(), old.astype(object).tolist(), strict=True):
        if pd.isna(b) if not isinstance(b, (dict, list)) else False:
            assert pd.isna(a), (new.name, a, b)
        else:
            assert a == b, (new.name, a, b)


def test_transactions_match_the_per_row_implementation(filled):
    new, old = filled.transactions(), legacy_transactions(filled)
    assert len(new) == len(old) > 40
    for column in old.columns:
        if column == "phone":
            continue
        _same(new[column], old[column])
    # phone: the push's, else the callback's (one push in 13 had none here)
    assert old["phone"].isna().sum() > 0
    callbacks = filled.callbacks().drop_duplicates("checkout_request_id").set_index("checkout_request_id")
    for _, row in new.iterrows():
        before = old.loc[old.push_id == row.push_id, "phone"].iloc[0]
        want = (
            before
            if isinstance(before, str)
            else (
                callbacks["phone"].get(row.checkout_request_id) if row.checkout_request_id in callbacks.index else None
            )
        )
        assert (row.phone == want) or (pd.isna(row.phone) and pd.isna(want))
    assert set(new["status"].astype(str)) >= {"paid", "failed", "pending", "rejected"}


def test_callbacks_match_the_per_row_implementation(filled):
    new, old = filled.callbacks(), legacy_callbacks(filled)
    assert len(new) == len(old) and new["duplicate"].any() and new["unknown"].any()
    for column in old.columns:
        if column == "items":
            assert [json.loads(t) for t in new["items_json"]] == old["items"].tolist()
        else:
            _same(new[column], old[column])


@pytest.mark.parametrize("view, schema", [("transactions", frames.TRANSACTIONS), ("callbacks", frames.CALLBACKS)])
def test_views_have_the_documented_columns_and_dtypes(filled, tmp_path, view, schema):
    empty = CallbackStore(tmp_path / "empty.sqlite")
    for frame in (getattr(filled, view)(), getattr(empty, view)()):
        assert list(frame.columns) == [c.name for c in schema]
        assert {c: str(t) for c, t in frame.dtypes.items()} == {c.name: c.dtype for c in schema}
    assert frames.column_names(frames.TRANSACTIONS)[:7] == [
        "status",
        "result_code",
        "result_desc",
        "phone",
        "amount",
        "receipt",
        "latency_s",
    ]


def test_the_child_process_reader_gives_the_same_records(filled):
    """Large stores are read by ADBC in a child process: same records as sqlite3 here."""
    for view in ("transactions", "callbacks"):
        here = read_store(filled.path, for_view=view)
        child = read_store(filled.path, for_view=view, subprocess_rows=0)
        assert here.keys() == child.keys()
        for name in here:
            a = frames.as_records(name, here[name]) if name != "pushes" or view == "transactions" else here[name]
            b = frames.as_records(name, child[name]) if name != "pushes" or view == "transactions" else child[name]
            assert a.to_pylist() == b.to_pylist(), name
        if view == "transactions":
            built = frames.build_transactions(child["callbacks"], child["pushes"], child["queries"])
            pd.testing.assert_frame_equal(built, filled.transactions())


def test_result_code_zero_trap_is_visible(filled):
    tx = filled.transactions()
    assert (tx.result_code == "0").any()
    assert not (tx.result_code == 0).any()  # the trap: a number never matches
    assert "never a number" in next(c.meaning for c in frames.TRANSACTIONS if c.name == "result_code")


def test_reading_does_not_block_the_writer(filled, tmp_path):
    """A view while the writer commits: both finish, nothing lost (WAL readers)."""
    import threading

    store = CallbackStore(tmp_path / "busy.sqlite")
    done = []

    def write() -> None:
        for i in range(200):
            body = encode(stk_body(f"ws_CO_busy{i}"))
            store.store_delivery(
                DeliveryIn(
                    received_at=nairobi_now(),
                    remote_addr="x",
                    body=body,
                    outcome="accepted",
                    http_status=200,
                    callback=parse_callback(body),
                )
            )
        done.append(True)

    writer = threading.Thread(target=write)
    writer.start()
    seen = []
    while writer.is_alive():
        seen.append(len(store.callbacks()))
    writer.join()
    assert done and store.count_callbacks() == 200 and len(store.callbacks()) == 200
    assert seen == sorted(seen)
    store.close()
