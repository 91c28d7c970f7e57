import base64
import logging
import threading

import anyio
import httpx
import pytest

from mpesa_lab.daraja import errors as E
from mpesa_lab.daraja.auth import AsyncTokenProvider, TokenProvider, parse_expires_in

from .conftest import CONSUMER_SECRET, envelope

KEY = "consumer-key-1"
TOKEN = "c9SQxWWhmdVRlyh0zh8gZDTkubVF"  # 28 characters, like Daraja's


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def oauth_transport(answers=None, seen=None):
    """A MockTransport for the OAuth endpoint; ``answers`` are (status, json-or-bytes) in turn."""
    count = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        count["n"] += 1
        if seen is not None:
            seen.append(request)
        if answers:
            status, body = answers.pop(0)
            if isinstance(body, bytes):
                return httpx.Response(status, content=body)
            return httpx.Response(status, json=body)
        return httpx.Response(200, json={"access_token": f"{TOKEN[:-2]}{count['n']:02d}", "expires_in": "3599"})

    return httpx.MockTransport(handler), count


def provider(transport, clock=None, **kwargs):
    client = httpx.Client(transport=transport)
    return TokenProvider(
        "https://daraja.test/", KEY, CONSUMER_SECRET, http_client=client, clock=clock or Clock(), **kwargs
    )


