"""DarajaClient and AsyncDarajaClient against the running emulator (the local Daraja), over real HTTP.

The emulator answers as live Daraja does (docs/emulator.md): these tests check that what it
really sends (both pending styles, expired tokens, every documented error, spike arrest and
quota) is read the way the client promises.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest

from mpesa_lab.clock import NAIROBI, parse_daraja_timestamp
from mpesa_lab.config import Settings
from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, SANDBOX_PASSKEY, STK_PUSH_PATH
from mpesa_lab.daraja import errors as E
from mpesa_lab.daraja.client import AsyncDarajaClient, DarajaClient
from mpesa_lab.emulator import ERROR_PHONES, ERROR_TRIGGERS, Emulator, EmulatorConfig

from .conftest import assert_no_secret_shown

CALLBACK = "http://127.0.0.1:9/mpesa/cb"  # callbacks are dropped: these tests only talk to Daraja
TEST_PHONE = "0708374149"


@pytest.fixture
def emulator(request):
    """A running emulator whose callbacks are dropped; ``indirect`` params are EmulatorConfig fields."""
    config = EmulatorConfig(callback_faults=("drop",), enforce_duplicate_rule=False, **getattr(request, "param", {}))
    emu = Emulator(config, name=f"test-client-{request.node.name}").start()
    try:
        yield emu
    finally:
        emu.stop()


def client_settings(emu, **overrides):
    return Settings.local(**{"base_url": emu.url, "callback_url": CALLBACK, **overrides})


def emulator_client(emu, **kwargs):
    kwargs.setdefault("sleep", lambda seconds: None)
    return DarajaClient(client_settings(emu, **kwargs.pop("settings", {})), **kwargs)


class Wire:
    """httpx event hooks that record what crossed the wire: requests (path, body) and answers."""

    def __init__(self):
        self.sent: list[tuple[str, bytes, str]] = []
        self.answers: list[tuple[str, int, bytes]] = []

    def on_request(self, request):
        self.sent.append((request.url.path, request.content, request.headers.get("authorization", "")))

    def on_response(self, response):
        response.read()
        self.answers.append((response.request.url.path, response.status_code, response.content))

    def http(self, **kwargs):
        return httpx.Client(event_hooks={"request": [self.on_request], "response": [self.on_response]}, **kwargs)

    def paths(self):
        return [path.rsplit("/", 1)[-1] for path, *_ in self.sent]


# -- push and query, both pending styles ------------------------------------------------------


@pytest.mark.parametrize(
    "emulator,pending_http",
    [({"interactive": True, "pending_style": "error"}, 500), ({"interactive": True, "pending_style": "result"}, 200)],
    indirect=["emulator"],
    ids=["pending-as-error", "pending-as-result"],
)
def test_emulator_push_is_pending_then_final(emulator, pending_http):
    with emulator_client(emulator) as client:
        push = client.stk_push(TEST_PHONE, 10, "INV001")
        pending = client.stk_query(push.checkout_request_id)
        assert pending.status == "pending" and pending.http_status == pending_http
        assert pending.checkout_request_id == push.checkout_request_id
        emulator.answer(push.checkout_request_id)
        emulator.wait_until_final(push.checkout_request_id)
        final = client.stk_query(push.checkout_request_id)
    assert final.status == "success" and final.result_code == "0" and final.entry.name == "success"
    assert push.checkout_request_id.startswith("ws_CO_") and push.request["PhoneNumber"] == "254708374149"


@pytest.mark.parametrize("emulator", [{"interactive": True}], indirect=True)
def test_emulator_cancel_and_subscriber_lock(emulator):
    with emulator_client(emulator) as client:
        push = client.stk_push("0722 000 000", 10, "INV002")
        with pytest.raises(E.SubscriberLocked):
            client.stk_push("0722000000", 11, "INV003")
        emulator.answer(push.checkout_request_id, cancel=True)
        emulator.wait_until_final(push.checkout_request_id)
        final = client.stk_query(push.checkout_request_id)
    assert (final.status, final.result_code, final.entry.name) == ("failed", "1032", "cancelled")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "emulator",
    [{"interactive": True, "pending_style": "error"}, {"interactive": True, "pending_style": "result"}],
    indirect=True,
    ids=["pending-as-error", "pending-as-result"],
)
async def test_async_emulator_push_pending_then_failed(emulator):
    async with AsyncDarajaClient(client_settings(emulator)) as client:
        push = await client.stk_push(TEST_PHONE, 10, "INV007")
        assert (await client.stk_query(push.checkout_request_id)).pending
        emulator.answer(push.checkout_request_id, pin="0000")
        await anyio.to_thread.run_sync(emulator.wait_until_final, push.checkout_request_id)
        final = await client.stk_query(push.checkout_request_id)
    assert (final.status, final.result_code, final.entry.name) == ("failed", "2001", "wrong_pin")


# -- the Nairobi timestamp, whatever the host's timezone ------------------------------------------


def test_emulator_accepts_the_nairobi_timestamp_whatever_the_host_zone(host_tz, emulator):
    with emulator_client(emulator) as client:
        push = client.stk_push(TEST_PHONE, 10, "TZ")
    sent = emulator.transaction(push.checkout_request_id)["request"]["Timestamp"]
    # The emulator stamps the CheckoutRequestID with its own Nairobi clock (DDMMYYYYHHmmss):
    # a timestamp in the host's zone (UTC, UTC-5, UTC+9) would be hours away from it.
    cid = push.checkout_request_id.removeprefix("ws_CO_")
    emulator_time = datetime.strptime(cid[:14], "%d%m%Y%H%M%S").replace(tzinfo=NAIROBI)
    assert abs(parse_daraja_timestamp(sent) - emulator_time) < timedelta(minutes=2)
    assert abs(parse_daraja_timestamp(sent) - datetime.now(UTC)) < timedelta(minutes=2)


# -- tokens ----------------------------------------------------------------------------------------


class FrozenNairobi:
    """The emulator's injectable clock, moved by hand."""

    def __init__(self):
        self.now = datetime(2024, 7, 10, 9, 15, 26, tzinfo=NAIROBI)

    def __call__(self):
        return self.now


