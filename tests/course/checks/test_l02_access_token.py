"""Checks of notebook 02, the access token: right answers pass, wrong ones are named."""

from __future__ import annotations

import base64

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET
from mpesa_lab.course import check
from tests.course.helpers import b64, ok, todo, wrong

KEY, SECRET = LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET


def test_basic_auth():
    ok(check.basic_auth("Basic " + b64(f"{KEY}:{SECRET}"), KEY, SECRET))
    todo(check.basic_auth(..., KEY, SECRET))
    wrong(check.basic_auth(b64(f"{KEY}:{SECRET}"), KEY, SECRET), "must start with 'Basic '")
    wrong(check.basic_auth("Bearer " + b64(f"{KEY}:{SECRET}"), KEY, SECRET), "'Bearer' is for the access token")
    wrong(check.basic_auth("basic " + b64(f"{KEY}:{SECRET}"), KEY, SECRET), "exactly 'Basic'")
    wrong(check.basic_auth("Basic " + b64(f"{SECRET}:{KEY}"), KEY, SECRET), "swapped")
    wrong(check.basic_auth("Basic " + b64(f"{KEY}{SECRET}"), KEY, SECRET), "one colon")
    wrong(check.basic_auth("Basic " + b64(f"{KEY}:{SECRET}\n"), KEY, SECRET), "whitespace")
    wrong(check.basic_auth(f"Basic {KEY}:{SECRET}", KEY, SECRET), "not base64-encoded")
    wrong(check.basic_auth(f"Basic {base64.b64encode(f'{KEY}:{SECRET}'.encode())}", KEY, SECRET), "b'...'")
    wrong(check.basic_auth(b"Basic abc", KEY, SECRET), "bytes")
    wrong(check.basic_auth("Basic " + b64(f"{KEY}:other"), KEY, SECRET), "consumer secret inside is not")
    verdict = check.basic_auth("Basic " + b64(f"{KEY}:wrong-secret"), KEY, SECRET)
    assert SECRET not in str(verdict) and "wrong-secret" not in str(verdict)


def test_token_refresh():
    ok(check.token_refresh(3539, expires_in="3599", margin=60))
    ok(check.token_refresh(3539.0, expires_in=3599, margin=60))
    todo(check.token_refresh(..., expires_in="3599", margin=60))
    wrong(check.token_refresh("3539", expires_in="3599", margin=60), "expires_in as a string")
    wrong(check.token_refresh(3599, expires_in="3599", margin=60), "404.001.03")
    wrong(check.token_refresh(3659, expires_in="3599", margin=60), "added the margin")
    wrong(check.token_refresh(58.98333333333333, expires_in="3599", margin=60), "minutes")
    wrong(check.token_refresh(100, expires_in="3599", margin=60), "not expires_in")
