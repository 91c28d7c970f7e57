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
