import base64
import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import pytest

from mpesa_lab.clock import NAIROBI, parse_daraja_timestamp
from mpesa_lab.config import Settings
from mpesa_lab.constants import SANDBOX_PASSKEY
from mpesa_lab.daraja import errors as E
from mpesa_lab.daraja.client import AsyncDarajaClient, DarajaClient
from mpesa_lab.daraja.password import check_password, decode_password
from tests.poll import holds_within

from .conftest import (
    CONSUMER_SECRET,
    DOCUMENTED_ERRORS,
    PASSKEY,
    PUSH_OK,
    assert_no_secret_shown,
    envelope,
    query_final,
)

CALLBACK = "https://shop.co.ke/mpesa/cb"
DOC_PASSWORD = (
    "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
)
BUSY = (500, envelope("500.003.02", "System is busy. Please try again in few minutes."))
SPIKE = (500, envelope("500.003.02", "Error Occurred: Spike Arrest Violation"))
BAD_TOKEN = (404, envelope("404.001.03", "Invalid Access Token"))
PROCESSING = (500, envelope("500.001.1001", "The transaction is being processed"))


def settings(**overrides):
    values = dict(
        base_url="https://daraja.test", callback_url=CALLBACK, consumer_secret=CONSUMER_SECRET, passkey=PASSKEY
    )
    values.update(overrides)
    return Settings.local(**values)


class MockDaraja:
    """Daraja's documented answers through httpx.MockTransport; records every request.

    ``push``/``query`` are lists of answers used in turn: (status, body) or an httpx exception
    class to raise (as the network would).
    """

    def __init__(self, push=None, query=None):
        self.push_answers = list(push or [])
        self.query_answers = list(query or [])
        self.requests: list[httpx.Request] = []
        self.tokens = 0

    def of(self, path_end):
        return [r for r in self.requests if r.url.path.endswith(path_end)]

    @property
    def pushes(self):
        return self.of("/processrequest")

    @property
    def queries(self):
        return self.of("/query")

    @property
    def oauth(self):
        return self.of("/generate")

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/oauth/v1/generate"):
            self.tokens += 1
            return httpx.Response(200, json={"access_token": f"token{self.tokens:023d}", "expires_in": "3599"})
        answers, default = (
            (self.push_answers, (200, PUSH_OK))
            if request.url.path.endswith("/processrequest")
            else (self.query_answers, (200, query_final("0", "The service request is processed successfully.")))
        )
        answer = answers.pop(0) if answers else default
        if isinstance(answer, type) and issubclass(answer, Exception):
            raise answer("simulated", request=request)
        status, body = answer
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    def client(self, **kwargs):
        kwargs.setdefault("sleep", self.sleeps.append)
        kwargs.setdefault("backoff", 0.5)
        return DarajaClient(
            kwargs.pop("settings", None) or settings(), transport=httpx.MockTransport(self.handler), **kwargs
        )

    def async_client(self, **kwargs):
        async def sleep(seconds):
            self.sleeps.append(seconds)

        kwargs.setdefault("sleep", sleep)
        return AsyncDarajaClient(
            kwargs.pop("settings", None) or settings(), transport=httpx.MockTransport(self.handler), **kwargs
        )

    @property
    def sleeps(self):
        if not hasattr(self, "_sleeps"):
            self._sleeps = []
        return self._sleeps


def body_of(request: httpx.Request) -> dict:
    return json.loads(request.content)


# -- a successful push and its body ----------------------------------------------------------


