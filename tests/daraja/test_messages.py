"""Messages fit the place: a network failure names the emulator locally and the internet for
Safaricom's hosts; an HTML page where JSON was expected is reported as such, with the base URL."""

from __future__ import annotations

import socket

import httpx
import pytest

from mpesa_lab.config import Settings
from mpesa_lab.daraja.client import DarajaClient
from mpesa_lab.daraja.errors import TransportError, UnknownDarajaError

CALLBACK = "https://abcd.ngrok-free.app/cb"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_local_network_failure_names_the_emulator_and_how_to_start_it():
    settings = Settings.local(base_url=f"http://127.0.0.1:{_closed_port()}", callback_url=CALLBACK)
    with DarajaClient(settings, max_retries=0) as client, pytest.raises(TransportError) as info:
        client.stk_push("0708374149", 1, "REF", "Desc")
    message = str(info.value)
    assert "emulator is not running" in message and "mpesa-lab sandbox" in message
    assert "tunnel" not in message


def test_sandbox_network_failure_names_the_internet_not_the_emulator():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=request)

    settings = Settings.sandbox("key", "secret", callback_url=CALLBACK)
    with DarajaClient(settings, transport=httpx.MockTransport(refuse), max_retries=0) as client:
        with pytest.raises(TransportError) as info:
            client.stk_push("0708374149", 1, "REF", "Desc")
    message = str(info.value)
    assert "internet connection" in message and "https://sandbox.safaricom.co.ke" in message
    assert "emulator" not in message and "tunnel" not in message


HTML = b"<!DOCTYPE html>\n<html><head><title>Portal</title></head><body>Welcome</body></html>"


@pytest.mark.parametrize("where", ["oauth", "push"])
def test_an_html_page_instead_of_json_is_reported_as_such(where):
    def answer(request: httpx.Request) -> httpx.Response:
        if where == "oauth" or "oauth" not in request.url.path:
            return httpx.Response(200, content=HTML, headers={"content-type": "text/html"})
        return httpx.Response(200, json={"access_token": "t" * 28, "expires_in": "3599"})

    settings = Settings.sandbox("key", "secret", callback_url=CALLBACK, base_url="https://sandbox.safaricom.co.kee")
    with DarajaClient(settings, transport=httpx.MockTransport(answer), max_retries=0) as client:
        with pytest.raises(UnknownDarajaError) as info:
            client.stk_push("0708374149", 1, "REF", "Desc")
    message = str(info.value)
    assert "HTML page" in message and "https://sandbox.safaricom.co.kee" in message
    assert "keys:" not in message and "NoneType" not in message
    assert "https://sandbox.safaricom.co.ke " in message  # the right base URL, as the fix
