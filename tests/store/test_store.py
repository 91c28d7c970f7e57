"""CallbackStore: durability settings, pushes/queries, DataFrame views, wait_for, threads."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from mpesa_lab.clock import NAIROBI, nairobi_now
from mpesa_lab.daraja.callbacks import parse_callback
from mpesa_lab.listener import Listener
from mpesa_lab.paths import lab_home
from mpesa_lab.secret import Secret
from mpesa_lab.store import CallbackStore, CallbackTimeout, DeliveryIn, StoreError

from .bodies import encode, stk_body, success_items


def deliver(store: CallbackStore, body: dict | bytes, at: datetime | None = None):
    raw = body if isinstance(body, bytes) else encode(body)
    return store.store_delivery(
        DeliveryIn(
            received_at=at or nairobi_now(),
            remote_addr="127.0.0.1",
            body=raw,
            outcome="accepted",
            http_status=200,
            callback=parse_callback(raw),
        )
    )


def push(store: CallbackStore, checkout_id: str, at: datetime | None = None, amount=10, **request):
    return store.record_push(
        {
            "BusinessShortCode": "174379",
            "Amount": amount,
            "PhoneNumber": "254708374149",
            "AccountReference": "ref",
            **request,
        },
        {
            "MerchantRequestID": f"m-{checkout_id}",
            "CheckoutRequestID": checkout_id,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
        },
        at=at,
        environment="local",
    )


def test_file_is_in_wal_mode_with_full_sync(store):
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.synchronous == "FULL"
    tables = {r[0] for r in sqlite3.connect(store.path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"deliveries", "callbacks", "quarantine", "pushes", "queries"} <= tables


def test_default_path_is_under_the_lab_home():
    store = CallbackStore()
    assert store.path.parent == (lab_home() / "stores").resolve()
    assert store.path.exists() and store.path.suffix == ".sqlite"
    other = CallbackStore()
    assert other.path != store.path
    listener = Listener()
    assert listener.store.path.parent == store.path.parent


def test_bad_paths_are_clear_errors(tmp_path):
    with pytest.raises(StoreError, match="needs a file"):
        CallbackStore(":memory:")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the callback store"):
        CallbackStore(blocker / "store.sqlite")


def test_record_push_masks_credentials_whatever_the_caller_did(store):
    store.record_push(
        {
            "BusinessShortCode": "174379",
            "Password": "c2VjcmV0",
            "Timestamp": "20240101000000",
            "Amount": 10,
            "PhoneNumber": "254708374149",
            "passkey": Secret("bfb279f9aa9b"),
            "nested": {"consumer_secret": "shh-value", "access_token": "AT-value-123"},
        },
        {"CheckoutRequestID": "ws_CO_P1", "MerchantRequestID": "m1", "ResponseCode": "0"},
    )
    raw = sqlite3.connect(store.path).execute("SELECT request FROM pushes").fetchone()[0]
    for secret in ("c2VjcmV0", "bfb279f9aa9b", "shh-value", "AT-value-123"):
        assert secret not in raw
    row = store.pushes().iloc[0]
    assert row["request"]["Password"] == "<masked>"
    assert row["request"]["Timestamp"] == "20240101000000"
    assert row["checkout_request_id"] == "ws_CO_P1" and row["amount"] == 10.0
    assert row["pushed_at"].tzinfo is not None


def test_record_push_with_an_error_envelope(store):
    store.record_push(
        {"Amount": 0, "PhoneNumber": "254708374149"},
        None,
        error={"requestId": "r-1", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid Amount"},
    )
    pushes = store.pushes()
    assert pushes.loc[0, "error_code"] == "400.002.02"
    tx = store.transactions()
    assert tx.loc[0, "status"] == "rejected"


def test_any_recorded_push_error_makes_the_transaction_rejected(store):
    # What the Lab records when the client refuses a push before Daraja answers (validation,
    # network): an error with no Daraja errorCode and no response at all.
    store.record_push(
        {"Amount": "abc", "PhoneNumber": "0700"},
        None,
        error={"type": "ValidationError", "message": "Amount must be a whole number"},
    )
    # A push Daraja accepted stays pending, not rejected.
    push(store, "ws_CO_OK1")
    pushes = store.pushes()
    assert pd.isna(pushes.loc[0, "error_code"]) and pushes.loc[0, "error"]["type"] == "ValidationError"
    tx = store.transactions()
    assert tx["status"].astype(str).tolist() == ["rejected", "pending"]
    assert "refused" not in tx.columns


def test_transactions_view(store):
    t0 = datetime(2024, 7, 10, 6, 15, 0, tzinfo=UTC)
    push(store, "ws_CO_T1", at=t0, amount=1)
    push(store, "ws_CO_T2", at=t0 + timedelta(seconds=1), amount=20)
    push(store, "ws_CO_T3", at=t0 + timedelta(seconds=2))
    deliver(store, stk_body("ws_CO_T1", metadata=success_items("1.00", balance=None)), at=t0 + timedelta(seconds=7.5))
    # A later duplicate with a different result must not replace the first one.
    deliver(store, stk_body("ws_CO_T1", result_code=1032), at=t0 + timedelta(seconds=9))
    deliver(
        store,
        stk_body("ws_CO_T2", result_code="1032", result_desc="Request cancelled by user"),
        at=t0 + timedelta(seconds=4),
    )
    deliver(store, stk_body("ws_CO_stranger", result_code=0))

    tx = store.transactions()
    assert tx["checkout_request_id"].tolist() == ["ws_CO_T1", "ws_CO_T2", "ws_CO_T3"]
    assert str(tx["pushed_at"].dt.tz) == "Africa/Nairobi"
    assert str(tx["callback_at"].dt.tz) == "Africa/Nairobi"
    assert tx.loc[0, "pushed_at"] == pd.Timestamp("2024-07-10 09:15:00", tz="Africa/Nairobi")
    # result_code is text (the analytics schema, docs/analytics.md): "0", never 0.
    assert tx["result_code"].dtype == "str"
    assert tx["result_code"].tolist()[:2] == ["0", "1032"]
    assert not (tx["result_code"] == 0).any()
    assert pd.isna(tx.loc[2, "result_code"])
    assert tx["amount"].dtype == "float64" and tx.loc[0, "amount"] == 1.0
    assert tx["latency"].tolist()[:2] == [pd.Timedelta(seconds=7.5), pd.Timedelta(seconds=3)]
    assert tx.loc[0, "latency_s"] == pytest.approx(7.5)
    assert tx["callbacks"].tolist() == [2, 1, 0]
    assert tx["status"].astype(str).tolist() == ["paid", "failed", "pending"]
    assert tx.loc[1, "result_name"] == "cancelled"
    assert "cancel" in tx.loc[1, "explanation"].lower()
    assert tx.loc[0, "transaction_date"] == pd.Timestamp("2019-12-19 10:21:15", tz="Africa/Nairobi")
    assert tx["latency"].dtype.kind == "m" and tx["latency_s"].dtype == "float64"
    assert tx["amount_requested"].tolist() == [1.0, 20.0, 10.0]


def test_callbacks_and_queries_views_have_analysis_dtypes(store):
    push(store, "ws_CO_V1")
    deliver(store, stk_body("ws_CO_V1", metadata=success_items("1.00", balance="32009.90")))
    deliver(store, stk_body("ws_CO_V2", result_code="SFC_IC0003", result_desc="Operator"))
    store.record_query({"CheckoutRequestID": "ws_CO_V1"}, {"ResponseCode": 0, "ResultCode": 0, "ResultDesc": "ok"})
    cb = store.callbacks()
    assert cb["result_code"].dtype == "str"
    assert cb["result_code"].tolist() == ["0", "SFC_IC0003"]
    assert cb["category"].astype(str).tolist() == ["success", "merchant_config"]
    assert cb["amount"].dtype == "float64" and cb.loc[0, "amount"] == 1.0 and pd.isna(cb.loc[1, "amount"])
    assert cb.loc[0, "balance"] == 32009.9
    for column in ("received_at", "transaction_date"):
        assert str(cb[column].dt.tz) == "Africa/Nairobi"
    assert cb["duplicate"].dtype == bool and cb["unknown"].tolist() == [False, True]
    # The metadata items stay JSON text (decoding a million dicts row by row is what made the
    # view slow); json.loads(cb.items_json[i]) gives the dict.
    assert json.loads(cb.loc[0, "items_json"])["MpesaReceiptNumber"] == "NLJ7RT61SV"
    assert json.loads(cb.loc[1, "items_json"]) == {}
    queries = store.queries()
    assert isinstance(queries["result_code"].dtype, pd.CategoricalDtype)
    assert queries.loc[0, "response_code"] == "0" and queries.loc[0, "result_code"] == "0"
    assert str(queries["queried_at"].dt.tz) == "Africa/Nairobi"
    assert queries.loc[0, "response"]["ResultDesc"] == "ok" and queries.loc[0, "error"] is None


def test_query_result_fills_in_when_no_callback_came(store):
    push(store, "ws_CO_Q1")
    store.record_query(
        {"BusinessShortCode": "174379", "Password": "x", "CheckoutRequestID": "ws_CO_Q1"},
        {
            "ResponseCode": "0",
            "CheckoutRequestID": "ws_CO_Q1",
            "ResultCode": "1037",
            "ResultDesc": "DS timeout user cannot be reached",
        },
    )
    queries = store.queries()
    assert queries.loc[0, "result_code"] == "1037" and queries.loc[0, "result_name"] == "unreachable"
    assert queries.loc[0, "request"]["Password"] == "<masked>"
    tx = store.transactions()
    assert tx.loc[0, "status"] == "failed" and tx.loc[0, "query_result_code"] == "1037"


def test_pending_query_keeps_the_transaction_pending(store):
    push(store, "ws_CO_Q2")
    store.record_query(
        {"CheckoutRequestID": "ws_CO_Q2"},
        {"ResponseCode": "0", "ResultCode": "4999", "ResultDesc": "The transaction is still under processing"},
    )
    assert store.transactions().loc[0, "status"] == "pending"


def test_empty_views_have_their_columns(store):
    for view, column in (
        (store.transactions, "latency"),
        (store.callbacks, "result_code"),
        (store.deliveries, "body"),
        (store.quarantine, "reason"),
        (store.pushes, "request"),
        (store.queries, "result_code"),
    ):
        frame = view()
        assert frame.empty and column in frame.columns


def test_wait_for_returns_as_soon_as_stored(store):
    push(store, "ws_CO_W1")
    timer = threading.Timer(0.3, deliver, args=(store, stk_body("ws_CO_W1", metadata=success_items(5))))
    timer.start()
    try:
        stored = store.wait_for_callback("ws_CO_W1", timeout=30)
    finally:
        timer.join()
    assert stored.checkout_request_id == "ws_CO_W1" and parse_callback(stored.body).amount == 5
    assert stored.delivery_id == 1 and not stored.unknown
    assert stored.received_at.tzinfo is not None


def test_wait_for_sees_another_writer_on_the_same_file(store):
    other = CallbackStore(store.path)
    timer = threading.Timer(0.3, deliver, args=(other, stk_body("ws_CO_W2")))
    timer.start()
    try:
        assert parse_callback(store.wait_for_callback("ws_CO_W2", timeout=30).body).result_code == "0"
    finally:
        timer.join()
        other.close()


def test_wait_for_times_out_with_advice(store):
    started = time.monotonic()
    with pytest.raises(CallbackTimeout, match="CallBackURL") as info:
        store.wait_for_callback("ws_CO_never", timeout=0.3)
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - started >= 0.3


def test_many_threads_each_delivery_stored_once_and_one_original(store):
    results = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(40):
            cid = "ws_CO_same" if i == 0 else f"ws_CO_{n}_{i}"
            stored = deliver(store, stk_body(cid))
            with lock:
                results.append(stored)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 320 == store.count_deliveries()
    assert len({r.delivery_id for r in results}) == 320
    same = [r for r in results if r.callback.checkout_request_id == "ws_CO_same"]
    assert sorted(r.duplicate for r in same) == [False] + [True] * 7


def test_close_then_reuse(store):
    deliver(store, stk_body("ws_CO_C1"))
    store.close()
    deliver(store, stk_body("ws_CO_C2"))
    assert store.count_callbacks() == 2


def test_callbacks_unknown_is_judged_now(store):
    deliver(store, stk_body("ws_CO_late_push"))
    assert store.callbacks()["unknown"].tolist() == [True]
    push(store, "ws_CO_late_push")  # the push was recorded after its (fast) callback
    frame = store.callbacks()
    assert frame["unknown"].tolist() == [False]
    assert frame["unknown_on_arrival"].tolist() == [True]
    assert str(frame["received_at"].dt.tz) == "Africa/Nairobi"
    assert frame.loc[0, "received_at"].tzinfo is not None
    assert nairobi_now().tzinfo == NAIROBI
