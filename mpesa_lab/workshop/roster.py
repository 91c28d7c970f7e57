"""The room's roster: one Daraja app and one paybill per participant, kept on disk.

``roster.json`` holds everything needed to bring the same room back after a restart (the
facilitator's token, each participant's consumer key and secret, shortcode, passkey and inbox
token). ``credentials.csv`` and ``cards.html`` are what the facilitator hands out: one card per
participant with the ``.env`` lines to paste. All three are written owner-readable only.
Secrets stay :class:`~mpesa_lab.secret.Secret` in memory, so reprs and logs never show them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpesa_lab._templates import render
from mpesa_lab.secret import Secret

ROSTER_FILE = "roster.json"
CSV_FILE = "credentials.csv"
CARDS_FILE = "cards.html"
# Participants' paybills: 600001, 600002, ... (6 digits, clear of the lab's 174379/174380).
FIRST_SHORTCODE = 600001
_ID_RE = re.compile(r"^p\d{2,4}$")


class RosterError(ValueError):
    """The roster file or a roster request is not usable; the message says how to fix it."""


def default_folder() -> Path:
    """``$MPESA_LAB_HOME/workshop`` (default ``~/.mpesa-lab/workshop``)."""
    home = os.environ.get("MPESA_LAB_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".mpesa-lab") / "workshop"


@dataclass(frozen=True)
class Participant:
    """One participant's Daraja app and paybill on the workshop server."""

    id: str
    name: str
    consumer_key: str
    consumer_secret: Secret
    shortcode: str
    passkey: Secret
    inbox_token: Secret

    @classmethod
    def new(cls, number: int, name: str | None = None) -> Participant:
        pid = f"p{number:02d}"
        return cls(
            id=pid,
            name=name or f"Participant {number}",
            consumer_key=f"ws-{pid}-{secrets.token_hex(6)}",
            consumer_secret=Secret(secrets.token_urlsafe(18)),
            shortcode=str(FIRST_SHORTCODE + number - 1),
            passkey=Secret(secrets.token_hex(32)),
            inbox_token=Secret(secrets.token_urlsafe(16)),
        )

    @property
    def number(self) -> int:
        return int(self.id[1:])

    def env_lines(self, workshop_url: str) -> list[str]:
        """The ``.env`` lines this participant pastes (secrets revealed: this is their card)."""
        return [
            "MPESA_ENV=workshop",
            f"MPESA_BASE_URL={workshop_url}",
            f"MPESA_CONSUMER_KEY={self.consumer_key}",
            f"MPESA_CONSUMER_SECRET={self.consumer_secret.reveal()}",
            f"MPESA_SHORTCODE={self.shortcode}",
            f"MPESA_PASSKEY={self.passkey.reveal()}",
        ]

    def to_record(self) -> dict[str, str]:
        """For roster.json (secrets revealed: the file is the room's key ring)."""
        return {
            "id": self.id,
            "name": self.name,
            "consumer_key": self.consumer_key,
            "consumer_secret": self.consumer_secret.reveal(),
            "shortcode": self.shortcode,
            "passkey": self.passkey.reveal(),
            "inbox_token": self.inbox_token.reveal(),
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Participant:
        try:
            pid = str(data["id"])
            if not _ID_RE.fullmatch(pid):
                raise RosterError(f"participant id {pid!r} is not like 'p01'")
            return cls(
                id=pid,
                name=str(data.get("name") or pid),
                consumer_key=str(data["consumer_key"]),
                consumer_secret=Secret(str(data["consumer_secret"])),
                shortcode=str(data["shortcode"]),
                passkey=Secret(str(data["passkey"])),
                inbox_token=Secret(str(data["inbox_token"])),
            )
        except KeyError as exc:
            raise RosterError(f"a participant in {ROSTER_FILE} has no {exc.args[0]!r}") from None

    def public(self) -> dict[str, str]:
        """What the facilitator's page may show (no secrets)."""
        return {"id": self.id, "name": self.name, "consumer_key": self.consumer_key, "shortcode": self.shortcode}

    def __repr__(self) -> str:
        return f"<Participant {self.id} {self.name!r} shortcode={self.shortcode}>"


class Roster:
    """Participants of one workshop, loaded from and saved to ``folder``."""

    def __init__(self, folder: str | os.PathLike[str] | None = None, *, title: str = "M-Pesa workshop") -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_folder()
        self.title = title
        self.facilitator_token = Secret(secrets.token_urlsafe(18))
        self._participants: dict[str, Participant] = {}
        self._lock = threading.Lock()
        self.loaded = False
        path = self.folder / ROSTER_FILE
        if self.folder.is_dir():
            private_folder(self.folder)  # a folder made by an older version was 0755
        if path.exists():
            self._load(path)
            self.loaded = True

    # ---- reading -----------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RosterError(
                f"cannot read {path} ({exc}); restore it from a backup, or start the workshop with a new --dir"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("participants"), list):
            raise RosterError(f"{path} is not a workshop roster (no 'participants' list)")
        self.title = str(data.get("title") or self.title)
        if data.get("facilitator_token"):
            self.facilitator_token = Secret(str(data["facilitator_token"]))
        for record in data["participants"]:
            participant = Participant.from_record(record)
            self._participants[participant.id] = participant

    def __iter__(self) -> Iterator[Participant]:
        with self._lock:
            return iter(sorted(self._participants.values(), key=lambda p: p.number))

    def __len__(self) -> int:
        return len(self._participants)

    def get(self, participant_id: str) -> Participant | None:
        return self._participants.get(participant_id)

    def by_key(self, consumer_key: str) -> Participant | None:
        for participant in self._participants.values():
            if participant.consumer_key == consumer_key:
                return participant
        return None

    # ---- changing ----------------------------------------------------------------------

    def ensure(self, count: int, names: list[str] | None = None) -> list[Participant]:
        """Have at least ``count`` participants (existing ones keep their credentials); return the new ones."""
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 999:
            raise RosterError(f"participants must be a whole number from 0 to 999; got {count!r}")
        added = []
        with self._lock:
            number = max((p.number for p in self._participants.values()), default=0)
            while len(self._participants) < count:
                number += 1
                name = names[number - 1] if names and number - 1 < len(names) else None
                participant = Participant.new(number, name)
                self._participants[participant.id] = participant
                added.append(participant)
        return added

    def add(self, name: str | None = None) -> Participant:
        """One more participant (a late arrival)."""
        with self._lock:
            number = max((p.number for p in self._participants.values()), default=0) + 1
            participant = Participant.new(number, name)
            self._participants[participant.id] = participant
        return participant

    # ---- writing -----------------------------------------------------------------------

    def save(self, workshop_url: str, install_url: str | None = None) -> dict[str, Path]:
        """Write roster.json, credentials.csv and cards.html (owner-only); return their paths.
        ``install_url``: the served wheelhouse's page, printed on the cards."""
        private_folder(self.folder)
        people = list(self)
        roster = {
            "title": self.title,
            "facilitator_token": self.facilitator_token.reveal(),
            "participants": [p.to_record() for p in people],
        }
        paths = {
            "roster": self.folder / ROSTER_FILE,
            "csv": self.folder / CSV_FILE,
            "cards": self.folder / CARDS_FILE,
        }
        _write_private(paths["roster"], json.dumps(roster, indent=2))
        _write_private(paths["csv"], credentials_csv(people, workshop_url))
        _write_private(paths["cards"], cards_html(people, workshop_url, self.title, install_url))
        return paths

    def __repr__(self) -> str:
        return f"<Roster {self.title!r} {len(self)} participants in {str(self.folder)!r}>"


