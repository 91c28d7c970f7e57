"""docs/troubleshooting.md cannot rot: every Python block runs, in order, against the emulator.

A block followed by a ``text`` block is a symptom's one call: what it raises, prints or evaluates
to must contain that text. Any other block (the setup, a fix, the clean-up) must run without an
error.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "troubleshooting.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str, str | None, str]]:
    """(heading, code, expected text or None, block language) for each python block, in order."""
    text = DOC.read_text(encoding="utf-8")
    found = [(m.start(), m.group(1), m.group(2)) for m in FENCE.finditer(text)]
    out = []
    for i, (start, lang, body) in enumerate(found):
        if lang != "python":
            continue
        heading = [h for h in re.findall(r"^#+ (.+)$", text[:start], re.M)][-1]
        following = found[i + 1] if i + 1 < len(found) else None
        expected = following[2].strip() if following and following[1] == "text" else None
        out.append((heading, body, expected, lang))
    return out


def run(code: str, namespace: dict[str, Any]) -> tuple[str, BaseException | None]:
    """Run ``code``; return what it printed and evaluated to (its last expression), or raised."""
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(tree, "<troubleshooting.md>", "exec"), namespace)
            value = (
                eval(compile(ast.Expression(last.value), "<troubleshooting.md>", "eval"), namespace) if last else None
            )
    except Exception as exc:  # the symptom, when the one call raises
        return printed.getvalue(), exc
    return printed.getvalue() + f"\n{value!r}\n{value}", None


def settle(namespace: dict[str, Any], timeout: float = 10.0) -> None:
    """Let every transaction the block started end, as it has by the time a reader runs the next.

    The blocks push to the same test phone; a prompt still open from the previous block would make
    the next push a "500.001.1001 Unable to lock subscriber" on a loaded machine (a reader, who
    reads between blocks, never sees it).
    """
    for name in ("emu", "live", "production"):
        emulator = namespace.get(name)
        if emulator is None or not hasattr(emulator, "transactions"):
            continue
        with contextlib.suppress(Exception):  # a block may have stopped it
            for tx in emulator.transactions():
                if tx["final"]:
                    continue
                with contextlib.suppress(TimeoutError):
                    emulator.wait_until_final(tx["checkout_request_id"], timeout)


def test_every_symptom_appears_and_every_fix_runs():
    namespace: dict[str, Any] = {}
    symptoms = 0
    try:
        for heading, code, expected, _ in blocks():
            settle(namespace)
            output, error = run(code, namespace)
            if expected is None:
                assert error is None, f"[{heading}] this block must run without an error:\n{code}\n-> {error!r}"
                continue
            symptoms += 1
            seen = output + (f"\n{type(error).__name__}: {error}" if error else "")
            assert expected in seen, f"[{heading}] expected {expected!r} from:\n{code}\nsaw: {seen[:600]}"
    finally:
        for name in ("live", "production", "emu", "app"):
            server = namespace.get(name)
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
    assert symptoms >= 15, symptoms


def test_each_symptom_of_the_issue_has_its_section():
    text = DOC.read_text(encoding="utf-8")
    for title in (
        '"My callback never arrives"',
        '"Invalid Access Token"',
        '"Wrong credentials"',
        '"Invalid PhoneNumber"',
        '"Invalid BusinessShortCode"',
        '"1037 on every push in the sandbox"',
    ):
        assert f"## {title}" in text, title
    for cause in (
        "Localhost or a private address",
        "http in production",
        "GET-only",
        "CSRF",
        "Redirects",
        "ngrok",
        "firewall",
        "expired",
        "sandbox token on production",
        "M-Pesa Express product",
        "malformed",
        "wrong passkey",
        "Shortcode and passkey",
        "timestamp computed twice",
        "Content-Type",
    ):
        assert cause in text, cause
