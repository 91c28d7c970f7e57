"""The check-callback widget, used as a person uses it: type the URLs, click Run, read the table."""

from __future__ import annotations

import pytest

from mpesa_lab.course.endpoints import OrderBook, fastapi_app, serve_asgi
from mpesa_lab.widgets import CallbackCheckWidget

from .conftest import TIMEOUT


@pytest.fixture
def endpoint():
    served = serve_asgi(fastapi_app(OrderBook()), name="test-widget-endpoint")
    yield served
    served.stop()


def test_run_shows_every_verdict_with_the_fix(endpoint):
    widget = CallbackCheckWidget()
    widget.url.value = endpoint.callback_url
    widget.run.click()
    assert widget.done.wait(TIMEOUT) and not widget.run.disabled
    assert "PASSED" in widget.status.value
    table = widget.results.value
    for name in ("paid", "duplicate", "forged", "answer_time"):
        assert f"<code>{name}</code>" in table
    # no read-back given: what needs one says so, with the fix
    assert "not verified" in table and "--readback" in table
    widget.readback.value = endpoint.readback_url
    widget.run.click()
    assert widget.done.wait(TIMEOUT)
    assert "13 passed, 0 failed, 0 not verified" in widget.status.value


def test_a_bad_url_is_one_line_in_red():
    widget = CallbackCheckWidget(url="localhost:8000/callback")
    widget.run.click()
    assert widget.done.wait(TIMEOUT)
    assert "is not an http(s) URL" in widget.status.value and widget.results.value == ""
