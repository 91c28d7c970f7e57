"""Secret-looking field names are masked however they are spelled (issue 19, item 11)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpesa_lab.emulator.validation import masked_request
from mpesa_lab.secret import MASKED, looks_secret, mask_secrets

SECRET_NAMES = [
    "Passkey",
    "password",
    "ConsumerSecret",
    "consumer_key",
    "access_token",
    "SecurityCredential",
    "api_key",
    "PrivateKey",
    "auth_token",
    "credentials",
    "Authorization",
    "secret",
    "pin",
]
# What a sender can slip between letters without changing how the name reads.
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"]
PUNCTUATION = [".", "_", "-", " ", ":", "/", "·", "\u2010", "\u2011", "\u3000", "\t"]
COMBINING = ["\u0301", "\u0300", "\u0308", "\u0327", "\u0303", "\u030a"]


@st.composite
def spelled(draw: st.DrawFn) -> str:
    """A secret field name, respelled: random case, full-width forms, accents, and punctuation or
    invisible characters between its letters."""
    name = draw(st.sampled_from(SECRET_NAMES))
    out = []
    for ch in name:
        if ch in "_ ":
            ch = draw(st.sampled_from(PUNCTUATION + INVISIBLE + [""]))
        elif ch.isalpha():
            ch = ch.upper() if draw(st.booleans()) else ch.lower()
            if draw(st.integers(0, 5)) == 0:  # full-width (compatibility) form
                ch = chr(ord(ch) - 0x21 + 0xFF01)
            if draw(st.integers(0, 3)) == 0:  # an accent, composed or not
                ch = ch + draw(st.sampled_from(COMBINING))
                if draw(st.booleans()):
                    ch = unicodedata.normalize("NFC", ch)
        out.append(ch)
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(PUNCTUATION + INVISIBLE)))
    return "".join(out)


@pytest.mark.parametrize(
    "name",
    ["pass.key", "Pass\u200bkey", "Passkéy", "PASS\u2060KEY", "ｐａｓｓｋｅｙ", "consumer.secret", "Access\u00adToken"],
)
def test_the_reported_spellings_are_masked(name: str) -> None:
    assert looks_secret(name)
    assert mask_secrets({name: "bfb279f9aa9bdbcf158e97dd71a467cd"}) == {name: MASKED}


@settings(max_examples=400, deadline=None)
@given(spelled())
def test_any_respelling_of_a_secret_name_is_masked(name: str) -> None:
    assert looks_secret(name), ascii(name)
    body = {"BusinessShortCode": "174379", name: "bfb279f9aa9bdbcf158e97dd71a467cd"}
    assert mask_secrets(body)[name] == MASKED
    listed = masked_request(body)
    assert "bfb279f9aa9bdbcf158e97dd71a467cd" not in repr(listed), ascii(name)


@pytest.mark.parametrize(
    "name",
    [
        "Amount",
        "PhoneNumber",
        "PartyA",
        "CallBackURL",
        "AccountReference",
        "TransactionDesc",
        "Timestamp",
        "CheckoutRequestID",
        "Pin\u00e9apple",
    ],
)
def test_ordinary_names_are_shown(name: str) -> None:
    assert not looks_secret(name)
