"""The credential scanner: it must catch real-looking values and let the public ones through."""

from __future__ import annotations

import pytest

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, SANDBOX_PASSKEY
from tests.notebooks.secrets_scan import TILL_PASSKEY, find_secrets

# Made-up values shaped like the real things (none is a real credential).
PLANTED = {
    "daraja consumer key": "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xY3zA5bC7dE9fG1hJ3",
    "access token": "Xy7Kp2Qw9Lm4Nz8Rt6Vb3Hd5Fg1J",
    "ngrok authtoken": "2Zk3QwErTy8UiOp1AsDfGhJkL9_4xCvBnMqWeRtYuIoPaSdF",
    "production passkey": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_a_bare_credential_is_found(kind):
    value = PLANTED[kind]
    assert find_secrets(f"x = {value!r}\n", "cell 1"), f"{kind} not found"
    assert find_secrets(f"print('{value}')", "output"), f"{kind} in an output not found"


@pytest.mark.parametrize(
    "text",
    [
        "MPESA_CONSUMER_SECRET=hunter2hunter2",
        "export NGROK_AUTHTOKEN=abc123def456",
        'consumer_secret = "s3cr3t-value"',
        'passkey: "my-own-passkey-2026"',
        'headers={"Authorization": "Bearer Xy7Kp2Qw9Lm4Nz8R"}',
    ],
)
def test_a_named_secret_is_found_even_when_short(text):
    found = find_secrets(text, "cell")
    assert found, text
    assert "hunter2hunter2" not in " ".join(found), "the report must not repeat the whole secret"


@pytest.mark.parametrize(
    "text",
    [
        f"PASSKEY = {SANDBOX_PASSKEY!r}",
        f"till = '{TILL_PASSKEY}'",
        f"MPESA_CONSUMER_KEY={LAB_CONSUMER_KEY}\nMPESA_CONSUMER_SECRET={LAB_CONSUMER_SECRET}",
        "MPESA_CONSUMER_KEY=paste-your-consumer-key\nNGROK_AUTHTOKEN=<your ngrok authtoken>",
        "PASSKEY = SANDBOX_PASSKEY",
        'headers={"Authorization": "Bearer made-up-token"}',
        "lab = Lab.start(store=lesson_store('05-callbacks-listener'))",
        "phone = '254708374149'; ts = '20260315003005'",
        "PUBLIC_URL = 'https://example-tunnel.ngrok-free.app'",
        "from mpesa_lab.daraja.password import decode_password",
    ],
)
def test_public_values_and_code_pass(text):
    assert find_secrets(text, "cell") == []
