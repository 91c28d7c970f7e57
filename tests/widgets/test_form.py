"""The push form, driven like a learner: type, watch Send, click, read the answer."""

from __future__ import annotations

import html

import pytest

from mpesa_lab.daraja.errors import ValidationError, WrongCredentials
from mpesa_lab.widgets import PushForm

from .conftest import TIMEOUT, eventually


def client_message(lab, **fields) -> str:
    """What DarajaClient itself says about these values (the form must say the same)."""
    args = {"phone": "0708374149", "amount": 10, "account_reference": "INV-1", "description": "Payment"}
    args.update(fields)
    with pytest.raises(ValidationError) as caught:
        lab.client.stk_push(args["phone"], args["amount"], args["account_reference"], args["description"])
    return str(caught.value)


def test_valid_form_enables_send(lab, closing):
    form = closing(PushForm(lab))
    assert form.valid and not form.send_button.disabled
    assert "sent as 254708374149" in form.messages["phone"].value


@pytest.mark.parametrize(
    "field, widget, value",
    [
        ("phone", "phone", "0712"),
        ("phone", "phone", "0733 000 000"),  # Airtel: not Safaricom
        ("amount", "amount", "10.5"),
        ("amount", "amount", "0"),
        ("account_reference", "account_reference", "   "),
        ("account_reference", "account_reference", "INV\n1"),  # control characters
        ("description", "description", ""),
    ],
)
def test_invalid_field_disables_send_with_the_clients_message(lab, closing, field, widget, value):
    form = closing(PushForm(lab))
    getattr(form, widget).value = value
    assert form.send_button.disabled and not form.valid
    expected = client_message(lab, **{field: value})
    assert form.errors[widget] == expected
    # shown under the field, escaped

    assert html.escape(expected) in form.messages[widget].value
    # fixing the field enables Send again
    getattr(form, widget).value = {
        "phone": "0708374149",
        "amount": "10",
        "account_reference": "INV-1",
        "description": "Payment",
    }[widget]
    assert not form.send_button.disabled and form.valid


def test_every_refused_field_speaks_at_once(lab, closing):
    form = closing(PushForm(lab))
    form.phone.value = "12"
    form.amount.value = "-3"
    assert set(form.errors) == {"phone", "amount"}


def test_send_reaches_the_emulator_and_the_store(lab, closing):
    form = closing(PushForm(lab, phone="0708 374 149", amount="25", account_reference="ORDER-9", description="Shoes"))
    form.click()
    push = form.last_push
    assert push is not None and form.last_error is None
    assert push.checkout_request_id in form.answer.value and "accepted" in form.answer.value
    tx = lab.emulator.transaction(push.checkout_request_id)
    assert tx["amount"] == 25 and tx["phone"] == "254708374149" and tx["account_reference"] == "ORDER-9"
    assert push.checkout_request_id in set(lab.pushes()["checkout_request_id"])
    # the answer under the form follows the callback when it is stored (from a background thread)
    lab.listener.wait_for(push.checkout_request_id, TIMEOUT)
    eventually(lambda: "callback stored" in form.answer.value, what="outcome shown under the form")
    assert "paid" in form.answer.value


def test_daraja_error_shows_code_and_mitigation(lab, closing):
    form = closing(PushForm(lab))
    lab.emulator.fail_next("500.001.1001", message="Wrong credentials", route="push")
    form.click()
    assert isinstance(form.last_error, WrongCredentials) and form.last_push is None
    assert "500.001.1001" in form.answer.value and "Wrong credentials" in form.answer.value
    assert "what to do" in form.answer.value
    assert form.last_error.mitigation[:40] in html.unescape(form.answer.value)
    # the refused push is in the store too, with its errorCode
    pushes = lab.pushes()
    assert pushes["error_code"].tolist()[-1] == "500.001.1001"
    assert not form.send_button.disabled  # the form itself is still valid: try again


def test_transaction_type_change_is_validated_by_the_client(lab, closing):
    form = closing(PushForm(lab))
    form.transaction_type.value = "CustomerBuyGoodsOnline"
    # the lab's paybill as PartyB of a till push: the client warns, and the form shows it
    assert form.valid and "Warning" in form.general.value and "PartyB" in form.general.value
    form.transaction_type.value = "CustomerPayBillOnline"
    assert form.valid and form.general.value == ""


def test_longer_than_documented_reference_warns_but_sends(lab, closing):
    form = closing(PushForm(lab))
    form.account_reference.value = "INV-0000000001"  # 14 > 12: live Daraja accepts it, the client warns
    assert form.valid and not form.send_button.disabled
    with pytest.warns(Warning) as said:
        lab.client.build_push("0708374149", 10, "INV-0000000001", "Payment")
    assert form.warnings["account_reference"] == str(said[0].message)
    assert "Warning:" in form.messages["account_reference"].value


def test_a_repeated_push_shows_the_labs_warning(lab, closing):
    form = closing(PushForm(lab, amount="33"))
    form.click()
    lab.listener.wait_for(form.last_push.checkout_request_id, TIMEOUT)  # (else: subscriber locked)
    form.click()  # same amount, same phone, seconds apart: the lab warns of rule 17
    assert "expect 17" in form.answer.value and form.last_push is not None


def test_the_form_states_the_phone_rule_that_failed(lab, closing):
    """Issue 18, item 5: 12345 is only digits; the form says what is really wrong (its length)."""
    form = closing(PushForm(lab))
    form.phone.value = "12345"
    shown = form.messages["phone"].value
    assert "has 5 digits" in shown and "2547XXXXXXXX" in shown and "07XXXXXXXX" in shown, shown
    assert "only digits, an optional leading +" not in shown
