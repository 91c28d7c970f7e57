"""The contract between mpesa_lab._uvicorn_guard (and the background server) and uvicorn.

The guard subclasses uvicorn's HTTP protocol and Config and reads their private attributes (the
list is in the guard's docstring). uvicorn is pinned below its next minor in pyproject.toml; when
the pin is raised, a release that renamed or reshaped any of these fails here, by name, instead
of leaving a guard that silently stops guarding. The behaviour itself (deadlines, floods) is
tested with real connections in tests/listener/test_hostile.py and tests/emulator/test_hostile.py.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import inspect
import logging
import signal
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from packaging.requirements import Requirement
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from mpesa_lab import _uvicorn_guard
from mpesa_lab.background import BackgroundServer, bind_socket, serve_forever

ROOT = Path(__file__).resolve().parents[1]

# uvicorn's two HTTP/1.1 protocols: AutoHTTPProtocol is httptools' when it is installed, else h11's.
PROTOCOLS = [
    pytest.param("uvicorn.protocols.http.h11_impl", "H11Protocol", id="h11"),
    pytest.param("uvicorn.protocols.http.httptools_impl", "HttpToolsProtocol", id="httptools"),
]


def protocol(module: str, name: str) -> type:
    if module.endswith("httptools_impl"):
        pytest.importorskip("httptools", reason="httptools is not installed (AutoHTTPProtocol is h11's)")
    return getattr(importlib.import_module(module), name)


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A whole ASGI app: 200 "ok"."""
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_the_installed_uvicorn_is_within_the_pin():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [Requirement(d) for d in dependencies if Requirement(d).name == "uvicorn"]
    installed = importlib.metadata.version("uvicorn")
    assert any(s.operator == "<" for s in pin.specifier), f"uvicorn has no upper pin: {pin}"
    assert pin.specifier.contains(installed), f"uvicorn {installed} is outside {pin}: rerun this contract, then pin"


def test_auto_protocol_is_an_asyncio_protocol_the_guard_subclasses():
    assert issubclass(AutoHTTPProtocol, asyncio.Protocol)
    guard = _uvicorn_guard.ConnectionGuard(1.0, None, _uvicorn_guard.RepeatLimiter())
    assert issubclass(guard.protocol_class(), AutoHTTPProtocol)


@pytest.mark.parametrize(("module", "name"), PROTOCOLS)
def test_protocol_methods_the_guard_extends_keep_their_signatures(module, name):
    cls = protocol(module, name)
    expected = {
        "__init__": ["self", "config", "server_state", "app_state", "_loop"],
        "connection_made": ["self", "transport"],
        "connection_lost": ["self", "exc"],
        "data_received": ["self", "data"],
        "on_response_complete": ["self"],
    }
    for method, parameters in expected.items():
        assert callable(getattr(cls, method, None)), f"{name}.{method} is gone"
        assert list(inspect.signature(getattr(cls, method)).parameters) == parameters, f"{name}.{method}"


@pytest.mark.parametrize(("module", "name"), PROTOCOLS)
def test_protocol_attributes_the_guard_reads_exist_on_a_real_connection(module, name):
    """uvicorn builds the protocol (keyword ``config``), calls the four hooks, and the protocol has
    ``logger``, ``access_log``, ``connections``, ``loop``, ``transport`` and a ``cycle`` with
    ``more_body``, ``response_complete``, ``disconnected`` and ``message_event``."""
    seen: dict[str, Any] = {"hooks": []}

    class Recording(protocol(module, name)):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen["init_keywords"] = sorted(kwargs)
            super().__init__(*args, **kwargs)
            seen["logger"], seen["access_log"] = self.logger, self.access_log

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            seen["hooks"].append("connection_made")
            seen["counted"] = self in self.connections
            seen["loop_is_running_one"] = self.loop is asyncio.get_running_loop()
            seen["transport_is_closing"] = self.transport.is_closing()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            seen["hooks"].append("data_received")
            cycle = self.cycle
            seen["cycle"] = (
                None
                if cycle is None
                else {
                    "more_body": cycle.more_body,
                    "response_complete": cycle.response_complete,
                    "disconnected": cycle.disconnected,
                    "message_event": type(cycle.message_event),
                }
            )

        def on_response_complete(self) -> None:
            super().on_response_complete()
            seen["hooks"].append("on_response_complete")

        def connection_lost(self, exc: Exception | None) -> None:
            seen["hooks"].append("connection_lost")
            super().connection_lost(exc)

    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = _uvicorn_guard._config_class()(hello, http=Recording, lifespan="off", access_log=False, log_level=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=serve_forever, args=(server, [sock], _uvicorn_guard.RepeatLimiter()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.005)
        with httpx.Client(timeout=5) as client:  # one connection, closed before the server stops
            assert client.get(f"http://127.0.0.1:{port}/").text == "ok"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    assert not thread.is_alive()
    assert "config" in seen["init_keywords"]
    # (access_log: uvicorn's own decision, from the access logger's handlers; the guard overrides it)
    assert isinstance(seen["logger"], logging.Logger) and isinstance(seen["access_log"], bool)
    assert seen["counted"] and seen["loop_is_running_one"] and seen["transport_is_closing"] is False
    assert seen["cycle"] == {
        "more_body": False,
        "response_complete": False,
        "disconnected": False,
        "message_event": asyncio.Event,
    }
    assert seen["hooks"] == ["connection_made", "data_received", "on_response_complete", "connection_lost"]


def test_config_init_calls_configure_logging_which_the_guard_turns_off():
    calls = []

    class Probe(uvicorn.Config):
        def configure_logging(self) -> None:
            calls.append(self)

    Probe(hello, log_level=None)
    assert len(calls) == 1
    handlers = {name: list(logging.getLogger(name).handlers) for name in ("", "uvicorn", "uvicorn.error")}
    _uvicorn_guard._config_class()(hello, log_level=None)  # uvicorn's own would dictConfig() these
    assert {name: list(logging.getLogger(name).handlers) for name in handlers} == handlers


def test_config_uses_a_protocol_class_as_given_and_has_the_loop_factory():
    guarded = _uvicorn_guard.ConnectionGuard(1.0, None, _uvicorn_guard.RepeatLimiter()).protocol_class()
    config = _uvicorn_guard._config_class()(hello, http=guarded, lifespan="off", log_level=None)
    config.load()
    assert config.http_protocol_class is guarded
    assert config.access_log is True  # read by the guarded protocol (False only when asked for)
    factory = config.get_loop_factory()  # background.serve_forever: asyncio.Runner(loop_factory=...)
    assert factory is None or callable(factory)


def test_server_has_what_the_background_server_uses():
    server = uvicorn.Server(_uvicorn_guard._config_class()(hello, log_level=None))
    assert (server.started, server.should_exit, server.force_exit) == (False, False, False)
    assert inspect.iscoroutinefunction(uvicorn.Server.serve)
    assert "sockets" in inspect.signature(uvicorn.Server.serve).parameters


def test_a_background_server_leaves_the_process_signal_handlers_alone():
    """uvicorn listens for signals on the main thread only; the server's thread never is."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = BackgroundServer(hello, name="test-uvicorn-guard-signals").start()
    try:
        assert httpx.get(server.url, timeout=5).text == "ok"
        assert {sig: signal.getsignal(sig) for sig in before} == before
    finally:
        server.stop()
    assert {sig: signal.getsignal(sig) for sig in before} == before
