"""A loopback room with simulated participants: for notebook 09, demos, tests and the bench.

Glue, like ``demo.py``: it starts the Safaricom side (a :class:`WorkshopServer`) and, for each
simulated participant, the merchant side exactly as a participant's laptop would (a listener with
its own store, the workshop link, a Daraja client: a real :class:`~mpesa_lab.lab.Lab`).

>>> room = simulate(participants=4)          # doctest: +SKIP
>>> room.push_all(2)                         # every participant pushes twice
>>> room.server.facilitator_url              # open it in a browser
>>> room.stop()
"""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from mpesa_lab.config import Settings
from mpesa_lab.daraja.client import DarajaClient
from mpesa_lab.emulator.config import EmulatorConfig
from mpesa_lab.lab import Lab, Push
from mpesa_lab.listener import Listener
from mpesa_lab.listener.relay import WorkshopLink
from mpesa_lab.workshop.server import WorkshopServer

TEST_PHONE = "254708374149"

_current: Simulation | None = None  # re-running a notebook cell replaces the previous room
_current_lock = threading.Lock()


def join(
    credentials: dict[str, str],
    store: str | Path | None = None,
    *,
    direct: bool | None = None,
    name: str = "workshop-participant",
    host: str = "127.0.0.1",
) -> Lab:
    """A participant's Lab on a workshop server, as ``Lab.start("workshop", **credentials)`` builds it,
    but without replacing the process's active lab (many participants share one process here)."""
    listener = Listener(store, name=f"{name}-listener").start(host=host)
    link = None
    try:
        settings = Settings.from_env(environment="workshop", env_file=None, environ=None, **credentials)
        link = WorkshopLink(
            listener,
            settings.base_url,
            settings.consumer_key,
            settings.consumer_secret,
            listen_host=host,
            direct=direct,
        ).start()
        settings = replace(settings, callback_url=link.callback_url)
        lab = Lab(settings, DarajaClient(settings), listener)
    except BaseException:
        if link is not None:
            link.stop()
        listener.stop()
        raise
    lab.workshop = link
    return lab


class Simulation:
    """A workshop server and its simulated participants' labs."""

    def __init__(self, server: WorkshopServer, labs: dict[str, Lab], folder: Path) -> None:
        self.server = server
        self.labs = labs
        self.folder = folder
        self._counter = iter(range(1, 10**9))
        self._lock = threading.Lock()

    def _next(self) -> int:
        with self._lock:
            return next(self._counter)

    def customer(self) -> str:
        """A fresh customer number (2547110xxxxx): one phone per push keeps the subscriber lock
        (one prompt at a time per phone) and rule 17 out of a simulation's way."""
        return f"2547110{self._next() % 100_000:05d}"

    def push(self, participant_id: str, phone: str | None = None, amount: int | None = None, **options: Any) -> Push:
        """One push by one participant (a fresh customer and amount unless given)."""
        return self.labs[participant_id].push(phone or self.customer(), amount or 1 + self._next() % 5000, **options)

    def push_all(
        self, count: int = 1, phone: str | None = None, *, threads: int = 16, wait: float | None = 30.0
    ) -> list[Push | Exception]:
        """Every participant pushes ``count`` times, concurrently; waits for the callbacks when
        ``wait`` is given. Errors (e.g. during a 'busy' fault) are returned, not raised."""

        def one(pid: str) -> list[Push | Exception]:
            out: list[Push | Exception] = []
            for _ in range(count):
                try:
                    out.append(self.push(pid, phone))
                except Exception as exc:
                    out.append(exc)
            return out

        with ThreadPoolExecutor(max(1, min(threads, len(self.labs)))) as pool:
            results = [item for batch in pool.map(one, list(self.labs)) for item in batch]
        if wait:
            for item in results:
                if isinstance(item, Push):
                    try:
                        item.wait(wait)
                    except TimeoutError:
                        pass  # a dropped or delayed callback: the participant queries it
        return results

    def stop(self) -> None:
        """Stop every lab (in parallel: each waits for its listener to drain), then the server."""
        if self.labs:
            with ThreadPoolExecutor(min(16, len(self.labs))) as pool:
                list(pool.map(lambda lab: lab.stop(), self.labs.values()))
        self.server.stop()

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _repr_html_(self) -> str:
        return self.server._repr_html_()

    def __repr__(self) -> str:
        relay = sum(1 for lab in self.labs.values() if lab.workshop and lab.workshop.delivery == "relay")
        return (
            f"<Simulation {len(self.labs)} participants ({relay} relayed) on "
            f"{self.server.url if self.server.running else 'a stopped server'}>"
        )


def simulate(
    participants: int = 4,
    *,
    relay_every: int = 2,
    folder: str | Path | None = None,
    title: str = "Simulated workshop",
    config: EmulatorConfig | None = None,
) -> Simulation:
    """Start a loopback workshop server and ``participants`` labs.

    Every ``relay_every``-th participant gets its callbacks through the relay (as if the venue
    Wi-Fi blocked incoming connections), the others directly (0: nobody relayed).
    """
    global _current
    with _current_lock:
        previous, _current = _current, None
    if previous is not None:
        previous.stop()
    base = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="mpesa-lab-workshop-"))
    server = WorkshopServer(
        base / "server", participants=participants, title=title, config=config, name="workshop-simulated"
    ).start()
    labs: dict[str, Lab] = {}
    try:
        for index, participant in enumerate(server.participants[:participants], start=1):
            relayed = relay_every > 0 and index % relay_every == 0
            labs[participant.id] = join(
                server.credentials(participant.id),
                base / f"{participant.id}.sqlite",
                direct=False if relayed else None,
                name=f"workshop-sim-{participant.id}",
            )
    except BaseException:
        for lab in labs.values():
            lab.stop()
        server.stop()
        raise
    simulation = Simulation(server, labs, base)
    with _current_lock:
        _current = simulation
    return simulation
