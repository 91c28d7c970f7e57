"""AccountReference/TransactionDesc over the documented 12/13 characters: warned about and sent
(live Daraja accepts them), refused only when asked to be strict; client and emulator agree."""

from __future__ import annotations

import warnings

import pytest

from mpesa_lab.daraja.errors import RequestWarning, ValidationError
from mpesa_lab.lab import Lab

REF15 = "ACCOUNT-REF-15C"  # 15 characters, as tried on the live sandbox in 2026
DESC14 = "Description-14"  # 14


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path / "home"))


def test_by_default_client_warns_and_emulator_accepts(tmp_path):
    with Lab.start(store=tmp_path / "lengths.sqlite") as lab:
        with pytest.warns(RequestWarning) as caught:
            push = lab.push("0708374149", 10, REF15, DESC14)
        text = " ".join(str(w.message) for w in caught)
        assert "AccountReference" in text and "15 characters" in text and "12" in text
        assert "TransactionDesc" in text and "strict_lengths=True" in text
        assert caught[0].filename == __file__  # the warning points at the caller's line
        assert push.wait(20).result_code == "0"
        sent = lab.pushes().iloc[0]
        assert sent["account_reference"] == REF15  # sent as it is, never truncated


def test_strict_client_and_strict_emulator_both_refuse(tmp_path):
    with Lab.start(store=tmp_path / "strict.sqlite", strict_lengths=True) as lab:
        assert lab.emulator.config.strict_lengths
        with pytest.raises(ValidationError) as info:
            lab.push("0708374149", 10, REF15, "Payment")
        assert info.value.field == "AccountReference" and "strict_lengths" in info.value.rule
        # the emulator, asked directly (the client's check bypassed), refuses the same value
        import httpx

        from mpesa_lab.daraja.password import password_and_timestamp

        token = lab.client.tokens.token().reveal()
        password, timestamp = password_and_timestamp(lab.settings.shortcode, lab.settings.passkey)
        body = {
            "BusinessShortCode": 174379,
            "Password": password,
            "Timestamp": timestamp,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": 1,
            "PartyA": "254708374149",
            "PartyB": "174379",
            "PhoneNumber": "254708374149",
            "CallBackURL": lab.callback_url,
            "AccountReference": REF15,
            "TransactionDesc": "Payment",
        }
        answer = httpx.post(
            lab.settings.base_url + "/mpesa/stkpush/v1/processrequest",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 400
        assert answer.json()["errorMessage"] == "Bad Request - Invalid AccountReference"


def test_within_the_limits_nothing_is_said(tmp_path):
    with Lab.start(store=tmp_path / "quiet.sqlite") as lab, warnings.catch_warnings():
        warnings.simplefilter("error", RequestWarning)
        assert lab.push("0708374149", 10, "A" * 12, "D" * 13).wait(20).result_code == "0"
