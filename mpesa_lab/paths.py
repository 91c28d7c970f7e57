"""The ground floor's map: where the lab's home, stores, reports and workshop files live.

Everything lives under :func:`lab_home` (``$MPESA_LAB_HOME``, default ``~/.mpesa-lab``):

- ``stores/``: SQLite stores. A folder (or notebook) has its own by default
  (:func:`folder_store_path`), so re-running a start cell continues the same store; throwaway
  stores (``lab-<Nairobi time>-<random>.sqlite``, :func:`new_throwaway_store_path`) are pruned to
  the newest :data:`KEEP_THROWAWAY_STORES` whenever a new one is named.
- ``reports/``: HTML reports written by ``mpesa-lab report`` without ``--out``.
- ``workshop/``: a workshop server's roster, credentials and cards.

Stores in use by a running listener of this process are registered here (:func:`hold_store`), so
pruning never deletes them; the listener registers and releases, nothing reads its internals.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections import Counter
from pathlib import Path

from mpesa_lab.clock import nairobi_now

log = logging.getLogger(__name__)

# How many throwaway stores are kept; the oldest beyond this are deleted when a new one is named.
KEEP_THROWAWAY_STORES = 20
# ... unless written to this recently: another process (an idle `mpesa-lab listen`) may use it.
MIN_AGE_SECONDS = 3600.0
# Only files of exactly this shape are ever deleted (folder stores and files the user named are not).
THROWAWAY_NAME = re.compile(r"lab-\d{8}-\d{6}-[0-9a-f]{6}\.sqlite")

_held: Counter[Path] = Counter()
_held_lock = threading.Lock()


def lab_home() -> Path:
    """The lab's data folder: ``$MPESA_LAB_HOME`` if set, else ``~/.mpesa-lab``."""
    env = os.environ.get("MPESA_LAB_HOME")
    return Path(env).expanduser() if env else Path.home() / ".mpesa-lab"


def stores_dir() -> Path:
    """``lab_home() / "stores"``."""
    return lab_home() / "stores"


def reports_dir() -> Path:
    """``lab_home() / "reports"``: where ``mpesa-lab report`` writes when no ``--out`` is given."""
    return lab_home() / "reports"


def workshop_dir() -> Path:
    """``lab_home() / "workshop"``: a workshop server's roster, credentials and cards."""
    return lab_home() / "workshop"


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


def newest_store() -> Path | None:
    """This folder's store (the one a Lab started here uses), else the most recently changed store
    under the lab's home, if any."""
    here = folder_store_path()
    if here.exists():
        return here
    try:
        stores = sorted(stores_dir().glob("*.sqlite"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    return stores[-1] if stores else None


def hold_store(path: str | os.PathLike[str]) -> None:
    """Mark a store as in use by this process (a running listener): pruning leaves it alone."""
    with _held_lock:
        _held[Path(path).resolve()] += 1


def release_store(path: str | os.PathLike[str]) -> None:
    """Undo one :func:`hold_store`."""
    key = Path(path).resolve()
    with _held_lock:
        _held[key] -= 1
        if _held[key] <= 0:
            del _held[key]


def held_stores() -> set[Path]:
    """The stores held by this process (resolved paths)."""
    with _held_lock:
        return set(_held)


def throwaway_stores(folder: Path | None = None) -> list[Path]:
    """The throwaway stores in ``folder`` (default: :func:`stores_dir`), oldest first."""
    where = folder or stores_dir()
    try:
        names = [p for p in where.iterdir() if THROWAWAY_NAME.fullmatch(p.name)]
    except OSError:
        return []
    # The name starts with the Nairobi time of its creation: sorting by name sorts by age.
    return sorted(names, key=lambda p: p.name)


def _last_touched(path: Path) -> float:
    times = []
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            times.append(candidate.stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


def prune_throwaway_stores(
    keep: int = KEEP_THROWAWAY_STORES,
    *,
    folder: Path | None = None,
    spare: Path | None = None,
    min_age: float = MIN_AGE_SECONDS,
) -> list[Path]:
    """Delete all but the newest ``keep`` throwaway stores (with their -wal/-shm); return them.

    Never deleted: ``spare`` (the store about to be used), a store held by this process
    (:func:`hold_store`), and any store written to in the last ``min_age`` seconds (another
    process may still be using it). Failures are logged and skipped: pruning is housekeeping,
    never an error.
    """
    protected = held_stores()
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


def new_throwaway_store_path() -> Path:
    """A new, unique throwaway store path named after the Nairobi time; the oldest throwaway
    stores beyond the newest :data:`KEEP_THROWAWAY_STORES` are deleted to make room."""
    stamp = nairobi_now().strftime("%Y%m%d-%H%M%S")
    path = stores_dir() / f"lab-{stamp}-{secrets.token_hex(3)}.sqlite"
    prune_throwaway_stores(keep=KEEP_THROWAWAY_STORES - 1, spare=path)
    return path