def test_emulator_expired_token_is_refreshed_once_on_404_001_03():
    clock = FrozenNairobi()
    wire = Wire()
    with Emulator(EmulatorConfig(clock=clock, callback_faults=("drop",)), name="test-client-expiry") as emu:
        emu.start()
        with emulator_client(emu, http_client=wire.http(timeout=30)) as client:
            assert client.stk_push(TEST_PHONE, 10, "T1").accepted
            clock.now += timedelta(seconds=3600)  # the emulator's token expired; the client can't know
            assert client.stk_push("0722000000", 10, "T2").accepted
            assert client.tokens.fetch_count == 2
    assert wire.paths() == ["generate", "processrequest", "processrequest", "generate", "processrequest"]
    refused = wire.answers[2]
    assert refused[1] == 404 and json.loads(refused[2])["errorCode"] == "404.001.03"
    assert wire.sent[2][2] != wire.sent[4][2]  # the retry carried the new token


def test_emulator_short_token_is_refreshed_before_it_expires():
    clock = FrozenNairobi()
    seconds = [0.0]
    wire = Wire()
    config = EmulatorConfig(clock=clock, token_ttl=120, callback_faults=("drop",))
    with Emulator(config, name="test-client-early-refresh") as emu:
        emu.start()
        with emulator_client(emu, http_client=wire.http(timeout=30)) as client:
            client.tokens.clock = lambda: seconds[0]
            client.stk_push(TEST_PHONE, 10, "T1")
            seconds[0] += 100  # 20 s of life left: inside the refresh margin
            clock.now += timedelta(seconds=100)
            client.stk_push("0722000000", 10, "T2")
    assert wire.paths() == ["generate", "processrequest", "generate", "processrequest"]
    assert all(status == 200 for _, status, _ in wire.answers)  # never a 404.001.03


def test_emulator_token_refused_twice_is_raised_after_one_refresh(emulator):
    emulator.fail_next("404.001.03", route="push", count=2)
    with emulator_client(emulator) as client, pytest.raises(E.InvalidAccessToken) as info:
        client.stk_push(TEST_PHONE, 10, "T3")
    assert client.tokens.fetch_count == 2 and "freshly fetched token" in str(info.value)
    assert emulator.transactions() == []


# -- every documented error the emulator answers, typed -----------------------------------------

EXPECTED = {
    "bad_request": E.BadRequest,
    "invalid_authentication_type": E.InvalidAuthenticationType,
    "invalid_client_credentials": E.AuthenticationFailed,
    "invalid_grant_type": E.InvalidGrantType,
    "invalid_access_token": E.InvalidAccessToken,
    "resource_not_found": E.ResourceNotFound,
    "method_not_allowed": E.MethodNotAllowed,
    "merchant_does_not_exist": E.MerchantDoesNotExist,
    "wrong_credentials": E.WrongCredentials,
    "subscriber_locked": E.SubscriberLocked,
    "transaction_being_processed": E.TransactionBeingProcessed,
    "system_busy": E.SystemBusy,
    "internal_server_error": E.InternalServerError,
    "spike_arrest": E.SpikeArrest,
    "quota_violation": E.QuotaViolation,
}
OAUTH_ERRORS = {"invalid_authentication_type", "invalid_client_credentials", "invalid_grant_type"}


def test_every_emulator_error_trigger_is_expected():
    assert {t.name for t in ERROR_TRIGGERS} == set(EXPECTED)


