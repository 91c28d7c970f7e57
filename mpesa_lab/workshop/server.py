"""Serving the workshop: ``WorkshopServer`` in a background thread (notebooks, tests, bench, and
the ``mpesa-lab workshop serve`` command in :mod:`mpesa_lab.workshop.cli`)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from mpesa_lab.background import BackgroundServer
from mpesa_lab.emulator.config import EmulatorConfig
from mpesa_lab.workshop.app import WorkshopApp
from mpesa_lab.workshop.files import InstallFiles
from mpesa_lab.workshop.limits import WorkshopLimits
from mpesa_lab.workshop.room import Room
from mpesa_lab.workshop.roster import Participant, Roster


def lan_address() -> str:
    """This machine's address on the network the default route uses (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class WorkshopServer:
    """One Daraja for a room: a participant app and paybill each, a relay, a facilitator's page.

    >>> server = WorkshopServer("my-workshop", participants=30).start()   # doctest: +SKIP
    >>> server.facilitator_url                                            # doctest: +SKIP
    """

    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        *,
        participants: int = 0,
        title: str | None = None,
        config: EmulatorConfig | None = None,
        name: str = "workshop",
        names: list[str] | None = None,
        limits: WorkshopLimits | None = None,
        wheelhouse: str | os.PathLike[str] | None = None,
    ) -> None:
        # Limits: given, else the defaults with MPESA_LAB_WORKSHOP_<FIELD> variables applied.
        self.limits = limits if limits is not None else WorkshopLimits.from_env()
        self.roster = Roster(folder, **({"title": title} if title else {}))
        if title and self.roster.loaded:
            self.roster.title = title
        # Names (one per participant, in order) go to participants not yet on the roster.
        self.roster.ensure(max(participants, len(names or ())), names)
        self.room = Room(self.roster, config, self.limits)
        self.app = WorkshopApp(self.room)
        if wheelhouse is not None:
            # Checked now (NotAWheelhouse), served read-only under /install/ (workshop/files.py).
            self.app.install = InstallFiles(wheelhouse, lambda: self.url, lambda: self.roster.title)
        self.name = name
        self._server: BackgroundServer | None = None
        self.advertised_url: str | None = None
        self.files: dict[str, Path] = {}

    def start(self, host: str = "127.0.0.1", port: int = 0, *, advertise_url: str | None = None) -> WorkshopServer:
        """Serve in a background thread and write the credential files. Rerun-safe (by name)."""
        if self.running:
            return self
        for desk in self.room.desks.values():
            desk.mailbox.closed = False  # started again after a stop()
        self._server = BackgroundServer(self.app, name=self.name, host=host, port=port).start()
        self.advertised_url = (advertise_url or self._default_url(host)).rstrip("/")
        self.files = self.roster.save(self.advertised_url, self.install_url)
        return self

    def _default_url(self, host: str) -> str:
        assert self._server is not None and self._server.port is not None
        if host in ("0.0.0.0", "::"):
            return f"http://{lan_address()}:{self._server.port}"
        return self._server.url

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    @property
    def url(self) -> str:
        """The URL participants use (MPESA_BASE_URL on their cards)."""
        if self.advertised_url is None or not self.running:
            raise RuntimeError("the workshop server is not serving; call start() first")
        return self.advertised_url

    @property
    def install_url(self) -> str | None:
        """The install page participants open (``None`` unless a wheelhouse is served)."""
        return f"{self.url}/install/" if self.app.install is not None else None

    @property
    def facilitator_url(self) -> str:
        """The facilitator's page, token included (keep it to yourself)."""
        return f"{self.url}/_workshop/?token={self.roster.facilitator_token.reveal()}"

    @property
    def facilitator_token(self) -> str:
        return self.roster.facilitator_token.reveal()

    @property
    def participants(self) -> list[Participant]:
        return list(self.roster)

    def credentials(self, participant_id: str) -> dict[str, str]:
        """What a participant's Lab needs (as ``Lab.start("workshop", **credentials)`` arguments)."""
        p = self.room.desk(participant_id).participant
        return {
            "base_url": self.url,
            "consumer_key": p.consumer_key,
            "consumer_secret": p.consumer_secret.reveal(),
            "shortcode": p.shortcode,
            "passkey": p.passkey.reveal(),
        }

    def add_participant(self, name: str | None = None) -> Participant:
        desk = self.room.add_participant(name)
        if self.advertised_url:
            self.files = self.roster.save(self.advertised_url, self.install_url)
        return desk.participant

    def start_fault(self, kind: str, seconds: float | None = 60.0, **options: Any) -> dict[str, Any]:
        return self.room.start_fault(kind, seconds, **options)

    def stop_fault(self, kind: str | None = None) -> list[str]:
        return self.room.stop_fault(kind)

    def summary(self) -> dict[str, Any]:
        return self.room.summary()

    def stop(self) -> None:
        """Stop serving; the roster stays on disk for the next start."""
        if self._server is not None:
            engine = self.room.engine
            self.app.run_on_loop(self.app.aclose)
            for desk in list(self.room.desks.values()):
                engine.run_on_serving_loop(desk.state.deliverer.aclose)
            engine.detach()
            self._server.stop()
            self._server = None
        self.room.close()

    def __enter__(self) -> WorkshopServer:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _repr_html_(self) -> str:
        """A notebook's view: the room at a glance (no tokens or secrets: outputs get saved)."""
        import html

        room = self.summary()
        rows = "".join(
            f"<tr><td>{html.escape(p['id'])}</td><td>{html.escape(p['name'])}</td><td>{html.escape(p['shortcode'])}</td>"
            f"<td>{html.escape(p['delivery'])}</td><td>{p['pushes']}</td><td>{p['accepted']}</td>"
            f"<td>{html.escape(', '.join(f'{c}: {n}' for c, n in p['results'].items()) or '-')}</td>"
            f"<td>{html.escape(p['last_error']['code'] if p['last_error'] else '-')}</td></tr>"
            for p in room["participants"]
        )
        faults = ", ".join(f["kind"] for f in room["faults"]) or "none"
        where = html.escape(self.advertised_url or "") if self.running else "not serving"
        return (
            f"<div><b>{html.escape(room['title'])}</b>: workshop server {where}, "
            f"{room['totals']['participants']} participants, {room['totals']['pushes']} pushes, "
            f"room faults: {html.escape(faults)}<table><tr><th>id</th><th>name</th><th>paybill</th>"
            f"<th>delivery</th><th>pushes</th><th>accepted</th><th>results</th><th>last error</th></tr>"
            f"{rows}</table><small>The facilitator's page: <code>server.facilitator_url</code> "
            "(it holds the room's token: keep it out of saved outputs).</small></div>"
        )

    def __repr__(self) -> str:
        where = f"at {self.advertised_url}" if self.running else "not serving"
        return f"<WorkshopServer {self.roster.title!r} {where}, {len(self.roster)} participants>"
