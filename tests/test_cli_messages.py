"""Every `mpesa-lab` command line quoted in a message, the README or docs/ names real flags."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

from mpesa_lab.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMMAND = re.compile(r"mpesa-lab (?P<cmd>[a-z]+(?:-[a-z]+)*)(?P<rest>[^`'\"\n)|]*)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# Modules that write another tool's command lines (the offline install: pip's and uv's flags):
# their `mpesa-lab ...` lines are still checked, their bare flags are that tool's, not ours.
OTHER_TOOLS_LINES = ("mpesa_lab/workshop/install.py", "mpesa_lab/workshop/wheelhouse.py", "mpesa_lab/workshop/files.py")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _strings(path: Path) -> list[tuple[int, str]]:
    """The text of every string literal (f-string parts joined) except argparse's own flags."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            skip.update(id(a) for a in node.args)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            found.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def _texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted((ROOT / "mpesa_lab").rglob("*.py")):
        texts += [(f"{path.relative_to(ROOT)}:{line}", text) for line, text in _strings(path)]
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        texts.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
    return texts


def test_every_quoted_command_line_names_real_sub_commands_and_flags():
    subs = _subparsers()
    all_flags = {f for p in subs.values() for f in p._option_string_actions}
    problems = []
    for where, text in _texts():
        for match in COMMAND.finditer(text):
            cmd = match.group("cmd")
            if cmd not in subs:
                # "mpesa-lab catalogue", "mpesa-lab local Daraja": prose, not a command line
                if FLAG.search(match.group("rest")):
                    problems.append(f"{where}: `mpesa-lab {cmd}` is not a sub-command")
                continue
            for flag in FLAG.findall(match.group("rest")):
                if flag not in subs[cmd]._option_string_actions:
                    problems.append(f"{where}: `mpesa-lab {cmd}` has no {flag}")
        if where.endswith(".md") or where.startswith(OTHER_TOOLS_LINES):
            continue
        for flag in FLAG.findall(text):  # a bare flag in a message: some sub-command must have it
            if flag not in all_flags:
                problems.append(f"{where}: no sub-command has {flag}")
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_made_up_flag(tmp_path):
    bogus = tmp_path / "mpesa_lab"
    bogus.mkdir()
    (bogus / "m.py").write_text('HINT = "run `mpesa-lab listen --tunnel`"\n')
    texts = [(f"m.py:{line}", text) for line, text in _strings(bogus / "m.py")]
    subs = _subparsers()
    bad = [
        flag
        for _, text in texts
        for m in COMMAND.finditer(text)
        for flag in FLAG.findall(m.group("rest"))
        if flag not in subs[m.group("cmd")]._option_string_actions
    ]
    assert bad == ["--tunnel"]
