"""Checks of notebook 11, troubleshooting: right answers pass, each classic cause is named."""

from __future__ import annotations

import pytest

from mpesa_lab.constants import SANDBOX_PASSKEY
from mpesa_lab.course import check
from mpesa_lab.course.trouble import push_body, your_app
from tests.course.helpers import TEST_PHONE, ok, todo, wrong


def test_one_timestamp():
    todo(check.one_timestamp(..., passkey=SANDBOX_PASSKEY))
    ok(check.one_timestamp(push_body(timestamp="20260701120000"), passkey=SANDBOX_PASSKEY))
    twice = push_body(timestamp="20260701120001", password_timestamp="20260701120000")
    wrong(check.one_timestamp(twice, passkey=SANDBOX_PASSKEY), "computed twice", "20260701120000")
    wrong(check.one_timestamp(push_body(passkey="0" * 64), passkey=SANDBOX_PASSKEY), "passkey")
    wrong(
        check.one_timestamp(
            push_body(shortcode="174380", PartyB="174379", BusinessShortCode="174379"), passkey=SANDBOX_PASSKEY
        ),
        "shortcode 174380",
    )
    wrong(check.one_timestamp("a body", passkey=SANDBOX_PASSKEY), "dict")
    wrong(check.one_timestamp(push_body(Password="not base64!"), passkey=SANDBOX_PASSKEY), "base64")
    assert SANDBOX_PASSKEY not in str(check.one_timestamp(push_body(passkey="0" * 64), passkey=SANDBOX_PASSKEY))


@pytest.fixture(scope="module")
def app():
    served = your_app()
    yield served
    served.stop()


@pytest.mark.parametrize(
    "route,named",
    [("get_only", "accept POST"), ("csrf", "CSRF"), ("redirect", "does not follow redirects")],
)
def test_callback_delivered_names_each_classic_route(lab, app, route, named):
    amount = 51 + app.ROUTES.index(route)
    push = lab.push(TEST_PHONE, amount, "CHK", "Routes", callback_url=app.url(route))
    wrong(check.callback_delivered(push, lab, app), named)


def test_callback_delivered(lab, app):
    todo(check.callback_delivered(..., lab, app))
    ok(check.callback_delivered(lab.push(TEST_PHONE, 61, "CHK", "Routes", callback_url=app.url("good")), lab, app))
    gone = lab.push(TEST_PHONE, 62, "CHK", "Routes", callback_url=app.served.url + "/nothing")
    wrong(check.callback_delivered(gone, lab, app), "HTTP 404")
    wrong(check.callback_delivered("ws_CO_1", lab, app), "give the Push")