def test_push_sends_daraja_body_and_returns_typed_result():
    daraja = MockDaraja()
    with daraja.client() as client:
        result = client.stk_push("0722 000 000", "10", "INV001", "Order 1")
    assert (result.merchant_request_id, result.checkout_request_id) == (
        PUSH_OK["MerchantRequestID"],
        PUSH_OK["CheckoutRequestID"],
    )
    assert result.response_code == "0" and result.accepted
    assert result.response_description == PUSH_OK["ResponseDescription"]
    assert result.customer_message == PUSH_OK["CustomerMessage"]
    assert result.raw == PUSH_OK

    [request] = daraja.pushes
    sent = body_of(request)
    assert request.method == "POST" and str(request.url) == "https://daraja.test/mpesa/stkpush/v1/processrequest"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer token{1:023d}"
    assert sent["PartyA"] == sent["PhoneNumber"] == "254722000000"
    assert (sent["BusinessShortCode"], sent["PartyB"], sent["Amount"]) == (174379, "174379", 10)
    assert (sent["AccountReference"], sent["TransactionDesc"], sent["CallBackURL"]) == ("INV001", "Order 1", CALLBACK)
    assert sent["TransactionType"] == "CustomerPayBillOnline"
    assert check_password(sent["Password"], 174379, PASSKEY, sent["Timestamp"]).ok
    assert PASSKEY not in request.content.decode()  # the passkey travels only inside the Password
    # the echo of what was sent: everything but the Password
    assert result.request == {**sent, "Password": result.request["Password"]}
    assert result.request["Password"] != sent["Password"] and "secret" in result.request["Password"]
    assert result.timestamp == sent["Timestamp"]


def test_fixed_moment_gives_the_doc_sample_password():
    moment = datetime(2021, 6, 28, 6, 24, 8, tzinfo=UTC)  # 09:24:08 in Nairobi
    daraja = MockDaraja()
    with daraja.client(settings=settings(passkey=SANDBOX_PASSKEY), now=lambda: moment) as client:
        client.stk_push("254722111111", 1, "accountref", "txndesc")
    sent = body_of(daraja.pushes[0])
    assert sent["Timestamp"] == "20210628092408" and sent["Password"] == DOC_PASSWORD


def test_push_timestamp_is_nairobi_time_whatever_the_host_zone(host_tz):
    daraja = MockDaraja()
    with daraja.client() as client:
        client.stk_push("0722000000", 1, "A1")
        client.stk_query("ws_CO_1")
    for request in (daraja.pushes[0], daraja.queries[0]):
        sent = body_of(request)
        # Read as Nairobi time, the stamp is now; the host's wall clock (UTC, UTC-5, UTC+9)
        # would be hours off.
        stamp = parse_daraja_timestamp(sent["Timestamp"])
        assert stamp.tzinfo is NAIROBI
        assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=2)
        assert decode_password(sent["Password"]).timestamp == sent["Timestamp"]


# -- validation happens before anything is sent ----------------------------------------------


@pytest.mark.parametrize(
    "args,field",
    [
        (("0733000000", 10, "A1"), "PhoneNumber"),
        (("0722000000", 0, "A1"), "Amount"),
        (("0722000000", 10.5, "A1"), "Amount"),
        (("0722000000", True, "A1"), "Amount"),
        (("0722000000", 10, "A" * 13), "AccountReference"),
        (("0722000000", 10, "A1", "D" * 14), "TransactionDesc"),
    ],
)
def test_invalid_push_is_refused_before_any_request(args, field):
    daraja = MockDaraja()
    with daraja.client(strict_lengths=True) as client, pytest.raises(E.ValidationError) as info:
        client.stk_push(*args)
    assert info.value.field == field
    assert daraja.requests == []  # not even OAuth


def test_callback_url_from_settings_or_argument():
    daraja = MockDaraja()
    with daraja.client(settings=settings(callback_url=None)) as client:
        with pytest.raises(E.ValidationError) as info:
            client.stk_push("0722000000", 10, "A1")
        assert info.value.field == "CallBackURL" and "MPESA_CALLBACK_URL" in info.value.fix
        client.stk_push("0722000000", 10, "A1", callback_url="https://other.co.ke/cb")
    assert body_of(daraja.pushes[0])["CallBackURL"] == "https://other.co.ke/cb"


def test_till_push_uses_the_till_as_party_b():
    daraja = MockDaraja()
    till = settings(shortcode="7654321", transaction_type="CustomerBuyGoodsOnline", party_b="123456")
    with daraja.client(settings=till) as client:
        client.stk_push("0722000000", 10, "A1")
        client.stk_push("0722000000", 10, "A1", transaction_type="CustomerPayBillOnline")
    first, second = (body_of(r) for r in daraja.pushes)
    assert (first["TransactionType"], first["PartyB"], first["BusinessShortCode"]) == (
        "CustomerBuyGoodsOnline",
        "123456",
        7654321,
    )
    assert (second["TransactionType"], second["PartyB"]) == ("CustomerPayBillOnline", "7654321")