@pytest.mark.parametrize("trigger", ERROR_TRIGGERS, ids=[t.name for t in ERROR_TRIGGERS])
def test_every_documented_error_from_the_emulator_maps_to_its_exception(emulator, trigger):
    message = "Bad Request - Invalid Amount" if trigger.name == "bad_request" else trigger.message
    route = "oauth" if trigger.name in OAUTH_ERRORS else "push"
    count = 2 if trigger.name == "invalid_access_token" else 1  # the first is answered by a refresh
    emulator.fail_next(trigger.code, message=message, route=route, count=count)
    with emulator_client(emulator, max_retries=0) as client:
        if trigger.name == "transaction_being_processed":
            # On a query it means pending: a result, not an exception.
            emulator.fail_next(trigger.code, message=message, route="query")
            with pytest.raises(E.TransactionBeingProcessed):
                client.stk_push(TEST_PHONE, 10, "ERR")
            pending = client.stk_query("ws_CO_1007202409152617172396192")
            assert pending.status == "pending" and pending.response_code == trigger.code
            return
        with pytest.raises(EXPECTED[trigger.name]) as info:
            client.stk_push(TEST_PHONE, 10, "ERR")
    error = info.value
    assert type(error) is EXPECTED[trigger.name]
    assert (error.error_code, error.http_status) == (trigger.code, trigger.http_status)
    assert error.error_message == message and error.request_id
    assert error.operation == ("oauth" if route == "oauth" else "stk_push")
    assert error.mitigation == error.entry.mitigation and error.mitigation in str(error)
    assert emulator.transactions() == []


def test_natural_errors_from_the_emulator(emulator):
    with emulator_client(emulator) as client:
        with pytest.raises(E.BadRequest) as info:
            client.stk_query("ws_CO_1007202409152617172396192")  # no such push
        assert info.value.field == "CheckoutRequestID"
        for overrides, cls in [
            ({"passkey": "ef" * 32}, E.WrongCredentials),
            ({"shortcode": "600000"}, E.MerchantDoesNotExist),
        ]:
            with emulator_client(emulator, settings=overrides) as other, pytest.raises(cls):
                other.stk_push(TEST_PHONE, 10, "INV004")
    with emulator_client(emulator, settings={"base_url": emulator.url + "/v9"}) as lost:
        with pytest.raises(E.ResourceNotFound) as info:
            lost.stk_push(TEST_PHONE, 10, "INV004")
    assert info.value.http_status == 404 and info.value.operation == "oauth"
    for body_style in ("envelope", "empty"):
        emulator.configure(oauth_wrong_credentials_body=body_style)
        with emulator_client(emulator, settings={"consumer_secret": "nope"}) as wrong:
            with pytest.raises(E.AuthenticationFailed) as info:
                wrong.stk_push(TEST_PHONE, 10, "INV005")
        assert info.value.http_status == 400 and "Consumer Key" in str(info.value)


def test_emulator_error_phones_become_typed_exceptions(emulator):
    with emulator_client(emulator, max_retries=0) as client:
        for phone, name in ERROR_PHONES.items():
            with pytest.raises(EXPECTED[name]) as info:
                client.stk_push(phone, 10, "ERR")
            assert info.value.entry.name == name and info.value.request_id


# -- retries: only what Daraja did not process ------------------------------------------------------


def test_emulator_busy_is_retried_with_backoff(emulator):
    emulator.fail_next("500.003.02", route="push", count=2)
    sleeps = []
    with emulator_client(emulator, sleep=sleeps.append, backoff=0.25) as client:
        assert client.stk_push(TEST_PHONE, 10, "INV006").accepted
    assert sleeps == [0.25, 0.5] and len(emulator.transactions()) == 1


@pytest.mark.parametrize("emulator", [{"rate_limit_per_second": 1}], indirect=True)
def test_emulator_real_spike_arrest_is_retried_after_backoff(emulator):
    sleeps = []

    def sleep(seconds):  # really waits: the emulator's window is real time
        sleeps.append(seconds)
        time.sleep(seconds)

    with emulator_client(emulator, sleep=sleep, backoff=1.0, max_retries=3) as client:
        first = client.stk_push(TEST_PHONE, 10, "S1")
        second = client.stk_push("0722000000", 10, "S2")  # the same second: spike arrest, then retried
    assert first.accepted and second.accepted
    assert sleeps == [1.0]  # a 1 s wait always clears a 1-per-second window
    assert len(emulator.transactions()) == 2