def private_folder(folder: Path) -> None:
    """Make ``folder`` (if needed) and make it the owner's only (0700): it holds the room's keys."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        os.chmod(folder, 0o700)


def _write_private(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only (the files hold credentials)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP CSV injection: a cell
    starting with = + - @ tab or CR gets a leading apostrophe)."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def credentials_csv(people: list[Participant], workshop_url: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "name", "workshop_url", "consumer_key", "consumer_secret", "shortcode", "passkey"])
    for p in people:
        writer.writerow(
            [
                csv_cell(str(cell))
                for cell in (
                    p.id,
                    p.name,
                    workshop_url,
                    p.consumer_key,
                    p.consumer_secret.reveal(),
                    p.shortcode,
                    p.passkey.reveal(),
                )
            ]
        )
    return out.getvalue()


def cards_html(people: list[Participant], workshop_url: str, title: str, install_url: str | None = None) -> str:
    """A printable page: one card per participant with the lines for their ``.env`` file, and
    the commands to install, check the room and start, per OS."""
    cards = [
        {"name": p.name, "id": p.id, "shortcode": p.shortcode, "env": "\n".join(p.env_lines(workshop_url))}
        for p in people
    ]
    return render(
        "workshop/cards.html",
        title=title,
        workshop_url=workshop_url,
        install_url=install_url,
        cards=cards,
        shells=[
            {"name": "macOS / Linux (Terminal)", "bin": ".venv/bin/"},
            {"name": "Windows (PowerShell or cmd)", "bin": ".venv\\Scripts\\"},
        ],
    )