@pytest.mark.parametrize(
    "value,expected",
    [
        ("3599", 3599.0),
        (3599, 3599.0),
        (3599.0, 3599.0),
        (" 3599 ", 3599.0),
        ("0", 0.0),
        (-5, 0.0),
        (None, None),
        ("soon", None),
        (True, None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_expires_in_as_string_or_number(value, expected):
    assert parse_expires_in(value) == expected


def test_client_credentials_get_with_http_basic():
    seen = []
    transport, _ = oauth_transport(seen=seen)
    token = provider(transport).token()
    request = seen[0]
    assert request.method == "GET"
    assert str(request.url) == "https://daraja.test/oauth/v1/generate?grant_type=client_credentials"
    expected = base64.b64encode(f"{KEY}:{CONSUMER_SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert token.reveal().startswith(TOKEN[:-2])


@pytest.mark.parametrize("expires_in", ["3599", 3599])
def test_token_is_cached_until_a_margin_before_expiry(expires_in):
    transport, count = oauth_transport(
        [
            (200, {"access_token": "t1" * 14, "expires_in": expires_in}),
            (200, {"access_token": "t2" * 14, "expires_in": expires_in}),
        ]
    )
    clock = Clock()
    tokens = provider(transport, clock=clock, margin=60)
    first = tokens.token()
    for _ in range(50):
        assert tokens.token() == first
    clock.now += 3599 - 60 - 1
    assert tokens.token() == first and count["n"] == 1
    clock.now += 2
    second = tokens.token()
    assert second != first and second.reveal() == "t2" * 14 and count["n"] == 2
    assert tokens.fetch_count == 2


def test_short_lived_tokens_keep_half_their_life():
    transport, count = oauth_transport([(200, {"access_token": "a" * 28, "expires_in": 10})] * 3)
    clock = Clock()
    tokens = provider(transport, clock=clock, margin=60)
    tokens.token()
    clock.now += 4.9
    tokens.token()
    assert count["n"] == 1
    clock.now += 0.2
    tokens.token()
    assert count["n"] == 2


def test_missing_expires_in_assumes_an_hour():
    transport, count = oauth_transport([(200, {"access_token": "a" * 28})])
    clock = Clock()
    tokens = provider(transport, clock=clock)
    tokens.token()
    clock.now += 3000
    tokens.token()
    assert count["n"] == 1


def test_invalidate_drops_only_the_stale_token():
    transport, count = oauth_transport()
    tokens = provider(transport)
    first = tokens.token()
    tokens.invalidate(first)
    second = tokens.token()
    assert second != first and count["n"] == 2
    tokens.invalidate(first)  # a late caller still holding the old token changes nothing
    assert tokens.token() == second and count["n"] == 2
    tokens.invalidate()
    assert tokens.token() != second and count["n"] == 3


@pytest.mark.parametrize(
    "status,body,cls",
    [
        (400, b"", E.AuthenticationFailed),
        (400, envelope("400.008.01", "Invalid Authentication passed"), E.AuthenticationFailed),
        (400, envelope("400.008.02", "Invalid grant type passed"), E.InvalidGrantType),
        (400, envelope("400.008.01", "Invalid authentication type passed"), E.InvalidAuthenticationType),
        (500, envelope("500.003.02", "System is busy. Please try again in few minutes."), E.SystemBusy),
    ],
)
def test_oauth_errors_are_typed(status, body, cls):
    transport, _ = oauth_transport([(status, body)])
    with pytest.raises(cls) as info:
        provider(transport).token()
    assert info.value.operation == "oauth" and info.value.http_status == status
    assert CONSUMER_SECRET not in str(info.value)


def test_a_200_without_a_token_is_an_error_that_echoes_nothing():
    transport, _ = oauth_transport([(200, {"token": "looks-secret-value", "expires_in": "3599"})])
    with pytest.raises(E.UnknownDarajaError) as info:
        provider(transport).token()
    assert "access_token" in str(info.value) and "looks-secret-value" not in str(info.value)


def test_unreachable_oauth_is_a_retryable_transport_error():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(E.TransportError) as info:
        provider(httpx.MockTransport(refuse)).token()
    assert info.value.retryable and not info.value.sent
    assert info.value.__context__ is None and info.value.__cause__ is None  # no httpx request kept


def test_secrets_never_shown(caplog):
    transport, _ = oauth_transport()
    with caplog.at_level(logging.DEBUG):
        tokens = provider(transport)
        token = tokens.token()
    basic = base64.b64encode(f"{KEY}:{CONSUMER_SECRET}".encode()).decode()
    for text in (repr(tokens), str(tokens), caplog.text, repr(token), str(token)):
        assert CONSUMER_SECRET not in text and token.reveal() not in text and basic not in text


# -- concurrency against a real HTTP server ---------------------------------------------------


def test_twenty_threads_make_one_oauth_request(fake_daraja):
    fake, url = fake_daraja
    fake.oauth_delay = 0.2  # the first fetch is still in flight when the others ask
    with httpx.Client(timeout=30) as client:
        tokens = TokenProvider(url, KEY, CONSUMER_SECRET, http_client=client)
        barrier = threading.Barrier(20)
        got, failures = [], []

        def ask():
            try:
                barrier.wait(timeout=30)
                got.append(tokens.token())
            except Exception as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=ask) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not failures
    assert len(got) == 20 and len(set(got)) == 1
    assert fake.oauth_count == 1 and tokens.fetch_count == 1


@pytest.mark.anyio
async def test_twenty_tasks_make_one_oauth_request(fake_daraja):
    fake, url = fake_daraja
    fake.oauth_delay = 0.2
    async with httpx.AsyncClient(timeout=30) as client:
        tokens = AsyncTokenProvider(url, KEY, CONSUMER_SECRET, http_client=client)
        got = []

        async def ask():
            got.append(await tokens.token())

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(ask)
    assert len(got) == 20 and len(set(got)) == 1
    assert fake.oauth_count == 1 and tokens.fetch_count == 1


@pytest.mark.anyio
async def test_async_cache_expiry_and_invalidate(fake_daraja):
    fake, url = fake_daraja
    clock = Clock()
    async with httpx.AsyncClient(timeout=30) as client:
        tokens = AsyncTokenProvider(url, KEY, CONSUMER_SECRET, http_client=client, clock=clock)
        first = await tokens.token()
        assert await tokens.token() == first
        clock.now += 3600
        second = await tokens.token()
        tokens.invalidate(second)
        third = await tokens.token()
    assert len({first, second, third}) == 3 and fake.oauth_count == 3
