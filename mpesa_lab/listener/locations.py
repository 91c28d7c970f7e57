"""Where stores live when nobody names a file: one per folder (or notebook), and bounded throwaways.

- :func:`folder_store_path`: the store a lab started in this folder (or this notebook) uses by
  default, so re-running a notebook's start cell continues the same store instead of hiding the
  earlier rows in a new file.
- Throwaway stores (``lab-<Nairobi time>-<random>.sqlite``, made by ``Lab.start(fresh=True)``,
  ``mpesa-lab demo``, ``mpesa-lab push`` and a Listener with no store) are pruned to the newest
  :data:`KEEP_THROWAWAY_STORES` each time a new one is made, so they never pile up (a store
  written to in the last hour, or used by a listener of this process, is left alone).

Everything lives under ``lab_home() / "stores"`` (``$MPESA_LAB_HOME``, default ``~/.mpesa-lab``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from pathlib import Path

log = logging.getLogger(__name__)

# How many throwaway stores are kept; the oldest beyond this are deleted when a new one is made.
KEEP_THROWAWAY_STORES = 20
# ... unless written to this recently: another process (an idle `mpesa-lab listen`) may use it.
MIN_AGE_SECONDS = 3600.0

# Only files of exactly this shape are ever deleted (folder stores and files the user named are not).
THROWAWAY_NAME = re.compile(r"lab-\d{8}-\d{6}-[0-9a-f]{6}\.sqlite")


def stores_dir() -> Path:
    """``lab_home() / "stores"``."""
    from mpesa_lab.listener.store import lab_home

    return lab_home() / "stores"


def _notebook_path() -> Path | None:
    # Jupyter Server tells a kernel its notebook's path (relative to the server's root).
    name = os.environ.get("JPY_SESSION_NAME")
    if not name or not name.endswith(".ipynb"):
        return None
    return Path(name).expanduser()


def folder_store_path(folder: str | os.PathLike[str] | None = None, environment: str = "local") -> Path:
    """The default store of a folder (default: the notebook run by this kernel, else the cwd).

    Same folder (same notebook), same file: ``stores/<folder name>-<hash of its full path>.sqlite``;
    the real sandbox and production get their own (``...-sandbox.sqlite``), so emulator rows and
    real ones never mix in one table.
    """
    if folder is None:
        notebook = _notebook_path()
        place = notebook.resolve() if notebook is not None else Path.cwd().resolve()
    else:
        place = Path(folder).expanduser().resolve()
    digest = hashlib.sha256(str(place).encode("utf-8")).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", place.stem or "root").strip("-.")[:40] or "root"
    suffix = "" if environment == "local" else f"-{re.sub(r'[^a-z]+', '', environment.lower()) or 'other'}"
    return stores_dir() / f"{slug}-{digest}{suffix}.sqlite"


def throwaway_stores(folder: Path | None = None) -> list[Path]:
    """The throwaway stores in ``folder`` (default: :func:`stores_dir`), oldest first."""
    where = folder or stores_dir()
    try:
        names = [p for p in where.iterdir() if THROWAWAY_NAME.fullmatch(p.name)]
    except OSError:
        return []
    # The name starts with the Nairobi time of its creation: sorting by name sorts by age.
    return sorted(names, key=lambda p: p.name)


def _in_use_here() -> set[Path]:
    """Stores of listeners running in this process (never pruned under their feet)."""
    from mpesa_lab.listener import server

    with server._active_lock:
        listeners = list(server._active.values())
    return {Path(listener.store.path) for listener in listeners}


def _last_touched(path: Path) -> float:
    times = []
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            times.append(candidate.stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


def prune_throwaway_stores(keep: int = KEEP_THROWAWAY_STORES, *, folder: Path | None = None,
                           spare: Path | None = None, min_age: float = MIN_AGE_SECONDS) -> list[Path]:
    """Delete all but the newest ``keep`` throwaway stores (with their -wal/-shm); return them.

    Never deleted: ``spare`` (the store about to be used), the store of a listener running in
    this process, and any store written to in the last ``min_age`` seconds (another process may
    still be using it). Failures are logged and skipped: pruning is housekeeping, never an error.
    """
    protected = _in_use_here()
    if spare is not None:
        protected.add(Path(spare))
    found = [p for p in throwaway_stores(folder) if p not in protected and p.resolve() not in protected]
    doomed = found[: max(0, len(found) - max(0, keep))]
    now = time.time()
    removed = []
    for path in doomed:
        if now - _last_touched(path) < min_age:
            continue
        try:
            for extra in ("-wal", "-shm", "-journal"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            removed.append(path)
        except OSError as exc:
            log.debug("could not remove old store %s: %s", path, exc)
    return removed
