"""`mpesa-lab doctor` on real configurations: a .env pointing at nothing, at the running emulator,
and with a bad callback URL. A verdict per check, exit 1 on a problem, and never a secret."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mpesa_lab import cli
from mpesa_lab.background import BackgroundServer
from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, SANDBOX_PASSKEY
from mpesa_lab.doctor import run_doctor
from mpesa_lab.emulator import Emulator, EmulatorConfig

SECRET = "doctor-test-consumer-secret-9f3b"
PASSKEY = "0f" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_env(folder: Path, **values: str) -> str:
    path = folder / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return str(path)


def run_cli(capsys, env_file: str, *args: str) -> tuple[int, str]:
    code = cli.main(["doctor", "--env-file", env_file, "--budget", "2", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("MPESA_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def emulator():
    emu = Emulator(EmulatorConfig(callback_faults=("drop",)), name="test-doctor").start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def endpoint():
    """A good callback endpoint (POST, answers at once) and a GET-only one."""

    async def callback(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"ResultCode": 0, "ResultDesc": "Accepted"})

    async def page(request: Request) -> JSONResponse:
        return JSONResponse({"hello": "browser"})

    app = Starlette(routes=[Route("/mpesa/cb", callback, methods=["POST"]), Route("/get-only", page, methods=["GET"])])
    server = BackgroundServer(app, name="test-doctor-endpoint").start()
    try:
        yield server.url
    finally:
        server.stop()


def test_a_env_pointing_at_nothing_says_what_it_could_not_try_without_a_traceback(tmp_path, capsys):
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = write_env(
        tmp_path,
        MPESA_ENV="sandbox",
        MPESA_BASE_URL=nowhere,
        MPESA_CONSUMER_KEY="my-key",
        MPESA_CONSUMER_SECRET=SECRET,
        MPESA_PASSKEY=PASSKEY,
        MPESA_SHORTCODE="600100",
        MPESA_CALLBACK_URL=f"{nowhere}/cb",
    )
    code, output = run_cli(capsys, env)
    assert code == 1  # the callback URL is a problem
    assert "not checked  token: cannot reach" in output and "Traceback" not in output
    assert "not checked  clock:" in output
    assert SECRET not in output and PASSKEY not in output


def test_offline_tries_nothing(tmp_path, capsys):
    env = write_env(tmp_path, MPESA_ENV="sandbox", MPESA_CONSUMER_KEY="k", MPESA_CONSUMER_SECRET=SECRET)
    code, output = run_cli(capsys, env, "--offline")
    assert "not checked  token: offline" in output and "not checked  clock:" in output
    assert "PROBLEM      settings: sandbox mode, missing: MPESA_CALLBACK_URL" in output
    assert code == 1 and SECRET not in output
    env = write_env(
        tmp_path,
        MPESA_ENV="sandbox",
        MPESA_CONSUMER_KEY="k",
        MPESA_CONSUMER_SECRET=SECRET,
        MPESA_CALLBACK_URL="https://shop.mpesa-lab.test/mpesa/cb",
    )
    code, output = run_cli(capsys, env, "--offline")
    assert "not checked  callback answers: offline" in output and "Traceback" not in output


def test_missing_settings_are_named(tmp_path, capsys):
    env = write_env(tmp_path, MPESA_ENV="production", MPESA_CONSUMER_KEY="k")
    code, output = run_cli(capsys, env, "--offline")
    assert code == 1
    settings_line = next(line for line in output.splitlines() if "settings:" in line)
    assert "PROBLEM" in settings_line and "MPESA_CONSUMER_SECRET" in settings_line


def test_against_the_emulator_a_token_is_really_fetched_and_the_endpoint_answers(tmp_path, capsys, emulator, endpoint):
    env = write_env(
        tmp_path,
        MPESA_ENV="sandbox",
        MPESA_BASE_URL=emulator.url,
        MPESA_CONSUMER_KEY=LAB_CONSUMER_KEY,
        MPESA_CONSUMER_SECRET=LAB_CONSUMER_SECRET,
        MPESA_CALLBACK_URL=f"{endpoint}/mpesa/cb",
    )
    before = len(emulator.state.tokens)
    report = run_doctor(env, environ={}, budget_s=2)
    assert report.check("token").verdict == "ok"
    assert len(emulator.state.tokens) == before + 1  # really fetched
    assert report.check("password").verdict == "ok"
    assert report.check("clock").verdict == "ok"  # the emulator's Date header
    assert report.check("callback answers").verdict == "ok"
    # Answering is not enough: Daraja cannot reach plain http on 127.0.0.1.
    url_check = report.check("callback URL")
    assert url_check.verdict == "problem" and "https" in url_check.detail and "127.0.0.1" in url_check.detail
    code, output = run_cli(capsys, env)
    assert code == 1
    tokens = [t for t in emulator.state.tokens]
    assert all(token not in output for token in tokens) and LAB_CONSUMER_SECRET not in output
    assert SANDBOX_PASSKEY not in output


def test_wrong_keys_against_the_emulator_are_a_problem_with_the_fix(tmp_path, emulator, endpoint):
    env = write_env(
        tmp_path,
        MPESA_ENV="sandbox",
        MPESA_BASE_URL=emulator.url,
        MPESA_CONSUMER_KEY=LAB_CONSUMER_KEY,
        MPESA_CONSUMER_SECRET=SECRET,
        MPESA_CALLBACK_URL=f"{endpoint}/mpesa/cb",
    )
    check = run_doctor(env, environ={}, budget_s=2).check("token")
    assert check.verdict == "problem" and "My Apps" in check.fix
    assert SECRET not in check.detail + check.fix


def test_a_get_only_callback_route_is_a_problem(tmp_path, emulator, endpoint):
    env = write_env(
        tmp_path,
        MPESA_ENV="sandbox",
        MPESA_BASE_URL=emulator.url,
        MPESA_CONSUMER_KEY=LAB_CONSUMER_KEY,
        MPESA_CONSUMER_SECRET=LAB_CONSUMER_SECRET,
        MPESA_CALLBACK_URL=f"{endpoint}/get-only",
    )
    check = run_doctor(env, environ={}, budget_s=2).check("callback answers")
    assert check.verdict == "problem" and "405" in check.detail, check
    assert check.fix


def test_shortcode_and_passkey_that_do_not_belong_together(tmp_path):
    env = write_env(
        tmp_path,
        MPESA_ENV="sandbox",
        MPESA_CONSUMER_KEY="k",
        MPESA_CONSUMER_SECRET=SECRET,
        MPESA_SHORTCODE="600100",
        MPESA_CALLBACK_URL="https://shop.mpesa-lab.test/cb",
    )
    check = run_doctor(env, environ={}, online=False).check("password")
    assert check.verdict == "problem" and "does not match" in check.detail
    short = write_env(
        tmp_path,
        MPESA_ENV="sandbox",
        MPESA_CONSUMER_KEY="k",
        MPESA_CONSUMER_SECRET=SECRET,
        MPESA_PASSKEY="abc123",
        MPESA_SHORTCODE="600100",
    )
    check = run_doctor(short, environ={}, online=False).check("password")
    assert check.verdict == "problem" and "6 characters" in check.detail and "abc123" not in check.detail


@pytest.mark.parametrize("route,named", [("redirect", "HTTP 301"), ("csrf", "HTTP 403")])
def test_a_redirecting_or_csrf_protected_callback_route_is_a_problem(route, named):
    from mpesa_lab.course.trouble import your_app
    from mpesa_lab.doctor import check_callback_answers

    app = your_app()
    try:
        check = check_callback_answers(app.url(route), online=True, budget_s=2)
    finally:
        app.stop()
    assert check.verdict == "problem" and named in check.detail and check.fix


def test_the_json_report_holds_no_secret_either(tmp_path, capsys, emulator):
    env = write_env(
        tmp_path,
        MPESA_ENV="sandbox",
        MPESA_BASE_URL=emulator.url,
        MPESA_CONSUMER_KEY=LAB_CONSUMER_KEY,
        MPESA_CONSUMER_SECRET=LAB_CONSUMER_SECRET,
        MPESA_PASSKEY=PASSKEY,
        MPESA_SHORTCODE="600100",
        MPESA_CALLBACK_URL="https://shop.mpesa-lab.test/mpesa/callback",
    )
    code, output = run_cli(capsys, env, "--json")
    import json

    report = json.loads(output)
    assert code == 1 and report["ok"] is False  # the callback endpoint is not reachable from here
    assert {c["name"] for c in report["checks"]} >= {"settings", "token", "password", "clock", "callback URL"}
    assert LAB_CONSUMER_SECRET not in output and PASSKEY not in output
    assert all(token not in output for token in emulator.state.tokens)


def test_an_env_file_named_but_missing_is_one_line_not_a_passing_local_report(capsys, tmp_path):
    code, out = run_cli(capsys, str(tmp_path / "nowhere.env"))
    assert code == 2
    assert "no file at" in out and "nowhere.env" in out
    assert "All checks passed" not in out and "Traceback" not in out
