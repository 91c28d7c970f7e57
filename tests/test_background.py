import threading
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from mpesa_lab.background import BackgroundServer, ServerStartError, running_servers


def _app():
    return Starlette(routes=[Route("/", lambda request: JSONResponse({"ok": True}))])


def test_start_serves_and_stop_frees_the_port():
    server = BackgroundServer(_app(), name="test-bg").start()
    try:
        assert httpx.get(server.url).json() == {"ok": True}
        port = server.port
    finally:
        server.stop()
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)


def test_starting_again_under_the_same_name_replaces_the_old_server():
    first = BackgroundServer(_app(), name="test-rerun").start()
    second = BackgroundServer(_app(), name="test-rerun", port=first.port).start()
    try:
        assert not first.running
        assert running_servers()["test-rerun"] is second
        assert httpx.get(second.url).status_code == 200
    finally:
        second.stop()
    assert "test-rerun" not in running_servers()


def test_port_in_use_is_a_clear_error():
    holder = BackgroundServer(_app(), name="test-holder").start()
    try:
        with pytest.raises(ServerStartError, match="another --port"):
            BackgroundServer(_app(), name="test-other", port=holder.port).start()
    finally:
        holder.stop()


def test_a_repeated_failure_is_logged_once_then_counted(caplog):
    import logging

    from mpesa_lab.background import RepeatLimiter

    limiter = RepeatLimiter(window=60)
    logger = logging.getLogger("test.repeats")
    with caplog.at_level(logging.WARNING, logger="test.repeats"):
        logged = [limiter.log(logger, logging.WARNING, "accept failed: %s", ("EMFILE",)) for _ in range(500)]
        limiter.flush()
    assert logged.count(True) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["accept failed: EMFILE", "accept failed: EMFILE [repeated 499 more time(s)]"]


def test_stop_joins_a_thread_whose_start_was_interrupted():
    """Ctrl-C inside Thread.start() leaves a thread that runs but cannot be joined yet."""
    from mpesa_lab.background import join_thread

    finished = threading.Event()
    thread = threading.Thread(target=lambda: (time.sleep(0.05), finished.set()))
    threading.Timer(0.1, thread.start).start()  # "started" only later, as after the interrupt
    join_thread(thread, timeout=5)  # plain thread.join() raises RuntimeError here
    assert finished.is_set() and not thread.is_alive()
