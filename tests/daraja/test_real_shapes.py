"""The client against the emulator's real troubleshooting shapes (docs/emulator.md): each becomes a
typed error naming the likely cause and the fix, never a JSON decode traceback; a numeric
expires_in is accepted."""

from __future__ import annotations

import pytest

from mpesa_lab.config import Settings
from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET
from mpesa_lab.daraja import errors as E
from mpesa_lab.daraja.auth import TokenProvider
from mpesa_lab.daraja.client import DarajaClient
from mpesa_lab.emulator import Emulator, EmulatorConfig

CALLBACK = "http://127.0.0.1:9/mpesa/cb"


@pytest.fixture(scope="module")
def emu():
    emulator = Emulator(EmulatorConfig(callback_faults=("drop",), prompt_delay=0.0), name="test-real-shapes").start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(autouse=True)
def fresh(emu):
    emu.configure(wrong_path_answer="envelope", expires_in_style="text", environment="sandbox")
    emu.reset(keep_tokens=False)


def client(emu, **settings):
    values = {"base_url": emu.url, "callback_url": CALLBACK, **settings}
    return DarajaClient(Settings.local(**values), max_retries=0, sleep=lambda s: None)


def test_an_html_page_on_oauth_names_the_base_url_as_the_cause(emu):
    emu.configure(wrong_path_answer="html")
    with client(emu, base_url=emu.url + "/mpesa") as c, pytest.raises(E.NotDarajaAnswer) as info:
        c.stk_push("254708374149", 1, "REF", "Desc")
    message = str(info.value)
    assert "HTML page" in message and "HTTP 200" in message
    assert "not Daraja's OAuth endpoint: check the base URL" in message
    assert emu.url in message and "no path after the host" in message
    assert info.value.__cause__ is None and info.value.__context__ is None  # no JSON decode traceback


def test_an_app_without_the_product_is_named_and_not_retried(emu):
    emu.register_app("no-product", "no-product-secret", express=False)
    with client(emu, consumer_key="no-product", consumer_secret="no-product-secret") as c:
        with pytest.raises(E.ProductNotEnabled) as info:
            c.stk_push("254708374149", 1, "REF", "Desc")
        assert c.tokens.fetch_count == 1  # a fresh token would not help: none was fetched
    message = str(info.value)
    assert info.value.http_status == 401 and info.value.error_code == "401.003.01"
    assert "M-Pesa Express" in message and "My Apps" in message
    assert isinstance(info.value, E.InvalidAccessToken)  # code catching the general case still works


def test_a_numeric_expires_in_is_accepted(emu):
    emu.configure(expires_in_style="number", token_ttl=600)
    provider = TokenProvider(emu.url, LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET)
    try:
        provider.token()
        assert provider.expires_in is not None and 530 < provider.expires_in <= 540  # 600 - 60 s margin
    finally:
        provider.close()


def test_the_production_host_refusing_sandbox_keys_says_keys_are_per_environment(emu):
    emu.configure(environment="production")
    with (
        client(emu, callback_url="https://shop.mpesa-lab.test/mpesa/cb") as c,
        pytest.raises(E.AuthenticationFailed) as info,
    ):
        c.stk_push("254708374149", 1, "REF", "Desc")
    message = str(info.value)
    assert "Keys are per environment" in message and "https://api.safaricom.co.ke" in message
    assert LAB_CONSUMER_SECRET not in message


def test_an_expired_token_is_refreshed_once_and_the_push_goes_through(emu):
    with client(emu) as c:
        c.stk_push("254708374149", 1, "REF", "Desc")
        emu.expire_tokens()
        c.stk_push("254712000201", 1, "REF", "Desc")
        assert c.tokens.fetch_count == 2


def test_invalid_business_short_code_mentions_the_content_type(emu):
    emu.fail_next("400.002.02", "Bad Request - Invalid BusinessShortCode", route="push")
    with client(emu) as c, pytest.raises(E.BadRequest) as info:
        c.stk_push("254708374149", 1, "REF", "Desc")
    assert "Content-Type: application/json" in str(info.value)


def test_the_1101_refusal_arrives_as_a_callback_the_parser_keeps(emu):
    from mpesa_lab.daraja.callbacks import parse_callback

    emu.configure(legacy_prompt_prefix_limit=94)
    try:
        with client(emu) as c, pytest.warns(E.RequestWarning):
            push = c.stk_push("254712000202", 1, "A" * 80, "Desc")
        emu.wait_until_final(push.checkout_request_id)
        tx = emu.transaction(push.checkout_request_id)
        assert tx["result_code"] == "1101"
        record = parse_callback(
            {
                "Body": {
                    "stkCallback": {
                        "MerchantRequestID": tx["merchant_request_id"],
                        "CheckoutRequestID": push.checkout_request_id,
                        "ResultCode": 1101,
                        "ResultDesc": tx["result_desc"],
                    }
                }
            }
        )
        assert record.result_code == "1101" and "Prompt message prefix" in record.result_desc
    finally:
        emu.configure(legacy_prompt_prefix_limit=None)
