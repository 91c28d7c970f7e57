"""check-callback against real servers: the lesson's endpoint passes in FastAPI, Flask and Django;
each buggy endpoint fails exactly the scenarios its bug breaks, with the fix."""

from __future__ import annotations

import json

import pytest

from mpesa_lab.callback_check import CallbackCheckError, check_callback, scenario_names
from mpesa_lab.callback_check.bodies import Callback, new_order
from mpesa_lab.course.endpoints import OrderBook
from mpesa_lab.daraja.callbacks import parse_callback
from tests.callback_check.buggy_endpoints import BUGGY, SLOW_S

BUDGET = SLOW_S / 2


@pytest.mark.parametrize("framework", ["fastapi", "flask", "django"])
def test_the_lessons_endpoint_passes_every_scenario(solution_endpoints, framework):
    endpoint = solution_endpoints[framework]
    report = check_callback(endpoint.callback_url, readback_url=endpoint.readback_url, budget_s=BUDGET)
    assert [r.name for r in report.results] == scenario_names()
    assert [r.verdict for r in report.results] == ["pass"] * len(scenario_names()), report.results
    assert report.passed


@pytest.mark.parametrize("bug", sorted(BUGGY))
def test_each_buggy_endpoint_fails_naming_the_scenario_and_the_fix(serve_buggy, bug):
    expected = BUGGY[bug]
    endpoint = serve_buggy(bug)
    report = check_callback(
        endpoint.callback_url, readback_url=endpoint.readback_url, scenarios=expected.scenarios, budget_s=BUDGET
    )
    assert not report.passed
    assert {r.name for r in report.failures} == expected.failing, report.failures
    for failure in report.failures:
        assert failure.fix
    assert all(expected.fix_words in r.fix for r in report.failures), report.failures
    assert all(r.verdict == "pass" for r in report.results if r.name not in expected.failing)


def test_without_a_readback_what_needs_one_is_not_verified(solution_endpoints):
    report = check_callback(solution_endpoints["fastapi"].callback_url)
    not_verified = {r.name for r in report.results if r.verdict == "not verified"}
    assert not_verified == {"duplicate", "amount_differs", "forged"}
    assert report.passed
    assert all("--readback" in r.fix for r in report.results if r.verdict == "not verified")
    assert "not verified" in report.result("paid").detail


def test_a_python_hook_does_the_readbacks_job(serve_buggy):
    """The read-back as a Python object: the endpoint's own order book, no HTTP."""
    from mpesa_lab.course.endpoints import fastapi_app, serve_asgi

    book = OrderBook()
    endpoint = serve_asgi(fastapi_app(book), name="test-endpoint-hook")
    try:

        class Hook:
            def register(self, order):
                book.add_order(order.to_json())

            def lookup(self, checkout_request_id):
                return book.order(checkout_request_id)

        report = check_callback(endpoint.callback_url, readback=Hook(), scenarios=["duplicate", "amount_differs"])
    finally:
        endpoint.stop()
    assert [r.verdict for r in report.results] == ["pass", "pass"]


def test_the_bodies_are_daraja_shaped_and_read_by_the_labs_own_parser():
    order = new_order(amount=25, phone="254712345678")
    paid = parse_callback(Callback(order, balance="empty").body())
    assert (paid.result_code, paid.amount, paid.phone) == ("0", 25, "254712345678")
    assert paid.checkout_request_id == order.checkout_request_id and paid.checkout_request_id.startswith("ws_CO_")
    assert paid.receipt
    cancelled = json.loads(Callback(order, result_code=1032).body())["Body"]["stkCallback"]
    assert cancelled == {
        "MerchantRequestID": order.merchant_request_id,
        "CheckoutRequestID": order.checkout_request_id,
        "ResultCode": 1032,
        "ResultDesc": "Request cancelled by user.",
    }


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("localhost:8000/callback", "is not an http(s) URL"),
        ("ftp://example.com/cb", "is not an http(s) URL"),
        ("http://127.0.0.1:1/mpesa/callback", "cannot reach http://127.0.0.1:1/mpesa/callback"),
    ],
)
def test_a_check_that_cannot_run_says_why_in_one_line(url, words):
    with pytest.raises(CallbackCheckError) as caught:
        check_callback(url, scenarios=["paid"])
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_read_back_nobody_serves_is_one_line_before_any_callback(solution_endpoints):
    endpoint = solution_endpoints["fastapi"]
    with pytest.raises(
        CallbackCheckError,
        match=r"^cannot reach the read-back URL http://127.0.0.1:1/orders: .*docs/callback-check.md\)$",
    ):
        check_callback(endpoint.callback_url, readback_url="http://127.0.0.1:1/orders", scenarios=["paid"])


def test_an_unknown_scenario_is_named(solution_endpoints):
    with pytest.raises(CallbackCheckError, match="unknown scenario 'payed'.*paid"):
        check_callback(solution_endpoints["flask"].callback_url, scenarios=["payed"])


def test_the_report_shows_each_verdict_and_fix_as_html(serve_buggy):
    endpoint = serve_buggy("crashes_on_text_code")
    report = check_callback(
        endpoint.callback_url, readback_url=endpoint.readback_url, scenarios=["paid", "text_result_code"]
    )
    html = report._repr_html_()
    assert "FAILED" in html and "text_result_code" in html and "str(code).strip() == &#34;0&#34;" in html
    assert "HTTP 500" in report.result("text_result_code").detail
    assert repr(report).startswith("<CallbackCheckReport FAILED: 1 passed, 1 failed")


@pytest.mark.parametrize("balance", ["absent", "empty"])
def test_the_bodies_have_the_emulators_shape_key_for_key(tmp_path, balance):
    """A real callback from the lab's emulator and check-callback's body: the same keys in the
    same order, the same items in the same order, the same JSON types."""
    from mpesa_lab.emulator import EmulatorConfig
    from mpesa_lab.lab import Lab

    lab = Lab.start(store=tmp_path / "shape.sqlite3", emulator_config=EmulatorConfig(callback_balance=balance))
    try:
        real = json.loads(lab.push("254708000000", 10, "SHAPE", "Shape").wait(timeout=15).raw)
    finally:
        lab.stop()
    ours = Callback(new_order(), balance="empty" if balance == "empty" else "none").as_dict()

    def shape(body):
        callback = body["Body"]["stkCallback"]
        items = callback["CallbackMetadata"]["Item"]
        return (
            list(body),
            list(body["Body"]),
            [(k, type(v).__name__) for k, v in callback.items() if k != "CallbackMetadata"],
            [(i["Name"], type(i.get("Value")).__name__) for i in items],
        )

    assert shape(ours) == shape(real)
