"""``mpesa-lab check-callback URL``'s work: run the check, print a verdict per scenario with the
fix, exit 0 (no failure), 1 (a scenario failed) or 2 (the check could not run)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from mpesa_lab.callback_check.budget import DEFAULT_BUDGET_S, DEFAULT_TIMEOUT_S

    parser.add_argument("url", help="the endpoint's callback URL, e.g. http://127.0.0.1:8000/mpesa/callback")
    parser.add_argument(
        "--readback",
        metavar="URL",
        default=None,
        help="the endpoint's read-back URL (POST an order, GET URL/<CheckoutRequestID>: docs/callback-check.md); "
        'without it, what the endpoint recorded is "not verified"',
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=None,
        metavar="NAME",
        help="run only this scenario (repeatable; --list shows them)",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help=f"seconds an answer may take (default {DEFAULT_BUDGET_S:g})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds before a POST counts as unanswered (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument("--strict", action="store_true", help='"not verified" fails the run too (exit 1)')
    parser.add_argument("--json", action="store_true", help="print the results as JSON (for CI)")


def run_from_args(console: Console, err_console: Console, args: argparse.Namespace) -> int:
    from mpesa_lab.callback_check.check import check_callback, describe_scenarios
    from mpesa_lab.callback_check.errors import CallbackCheckError

    if args.list:
        for name, text in describe_scenarios().items():
            console.print(f"{name:22} {text}", markup=False)
        return 0
    try:
        report = check_callback(
            args.url, scenarios=args.scenario, readback_url=args.readback, budget_s=args.budget, timeout_s=args.timeout
        )
    except CallbackCheckError as exc:
        err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        return 2
    failed = not report.passed or (args.strict and report.counts()["not verified"] > 0)
    if args.json:
        console.print_json(
            json.dumps({"url": report.url, "passed": not failed, "results": [r.to_dict() for r in report.results]})
        )
    else:
        console.print(report.table())
        console.print(report.summary(), markup=False)
        if not report.readback:
            console.print(
                "Give --readback URL so check-callback can prove what the endpoint recorded (docs/callback-check.md).",
                markup=False,
            )
    return 1 if failed else 0
