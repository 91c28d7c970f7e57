"""`mpesa-lab`: the lab's jobs from a terminal.

Each sub-command is a small function; heavy imports happen inside them so that `mpesa-lab codes`
starts fast and a missing optional piece only affects its own command.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab import _startup

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich Console made on first use: `mpesa-lab --help` never imports rich (~60 ms).

    Attributes go to the real Console; so does ``with console:`` (rich's Live and Progress hold
    their console that way), which ``__getattr__`` alone cannot forward. Code that keeps a console
    or checks its type (rich's progress bars, ``run_demo``) is handed ``console.real``.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None
        self._lock = threading.Lock()

    @property
    def real(self) -> Console:
        if self._console is None:
            with self._lock:  # one Console, also when threads print first at once
                if self._console is None:
                    from rich.console import Console

                    self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def __enter__(self) -> Console:
        return self.real.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.real.__exit__(*exc)


console = _LazyConsole(highlight=False)
# Errors are one line each, also in a pipe or a log (rich would wrap them at 80 columns there).
err_console = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)


def _plain(value: object) -> str:
    """Text shown as it is inside a rich markup string (a message may hold "[...]")."""
    from rich.markup import escape

    return escape(str(value))


# --- catalogue and password (their work: daraja/cli.py) ---------------------------------


def cmd_codes(args: argparse.Namespace) -> int:
    """Print the catalogue, or the entries for one code."""
    from mpesa_lab.daraja.cli import run_codes

    return run_codes(args, console.real)


def cmd_password(args: argparse.Namespace) -> int:
    """Build, decode or check an STK password."""
    from mpesa_lab.daraja.cli import run_password

    return run_password(args, console.real, err_console.real)


# --- servers ---------------------------------------------------------------------------------


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Run the local Daraja emulator in the foreground."""
    from mpesa_lab.background import ServerStartError
    from mpesa_lab.emulator.cli import run_sandbox, sandbox_config

    try:  # a bad --time-scale (or $MPESA_LAB_TIME_SCALE) is one line, as a port in use is
        config = sandbox_config(args.interactive, args.behaviour, args.seed, args.time_scale)
        run_sandbox(host=args.host, port=args.port, config=config, access_log=args.access_log)
    except (ServerStartError, ValueError) as exc:
        err_console.print(f"[bold red]error[/]: {_plain(exc)}")
        return 2
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    """Run the callback listener in the foreground, printing callbacks as they arrive."""
    from mpesa_lab.listener.cli import run_from_args

    return run_from_args(args)


def cmd_workshop(args: argparse.Namespace) -> int:
    """Run the room's shared Daraja (``workshop serve``), build the offline install (``workshop
    wheelhouse DIR``) or check a participant's laptop against the room (``workshop check``)."""
    if args.action != "serve" or args.target is not None:
        from mpesa_lab.workshop.cli import run_tool

        return run_tool(args)
    from mpesa_lab.background import ServerStartError
    from mpesa_lab.workshop import RosterError, run_workshop

    names = None
    if args.names is not None:
        try:
            text = args.names.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            err_console.print(
                f"[bold red]error[/]: cannot read --names {args.names}: "
                f"{getattr(exc, 'strerror', None) or exc}. Give a text file, one name a line."
            )
            return 2
        names = [line.strip() for line in text.splitlines() if line.strip()]
    try:
        return run_workshop(
            args.dir,
            host=args.host,
            port=args.port,
            participants=args.participants,
            title=args.title,
            advertise_url=args.url,
            seed=args.seed,
            names=names,
            wheelhouse=args.wheelhouse,
        )
    except OSError as exc:
        where = exc.filename or args.dir
        err_console.print(
            f"[bold red]error[/]: cannot use the workshop folder ({where}: "
            f"{exc.strerror or exc}). Pass --dir with a folder you can write to."
        )
        return 2
    except (ServerStartError, RosterError) as exc:
        err_console.print(f"[bold red]error[/]: {_plain(exc)}")
        return 2


# --- push / query ----------------------------------------------------------------------------


def _settings(args: argparse.Namespace):  # noqa: ANN202 - Settings, imported lazily
    from mpesa_lab.config import Settings

    overrides = {}
    if getattr(args, "base_url", None):
        overrides["base_url"] = args.base_url
    if getattr(args, "callback_url", None):
        overrides["callback_url"] = args.callback_url
    return Settings.from_env(environment=args.env, **overrides)