@pytest.mark.parametrize("emulator", [{"quota": 1}], indirect=True)
def test_emulator_quota_violation_is_not_retried(emulator):
    sleeps = []
    with emulator_client(emulator, sleep=sleeps.append) as client:
        client.stk_push(TEST_PHONE, 10, "Q1")
        with pytest.raises(E.QuotaViolation) as info:
            client.stk_push("0722000000", 10, "Q2")
    assert sleeps == [] and len(emulator.transactions()) == 1
    assert "excessive requests" in str(info.value)


# -- the ambiguous push: reached the emulator, answer lost, never re-sent -------------------------


def lose_push_answers(failure):
    """A response hook: the push reached Daraja and was answered, but the answer never arrives."""

    def hook(response):
        if response.request.url.path.endswith(STK_PUSH_PATH):
            raise failure("connection reset by peer", request=response.request)

    return hook


@pytest.mark.parametrize("failure", [httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_emulator_ambiguous_push_is_never_resent(emulator, failure):
    wire = Wire()
    http = httpx.Client(
        timeout=30, event_hooks={"request": [wire.on_request], "response": [lose_push_answers(failure)]}
    )
    with emulator_client(emulator, http_client=http) as client:
        with pytest.raises(E.AmbiguousPushError) as info:
            client.stk_push(TEST_PHONE, 10, "AMB1")
        assert wire.paths().count("processrequest") == 1
        landed = emulator.transactions()
        assert len(landed) == 1  # the push did reach Daraja: a re-send would prompt twice
        text = str(info.value)
        assert "NOT re-sent" in text and "stk_query" in text and failure.__name__ in text
        # What the error says to do works: the callback (here, the emulator) gives the id.
        status = client.stk_query(landed[0]["checkout_request_id"])
        assert status.checkout_request_id == landed[0]["checkout_request_id"]
    http.close()


@pytest.mark.anyio
async def test_async_emulator_ambiguous_push_is_never_resent(emulator):
    wire = Wire()

    async def on_request(request):
        wire.on_request(request)

    async def on_response(response):
        lose_push_answers(httpx.ReadError)(response)

    http = httpx.AsyncClient(timeout=30, event_hooks={"request": [on_request], "response": [on_response]})
    async with AsyncDarajaClient(client_settings(emulator), http_client=http) as client:
        with pytest.raises(E.AmbiguousPushError):
            await client.stk_push(TEST_PHONE, 10, "AMB2")
    await http.aclose()
    assert wire.paths().count("processrequest") == 1
    assert len(emulator.transactions()) == 1


# -- secrets ---------------------------------------------------------------------------------------


def test_no_secret_in_logs_reprs_or_exceptions_against_the_emulator(caplog):
    clock = FrozenNairobi()
    wire = Wire()
    wrong_passkey = "ef" * 32
    failures = []
    with caplog.at_level(logging.DEBUG):  # every logger: client, httpx, httpcore, emulator, uvicorn
        with Emulator(
            EmulatorConfig(clock=clock, interactive=True, callback_faults=("drop",)), name="test-client-secrets"
        ) as emu:
            emu.start()
            http = wire.http(timeout=30)
            with emulator_client(emu, http_client=http) as client:
                push = client.stk_push(TEST_PHONE, 10, "SEC1")
                client.stk_query(push.checkout_request_id)
                clock.now += timedelta(hours=2)  # expired: 404.001.03, refresh
                client.stk_query(push.checkout_request_id)
                shown = [
                    repr(client),
                    str(client.settings),
                    repr(client.settings),
                    repr(client.tokens),
                    repr(push),
                    repr(push.request),
                ]
                for overrides, phone in [
                    ({"passkey": wrong_passkey}, TEST_PHONE),
                    ({}, "0722000000"),
                    ({"consumer_secret": "wrong-" + LAB_CONSUMER_SECRET}, TEST_PHONE),
                ]:
                    with emulator_client(emu, settings=overrides, http_client=http) as other:
                        try:
                            other.stk_push(phone, 10, "SEC2")
                            other.stk_push(phone, 10, "SEC3")  # the second is locked out
                        except E.MpesaLabError as exc:
                            failures.append(exc)
            http.close()
    assert [type(f) for f in failures] == [E.WrongCredentials, E.SubscriberLocked, E.AuthenticationFailed]
    tokens = {
        json.loads(body)["access_token"]
        for path, status, body in wire.answers
        if path.endswith("/generate") and status == 200
    }
    assert len(tokens) >= 2
    passwords = {json.loads(body)["Password"] for path, body, _ in wire.sent if body}
    basics = {
        base64.b64encode(f"{LAB_CONSUMER_KEY}:{s}".encode()).decode()
        for s in (LAB_CONSUMER_SECRET, "wrong-" + LAB_CONSUMER_SECRET)
    }
    secrets = {LAB_CONSUMER_SECRET, SANDBOX_PASSKEY, wrong_passkey, *tokens, *passwords, *basics}
    assert_no_secret_shown(secrets, [*shown, caplog.text], failures)
