"""The CLI's own jobs (commands that need servers are tested with the Lab and the emulator)."""

import pytest

from mpesa_lab.cli import main
from mpesa_lab.constants import SANDBOX_PASSKEY

DOC_PASSWORD = (
    "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_codes_lists_both_tables(capsys):
    assert main(["codes"]) == 0
    out = capsys.readouterr().out
    for needle in ("404.001.03", "Spike Arrest", "1032", "SFC_IC0003", "Request cancelled by user"):
        assert needle in out


def test_codes_one_entry_shows_explanation_and_mitigation(capsys):
    assert main(["codes", "1037"]) == 0
    out = capsys.readouterr().out
    assert "DS timeout user cannot be reached" in out and "mitigation" in out


def test_codes_reused_code_shows_every_meaning(capsys):
    assert main(["codes", "500.001.1001"]) == 0
    out = capsys.readouterr().out
    for needle in ("Wrong credentials", "Merchant does not exist", "Unable to lock subscriber", "being processed"):
        assert needle in out


def test_codes_by_message_narrows(capsys):
    assert main(["codes", "500.001.1001", "--message", "Wrong credentials"]) == 0
    out = capsys.readouterr().out
    assert "Wrong credentials" in out and "Merchant does not exist" not in out


def test_unknown_code_explained_with_nonzero_exit(capsys):
    assert main(["codes", "4242"]) == 1
    assert "not in Daraja's documented" in capsys.readouterr().out


def test_password_build_decode_check(capsys):
    assert main(["password", "build", "--timestamp", "20210628092408"]) == 0
    assert DOC_PASSWORD in capsys.readouterr().out
    assert main(["password", "decode", DOC_PASSWORD]) == 0
    out = capsys.readouterr().out
    assert "174379" in out and "20210628092408" in out and SANDBOX_PASSKEY not in out
    assert main(["password", "check", DOC_PASSWORD, "--timestamp", "20210628092408"]) == 0
    assert main(["password", "check", DOC_PASSWORD, "--timestamp", "20210628092409"]) == 1
    assert "20210628092409" in capsys.readouterr().out
    assert main(["password", "decode", "%%%"]) == 1


def test_query_with_nothing_listening_says_how_to_start_the_emulator(capsys, monkeypatch):
    monkeypatch.delenv("MPESA_ENV", raising=False)
    assert main(["query", "ws_CO_1", "--base-url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "TransportError" in err and "mpesa-lab sandbox" in err


def test_the_lazy_console_works_where_rich_holds_a_console():
    # Issue 18 (1): rich's Live/Progress do `with console:`, which __getattr__ alone cannot forward.
    import io

    from rich.progress import Progress

    from mpesa_lab.cli import _LazyConsole

    lazy = _LazyConsole(file=io.StringIO(), force_terminal=True, width=60)
    with lazy:
        lazy.print("inside")
    with Progress(console=lazy.real, transient=True) as bar:
        bar.update(bar.add_task("x", total=2), completed=2)
    assert "inside" in lazy.file.getvalue()
