"""Every `mpesa-lab` command on the path a person takes: in a terminal (a pseudo-terminal, where
rich draws colours, spinners and progress bars) and through a pipe, on empty, degenerate and
large inputs. None may end in a traceback: a clear one-line error and a non-zero exit, or a
correct result (issue 18).

The commands' happy paths are tested elsewhere (tests/test_cli.py in-process, test_cli_jobs.py as
processes through a pipe, tests/workshop/test_cli.py, tests/test_notebook_server.py); here each
command meets what a person gets wrong.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path

import pytest

from tests.terminal import Ran, Started, cli_env, in_pipe, in_terminal

ROOT = Path(__file__).resolve().parents[1]
MESSY = ROOT / "data" / "messy_callbacks.jsonl"
WAYS = {"terminal": in_terminal, "pipe": in_pipe}
#: what only a crash prints (the safety net in cli.main says "a bug in mpesa-lab")
CRASH = re.compile(r"Traceback \(most recent call last\)|a bug in mpesa-lab|Fatal Python error|lost sys\.stderr")


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(home) -> dict[str, str]:
    return cli_env(home)


@pytest.fixture
def work(tmp_path) -> Path:
    """A person's folder: an empty log, an empty folder, a plain file, a log that is fine."""
    folder = tmp_path / "work"
    (folder / "empty-folder").mkdir(parents=True)
    (folder / "empty.jsonl").write_bytes(b"")
    (folder / "blank.jsonl").write_text("\n\n  \n")
    (folder / "notes.txt").write_text("not a folder\n")
    return folder