def test_any_base_url_including_a_path_prefix():
    daraja = MockDaraja()
    with daraja.client(settings=settings(base_url="https://gateway.shop.co.ke/daraja/")) as client:
        client.stk_push("0722000000", 10, "A1")
    assert [r.url.path for r in daraja.requests] == [
        "/daraja/oauth/v1/generate",
        "/daraja/mpesa/stkpush/v1/processrequest",
    ]


# -- Daraja's errors -------------------------------------------------------------------------

# Every documented push error that Daraja did process or that retrying cannot fix: raised at once.
NOT_RETRIED = [
    error
    for error in DOCUMENTED_ERRORS
    if not error[3].retryable
    and error[1] not in ("404.001.03", "400.008.01", "400.008.02")
    and error[3] is not E.TransactionBeingProcessed  # a query's answer: pending, never raised
] + [(500, "500.009.42", "Something undocumented", E.UnknownDarajaError)]


@pytest.mark.parametrize("status,code,message,cls", NOT_RETRIED, ids=[n[3].__name__ for n in NOT_RETRIED])
def test_push_errors_are_typed_and_not_retried(status, code, message, cls):
    daraja = MockDaraja(push=[(status, envelope(code, message, "req-42"))])
    with daraja.client() as client, pytest.raises(cls) as info:
        client.stk_push("0722000000", 10, "A1")
    error = info.value
    assert (error.error_code, error.error_message, error.request_id, error.http_status) == (
        code,
        message,
        "req-42",
        status,
    )
    assert error.mitigation and error.mitigation in str(error)
    assert error.operation == "stk_push"
    assert len(daraja.pushes) == 1 and daraja.sleeps == []


def test_wrong_credentials_explains_without_the_passkey():
    daraja = MockDaraja(push=[(500, envelope("500.001.1001", "Wrong credentials"))])
    with daraja.client() as client, pytest.raises(E.WrongCredentials) as info:
        client.stk_push("0722000000", 10, "A1")
    text = str(info.value)
    assert "174379" in text and "fingerprint" in text and PASSKEY not in text


def test_bad_request_shows_the_value_sent_for_the_named_field():
    daraja = MockDaraja(push=[(400, envelope("400.002.02", "Bad Request - Invalid CallBackURL"))])
    with daraja.client() as client, pytest.raises(E.BadRequest) as info:
        client.stk_push("0722000000", 10, "A1")
    assert info.value.field == "CallBackURL" and CALLBACK in str(info.value)


@pytest.mark.parametrize("answer", [BUSY, SPIKE], ids=["system_busy", "spike_arrest"])
def test_not_processed_errors_are_retried_with_backoff(answer):
    daraja = MockDaraja(push=[answer, answer])
    with daraja.client(backoff=0.5) as client:
        result = client.stk_push("0722000000", 10, "A1")
    assert result.accepted
    assert len(daraja.pushes) == 3 and daraja.sleeps == [0.5, 1.0]
    assert len(daraja.oauth) == 1


def test_retries_stop_at_the_cap_and_backoff_is_capped():
    daraja = MockDaraja(push=[SPIKE] * 10)
    with daraja.client(max_retries=4, backoff=1.0, backoff_cap=3.0) as client, pytest.raises(E.SpikeArrest):
        client.stk_push("0722000000", 10, "A1")
    assert len(daraja.pushes) == 5 and daraja.sleeps == [1.0, 2.0, 3.0, 3.0]


def test_no_retries_when_max_retries_is_zero():
    daraja = MockDaraja(push=[BUSY])
    with daraja.client(max_retries=0) as client, pytest.raises(E.SystemBusy):
        client.stk_push("0722000000", 10, "A1")
    assert len(daraja.pushes) == 1


def test_invalid_access_token_refreshes_once_and_retries():
    daraja = MockDaraja(push=[BAD_TOKEN])
    with daraja.client() as client:
        assert client.stk_push("0722000000", 10, "A1").accepted
    assert len(daraja.oauth) == 2 and len(daraja.pushes) == 2
    first, second = (r.headers["authorization"] for r in daraja.pushes)
    assert first != second and daraja.sleeps == []


