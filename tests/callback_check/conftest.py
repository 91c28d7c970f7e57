"""Endpoints served for real: the reference one in FastAPI (uvicorn), Flask (werkzeug's server) and
Django (wsgiref),
and the buggy ones (uvicorn)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mpesa_lab.course.endpoints import OrderBook, ServedEndpoint, serve_asgi, serve_wsgi


@pytest.fixture(scope="module")
def solution_endpoints() -> Iterator[dict[str, ServedEndpoint]]:
    from mpesa_lab.course.endpoints import django_app, fastapi_app, flask_app

    served = {
        "fastapi": serve_asgi(fastapi_app(OrderBook()), name="test-endpoint-fastapi"),
        "flask": serve_wsgi(flask_app(OrderBook()), server_name="werkzeug"),
        "django": serve_wsgi(django_app(OrderBook())),
    }
    yield served
    for endpoint in served.values():
        endpoint.stop()


@pytest.fixture
def serve_buggy() -> Iterator:
    started: list[ServedEndpoint] = []

    def serve(name: str) -> ServedEndpoint:
        from tests.callback_check.buggy_endpoints import BUGGY, buggy_app

        bug = BUGGY[name]
        endpoint = serve_asgi(buggy_app(OrderBook(fail_writes=bug.db_down), bug.handler), name=f"test-buggy-{name}")
        started.append(endpoint)
        return endpoint

    yield serve
    for endpoint in started:
        endpoint.stop()