@pytest.fixture
def busy_port():
    """A port something else already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def no_crash(ran: Ran) -> None:
    assert not CRASH.search(ran.text), f"a crash, not a message:\n{ran}"


def one_line_error(ran: Ran, pattern: str, code: int | tuple[int, ...]) -> str:
    """The exit code is ``code`` and exactly one line matches ``pattern`` (the message and its
    fix on one line, also in an 80-column pipe), with no traceback."""
    no_crash(ran)
    codes = code if isinstance(code, tuple) else (code,)
    assert ran.returncode in codes, f"exit {ran.returncode}, expected {code}:\n{ran}"
    matching = [line for line in ran.lines if re.search(pattern, line)]
    assert len(matching) == 1, f"expected one line matching {pattern!r}:\n{ran}"
    return matching[0]


# --- commands that end by themselves, given what a person gets wrong ---------------------------

# (args, exit code, the one line that says what was wrong and what to do)
MISTAKES = [
    ([], 2, r"error: the following arguments are required: COMMAND"),
    (["pay"], 2, r"invalid choice: 'pay'"),
    (["codes", ""], 1, r"message\s+Unknown code"),
    (["codes", "--kind", "warning"], 2, r"argument --kind: invalid choice"),
    (
        ["password", "build", "--timestamp", "20211328000000"],
        2,
        r"--timestamp '20211328000000' is not a time: give YYYYMMDDHHmmss",
    ),
    (["password", "build", "--shortcode", "abc"], 2, r"--shortcode BusinessShortCode 'abc' refused: .*Fix:"),
    (["password", "decode"], 2, r"Give the Password to look at: mpesa-lab password decode PASSWORD"),
    (["password", "decode", "===="], 1, r"Not a Daraja password: .*base64"),
    (["password", "check", ""], 2, r"Give the Password to look at"),
    (["password", "unlock"], 2, r"argument action: invalid choice: 'unlock'"),
    (["push"], 2, r"the following arguments are required: phone, amount"),
    (["push", "0708374149", "5", "--timeout", "-1"], 2, r"argument --timeout: -1 must be a number above zero"),
    (
        ["push", "0708374149", "5", "--base-url", "localhost:8000"],
        1,
        r"ConfigError: base_url 'localhost:8000' is not an absolute http\(s\) URL: use e\.g\.",
    ),
    (
        ["push", "0708374149", "5", "--env", "sandbox"],
        1,
        r"ConfigError: sandbox mode needs MPESA_CONSUMER_KEY.*Daraja portal",
    ),
    (["query", ""], 1, r"ValidationError: CheckoutRequestID '' refused: .*Fix:"),
    (["query", "ws_CO_1", "--env", "production"], 1, r"ConfigError: production mode needs"),
    (["report", "missing.jsonl"], 2, r"missing.jsonl: no such file or folder\. Pass a store"),
    (["report", "empty.jsonl"], 1, r"Nothing to report: empty.jsonl holds no pushes and no callbacks"),
    (["report", "blank.jsonl"], 1, r"Nothing to report: blank.jsonl holds no pushes and no callbacks"),
    (["report", "empty-folder"], 1, r"Nothing to report: empty-folder holds no pushes and no callbacks"),
    (["report", str(MESSY), "--out", "notes.txt"], 2, r"--out notes.txt: is a file, not a folder"),
    (
        ["report", str(MESSY), "--out", "notes.txt/inside"],
        2,
        r"--out notes.txt/inside: cannot make this folder \(.*notes.txt is a file\)",
    ),
    (
        ["report", str(MESSY), "--freq", "fortnightly"],
        2,
        r"--freq 'fortnightly' is not a time bin: use a number and a unit",
    ),
    (["report", str(MESSY), "--freq", "0h"], 2, r"--freq '0h' is not a time bin: it must be longer than zero"),
    (["sandbox", "--port", "70000"], 2, r"argument --port: 70000 is not a port number: give 0 to 65535"),
    (["sandbox", "--port", "eighty"], 2, r"argument --port: 'eighty' is not a port number"),
    (["sandbox", "--behaviour", "chaos"], 2, r"argument --behaviour: invalid choice"),
    (["listen", "--port", "-1"], 2, r"argument --port: -1 is not a port number"),
    (["listen", "--port", "0", "--db", "empty-folder"], 2, r"error: cannot write the callback store .*empty-folder"),
    (
        ["listen", "--port", "0", "--db", "notes.txt"],
        2,
        r"error: the callback store .*notes.txt is damaged .*move it aside",
    ),
    (
        ["listen", "--port", "0", "--allow-ip", "safaricom"],
        2,
        r"argument --allow-ip: 'safaricom' is not an IP address or network",
    ),
    (
        ["listen", "--port", "0", "--trust-proxy", "ngrok"],
        2,
        r"argument --trust-proxy: 'ngrok' is not an IP address or network",
    ),
    (["listen", "--port", "0", "--max-body", "0"], 2, r"argument --max-body: 0 must be above zero"),
    (
        ["listen", "--port", "0", "--request-timeout", "0"],
        2,
        r"argument --request-timeout: 0 must be a number above zero",
    ),
    (["listen", "--port", "0", "--token", "a/b"], 2, r"error: path_token must be 8 to 128 characters"),
    (["workshop", "serve", "--port", "65536"], 2, r"argument --port: 65536 is not a port number"),
    (["workshop", "serve", "--port", "0", "--participants", "-3"], 2, r"argument --participants: -3 is below zero"),
    (
        ["workshop", "serve", "--port", "0", "--url", "192.168.1.20:8000"],
        2,
        r"argument --url: '192.168.1.20:8000' is not an http\(s\) URL",
    ),
    (
        ["workshop", "serve", "--port", "0", "--names", "names.txt"],
        2,
        r"cannot read --names names.txt: No such file or directory\. Give a text file",
    ),
    (
        ["workshop", "serve", "--port", "0", "--names", "empty-folder"],
        2,
        r"cannot read --names empty-folder: Is a directory",
    ),
    (
        ["workshop", "serve", "--port", "0", "--dir", "notes.txt"],
        2,
        r"cannot use the workshop folder \(notes.txt: File exists\)\. Pass --dir",
    ),
    (["lab", "--port", "123456", "--no-browser"], 2, r"argument --port: 123456 is not a port number"),
    (
        ["lab", "--dir", "notes.txt", "--no-browser", "--port", "0"],
        1,
        r"Cannot start the lab: .*notes.txt is not a folder: pass --dir",
    ),
    (["demo", "--timeout", "0"], 2, r"argument --timeout: 0 must be a number above zero"),
    (["demo", "--store", "empty-folder"], 2, r"error: cannot write the callback store .*empty-folder"),
]


def _usage_error(message: str) -> bool:
    """argparse's own refusals print the same bytes to a terminal and to a pipe (no rich)."""
    return bool(re.search(r"argument |invalid choice|are required", message))


