"""``mpesa-lab check-callback``: exit 0 when nothing fails, 1 when a scenario fails (or, with
--strict, is not verified), 2 when the check cannot run; one-line errors; JSON for CI."""

from __future__ import annotations

import json

import pytest

from mpesa_lab.cli import main


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_the_lessons_endpoint_exits_0_with_a_table(solution_endpoints, capsys):
    endpoint = solution_endpoints["django"]
    assert main(["check-callback", endpoint.callback_url, "--readback", endpoint.readback_url]) == 0
    out = capsys.readouterr().out
    assert "PASSED: 13 passed, 0 failed, 0 not verified" in out and "balance_without_value" in out


def test_a_failing_scenario_exits_1_naming_it_and_the_fix(serve_buggy, capsys):
    endpoint = serve_buggy("unknown_code_500")
    code = main(["check-callback", endpoint.callback_url, "--readback", endpoint.readback_url, "--json"])
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False
    (failed,) = [r for r in report["results"] if r["verdict"] == "fail"]
    assert failed["name"] == "unknown_code" and "HTTP 500" in failed["detail"] and "never a 500" in failed["fix"]


def test_strict_fails_what_is_not_verified(solution_endpoints, capsys):
    url = solution_endpoints["flask"].callback_url
    assert main(["check-callback", url, "--scenario", "paid", "--scenario", "forged"]) == 0
    assert "--readback" in capsys.readouterr().out
    assert main(["check-callback", url, "--scenario", "forged", "--strict"]) == 1


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["http://127.0.0.1:1/mpesa/callback"], "error: cannot reach http://127.0.0.1:1/mpesa/callback"),
        (["127.0.0.1:8000/cb"], "error: '127.0.0.1:8000/cb' is not an http(s) URL"),
        (["http://127.0.0.1:1/cb", "--scenario", "payed"], "error: unknown scenario 'payed'"),
    ],
)
def test_a_check_that_cannot_run_exits_2_with_one_line(argv, words, capsys):
    assert main(["check-callback", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(words) and captured.err.count("\n") == 1 and not captured.out


def test_list_names_every_scenario(capsys):
    from mpesa_lab.callback_check import scenario_names

    assert main(["check-callback", "http://x.invalid/cb", "--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == scenario_names()