def cmd_push(args: argparse.Namespace) -> int:
    """Send one STK push. In local mode with no base URL, a throwaway lab answers it."""
    from mpesa_lab.daraja.errors import MpesaLabError

    try:
        if args.env in (None, "local") and not args.base_url:
            from mpesa_lab.lab import Lab

            with Lab.start(fresh=True) as lab:
                handle = lab.push(args.phone, args.amount, args.ref, args.desc)
                _print_push(handle.result)
                try:
                    callback = handle.wait(timeout=args.timeout)
                except TimeoutError:
                    # Callbacks can be late or lost: ask Daraja, as a merchant would (never push again).
                    err_console.print(
                        f"No callback within {args.timeout:g} s (--timeout); asking Daraja with an STK query instead."
                    )
                    answer = handle.query()
                    console.print(f"status       {answer.status}")
                    _print_outcome(answer.result_code, answer.result_desc, None)
                    return 0 if answer.result_code == "0" else 1
                _print_outcome(callback.result_code, callback.result_desc, callback.receipt)
            return 0 if callback.result_code == "0" else 1
        from mpesa_lab.daraja.client import DarajaClient

        with DarajaClient(_settings(args)) as client:
            result = client.stk_push(args.phone, args.amount, args.ref, args.desc)
        _print_push(result)
        console.print("The result arrives at your CallBackURL; or: mpesa-lab query " + result.checkout_request_id)
        return 0
    except MpesaLabError as exc:
        err_console.print(f"[bold red]{type(exc).__name__}[/]: {_plain(exc)}")
        return 1


def cmd_query(args: argparse.Namespace) -> int:
    """Ask Daraja for the state of one CheckoutRequestID."""
    from mpesa_lab.daraja.client import DarajaClient
    from mpesa_lab.daraja.errors import MpesaLabError, TransportError

    settings = None
    try:
        settings = _settings(args)
        with DarajaClient(settings) as client:
            result = client.stk_query(args.checkout_request_id)
    except MpesaLabError as exc:
        err_console.print(f"[bold red]{type(exc).__name__}[/]: {_plain(exc)}")
        if isinstance(exc, TransportError) and settings is not None and settings.environment == "local":
            err_console.print(
                "Or point the query at the emulator you started: --base-url http://HOST:PORT (or MPESA_BASE_URL)."
            )
        return 1
    console.print(f"status       {result.status}")
    _print_outcome(result.result_code, result.result_desc, None)
    return 0


def _print_push(result) -> None:  # noqa: ANN001
    console.print(f"accepted     {result.response_description}")
    console.print(f"checkout id  {result.checkout_request_id}")
    console.print(f"merchant id  {result.merchant_request_id}")


def _print_outcome(code: str | None, desc: str | None, receipt: str | None) -> None:
    from mpesa_lab.codes import lookup

    if code is None:
        console.print("result       (none yet)")
        return
    entry = lookup(code)
    console.print(f"result       {code} {desc or entry.message}")
    if receipt:
        console.print(f"receipt      {receipt}")
    console.print(f"explanation  {entry.explanation}")
    if code != "0":
        console.print(f"mitigation   {entry.mitigation}")


# --- demo ------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole journey on the local emulator: pushes, callbacks, a table of outcomes."""
    from mpesa_lab.demo import run_demo

    return run_demo(console.real, store_path=args.store, timeout=args.timeout)


# --- lab -------------------------------------------------------------------------------------


def cmd_lab(args: argparse.Namespace) -> int:
    """JupyterLab on the course notebooks (copied to a working folder when installed from a wheel)."""
    from mpesa_lab.notebook_server import NotebookServerError, run_lab

    if args.room:
        # Every kernel the lab starts inherits the card's file name (never its secret, which
        # stays in the file): each lesson then reports to the room (listener/room_report.py).
        import os
        from pathlib import Path

        from mpesa_lab.listener.room_report import ROOM_ENV, RoomCardError, read_card

        try:
            card = read_card(args.room)
        except RoomCardError as exc:
            err_console.print(f"[bold red]Cannot join the room[/]: {_plain(exc)}")
            return 1
        os.environ[ROOM_ENV] = str(Path(args.room).expanduser().resolve())
        console.print(f"Lessons report to the workshop room at {card.base_url} as {card.consumer_key}.")
    try:
        return run_lab(
            args.dir,
            workdir=args.workdir,
            host=args.host,
            port=args.port,
            open_browser=not args.no_browser,
            quiet_server=not args.verbose,
        )
    except NotebookServerError as exc:
        err_console.print(f"[bold red]Cannot start the lab[/]: {_plain(exc)}")
        return 1


