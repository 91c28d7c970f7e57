import base64

import pytest

from mpesa_lab.clock import parse_daraja_timestamp
from mpesa_lab.password import (
    PasswordDecodeError,
    build_password,
    check_password,
    decode_password,
    password_and_timestamp,
)

DOC_PASSWORD = (
    "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
)
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


def test_build_matches_the_doc_sample():
    assert build_password(174379, PASSKEY, "20210628092408") == DOC_PASSWORD
    assert build_password("174379", PASSKEY, "20210628092408") == DOC_PASSWORD


def test_decode_the_doc_sample():
    decoded = decode_password(DOC_PASSWORD)
    assert decoded.shortcode == "174379"
    assert decoded.passkey.reveal() == PASSKEY
    assert decoded.timestamp == "20210628092408"
    assert PASSKEY not in repr(decoded) and PASSKEY not in str(decoded)


def test_check_ok_and_each_mismatch_named():
    assert check_password(DOC_PASSWORD, 174379, PASSKEY, "20210628092408").ok
    bad = check_password(DOC_PASSWORD, 600000, "0" * 64, "20210628092409")
    text = str(bad)
    assert not bad.ok and len(bad.problems) == 3
    assert "'600000'" in text and "20210628092409" in text and "passkey" in text
    assert PASSKEY not in text and "0" * 64 not in text


def test_fresh_pair_is_consistent():
    password, timestamp = password_and_timestamp(174379, PASSKEY)
    parse_daraja_timestamp(timestamp)
    assert check_password(password, 174379, PASSKEY, timestamp).ok


@pytest.mark.parametrize("value", ["not base64!!", base64.b64encode(b"short").decode(), ""])
def test_decode_rejects_non_passwords(value):
    with pytest.raises(PasswordDecodeError):
        decode_password(value)
    assert not check_password(value, 174379, PASSKEY, "20210628092408").ok


def test_short_passkeys_still_decode():
    password = build_password(600000, "abc123", "20240101000000")
    decoded = decode_password(password)
    assert (decoded.shortcode, decoded.passkey.reveal(), decoded.timestamp) == ("600000", "abc123", "20240101000000")