def test_invalid_access_token_twice_is_raised_after_one_refresh():
    daraja = MockDaraja(push=[BAD_TOKEN] * 5)
    with daraja.client() as client, pytest.raises(E.InvalidAccessToken) as info:
        client.stk_push("0722000000", 10, "A1")
    assert len(daraja.oauth) == 2 and len(daraja.pushes) == 2
    assert "freshly fetched token" in str(info.value)


def test_token_is_reused_across_calls():
    daraja = MockDaraja()
    with daraja.client() as client:
        for _ in range(25):
            client.stk_push("0722000000", 10, "A1")
            client.stk_query("ws_CO_1")
    assert len(daraja.oauth) == 1 and len(daraja.pushes) == 25


# -- the no-resend rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError]
)
def test_ambiguous_push_is_never_resent(failure):
    daraja = MockDaraja(push=[failure])
    with daraja.client() as client, pytest.raises(E.AmbiguousPushError) as info:
        client.stk_push("0722000000", 10, "A1")
    assert len(daraja.pushes) == 1 and daraja.sleeps == []
    error = info.value
    text = str(error)
    assert "NOT re-sent" in text and "stk_query" in text and CALLBACK in text and failure.__name__ in text
    assert error.request["PhoneNumber"] == "254722000000"
    sent_password = body_of(daraja.pushes[0])["Password"]
    assert sent_password not in text and sent_password not in repr(error.request)
    assert error.__context__ is None and error.__cause__ is None


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_without_daraja_answer_is_ambiguous(status):
    daraja = MockDaraja(push=[(status, b"<html>Gateway Timeout</html>")])
    with daraja.client() as client, pytest.raises(E.AmbiguousPushError) as info:
        client.stk_push("0722000000", 10, "A1")
    assert info.value.http_status == status and len(daraja.pushes) == 1


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_a_push_that_never_left_is_retried(failure):
    daraja = MockDaraja(push=[failure])
    with daraja.client() as client:
        assert client.stk_push("0722000000", 10, "A1").accepted
    assert len(daraja.pushes) == 2 and daraja.sleeps == [0.5]


def test_unreachable_daraja_is_a_transport_error_after_the_retries():
    daraja = MockDaraja(push=[httpx.ConnectError] * 10)
    with daraja.client(max_retries=2) as client, pytest.raises(E.TransportError) as info:
        client.stk_push("0722000000", 10, "A1")
    assert not info.value.sent and len(daraja.pushes) == 3


# -- STK query -----------------------------------------------------------------------------

QUERY_CASES = [
    ((200, query_final("0", "The service request is processed successfully.")), "success", "0", "success"),
    ((200, query_final("1032", "Request cancelled by user")), "failed", "1032", "cancelled"),
    ((200, query_final(1032, "Request cancelled by user")), "failed", "1032", "cancelled"),
    ((200, query_final("1037", "DS timeout user cannot be reached")), "failed", "1037", None),
    ((200, query_final("2001", "The initiator information is invalid.")), "failed", "2001", None),
    ((200, query_final("4999", "The transaction is still under processing")), "pending", "4999", "still_processing"),
    (PROCESSING, "pending", None, "transaction_being_processed"),
    ((200, query_final("4242", "Something new")), "failed", "4242", "unknown"),
    ((200, query_final("7777", "Request is in progress")), "pending", "7777", "unknown"),
    (
        (200, {"ResponseCode": "0", "ResponseDescription": "Accepted", "CheckoutRequestID": "ws_CO_1"}),
        "pending",
        None,
        "transaction_being_processed",
    ),
]


@pytest.mark.parametrize("answer,status,code,name", QUERY_CASES)
def test_query_classification(answer, status, code, name):
    daraja = MockDaraja(query=[answer])
    with daraja.client() as client:
        result = client.stk_query("ws_CO_13012021093521236557")
    assert result.status == status and result.result_code == code
    assert result.http_status == answer[0] and result.raw == answer[1]
    if name:
        assert result.entry.name == name
    assert result.pending == (status == "pending") and result.final == (status != "pending")
    assert result.entry.mitigation in result.explain()
    assert ".." not in result.explain()  # Daraja's words may end with a full stop already
    sent = body_of(daraja.queries[0])
    assert set(sent) == {"BusinessShortCode", "Password", "Timestamp", "CheckoutRequestID"}
    assert sent["CheckoutRequestID"] == "ws_CO_13012021093521236557"
    assert check_password(sent["Password"], 174379, PASSKEY, sent["Timestamp"]).ok


