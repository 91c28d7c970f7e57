"""Checks of notebook 00, start here: right answers pass, wrong ones are named."""

from __future__ import annotations

from mpesa_lab.course import check
from tests.course.helpers import TEST_PHONE, ok, todo, wrong


def test_msisdn():
    ok(check.msisdn(TEST_PHONE, TEST_PHONE))
    todo(check.msisdn(..., TEST_PHONE))
    wrong(check.msisdn("0708374149", TEST_PHONE), "local format", "254")
    wrong(check.msisdn("+254708374149", TEST_PHONE), "drop the '+'")
    wrong(check.msisdn(254708374149, TEST_PHONE), "as text")
    wrong(check.msisdn("254 708 374 149", TEST_PHONE), "spaces or dashes")
    wrong(check.msisdn("708374149", TEST_PHONE), "lacks the country code")
    wrong(check.msisdn(" 254708374149", TEST_PHONE), "whitespace")
    wrong(check.msisdn("254700000000", TEST_PHONE), "is not the test phone")


def test_callback_target(lab):
    ok(check.callback_target(lab.callback_url, lab))
    todo(check.callback_target(..., lab))
    wrong(check.callback_target(lab.settings.base_url, lab), "Daraja's (the emulator's) address")
    wrong(check.callback_target(lab.settings.base_url + "/mpesa/stkpush/v1/processrequest", lab), "emulator")
    listener_root = lab.callback_url.rsplit("/", 1)[0]
    wrong(check.callback_target(listener_root, lab), "without its secret path")
    wrong(check.callback_target(42, lab), "a URL is a str")
    wrong(check.callback_target("https://example.com/cb", lab), "not this lab's CallBackURL")
