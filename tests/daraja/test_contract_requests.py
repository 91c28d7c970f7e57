"""What the client sends conforms to the contract (docs/openapi.yaml), and so do the answers it reads.

DarajaClient and AsyncDarajaClient talk to the running emulator over real HTTP; httpx event hooks
capture every request as it went on the wire (OAuth, paybill and till pushes, queries pending and
final), which is checked against the contract's operations: path, method, security scheme,
parameters and body. The answers they read are checked too.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest

from mpesa_lab.config import Settings
from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.daraja.client import AsyncDarajaClient, DarajaClient
from mpesa_lab.emulator import Emulator, EmulatorConfig
from mpesa_lab.emulator.defaults import TILL_NUMBER, TILL_PASSKEY, TILL_SHORTCODE
from tests.openapi_contract import check_answer, check_request

CALLBACK = "http://127.0.0.1:9/mpesa/cb"  # callbacks are dropped: only what the client sends matters


class Wire:
    """Every request the client sent and every answer it got, as they crossed the wire."""

    def __init__(self) -> None:
        self.exchanges: list[httpx.Response] = []

    def record(self, response: httpx.Response) -> None:
        response.read()
        self.exchanges.append(response)

    async def record_async(self, response: httpx.Response) -> None:
        await response.aread()
        self.exchanges.append(response)

    def check(self) -> list[str]:
        """Check every exchange against the contract; the paths, in order."""
        for response in self.exchanges:
            check_request(response.request)
            check_answer(response)
        return [response.request.url.path for response in self.exchanges]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    config = EmulatorConfig(callback_faults=("drop",), enforce_duplicate_rule=False, interactive=True, prompt_delay=0.0)
    emu = Emulator(config, name="test-client-contract").start()
    try:
        yield emu
    finally:
        emu.stop()


def _settings(emulator: Emulator, **overrides: str) -> Settings:
    return Settings.local(base_url=emulator.url, callback_url=CALLBACK, **overrides)


def _till(emulator: Emulator) -> Settings:
    return _settings(
        emulator,
        shortcode=TILL_SHORTCODE,
        passkey=TILL_PASSKEY,
        transaction_type="CustomerBuyGoodsOnline",
        party_b=TILL_NUMBER,
    )


@pytest.mark.parametrize("pending_style", ["error", "result"])
def test_the_client_s_requests_conform(emulator: Emulator, pending_style: str) -> None:
    emulator.configure(pending_style=pending_style)
    wire = Wire()
    hooks = {"response": [wire.record]}
    for settings in (_settings(emulator), _till(emulator)):
        with httpx.Client(event_hooks=hooks) as http, DarajaClient(settings, http_client=http) as client:
            # a phone as people write it, a 2541 number, an amount as text: sent as Daraja takes them
            for phone, amount in (("0708 374 149", 10), ("0110000000", "25.00")):
                push = client.stk_push(phone, amount, "INV-1", "Order 1")
                assert client.stk_query(push.checkout_request_id).pending
                emulator.answer(push.checkout_request_id)
                emulator.wait_until_final(push.checkout_request_id)
                assert client.stk_query(push.checkout_request_id).status == "success"
    paths = wire.check()
    assert paths.count(OAUTH_PATH) == 2 and paths.count(STK_PUSH_PATH) == 4 and paths.count(STK_QUERY_PATH) == 8
    till_pushes = [r.request for r in wire.exchanges if r.request.url.path == STK_PUSH_PATH][2:]
    assert all(b'"CustomerBuyGoodsOnline"' in request.content for request in till_pushes)


@pytest.mark.anyio
async def test_the_async_client_s_requests_conform(emulator: Emulator) -> None:
    wire = Wire()
    async with (
        httpx.AsyncClient(event_hooks={"response": [wire.record_async]}) as http,
        AsyncDarajaClient(_settings(emulator), http_client=http) as client,
    ):
        push = await client.stk_push("254708374149", 1, "INV-2")
        assert (await client.stk_query(push.checkout_request_id)).pending
        emulator.answer(push.checkout_request_id, cancel=True)
        await anyio.to_thread.run_sync(emulator.wait_until_final, push.checkout_request_id)
        assert (await client.stk_query(push.checkout_request_id)).result_code == "1032"
    assert wire.check() == [OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH, STK_QUERY_PATH]


def test_a_request_outside_the_contract_is_caught(emulator: Emulator) -> None:
    """The check can fail: a push without TransactionDesc (which Daraja answers Invalid Remarks)."""
    wire = Wire()
    with (
        httpx.Client(event_hooks={"response": [wire.record]}) as http,
        DarajaClient(_settings(emulator), http_client=http) as client,
    ):
        request = client.build_push("254708374149", 1, "INV-3")
        body = request.to_body("password", "20240710091526")
        del body["TransactionDesc"]
        token = client.tokens.token().reveal()
        http.post(emulator.url + STK_PUSH_PATH, json=body, headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(AssertionError, match="TransactionDesc"):
        wire.check()