def test_query_errors_are_raised():
    daraja = MockDaraja(query=[(400, envelope("400.002.02", "Bad Request - Invalid CheckoutRequestID"))])
    with daraja.client() as client, pytest.raises(E.BadRequest) as info:
        client.stk_query("ws_CO_nope")
    assert info.value.field == "CheckoutRequestID" and info.value.operation == "stk_query"


@pytest.mark.parametrize("failure", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ConnectError])
def test_query_is_retried_after_any_transport_failure(failure):
    daraja = MockDaraja(query=[failure, BUSY])
    with daraja.client() as client:
        assert client.stk_query("ws_CO_1").success
    assert len(daraja.queries) == 3 and daraja.sleeps == [0.5, 1.0]


def test_query_refreshes_token_on_404_001_03():
    daraja = MockDaraja(query=[BAD_TOKEN])
    with daraja.client() as client:
        assert client.stk_query("ws_CO_1").success
    assert len(daraja.oauth) == 2 and len(daraja.queries) == 2


# -- secrets -------------------------------------------------------------------------------


def test_no_secret_in_logs_reprs_or_exceptions(caplog):
    daraja = MockDaraja(push=[BAD_TOKEN, BUSY, (500, envelope("500.001.1001", "Wrong credentials")), httpx.ReadTimeout])
    failures = []
    with caplog.at_level(logging.DEBUG):  # every logger, httpx and httpcore included
        with daraja.client() as client:
            for _ in range(3):
                try:
                    client.stk_push("0722000000", 10, "A1")
                except E.MpesaLabError as exc:
                    failures.append(exc)
            client.stk_query("ws_CO_1")
            shown = [repr(client), str(client.settings), repr(client.settings), repr(client.tokens)]
    assert {type(f) for f in failures} == {E.WrongCredentials, E.AmbiguousPushError}
    assert "mpesa_lab.daraja" in {record.name for record in caplog.records}
    passwords = {body_of(r)["Password"] for r in daraja.pushes + daraja.queries}
    tokens = {r.headers["authorization"].removeprefix("Bearer ") for r in daraja.pushes + daraja.queries}
    basic = base64.b64encode(f"{client.settings.consumer_key}:{CONSUMER_SECRET}".encode()).decode()
    secrets = {PASSKEY, CONSUMER_SECRET, basic, *passwords, *tokens}
    assert_no_secret_shown(secrets, [*shown, caplog.text], failures)


def test_check_and_explain_password():
    client = DarajaClient(settings(passkey=SANDBOX_PASSKEY))
    assert client.check_password(DOC_PASSWORD, "20210628092408").ok
    assert not client.check_password(DOC_PASSWORD, "20210628092409").ok
    text = client.explain_password(DOC_PASSWORD)
    assert "174379" in text and "20210628092408" in text and SANDBOX_PASSKEY not in text
    assert "Not a Daraja password" in client.explain_password("%%%")
    client.close()


def test_settings_are_required():
    with pytest.raises(TypeError, match="Settings"):
        DarajaClient({"base_url": "x"})  # type: ignore[arg-type]


def test_an_http_client_passed_in_is_not_closed():
    daraja = MockDaraja()
    http = httpx.Client(transport=httpx.MockTransport(daraja.handler))
    with DarajaClient(settings(), http_client=http) as client:
        client.stk_push("0722000000", 10, "A1")
    assert not http.is_closed
    http.close()
    owned = DarajaClient(settings())
    owned.close()
    assert owned.http.is_closed


# -- the async twin ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_push_query_retry_and_refresh():
    daraja = MockDaraja(
        push=[BAD_TOKEN, BUSY], query=[PROCESSING, (200, query_final("1032", "Request cancelled by user"))]
    )
    async with daraja.async_client() as client:
        result = await client.stk_push("+254 722 000 000", 5, "A1")
        first = await client.stk_query(result.checkout_request_id)
        second = await client.stk_query(result.checkout_request_id)
    assert result.checkout_request_id == PUSH_OK["CheckoutRequestID"]
    assert (first.status, second.status, second.result_code) == ("pending", "failed", "1032")
    assert len(daraja.oauth) == 2 and len(daraja.pushes) == 3 and daraja.sleeps == [0.5]


