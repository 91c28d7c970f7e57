"""frames: how they are built (the schema itself is checked by test_docs and test_load)."""

from __future__ import annotations

import threading

import pyarrow as pa

from mpesa_lab.clock import nairobi_now
from mpesa_lab.store import frames


def test_frames_are_built_on_malloc_and_the_callers_pool_comes_back():
    before = pa.default_memory_pool().backend_name
    inside: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def other_thread() -> None:
        with frames.system_allocator():
            entered.set()
            release.wait(10)
            inside.append(pa.default_memory_pool().backend_name)

    worker = threading.Thread(target=other_thread)
    with frames.system_allocator():
        worker.start()
        assert entered.wait(10)
        with frames.system_allocator():  # nested
            inside.append(pa.default_memory_pool().backend_name)
    # this thread is out, the other is still in: malloc stays until the last one leaves
    inside.append(pa.default_memory_pool().backend_name)
    release.set()
    worker.join(10)
    assert inside == ["system", "system", "system"]
    assert pa.default_memory_pool().backend_name == before


def test_the_pool_comes_back_when_building_fails():
    before = pa.default_memory_pool().backend_name
    try:
        with frames.system_allocator():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert pa.default_memory_pool().backend_name == before


def test_the_store_views_never_swap_the_process_pool(store, monkeypatch):
    """issue 20 item 4: building frames passes its pool (``memory_pool=``) to Arrow; a listener
    or notebook reading its store changes nothing for the rest of the process."""
    from mpesa_lab.daraja.callbacks import parse_callback
    from mpesa_lab.store import DeliveryIn
    from tests.store.bodies import encode, stk_body

    store.record_push({"Amount": 1}, {"CheckoutRequestID": "ws_CO_P1", "ResponseCode": "0"})
    body = encode(stk_body("ws_CO_P1"))
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
    swaps: list[object] = []
    monkeypatch.setattr(pa, "set_memory_pool", swaps.append)
    before = pa.default_memory_pool()
    assert store.transactions().loc[0, "status"] == "paid"
    assert store.callbacks().loc[0, "result_code"] == "0"
    assert swaps == [] and pa.default_memory_pool().backend_name == before.backend_name


def test_frames_are_built_on_the_system_pool():
    assert frames.pool().backend_name == "system"