# Each mistake in a terminal; the ones mpesa-lab words itself (through rich) in a pipe too.
CASES = [
    pytest.param(way, args, code, message, id=f"{way}: {' '.join(args) or '(nothing)'}")
    for args, code, message in MISTAKES
    for way in ("terminal", *(() if _usage_error(message) else ("pipe",)))
]


@pytest.mark.parametrize("way, args, code, message", CASES)
def test_a_mistake_gets_one_clear_line_and_a_nonzero_exit(way, args, code, message, env, work):
    ran = WAYS[way](args, env, work)
    one_line_error(ran, message, code)


@pytest.mark.parametrize("way", sorted(WAYS))
def test_a_port_in_use_is_named_with_what_to_do(way, env, work, busy_port):
    for command in (["sandbox"], ["listen"], ["workshop", "serve"]):
        ran = WAYS[way]([*command, "--port", str(busy_port)], env, work)
        one_line_error(
            ran,
            rf"cannot listen on 127\.0\.0\.1:{busy_port} \(Address already in use\); "
            r"choose another --port or use 0",
            2,
        )


@pytest.mark.parametrize("way", sorted(WAYS))
def test_every_command_explains_itself(way, env, work):
    from mpesa_lab.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in commands:
        ran = (
            in_pipe([command, "--help"], env, work)
            if way == "pipe"
            else in_terminal([command, "--help"], env, work, columns=60)
        )
        no_crash(ran)
        assert ran.returncode == 0 and f"usage: mpesa-lab {command}" in ran.text, ran


def test_a_narrow_terminal_still_shows_the_catalogue(env, work):
    ran = in_terminal(["codes"], env, work, columns=30, rows=10)
    no_crash(ran)
    assert ran.returncode == 0 and "1032" in ran.text


# --- the two crashes of issue 18 and the empty stores -----------------------------------------


@pytest.mark.parametrize("way", sorted(WAYS))
def test_report_with_nothing_under_a_fresh_home_says_how_to_start(way, env, work):
    one_line_error(
        WAYS[way](["report"], env, work),
        r"No source given and no store under the lab's home\. "
        r"Pass a file or folder: mpesa-lab report data/week",
        2,
    )


@pytest.mark.parametrize("way", sorted(WAYS))
def test_report_of_an_empty_store_says_so_in_one_line(way, env, work, home):
    from mpesa_lab.listener import CallbackStore

    store = home / "stores" / "lab-empty.sqlite"
    store.parent.mkdir(parents=True)
    CallbackStore(store).close()
    ran = WAYS[way](["report"], env, work)
    one_line_error(
        ran,
        rf"Nothing to report: {re.escape(str(store))} holds no pushes and no callbacks yet\. "
        r"Make a push first",
        1,
    )
    if way == "pipe":  # (in a terminal the loading spinner was drawn, then erased)
        assert len(ran.lines) == 1, ran
    assert not (home / "reports").exists()


def test_report_of_a_store_of_refused_pushes_lists_their_codes(env, work, home):
    # `mpesa-lab push 12345 0` on a fresh home, then `mpesa-lab report`: once argmax of an empty
    # sequence. Now: the page (it lists the refused pushes' codes) and one line that says so.
    pushed = in_terminal(["push", "12345", "0"], env, work)
    one_line_error(pushed, r"ValidationError: PhoneNumber '12345' refused: .*Fix:", 1)
    for way, ran in (("terminal", in_terminal(["report"], env, work)), ("pipe", in_pipe(["report"], env, work))):
        no_crash(ran)
        assert ran.returncode == 0, ran
        line = one_line_error(ran, r"1 push\(es\), every one refused before a prompt was sent \(400\.002\.02 x1\)", 0)
        assert "From " in line, way
        index = home / "reports" / Path(line.split("From ")[-1].strip()).stem / "index.html"
        assert f"Report: {index}" in ran.text.replace("\n", "")
        page = index.read_text()
        assert "Pushes refused before a prompt" in page and "<code>400.002.02</code>" in page


