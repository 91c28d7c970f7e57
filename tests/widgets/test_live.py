"""The live callbacks table: it updates by itself, from the listener's thread, by traits only."""

from __future__ import annotations

import json
import threading

import httpx

from mpesa_lab.widgets import LiveCallbacks

from .conftest import TIMEOUT, eventually


def callback_body(checkout_id: str, code: int = 0) -> dict:
    stk = {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": checkout_id,
        "ResultCode": code,
        "ResultDesc": "The service request is processed successfully." if code == 0 else "Request cancelled by user.",
    }
    if code == 0:
        stk["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": 1.0},
                {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                {"Name": "PhoneNumber", "Value": 254708374149},
            ]
        }
    return {"Body": {"stkCallback": stk}}


def test_table_gains_a_row_when_a_callback_is_stored_from_another_thread(lab, closing):
    live = closing(LiveCallbacks(lab))
    assert live.rows == [] and "No callback yet" in live.table.value
    seen = []
    live.table.observe(lambda change: seen.append(change["new"]), names="value")  # the trait path to the page

    def post() -> None:  # a callback arriving over real HTTP; the listener's thread stores it
        response = httpx.post(
            lab.listener.callback_url,
            content=json.dumps(callback_body("ws_CO_LIVE_1")),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 200

    poster = threading.Thread(target=post)
    poster.start()
    poster.join(TIMEOUT)
    eventually(lambda: len(live.rows) == 1, what="the new row")
    assert live.rows[0]["checkout_request_id"] == "ws_CO_LIVE_1" and live.rows[0]["status"] == "paid"
    assert "ws_CO_LIVE_1" in live.table.value and "NLJ7RT61SV" in live.table.value
    assert any("ws_CO_LIVE_1" in value for value in seen)  # it came as a trait change


def test_newest_first_coloured_with_meaning_and_mitigation(lab, closing):
    live = closing(LiveCallbacks(lab))
    paid = lab.push("254708000000", 1, "LAB", "first")
    paid.wait(TIMEOUT)
    cancelled = lab.push("254708001032", 2, "LAB", "second")
    cancelled.wait(TIMEOUT)
    eventually(lambda: len(live.rows) == 2, what="two rows")
    assert [r["checkout_request_id"] for r in live.rows] == [cancelled.checkout_request_id, paid.checkout_request_id]
    first = live.rows[0]
    assert first["status"] == "failed" and first["result_code"] == "1032"
    # the push fills in who was asked; paid and requested amounts stay apart, as in the frame
    assert first["phone"] == "254708001032" and float(first["amount_requested"]) == 2
    assert first["amount"] is None or first["amount"] != first["amount"]  # nothing was paid (NaN/None)
    assert float(live.rows[1]["amount"]) == 1 and float(live.rows[1]["amount_requested"]) == 1
    assert first["latency_s"] > 0
    assert list(live.frame().columns[:8]) == [
        "status",
        "result_code",
        "result_desc",
        "phone",
        "amount",
        "amount_requested",
        "receipt",
        "latency_s",
    ]
    table = live.table.value
    assert "#fff6f6" in table and "#f6fff8" in table  # failed and paid rows coloured apart
    assert "What to do:" in table and "Request cancelled by user" in table  # hover and click
    assert "failed 1" in live.header.value and "paid 1" in live.header.value


def test_duplicates_are_flagged(lab, closing):
    live = closing(LiveCallbacks(lab))
    body = json.dumps(callback_body("ws_CO_DUP", 1032))
    for _ in range(2):
        httpx.post(lab.listener.callback_url, content=body, headers={"Content-Type": "application/json"})
    eventually(lambda: len(live.rows) == 2, what="both deliveries")
    assert live.rows[0]["duplicate"] and "[duplicate]" in live.table.value


def test_close_stops_the_watcher(lab):
    live = LiveCallbacks(lab)
    thread = live._watcher.thread
    live.close()
    assert not thread.is_alive()


def test_a_burst_from_several_threads_ends_in_a_complete_table(lab, closing):
    live = closing(LiveCallbacks(lab, limit=100))
    redraws = []
    live.table.observe(lambda change: redraws.append(change["new"]), names="value")

    def post_many(worker: int) -> None:
        with httpx.Client() as client:
            for n in range(10):
                body = json.dumps(callback_body(f"ws_CO_BURST_{worker}_{n}", 0 if n % 2 else 1032))
                client.post(lab.listener.callback_url, content=body, headers={"Content-Type": "application/json"})

    workers = [threading.Thread(target=post_many, args=(w,)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(TIMEOUT)
    eventually(lambda: len(live.rows) == 30, what="all 30 rows")
    final = live.table.value
    assert all(f"ws_CO_BURST_{w}_{n}" in final for w in range(3) for n in range(10))
    assert len(redraws) < 30  # bursts are drawn together, not once per callback