@pytest.mark.anyio
async def test_async_ambiguous_push_is_never_resent():
    daraja = MockDaraja(push=[httpx.ReadTimeout])
    async with daraja.async_client() as client:
        with pytest.raises(E.AmbiguousPushError):
            await client.stk_push("0722000000", 10, "A1")
    assert len(daraja.pushes) == 1


@pytest.mark.anyio
async def test_async_errors_are_typed():
    daraja = MockDaraja(
        push=[
            (
                500,
                envelope(
                    "500.001.1001",
                    "Unable to lock subscriber, a transaction is already in process for the current subscriber",
                ),
            )
        ]
    )
    async with daraja.async_client() as client:
        with pytest.raises(E.SubscriberLocked) as info:
            await client.stk_push("0722000000", 10, "A1")
    assert "254722000000" in str(info.value) and len(daraja.pushes) == 1


# -- against a real HTTP server ----------------------------------------------------------------


def real_settings(url):
    return settings(base_url=url)


def test_real_server_push_timeout_is_ambiguous_and_sent_exactly_once(fake_daraja):
    fake, url = fake_daraja
    fake.push_hold = 30  # answers long after the client gave up (released at teardown)
    sent = []
    http = httpx.Client(
        timeout=httpx.Timeout(30.0, read=1.0), event_hooks={"request": [lambda request: sent.append(request.url.path)]}
    )
    with DarajaClient(real_settings(url), http_client=http, sleep=lambda s: None) as client:
        client.tokens.token()  # fetched first, so the short read timeout only meets the push
        with pytest.raises(E.AmbiguousPushError) as info:
            client.stk_push("0722000000", 10, "A1")
    assert "ReadTimeout" in str(info.value)
    assert sent.count("/mpesa/stkpush/v1/processrequest") == 1
    assert holds_within(lambda: fake.push_count >= 1)
    assert fake.push_count == 1
    http.close()


def test_real_server_refresh_after_revoked_token(fake_daraja):
    fake, url = fake_daraja
    with DarajaClient(real_settings(url)) as client:
        client.stk_push("0722000000", 10, "A1")
        fake.revoked.update(fake.issued)
        result = client.stk_push("0722000000", 10, "A2")
        assert client.stk_query(result.checkout_request_id).success
    assert fake.oauth_count == 2 and fake.push_count == 3 and fake.query_count == 1
    assert fake.auth_headers[-1] == f"Bearer {fake.issued[-1]}"


def test_real_server_twenty_threads_pushing_share_one_token(fake_daraja):
    fake, url = fake_daraja
    fake.oauth_delay = 0.2
    with DarajaClient(real_settings(url)) as client:
        barrier = threading.Barrier(20)
        results, failures = [], []

        def push(i):
            try:
                barrier.wait(timeout=30)
                results.append(client.stk_push("0722000000", 10 + i, f"T{i}"))
            except Exception as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=push, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not failures and len(results) == 20
    assert fake.oauth_count == 1 and fake.push_count == 20
    assert sorted(b["Amount"] for b in fake.push_bodies) == list(range(10, 30))


@pytest.mark.anyio
async def test_real_server_twenty_tasks_pushing_share_one_token(fake_daraja):
    fake, url = fake_daraja
    fake.oauth_delay = 0.2
    results = []
    async with AsyncDarajaClient(real_settings(url)) as client:

        async def push(i):
            results.append(await client.stk_push("0722000000", 10 + i, f"T{i}"))

        async with anyio.create_task_group() as group:
            for i in range(20):
                group.start_soon(push, i)
    assert len(results) == 20 and fake.oauth_count == 1 and fake.push_count == 20


@pytest.mark.anyio
async def test_real_server_async_push_timeout_is_sent_once(fake_daraja):
    fake, url = fake_daraja
    fake.push_hold = 30
    http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=1.0))
    async with AsyncDarajaClient(real_settings(url), http_client=http) as client:
        await client.tokens.token()
        with pytest.raises(E.AmbiguousPushError):
            await client.stk_push("0722000000", 10, "A1")
    await http.aclose()
    assert holds_within(lambda: fake.push_count >= 1)
    assert fake.push_count == 1
