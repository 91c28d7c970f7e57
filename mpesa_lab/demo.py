"""`mpesa-lab demo`: the whole M-Pesa Express journey in a terminal, on the local emulator.

It starts the emulator and the listener, sends a scripted set of pushes that covers success and
the main failures, waits for every callback, and prints what happened with Daraja's explanation
and mitigation for each outcome.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mpesa_lab import codes
from mpesa_lab.constants import SANDBOX_TEST_MSISDN
from mpesa_lab.daraja.errors import DarajaError, ValidationError
from mpesa_lab.secret import Secret

# The result codes the demo shows, in the order a learner meets them, with a short label.
DEMO_STEPS = {
    "1032": "customer presses Cancel",
    "1037": "phone cannot be reached",
    "1": "balance too low",
    "2001": "customer enters a wrong PIN",
    "1019": "prompt answered too late",
    "17": "same amount twice in 2 min",
    "2028": "TransactionType vs shortcode",
}


@dataclass
class Outcome:
    """One row of the demo's final table."""

    step: str
    phone: str
    amount: str
    code: str
    message: str
    explanation: str
    mitigation: str
    receipt: str = ""


def _scripted_pushes() -> list[tuple[str, str, int, dict]]:
    """(what it shows, phone, amount, extra push options) for each demo push."""
    from mpesa_lab.emulator import TRIGGERS

    by_code = {t.code: t for t in TRIGGERS}
    pushes: list[tuple[str, str, int, dict[str, Any]]] = [
        ("customer pays (sandbox test number)", SANDBOX_TEST_MSISDN, 10, {})
    ]
    for code, label in DEMO_STEPS.items():
        trigger = by_code[code]
        options = {}
        if trigger.transaction_type:
            options["transaction_type"] = trigger.transaction_type
        if trigger.party_b:
            options["party_b"] = trigger.party_b
        pushes.append((label, trigger.phone, trigger.amount, options))
    return pushes


def run_demo(console: Console, *, store_path: Path | None = None, timeout: float = 20.0) -> int:
    """Run the demo; returns the process exit code (0 when every callback arrived)."""
    from mpesa_lab.lab import Lab

    started = time.monotonic()
    console.rule("[bold]mpesa-lab demo: M-Pesa Express on the local Daraja emulator")
    with Lab.start(store=store_path, fresh=store_path is None) as lab:
        console.print(f"Daraja emulator  {lab.settings.base_url}")
        console.print(f"Callback URL     {lab.listener.url}/<secret token>/callback")
        console.print(f"Store            {lab.store.path}", soft_wrap=True)
        outcomes: list[Outcome] = []
        pushes = _scripted_pushes()

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            sent_task = progress.add_task("pushes sent      ", total=len(pushes))
            done_task = progress.add_task("callbacks stored ", total=len(pushes))
            sent = []
            for step, phone, amount, options in pushes:
                sent.append((step, phone, amount, lab.push(phone, amount, "DEMO-001", "Demo", **options)))
                progress.advance(sent_task)
            for step, phone, amount, push in sent:
                try:
                    callback = push.wait(timeout=timeout)
                except TimeoutError:
                    query = push.query()
                    outcomes.append(
                        _row(
                            step, phone, amount, query.result_code or "?", query.result_desc or "no callback (queried)"
                        )
                    )
                else:
                    outcomes.append(
                        _row(step, phone, amount, callback.result_code, callback.result_desc, callback.receipt or "")
                    )
                progress.advance(done_task)

        outcomes.extend(_errors_before_any_prompt(lab))
        console.print(_table(outcomes))
        frame = lab.transactions()
        elapsed = time.monotonic() - started
        counts = frame["status"].value_counts().to_dict()
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if n)
        console.print(f"{len(frame)} pushes ({summary}) in {elapsed:.1f} s.")
        console.print(f"Every callback is stored raw in {lab.store.path}", soft_wrap=True)
        console.print("Explain any code: mpesa-lab codes CODE   (e.g. mpesa-lab codes 1032)")
    return 0


def _errors_before_any_prompt(lab) -> list[Outcome]:  # noqa: ANN001 - Lab
    """Two failures that never reach a phone: refused by our validation, refused by Daraja."""
    rows = []
    try:
        lab.push("0708374149", 0, "DEMO-002", "Demo")
    except ValidationError as exc:
        rows.append(
            Outcome(
                "amount 0 (refused before sending)",
                "0708374149",
                "0",
                "validation",
                f"{exc.field}: {exc.rule}",
                "mpesa-lab checks every field before it is sent.",
                exc.fix,
            )
        )
    from mpesa_lab.daraja.client import DarajaClient

    wrong = replace(lab.settings, passkey=Secret("0" * 64))
    with DarajaClient(wrong) as client:
        try:
            client.stk_push("0708374149", 5, "DEMO-003", "Demo")
        except DarajaError as exc:
            entry = exc.entry
            rows.append(
                Outcome(
                    "wrong passkey",
                    "0708374149",
                    "5",
                    exc.error_code or "?",
                    exc.error_message or "",
                    entry.explanation,
                    entry.mitigation,
                )
            )
    return rows


def _row(step: str, phone: str, amount: int, code: str, desc: str | None, receipt: str = "") -> Outcome:
    entry = codes.lookup(code)
    return Outcome(
        step,
        str(phone),
        str(amount),
        code,
        desc or entry.message,
        entry.explanation,
        "" if code == "0" else entry.mitigation,
        receipt,
    )


def _table(outcomes: list[Outcome]) -> Table:
    table = Table(title="What happened", show_lines=True, expand=True)
    table.add_column("what the demo did", overflow="fold", ratio=2)
    table.add_column("code", no_wrap=True)
    table.add_column("Daraja said", overflow="fold", ratio=2)
    table.add_column("meaning, and what to do", overflow="fold", ratio=4)
    for o in outcomes:
        did = f"{o.step}\n[dim]{o.phone}, KES {o.amount}[/]"
        said = o.message + (f"\nreceipt {o.receipt}" if o.receipt else "")
        meaning = o.explanation + (f"\n[bold]->[/] {o.mitigation}" if o.mitigation else "")
        table.add_row(did, o.code, said, meaning, style="green" if o.code == "0" else None)
    return table
