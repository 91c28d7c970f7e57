"""The emulator as a hostile or careless client meets it, over real HTTP: nonsense settings, a
control API reachable from the network, oversized fields, secrets in unknown fields, identifiers
reused across runs, and slow CallBackURLs that must not hold up anyone else's callbacks."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from mpesa_lab.constants import STK_PUSH_PATH
from mpesa_lab.emulator import Emulator, EmulatorConfig

from .conftest import FAST, TIMEOUT, Daraja, assert_envelope

# ---- item 6: strict types and sane bounds for every setting -----------------------------------

NONSENSE_SETTINGS = [
    {"interactive": "false"},
    {"interactive": 0},
    {"enforce_subscriber_lock": "no"},
    {"duplicate_window": 1e308},
    {"token_ttl": 1e308},
    {"token_ttl": 3599.5},
    {"prompt_timeout": 1e308},
    {"prompt_delay": 1e308},
    {"callback_timeout": 0},
    {"quota": 1.5},
    {"max_pin_attempts": 10**9},
    {"rate_limit_per_second": 1e308},
    {"mix": {"0": 1e308, "1032": 1e308}},
    {"mix": {"0": "1"}},
    {"callback_faults": 5},
    {"default_pin": "x" * 100},
]


@pytest.mark.parametrize("changes", NONSENSE_SETTINGS, ids=[json.dumps(c)[:40] for c in NONSENSE_SETTINGS])
def test_nonsense_settings_are_refused_and_change_nothing(lab, changes):
    before = lab.lab("GET", "/config").json()
    response = lab.lab("POST", "/config", json=changes)
    body = assert_envelope(response, 400, "400.002.02")
    assert body["errorMessage"].startswith("Bad Request - ")
    assert lab.lab("GET", "/config").json() == before
    with pytest.raises(ValueError):
        lab.emulator.configure(**changes)  # the Python twin refuses it too
    # and the emulator still works end to end
    cid = lab.push_ok("254711600001", 7)
    assert lab.emulator.wait_until_final(cid, TIMEOUT)["result_code"] == "0"


def test_interactive_false_as_a_string_does_not_switch_interactive_on(lab):
    response = lab.lab("POST", "/scenario", json={"interactive": "false"})
    assert_envelope(response, 400, "400.002.02")
    assert lab.emulator.config.interactive is False
    with pytest.raises(ValueError):
        lab.emulator.set_scenario(interactive="false")
    assert lab.lab("POST", "/scenario", json={"interactive": True}).json()["interactive"] is True


def test_a_change_with_one_bad_setting_applies_nothing(lab):
    response = lab.lab("POST", "/config", json={"enforce_subscriber_lock": False, "duplicate_window": 1e308})
    assert_envelope(response, 400, "400.002.02")
    assert lab.emulator.config.enforce_subscriber_lock is True
    assert lab.emulator.config.duplicate_window == 120.0


def test_flags_of_other_control_calls_are_strict_too(lab):
    assert_envelope(lab.lab("POST", "/reset", json={"keep_tokens": "false"}), 400, "400.002.02")
    assert_envelope(
        lab.lab("POST", "/subscribers", json={"phone": "254711600002", "locked": "false"}), 400, "400.002.02"
    )
    assert "254711600002" not in lab.emulator.state.subscribers
    assert_envelope(lab.lab("POST", "/callback-faults", json={"kind": "delay", "seconds": 1e308}), 400, "400.002.02")
    assert_envelope(
        lab.lab(
            "POST",
            "/subscribers",
            content=b'{"phone": "254711600003", "balance": 1e999}',
            headers={"content-type": "application/json"},
        ),
        400,
        "400.002.02",
    )
    assert_envelope(
        lab.lab(
            "POST",
            "/subscribers",
            content=b'{"phone": "254711600003", "balance": NaN}',
            headers={"content-type": "application/json"},
        ),
        400,
        "400.002.02",
    )


def test_a_lone_surrogate_in_a_pushed_reference_never_breaks_the_listing(lab):
    raw = json.dumps(
        lab.push_body("254711600004", 3, AccountReference="ref\ud800", Extra="x\udc00y", Weird=float("nan"))
    )
    response = lab.http.post(
        STK_PUSH_PATH, content=raw.encode(), headers={**lab.bearer(), "content-type": "application/json"}
    )
    assert_envelope(response, 400, "400.002.02", "Bad Request - Invalid AccountReference")
    # an unknown field with a lone surrogate or a NaN is accepted, and listed printable
    raw = json.dumps(lab.push_body("254711600004", 3, Extra="x\udc00y", Weird=float("nan")))
    response = lab.http.post(
        STK_PUSH_PATH, content=raw.encode(), headers={**lab.bearer(), "content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    listing = lab.lab("GET", "/transactions")
    assert listing.status_code == 200
    json.loads(listing.content, parse_constant=lambda name: pytest.fail(f"{name} in the listing"))
    request = listing.json()["transactions"][-1]["request"]
    assert request["Extra"] == "x\ufffdy" and request["Weird"] == "nan"


def test_a_lone_surrogate_in_the_password_is_wrong_credentials(lab):
    raw = json.dumps(lab.push_body("254711600005", 3, Password="abc\ud800"))
    response = lab.http.post(
        STK_PUSH_PATH, content=raw.encode(), headers={**lab.bearer(), "content-type": "application/json"}
    )
    assert_envelope(response, 500, "500.001.1001", "Wrong credentials")


# ---- item 6: the control token beyond loopback -------------------------------------------------


@pytest.fixture
def exposed(collector) -> Iterator[Emulator]:
    emulator = Emulator(EmulatorConfig(**FAST), name="test-emulator-exposed").start(host="0.0.0.0")
    try:
        yield emulator
    finally:
        emulator.stop()


def test_beyond_loopback_the_control_api_needs_the_token(exposed, collector):
    base = exposed.url
    assert exposed.control_token is not None
    token = exposed.control_token.reveal()
    assert token not in repr(exposed) and token not in repr(exposed.control_token)
    with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
        for method, path, body in (
            ("GET", "/_lab/config", None),
            ("POST", "/_lab/config", {"control_api": False}),
            ("POST", "/_lab/reset", {}),
        ):
            refused = http.request(method, path, json=body)
            assert_envelope(refused, 401, "401.002.01")
            wrong = http.request(method, path, json=body, headers={"X-Lab-Token": "x" * len(token)})
            assert_envelope(wrong, 401, "401.002.01")
        assert exposed.config.control_api is True
        allowed = http.get("/_lab/config", headers={"X-Lab-Token": token})
        assert allowed.status_code == 200 and allowed.json()["control_api"] is True
        # Daraja's own paths need no control token
        lab = Daraja(exposed, collector.url)
        cid = lab.push_ok("254711600006", 9)
        assert exposed.wait_until_final(cid, TIMEOUT)["result_code"] == "0"
        lab.http.close()
    # Python control functions are in-process: no token needed
    exposed.configure(enforce_duplicate_rule=False)


def test_on_loopback_the_control_api_stays_open(lab):
    assert lab.emulator.control_token is None
    assert lab.lab("GET", "/config").status_code == 200


# ---- item 7: oversized fields and bodies -------------------------------------------------------


def test_an_oversized_reference_is_refused_and_not_kept(lab):
    response = lab.push("254711600007", 3, AccountReference="R" * 950_000)
    assert_envelope(response, 400, "400.002.02", "Bad Request - Invalid BusinessShortCode")
    response = lab.push("254711600007", 3, AccountReference="R" * 5_000)
    assert_envelope(response, 400, "400.002.02", "Bad Request - Invalid AccountReference")
    response = lab.push("254711600007", 3, TransactionDesc="D" * 5_000)
    assert_envelope(response, 400, "400.002.02", "Bad Request - Invalid Remarks")
    assert lab.emulator.transactions() == []


def test_bodies_are_bounded_on_every_route(lab):
    big = b'{"x": "' + b"y" * 2_000_000 + b'"}'
    headers = {**lab.bearer(), "content-type": "application/json"}
    for path in (STK_PUSH_PATH, "/mpesa/stkpushquery/v1/query"):
        assert_envelope(lab.http.post(path, content=big, headers=headers), 400, "400.002.02")
    assert_envelope(lab.lab("POST", "/config", content=big, headers=headers), 400, "400.002.02")
    assert lab.lab("GET", "/config").status_code == 200


# ---- item 8: secrets in listings, known field or not -------------------------------------------


def test_secret_looking_fields_are_masked_in_listings(lab):
    passkey = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
    cid = lab.push_ok(
        "254711600008", 4, Passkey=passkey, consumer_secret="shh-123456", Credentials={"api_key": "AK-999"}
    )
    for listing in (
        lab.lab("GET", "/transactions").text,
        lab.lab("GET", f"/transactions/{cid}").text,
        json.dumps(lab.emulator.transactions()),
    ):
        for secret in (passkey, "shh-123456", "AK-999"):
            assert secret not in listing
    request = lab.emulator.transaction(cid)["request"]
    assert request["Passkey"] == "<masked>" and request["Password"].startswith("<hidden")
    assert request["AccountReference"] == "LAB"


def test_secret_names_respelled_with_a_dot_an_invisible_character_or_an_accent_are_masked(lab):
    """Issue 19, item 11: the listing masks a name however it is spelled (see tests/test_secret.py
    for the property over every respelling)."""
    fields = {
        "pass.key": "PK-dot-4711",
        "Pass\u200bkey": "PK-zwsp-4712",
        "Passk\u00e9y": "PK-accent-4713",
        "CONSUMER\u2060SECRET": "CS-wj-4714",
        "access\u00adtoken": "AT-shy-4715",
    }
    cid = lab.push_ok("254711600009", 4, **fields)
    for listing in (
        lab.lab("GET", "/transactions").text,
        lab.lab("GET", f"/transactions/{cid}").text,
        json.dumps(lab.emulator.transactions()),
    ):
        for secret in fields.values():
            assert secret not in listing
    request = lab.emulator.transaction(cid)["request"]
    assert [request[name] for name in fields] == ["<masked>"] * len(fields)


# ---- item 9: identifiers unique across runs, outcomes fixed by the seed ------------------------


def test_two_runs_with_the_same_seed_share_outcomes_but_no_identifier(collector):
    phones = [f"2547116{i:05d}" for i in range(12)]
    runs = []
    for run in range(2):
        emulator = Emulator(EmulatorConfig(**FAST, seed=254), name=f"test-emulator-ids-{run}").start()
        lab = Daraja(emulator, collector.url)
        try:
            acks = [lab.push(phone, 10).json() for phone in phones]
            finals = [emulator.wait_until_final(a["CheckoutRequestID"], TIMEOUT) for a in acks]
            errors = [lab.http.post(STK_PUSH_PATH, json={}, headers=lab.bearer()).json()["requestId"] for _ in range(3)]
        finally:
            lab.http.close()
            emulator.stop()
        runs.append((acks, finals, errors))
    (acks1, finals1, errors1), (acks2, finals2, errors2) = runs
    assert [f["result_code"] for f in finals1] == [f["result_code"] for f in finals2]  # the seed
    assert not {a["MerchantRequestID"] for a in acks1} & {a["MerchantRequestID"] for a in acks2}
    receipts1 = {f["receipt"] for f in finals1 if f["receipt"]}
    receipts2 = {f["receipt"] for f in finals2 if f["receipt"]}
    assert receipts1 and receipts2 and not receipts1 & receipts2
    assert not set(errors1) & set(errors2)


# ---- item 5: a slow CallBackURL delays only its own callbacks ----------------------------------


class Tarpit:
    """Accepts connections and reads, never answers: a CallBackURL that hangs."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)

    def close(self) -> None:
        self._stop = True
        for conn in self.conns:
            conn.close()
        self.sock.close()


def test_slow_callback_urls_delay_only_their_own_callbacks(make_lab, collector):
    lab = make_lab(callback_timeout=30.0, enforce_duplicate_rule=False)
    tarpit = Tarpit()
    try:
        slow_url = f"http://127.0.0.1:{tarpit.port}/cb"
        for i in range(80):
            lab.push_ok(f"2547117{i:05d}", 5, CallBackURL=slow_url)
        deadline = time.monotonic() + TIMEOUT
        while len(tarpit.conns) < 32 and time.monotonic() < deadline:
            time.sleep(0.05)  # the slow callbacks are out and hanging
        started = time.monotonic()
        cid = lab.push_ok("254711799999", 5)
        collector.wait_for(cid, timeout=20)
        took = time.monotonic() - started
    finally:
        tarpit.close()
    # Before: queued behind 64 hanging POSTs for callback_timeout (30 s).
    assert took < 10, f"another merchant's callback took {took:.1f} s"
