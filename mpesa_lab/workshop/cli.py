"""The ``mpesa-lab workshop serve`` command's work: a room's server in the foreground, printing
where participants and the facilitator connect, until Ctrl-C."""

from __future__ import annotations

import os
import sys
import threading
from typing import IO, Any

from mpesa_lab.emulator.config import EmulatorConfig
from mpesa_lab.workshop.server import WorkshopServer


def run_workshop(
    folder: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    participants: int = 0,
    title: str | None = None,
    advertise_url: str | None = None,
    seed: int | None = None,
    names: list[str] | None = None,
    wheelhouse: str | os.PathLike[str] | None = None,
    out: IO[str] | None = None,
    stop_event: threading.Event | None = None,
) -> int:
    """Run the workshop server in the foreground until Ctrl-C (``mpesa-lab workshop serve``)."""
    import signal

    stream = out or sys.stdout
    stop = stop_event or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    config = EmulatorConfig(seed=seed) if seed is not None else None
    server = WorkshopServer(
        folder,
        participants=participants,
        title=title,
        config=config,
        name="workshop-serve",
        names=names,
        wheelhouse=wheelhouse,
    )
    try:
        server.start(host, port, advertise_url=advertise_url)
        say = lambda line="": print(line, file=stream, flush=True)  # noqa: E731
        say(f"{server.roster.title}: workshop server for {len(server.roster)} participants")
        say(f"  Daraja for the room   {server.url}")
        say(f"  Facilitator's page    {server.facilitator_url}")
        say(f"  Participants' cards   {server.files['cards']}")
        say(f"  Credentials (CSV)     {server.files['csv']}")
        say(f"  Roster (kept across restarts) {server.files['roster']}")
        if server.install_url:
            say(f"  Install page (no internet) {server.install_url}")
        if host == "127.0.0.1":
            say("  Listening on loopback only: pass --host 0.0.0.0 so the room can reach it.")
        say("Ctrl-C stops.")
        while not stop.wait(0.5):
            if not server.running:
                say("The server stopped unexpectedly.")
                return 1
        return 0
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("workshop server stopped", file=stream, flush=True)


def run_tool(args: Any) -> int:
    """``mpesa-lab workshop wheelhouse DIR`` and ``workshop check [CARD or URL]`` (parsed ``args``)."""
    if args.action == "wheelhouse":
        return run_wheelhouse(args.target, args.platform, python_version=args.python_version, uv=not args.no_uv)
    if args.action == "check":
        from mpesa_lab.workshop.check import run_check

        return run_check(args.target, timeout=args.timeout)
    print(
        f"error: workshop serve takes no folder argument ({args.target!r}): use --dir for the room's folder, "
        "--wheelhouse for the install files",
        file=sys.stderr,
    )
    return 2


def run_wheelhouse(
    folder: str | None,
    platforms: list[str] | None,
    *,
    python_version: str = "3.11",
    uv: bool = True,
    out: IO[str] | None = None,
) -> int:
    """Build the offline install (``mpesa-lab workshop wheelhouse DIR``); print where and how big."""
    from mpesa_lab.workshop.wheelhouse import EVERYWHERE, WheelhouseError, build_wheelhouse

    stream = out or sys.stdout
    say = lambda line="": print(line, file=stream, flush=True)  # noqa: E731
    if not folder:
        print(
            "error: say where to build it: mpesa-lab workshop wheelhouse DIR [--platform linux-x86_64 ...]",
            file=sys.stderr,
        )
        return 2
    try:
        house = build_wheelhouse(
            folder, platforms or EVERYWHERE, python_version=python_version, extra=("uv",) if uv else (), say=say
        )
    except WheelhouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write the wheelhouse in {folder}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    say(f"Wheelhouse in {house.folder}: {len(house.files)} wheels, {house.megabytes:.0f} MB")
    say(f"  platforms: {', '.join(house.platforms)} (Python {house.python_version})")
    for name, why in house.failed.items():
        say(f"  NOT built for {name}: {why}")
    say(f"  offline install, per OS: {house.folder / 'INSTALL.md'}")
    say(f"  serve it to the room: mpesa-lab workshop serve --host 0.0.0.0 --wheelhouse {house.folder}")
    return 1 if house.failed else 0
