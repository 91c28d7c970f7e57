"""The /_lab/ control API mirrors the Python control functions."""

from __future__ import annotations

from mpesa_lab.constants import LAB_CONSUMER_SECRET, SANDBOX_PASSKEY
from mpesa_lab.emulator import TRIGGERS

from .conftest import TIMEOUT, assert_envelope


def test_index_lists_routes_and_lab_credentials(lab):
    body = lab.lab("GET", "").json()
    assert body["credentials"]["consumer_secret"] == LAB_CONSUMER_SECRET  # public lab values
    assert "POST /_lab/transactions/{cid}/answer" in body["routes"]
    assert lab.lab("GET", "/").status_code == 200


def test_transactions_over_http_match_python(lab):
    cid = lab.push_ok()
    lab.emulator.wait_until_final(cid, TIMEOUT)
    listed = lab.lab("GET", "/transactions").json()["transactions"]
    assert [t["checkout_request_id"] for t in listed] == [cid]
    one = lab.lab("GET", f"/transactions/{cid}").json()
    assert one["result_code"] == "0" and one["timeline"][0]["event"] == "accepted"
    assert lab.emulator.transaction(cid)["checkout_request_id"] == one["checkout_request_id"]
    assert lab.lab("GET", "/transactions", params={"phone": "254700000000"}).json()["transactions"] == []
    assert_envelope(lab.lab("GET", "/transactions/ws_CO_nope"), 404, "404.001.01")


def test_next_result_over_http(lab):
    response = lab.lab("POST", "/next-result", json={"code": "1032", "phone": "254711700001"})
    assert response.json()["queued"] == [{"phone": "254711700001", "code": "1032"}]
    cid = lab.push_ok("254711700001")
    assert lab.emulator.wait_until_final(cid, TIMEOUT)["result_code"] == "1032"
    assert lab.lab("POST", "/next-result", json={}).status_code == 400
    assert lab.lab("POST", "/next-result", json={"code": "1", "phone": "0712"}).status_code == 400


def test_scenario_over_http(lab):
    body = lab.lab("GET", "/scenario").json()
    assert body["mix"] == body["scenarios"]["realistic"]
    assert lab.lab("POST", "/scenario", json={"name": "happy"}).json()["mix"] == {"0": 1.0}
    assert lab.emulator.config.mix == {"0": 1.0}
    assert lab.lab("POST", "/scenario", json={"mix": {"1032": 1}}).json()["mix"] == {"1032": 1.0}
    cid = lab.push_ok("254711700002")
    assert lab.emulator.wait_until_final(cid, TIMEOUT)["result_code"] == "1032"
    assert lab.lab("POST", "/scenario", json={"name": "nope"}).status_code == 400
    assert lab.lab("POST", "/scenario", json={"mix": {"0": -1}}).status_code == 400
    assert lab.lab("POST", "/scenario", json={"interactive": True}).json()["interactive"] is True


def test_merchants_and_subscribers_over_http(lab):
    created = lab.lab(
        "POST",
        "/merchants",
        json={"shortcode": "600300", "passkey": "x" * 64, "kind": "till", "till_number": "600301", "name": "KIOSK"},
    ).json()
    assert created["party_b"] == "600301" and "x" * 64 not in str(created)
    cid = lab.push_ok(
        "254711700003", shortcode="600300", passkey="x" * 64, PartyB="600301", TransactionType="CustomerBuyGoodsOnline"
    )
    assert lab.emulator.wait_until_final(cid, TIMEOUT)["result_code"] in ("0", "1032", "1037", "1", "2001", "1019")
    shortcodes = [m["shortcode"] for m in lab.lab("GET", "/merchants").json()["merchants"]]
    assert shortcodes == ["174379", "174380", "600300"]
    assert SANDBOX_PASSKEY not in lab.lab("GET", "/merchants").text
    sub = lab.lab(
        "POST", "/subscribers", json={"phone": "254711700004", "pin": "9999", "balance": 5, "profile": "cancels"}
    ).json()
    assert sub["profile"] == "cancels" and "9999" not in str(sub)
    assert lab.lab("POST", "/subscribers", json={"phone": "254711700004", "profile": "sleepy"}).status_code == 400
    assert lab.lab("POST", "/subscribers", json={"phone": "254711700004", "colour": "red"}).status_code == 400
    assert lab.lab("POST", "/merchants", json={"shortcode": "12", "passkey": "x"}).status_code == 400
    assert lab.lab("POST", "/subscribers/254711700004/unlock").json()["locked"] is False


def test_apps_config_reset_and_triggers_over_http(lab):
    assert lab.lab("POST", "/apps", json={"key": "k2", "secret": "s2"}).status_code == 200
    assert lab.oauth("k2", "s2").status_code == 200
    assert "s2" not in lab.lab("GET", "/apps").text
    config = lab.lab("POST", "/config", json={"enforce_duplicate_rule": False, "quota": 50}).json()
    assert config["enforce_duplicate_rule"] is False and config["quota"] == 50
    assert lab.lab("POST", "/config", json={"seed": 3}).status_code == 400
    assert lab.lab("POST", "/config", json={"pending_style": "maybe"}).status_code == 400
    lab.push_ok()
    assert lab.lab("POST", "/reset", json={}).json() == {"reset": True}
    assert lab.emulator.transactions() == []
    triggers = lab.lab("GET", "/triggers").json()["triggers"]
    assert [t["code"] for t in triggers] == [t.code for t in TRIGGERS]


def test_control_api_rejects_non_object_bodies(lab):
    for content in (b"[1]", b"{bad"):
        response = lab.lab("POST", "/next-result", content=content)
        assert_envelope(response, 400, "400.002.02")


def test_control_api_can_be_switched_off(make_lab):
    lab = make_lab(control_api=False)
    assert_envelope(lab.lab("GET", "/transactions"), 404, "404.001.01", "Resource not found")
    assert lab.push().status_code == 200
