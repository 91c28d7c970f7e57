"""Checks of notebook 08, the real sandbox: right answers pass, wrong ones are named."""

from __future__ import annotations

from mpesa_lab.course import check
from tests.course.helpers import ok, todo, wrong

GOOD_ENV = """
# sandbox app
MPESA_ENV=sandbox
MPESA_CONSUMER_KEY=paste-your-consumer-key
MPESA_CONSUMER_SECRET="paste-your-consumer-secret"
NGROK_AUTHTOKEN=paste-your-ngrok-authtoken
"""


def test_env_file():
    ok(check.env_file(GOOD_ENV))
    ok(
        check.env_file(
            GOOD_ENV.replace(
                "NGROK_AUTHTOKEN=paste-your-ngrok-authtoken", "MPESA_CALLBACK_URL=https://shop.example.com/cb"
            )
        )
    )
    todo(check.env_file(...))
    wrong(check.env_file(GOOD_ENV.replace("MPESA_ENV=sandbox", "")), "MPESA_ENV must be 'sandbox' (it is missing)")
    wrong(check.env_file(GOOD_ENV.replace("=sandbox", "=production")), "(it is 'production')")
    wrong(check.env_file(GOOD_ENV.replace("MPESA_CONSUMER_SECRET", "# ")), "MPESA_CONSUMER_SECRET is missing")
    wrong(
        check.env_file(GOOD_ENV.replace("NGROK_AUTHTOKEN=paste-your-ngrok-authtoken", "")),
        "public URL",
        "NGROK_AUTHTOKEN",
    )
    wrong(check.env_file(GOOD_ENV + "MPESA_CALLBACK_URL=http://127.0.0.1:8000/cb\n"), "https://")
    wrong(check.env_file(GOOD_ENV + "MPESA_SHORTCODE=600000\n"), "174379")
    wrong(check.env_file(GOOD_ENV + "MPESA_PASSKEY=" + "e" * 64 + "\n"), "not the sandbox's public passkey")
    wrong(check.env_file(GOOD_ENV + "mpesa_timeout=30\n"), "upper case")
    wrong(check.env_file(GOOD_ENV + "MPESA_TIMEOUT 30\n"), "no '='")
    secret = "Zq8wE3rT6yU1iO4pA7sD"
    verdict = check.env_file(GOOD_ENV.replace("=sandbox", "=local").replace("paste-your-consumer-secret", secret))
    assert secret not in str(verdict)


def test_callback_url():
    public, path = "https://example-tunnel.ngrok-free.app", "/tok3n/callback"
    ok(check.callback_url(public + path, public, path))
    todo(check.callback_url(..., public, path))
    wrong(check.callback_url("http://127.0.0.1:8000" + path, public, path), "only reachable from this machine")
    wrong(check.callback_url(public, public, path), "secret callback path is missing")
    wrong(check.callback_url(public.replace("https", "http") + path, public, path), "use https")
    wrong(check.callback_url(public + "/" + path, public, path), "double slash")
    wrong(check.callback_url(public + path + " ", public, path), "whitespace")