def cmd_check_callback(args: argparse.Namespace) -> int:
    """POST real Daraja callbacks at an endpoint; a verdict per scenario (mpesa_lab.callback_check)."""
    from mpesa_lab.callback_check.cli import run_from_args

    return run_from_args(console.real, err_console.real, args)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check a learner's configuration, one verdict per check (mpesa_lab.doctor); never a secret."""
    from mpesa_lab.doctor import run_from_args

    return run_from_args(print, args.env_file, offline=args.offline, budget=args.budget, as_json=args.json)


# --- report ----------------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    """Outcomes from a store or log files -> an HTML page with plots (see mpesa_lab.analytics)."""
    from mpesa_lab.analytics.cli import run_report

    return run_report(console.real, err_console.real, args.source, args.out, title=args.title, freq=args.freq)


# --- parser ----------------------------------------------------------------------------------


def count(text: str) -> int:
    """An argparse type: a whole number, zero or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below zero")
    return value


def http_url(text: str) -> str:
    """An argparse type: an absolute http(s) URL such as http://192.168.1.20:8000."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL: give one such as http://192.168.1.20:8000")
    return text.strip()


def build_parser() -> argparse.ArgumentParser:
    from mpesa_lab.listener.cli import add_arguments as add_listener_arguments
    from mpesa_lab.listener.cli import port_number, positive_number

    parser = argparse.ArgumentParser(
        prog="mpesa-lab",
        description="Learn, demo and analyse M-Pesa Express (STK push), offline or on the Daraja sandbox.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="run the whole journey on the local emulator")
    p.add_argument("--store", type=Path, default=None, help="SQLite file for the demo's store")
    p.add_argument("--timeout", type=positive_number, default=20.0, help="seconds to wait for callbacks")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("lab", help="open JupyterLab on the course notebooks")
    p.add_argument("--dir", default=None, help="open this folder instead of the course")
    p.add_argument(
        "--workdir",
        default=None,
        help="where an installed package copies its notebooks (default: ~/.mpesa-lab/notebooks)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=8888, help="0 picks a free port")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--verbose", action="store_true", help="show JupyterLab's own log")
    p.add_argument(
        "--room",
        metavar="CARD",
        default=None,
        help="a file with your workshop card's lines: every lesson reports its progress to the room",
    )
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("codes", help="the catalogue of error and result codes")
    p.add_argument("code", nargs="?", help="one code, e.g. 1032 or 500.001.1001")
    p.add_argument("--message", help="Daraja's errorMessage, to tell apart codes it reuses")
    p.add_argument("--kind", choices=["error", "result"], help="only one table")
    p.set_defaults(func=cmd_codes)

    p = sub.add_parser("password", help="build, decode or check an STK password")
    p.add_argument("action", choices=["build", "decode", "check"])
    p.add_argument("password", nargs="?")
    p.add_argument("--shortcode", help="default: the sandbox's 174379")
    p.add_argument("--passkey", help="default: the sandbox's public passkey")
    p.add_argument("--timestamp", help="YYYYMMDDHHmmss (build: default now in Nairobi)")
    p.set_defaults(func=cmd_password)

    p = sub.add_parser("report", help="an HTML report of outcomes (a store, JSON lines, CSV, Parquet...)")
    p.add_argument(
        "source",
        nargs="?",
        default=None,
        help="store (.sqlite), JSON lines/array, folder, CSV or Parquet (default: the newest store)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for index.html and PNGs (default: reports/<source name>/ under the lab's "
        "home, ~/.mpesa-lab or $MPESA_LAB_HOME)",
    )
    p.add_argument("--title", default=None)
    p.add_argument("--freq", default=None, help="time bins for the success rate, e.g. 1h or 1D")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sandbox", help="run the local Daraja emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=8000, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=None, help="seed for the realistic outcome mix")
    p.add_argument("--interactive", action="store_true", help="the phone waits for you to answer")
    p.add_argument(
        "--behaviour",
        choices=["teaching", "live_sandbox_2026"],
        default="teaching",
        help="teaching (default: every outcome) or live_sandbox_2026 (the live sandbox "
        "as reported in 2026: the test number ends in 1037, other numbers in E3008)",
    )
    p.add_argument("--time-scale", help="1 = real time, 1/20 = twenty times faster (docs/emulator.md, Timing)")
    p.add_argument("--access-log", action="store_true", help="log every request (off: it slows a load test)")
    p.set_defaults(func=cmd_sandbox)

    w = sub.add_parser("workshop", help="a shared Daraja for a room of participants (workshop serve)")
    w.add_argument(
        "action",
        choices=["serve", "wheelhouse", "check"],
        help="serve: the room's Daraja, one app and paybill per participant, a facilitator's page; "
        "wheelhouse DIR: build the offline install; check [CARD or URL]: can this laptop reach the room "
        "and get callbacks?",
    )
    w.add_argument("target", nargs="?", default=None, help="wheelhouse: the folder; check: your card's .env or a URL")
    w.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: the whole room)")
    w.add_argument("--port", type=port_number, default=8000, help="0 picks a free port")
    w.add_argument(
        "--participants",
        type=count,
        default=0,
        help="make sure the room has at least this many participants (kept across restarts)",
    )
    w.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="folder for roster.json, credentials.csv, cards.html (default ~/.mpesa-lab/workshop)",
    )
    w.add_argument("--title", default=None, help="the workshop's name, on the cards and the page")
    w.add_argument(
        "--names",
        type=Path,
        default=None,
        help="a text file of names, line N for participant N (used when a participant is created)",
    )
    w.add_argument(
        "--url", type=http_url, default=None, help="the URL participants use, if not http://<this machine>:<port>"
    )
    w.add_argument("--seed", type=int, default=None, help="seed for the outcome mixes")
    w.add_argument("--wheelhouse", type=Path, default=None, help="serve: also serve this wheelhouse at /install/")
    w.add_argument("--platform", action="append", help="wheelhouse: repeatable (linux-x86_64, macos-arm64, ...)")
    w.add_argument("--python-version", default="3.11", help="wheelhouse: the participants' Python (default 3.11)")
    w.add_argument("--no-uv", action="store_true", help="wheelhouse: leave out uv (the faster installer)")
    w.add_argument("--timeout", type=float, default=20.0, help="check: seconds to wait for the test callback")
    w.set_defaults(func=cmd_workshop)

    p = sub.add_parser("check-callback", help="test your callback endpoint the way Daraja will treat it")
    from mpesa_lab.callback_check.cli import add_arguments as add_check_callback_arguments

    add_check_callback_arguments(p)
    p.set_defaults(func=cmd_check_callback)

    p = sub.add_parser("doctor", help="check your configuration (.env): settings, token, password, clock, callback URL")
    p.add_argument("--env-file", default=".env", help="the .env file to read (default: .env here)")
    p.add_argument("--offline", action="store_true", help="try nothing over the network")
    p.add_argument("--budget", type=positive_number, default=5.0, help="seconds the callback may take to answer")
    p.add_argument("--json", action="store_true", help="the verdicts as JSON")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("listen", help="run the callback listener")
    add_listener_arguments(p)
    p.set_defaults(func=cmd_listen, port=8001)

    for name, func, help_text in (
        ("push", cmd_push, "send one STK push"),
        ("query", cmd_query, "query the state of a push"),
    ):
        p = sub.add_parser(name, help=help_text)
        if name == "push":
            p.add_argument("phone")
            p.add_argument("amount")
            p.add_argument("--ref", default="mpesa-lab", help="AccountReference (max 12)")
            p.add_argument("--desc", default="Payment", help="TransactionDesc (max 13)")
            p.add_argument("--callback-url", default=None)
            p.add_argument(
                "--timeout", type=positive_number, default=30.0, help="seconds to wait for the callback (local mode)"
            )
        else:
            p.add_argument("checkout_request_id")
        p.add_argument("--env", choices=["local", "sandbox", "production"], default=None)
        p.add_argument("--base-url", default=None, help="e.g. a `mpesa-lab sandbox` URL")
        p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mpesa-lab` console script."""
    # An entry point: before any command imports httpx, defer httpx's own CLI (see _startup).
    _startup.defer_httpx_cli()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from mpesa_lab.store.errors import StoreError

        if isinstance(exc, StoreError):  # a store that cannot be used: one line, no traceback
            err_console.print(f"error: {exc}", soft_wrap=True, markup=False)
            return 2
        if os.environ.get("MPESA_LAB_DEBUG"):
            raise
        return _crashed(args.command, exc)


def _crashed(command: str, exc: BaseException) -> int:
    """A bug, not bad input: one line that says so and where the traceback was written (a person
    in a terminal should never have to read one); MPESA_LAB_DEBUG=1 shows it instead."""
    import traceback

    from mpesa_lab.clock import nairobi_now
    from mpesa_lab.paths import lab_home

    where = None
    try:
        folder = lab_home() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        where = folder / f"crash-{nairobi_now():%Y%m%d-%H%M%S}-{os.getpid()}.txt"
        where.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    except OSError:
        where = None
    detail = f"the traceback is in {where}" if where else "run it again with MPESA_LAB_DEBUG=1 to see the traceback"
    err_console.print(
        f"mpesa-lab {command} failed: {type(exc).__name__}: {exc} (a bug in mpesa-lab: {detail}; please report it)",
        markup=False,
    )
    return 70  # EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