def test_report_without_out_writes_under_the_lab_home_not_here(env, work, home):
    ran = in_pipe(["report", str(MESSY)], env, work)
    no_crash(ran)
    index = home / "reports" / "messy_callbacks" / "index.html"
    assert ran.returncode == 0 and index.is_file() and f"Report: {index}" in ran.text, ran
    assert not any(work.glob("mpesa-lab-report*")), "nothing is written into the current folder"


@pytest.mark.slow
@pytest.mark.parametrize("way", sorted(WAYS))
def test_report_of_a_log_big_enough_for_the_progress_bar_writes_its_page(way, env, work, tmp_path):
    # Issue 18 (1): the bar (inputs over 8 MiB) ended in "'_LazyConsole' object does not support
    # the context manager protocol". 24,000 lines are ~9.7 MB: the bar shows.
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_analytics import write_lines
    finally:
        sys.path.remove(str(ROOT / "bench"))
    from mpesa_lab.analytics.cli import PROGRESS_FROM_BYTES

    log = write_lines(tmp_path / "callbacks.jsonl", 24_000)
    assert log.stat().st_size > PROGRESS_FROM_BYTES
    ran = WAYS[way](["report", str(log), "--out", str(tmp_path / "page")], env, work, timeout=240)
    no_crash(ran)
    assert ran.returncode == 0 and "24,000 transactions" in ran.text, ran
    assert (tmp_path / "page" / "index.html").is_file()
    if way == "terminal":
        assert "Loading callbacks.jsonl" in ran.text and re.search(r"\d+\.\d/\d+\.\d MB", ran.text), ran


# --- servers: started as a person starts them, stopped with Ctrl-C -------------------------------


@pytest.mark.parametrize(
    "command, ready",
    [
        (["sandbox", "--port", "0"], r"http://127\.0\.0\.1:\d+"),
        (["listen", "--port", "0"], r"Callback URL: http://127\.0\.0\.1:\d+/\S+/callback"),
    ],
)
def test_a_server_in_a_terminal_stops_cleanly_on_ctrl_c(command, ready, env, work):
    server = Started(command, env, work)
    try:
        server.wait_for(ready, timeout=60)
    finally:
        ran = server.interrupt()
    no_crash(ran)
    assert ran.returncode in (0, 130), ran


def test_a_bug_is_one_line_that_says_where_the_traceback_went(env, work, home):
    # The safety net: an unexpected exception (a bug, not bad input) is still not a traceback.
    script = (
        "import sys; from mpesa_lab import cli\n"
        "def boom(args): raise RuntimeError('something unforeseen')\n"
        "cli.cmd_codes = boom\n"
        "sys.exit(cli.main(['codes']))\n"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=work, capture_output=True, text=True, timeout=60)
    assert done.returncode == 70 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "mpesa-lab codes failed: RuntimeError: something unforeseen (a bug" in lines[0]
    saved = list((home / "logs").glob("crash-*.txt"))
    assert len(saved) == 1 and "something unforeseen" in saved[0].read_text() and str(saved[0]) in lines[0]
    debug = subprocess.run(
        [sys.executable, "-c", script],
        env=dict(env, MPESA_LAB_DEBUG="1"),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" in debug.stderr


def test_terminal_helper_sees_what_a_person_sees(env, work):
    # The helper really is a terminal: rich colours the output there and not in a pipe.
    coloured = in_terminal(["codes", "1032"], env, work)
    plain = in_pipe(["codes", "1032"], env, work)
    assert "\x1b[" in coloured.raw and "\x1b[" not in plain.raw
    assert json.dumps(coloured.returncode) == json.dumps(plain.returncode) == "0"
