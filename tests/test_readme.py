"""The README's promises: the quick start is two commands, CI runs the second, the example runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [b.strip() for b in re.findall(r"```bash\n(.*?)```", quick_start, re.S)]
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert "mpesa-lab demo" in commands[0]
    assert "pytest" in commands[1]
    marker = README.split("<!-- test-command -->", 1)[1]
    assert re.search(r"```bash\n(.*?)\n```", marker).group(1) == commands[1]
    assert "test-command" in (ROOT / ".ci" / "run").read_text()


def test_the_python_example_runs_on_the_local_lab(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path))
    example = _blocks("python")[0]
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert re.match(r"0 \w{10}\n", out), out
    assert namespace["lab"].emulator is None or not namespace["lab"].listener.running


def test_each_quick_start_command_makes_its_own_virtual_environment():
    # A system Python that refuses `pip install` (PEP 668) must not stop a newcomer.
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    for command in re.findall(r"```bash\n(.*?)```", quick_start, re.S):
        steps = [s.strip() for s in command.strip().split("&&")]
        assert steps[0] == "python3 -m venv .venv", command
        assert steps[1] == ". .venv/bin/activate", command
        assert any(s.startswith("pip install") for s in steps[2:]), command


def test_the_readme_says_what_daraja_is_and_links_the_projects_own_reference():
    assert "../shared" not in README
    assert "STK push" in README and "Daraja is Safaricom" in README
    assert "docs/daraja.md" in README
    page = (ROOT / "docs" / "daraja.md").read_text(encoding="utf-8")
    for must in (
        "/oauth/v1/generate",
        "/mpesa/stkpush/v1/processrequest",
        "/mpesa/stkpushquery/v1/query",
        "CallBackURL",
        "CheckoutRequestID",
    ):
        assert must in page


def test_the_daraja_page_lists_every_code_in_the_catalogue():
    from mpesa_lab import codes

    page = (ROOT / "docs" / "daraja.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| ([0-9A-Z_.]+) \|", page, re.M))
    assert {e.code for e in (*codes.error_codes(), *codes.result_codes())} <= listed


def test_every_python_example_runs_with_its_own_imports(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path))
    phone = next(b for b in _blocks("python") if "interactive=True" in b)
    namespace: dict = {}  # nothing imported beforehand: the snippet must bring its own imports
    exec(compile(phone, "README.md", "exec"), namespace)
    assert capsys.readouterr().out.strip() == "0"
    assert not namespace["lab"].running
