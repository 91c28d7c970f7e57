"""frames: how they are built (the schema itself is checked by test_docs and test_load)."""

from __future__ import annotations

import threading

import pyarrow as pa

from mpesa_lab.analytics import frames


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
