"""The ``mpesa-lab codes`` and ``mpesa-lab password`` commands' work: the catalogue and the STK
password, printed for a terminal.

The consoles are the caller's (``mpesa_lab.cli`` makes them lazily, so ``--help`` loads no rich).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def _plain(value: object) -> str:
    """Text shown as it is inside a rich markup string (a message may hold "[...]")."""
    from rich.markup import escape

    return escape(str(value))


def run_codes(args: argparse.Namespace, console: Console) -> int:
    """Print the catalogue, or the entries for one code."""
    from rich.table import Table

    from mpesa_lab import codes

    if args.code is None:
        entries = [e for e in (*codes.error_codes(), *codes.result_codes()) if args.kind in (None, e.kind)]
        table = Table(title="M-Pesa Express codes (mpesa-lab catalogue)", show_lines=False)
        for column in ("kind", "code", "message", "mitigation", "source"):
            table.add_column(column, overflow="fold")
        for e in entries:
            table.add_row(e.kind, e.code, e.message, e.mitigation, _source(e))
        console.print(table)
        console.print(
            "source: doc = Daraja's documented tables; observed = seen from live Daraja beyond them (with when)"
        )
        console.print("Details of one code: mpesa-lab codes CODE  (e.g. mpesa-lab codes 1032)")
        return 0

    matches = [e for e in codes.error_codes() if e.code == args.code.strip()]
    if args.message or not matches:
        matches = [codes.lookup(args.code, args.message)]
    for entry in matches:
        _print_entry(entry, console)
    return 0 if all(e.known for e in matches) else 1


def _print_entry(entry: object, console: Console) -> None:
    from rich.table import Table

    from mpesa_lab.codes import CodeEntry

    assert isinstance(entry, CodeEntry)
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("code", entry.code)
    table.add_row("kind", entry.kind)
    table.add_row("message", entry.message)
    if entry.http_status:
        table.add_row("HTTP status", str(entry.http_status))
    if entry.category:
        table.add_row("category", entry.category)
    table.add_row("explanation", entry.explanation)
    table.add_row("mitigation", entry.mitigation)
    if entry.kind == "error":
        table.add_row("safe to retry", "yes" if entry.retryable else "no")
    from mpesa_lab.codes import result_wordings

    for row in result_wordings():
        if entry.kind == "result" and row["code"] == entry.code:
            table.add_row("also worded", f"{row['wording']!r}: observed {row['seen']}, {row['seen_in']}")
    table.add_row("source", _source(entry))
    if entry.seen_in:
        table.add_row("seen in", entry.seen_in)
    console.print(table)
    console.print()


def _source(entry: object) -> str:
    from mpesa_lab.codes import CodeEntry

    assert isinstance(entry, CodeEntry)
    if entry.source == "observed":
        return f"observed{f' ({entry.seen})' if entry.seen else ''}"
    return entry.source


# --- password --------------------------------------------------------------------------------


def run_password(args: argparse.Namespace, console: Console, err_console: Console) -> int:
    """Build, decode or check an STK password."""
    from mpesa_lab.constants import SANDBOX_PASSKEY, SANDBOX_SHORTCODE
    from mpesa_lab.daraja.password import (
        PasswordDecodeError,
        check_password,
        decode_password,
        password_and_timestamp,
    )

    if args.action == "build":
        from mpesa_lab.clock import parse_daraja_timestamp
        from mpesa_lab.daraja.errors import ValidationError
        from mpesa_lab.daraja.requests import validate_shortcode

        shortcode = args.shortcode or SANDBOX_SHORTCODE
        passkey = args.passkey or SANDBOX_PASSKEY
        # A password built from a shortcode or timestamp Daraja refuses would only fail later.
        try:
            shortcode = validate_shortcode("BusinessShortCode", shortcode)
        except ValidationError as exc:
            err_console.print(f"[bold red]error[/]: --shortcode {_plain(exc)}")
            return 2
        if args.timestamp:
            try:
                parse_daraja_timestamp(args.timestamp)
            except ValueError:
                err_console.print(
                    f"[bold red]error[/]: --timestamp {args.timestamp!r} is not a time: give "
                    "YYYYMMDDHHmmss in Nairobi time, e.g. 20240710091526 (or leave it out for now)"
                )
                return 2
        password, timestamp = password_and_timestamp(shortcode, passkey)
        if args.timestamp:
            from mpesa_lab.daraja.password import build_password

            timestamp = args.timestamp
            password = build_password(shortcode, passkey, timestamp)
        console.print(f"Timestamp {timestamp} (Nairobi time)")
        console.print(f"Password  {password}", soft_wrap=True)
        return 0
    if not args.password:
        err_console.print("Give the Password to look at: mpesa-lab password decode PASSWORD")
        return 2
    if args.action == "decode":
        try:
            decoded = decode_password(args.password)
        except PasswordDecodeError as exc:
            err_console.print(f"Not a Daraja password: {exc}")
            return 1
        console.print(f"shortcode  {decoded.shortcode}")
        console.print(f"passkey    {decoded.passkey} (fingerprint {decoded.passkey.fingerprint})")
        console.print(
            f"timestamp  {decoded.timestamp}" + ("" if decoded.timestamp_valid else "  (not a valid YYYYMMDDHHmmss!)")
        )
        return 0
    result = check_password(
        args.password,
        args.shortcode or SANDBOX_SHORTCODE,
        args.passkey or SANDBOX_PASSKEY,
        args.timestamp or "",
    )
    console.print(str(result))
    return 0 if result.ok else 1
