"""``mpesa-lab workshop check [CARD or URL]``: can this laptop reach the room and get callbacks?

A participant runs it before the first lesson (and whenever callbacks stop arriving). It says, in
one line, one of:

- ``OK: direct callbacks reach you``: the room posts callbacks straight to this laptop;
- ``OK via relay: ...``: this laptop is not reachable from the room (Wi-Fi client isolation, a
  firewall), and callbacks come back through the relay, over this laptop's own connection;
- ``OK: the room answers at ...``: only a URL was given, so only reaching the room was checked;
- ``FAIL: ...``: what failed and what to check (the room cannot be reached, something else
  answers there such as a captive portal, the card is refused, or no callback arrived).

With a card (the ``.env`` lines), it joins the room as a lab would, with its listener open to the
room's network, sends one real push of 1 shilling to the test number and waits for that push's
callback in a throwaway store; how the callback came (posted, or relayed) is the verdict.
Merchant side: it speaks HTTP to the room through :class:`~mpesa_lab.lab.Lab`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from mpesa_lab.constants import SANDBOX_TEST_MSISDN
from mpesa_lab.daraja.errors import MpesaLabError

CARD_KEYS = ("MPESA_BASE_URL", "MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_SHORTCODE", "MPESA_PASSKEY")
NETWORK_ADVICE = (
    "check that you are on the room's Wi-Fi (not a guest network), that the URL matches your card, "
    "and ask the facilitator whether their firewall lets the port in; on a Wi-Fi with client "
    "isolation, join the facilitator's hotspot (docs/workshop.md, Venue networks)"
)


@dataclass
class Verdict:
    """The check's answer: ``ok``, how callbacks travel, one line to print and details under it."""

    ok: bool
    kind: str  # direct | relay | reach | fail
    line: str
    details: list[str] = field(default_factory=list)


def _fail(line: str, *details: str) -> Verdict:
    return Verdict(False, "fail", f"FAIL: {line}", list(details))


def read_card(path: Path) -> dict[str, str]:
    """The card's settings from a ``.env`` file (missing ones are simply absent)."""
    from dotenv import dotenv_values

    values = dotenv_values(path, encoding="utf-8")
    return {key: str(value) for key, value in values.items() if key in CARD_KEYS and value}


def reach(base_url: str, timeout: float = 5.0) -> Verdict | None:
    """``None`` when the workshop server answers at ``base_url``; else the FAIL verdict."""
    url = base_url.rstrip("/")
    try:
        # Without a token the room answers its own JSON envelope (404.001.03): that is the
        # workshop server. A captive portal answers a page or a redirect instead.
        answer = httpx.get(f"{url}/_workshop/api/room", timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        return _fail(f"cannot reach the room at {url} ({type(exc).__name__})", NETWORK_ADVICE)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "errorCode" not in body:
        where = answer.headers.get("location") or url
        return _fail(
            f"something else answers at {url} (HTTP {answer.status_code}), not the workshop server",
            f"a captive portal? open a web page in your browser and accept the Wi-Fi's terms ({where}); "
            "else check the URL on your card",
        )
    return None


def check_room(
    target: str | os.PathLike[str] | None = None,
    *,
    timeout: float = 20.0,
    listen_host: str = "0.0.0.0",
) -> Verdict:
    """Check the room from this laptop (see the module's docstring). ``target``: the card's ``.env``
    (default ``./.env``) or the room's URL. ``listen_host``: where the test listener listens
    (``0.0.0.0``: reachable from the room, as ``Lab.start("workshop", host="0.0.0.0")``)."""
    text = os.fspath(target) if target is not None else ".env"
    if text.startswith(("http://", "https://")):
        failed = reach(text)
        if failed is not None:
            return failed
        return Verdict(
            True,
            "reach",
            f"OK: the room answers at {text.rstrip('/')}",
            ["to check callbacks too, run it with your card: mpesa-lab workshop check .env"],
        )
    card_path = Path(text).expanduser()
    saved_as_text = card_path.with_name(card_path.name + ".txt")
    if not card_path.is_file() and saved_as_text.is_file():  # Windows Notepad's habit
        return _fail(
            f"no card at {card_path}, but there is {saved_as_text.name}",
            f"Notepad added .txt: rename it (cmd: ren {saved_as_text.name} {card_path.name}; "
            f"PowerShell: Rename-Item {saved_as_text.name} {card_path.name})",
        )
    if not card_path.is_file():
        return _fail(
            f"no card at {card_path}",
            "paste your card's lines into a file called .env and run this in its folder, "
            "or give the room's URL: mpesa-lab workshop check http://<room>:8000",
        )
    card = read_card(card_path)
    missing = [key for key in CARD_KEYS if key not in card and not os.environ.get(key)]
    if missing:
        return _fail(f"{card_path} lacks {', '.join(missing)}", "copy every line of your card into it")
    base_url = card.get("MPESA_BASE_URL") or os.environ["MPESA_BASE_URL"]
    failed = reach(base_url)
    if failed is not None:
        return failed
    return _callback_round(card_path, base_url, timeout, listen_host)


def _callback_round(card_path: Path, base_url: str, timeout: float, listen_host: str) -> Verdict:
    from mpesa_lab.lab import Lab

    with tempfile.TemporaryDirectory(prefix="mpesa-lab-check-") as scratch:
        try:
            lab = Lab.start("workshop", env_file=card_path, store=Path(scratch) / "check.sqlite", host=listen_host)
        except (MpesaLabError, ValueError) as exc:
            return _fail(f"the room did not let this card in: {exc}", "check the card's lines against the printed card")
        try:
            link = lab.workshop
            assert link is not None
            try:
                push = lab.push(SANDBOX_TEST_MSISDN, 1, "CHECK", "Room check")
            except MpesaLabError as exc:
                return _fail(f"the room refused a test push: {exc}")
            try:
                push.wait(timeout=timeout)
            except (TimeoutError, MpesaLabError):
                return _fail(
                    f"the room accepted a test push but its callback did not arrive within {timeout:g} s",
                    f"delivery: {link.delivery} ({link.reason}); run the check again, and tell the facilitator "
                    "(their page shows your mailbox)",
                )
            if link.relayed == 0 and link.delivery == "direct":
                return Verdict(
                    True,
                    "direct",
                    "OK: direct callbacks reach you",
                    [f"the room posts to {link.participant}'s listener on this laptop"],
                )
            return Verdict(
                True,
                "relay",
                "OK via relay: your laptop is not reachable from the room (client isolation? a firewall?), "
                "callbacks come through the relay",
                [f"the room said: {link.reason}", "nothing to do: the lessons work the same way"],
            )
        finally:
            lab.stop()


def run_check(target: str | None, *, timeout: float = 20.0, out: IO[str] | None = None) -> int:
    """The command: print the verdict; exit 0 for OK, 1 for FAIL."""
    stream = out or sys.stdout
    verdict = check_room(target, timeout=timeout)
    print(verdict.line, file=stream, flush=True)
    for detail in verdict.details:
        print(f"  {detail}", file=stream, flush=True)
    return 0 if verdict.ok else 1
