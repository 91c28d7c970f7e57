"""The ground floor's map (mpesa_lab.paths): one store per folder by default, throwaways bounded,
stores in use never pruned, example names gitignored."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from mpesa_lab import paths
from mpesa_lab.listener import CallbackStore, Listener
from mpesa_lab.paths import (
    KEEP_THROWAWAY_STORES,
    THROWAWAY_NAME,
    folder_store_path,
    prune_throwaway_stores,
    stores_dir,
)
from mpesa_lab.paths import new_throwaway_store_path as default_store_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never write to (or prune) the real ~/.mpesa-lab from tests."""
    home = tmp_path / "lab-home"
    monkeypatch.setenv("MPESA_LAB_HOME", str(home))
    return home


def _old_throwaways(n: int, age: float = 7200.0) -> list[Path]:
    folder = stores_dir()
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(n):
        path = folder / f"lab-20260101-{i:06d}-abcdef.sqlite"
        path.write_bytes(b"")
        Path(f"{path}-wal").write_bytes(b"")
        old = time.time() - age
        os.utime(path, (old, old))
        os.utime(f"{path}-wal", (old, old))
        made.append(path)
    return made


def test_throwaway_stores_do_not_pile_up():
    _old_throwaways(30)
    keeper = stores_dir() / "my-course-0123456789.sqlite"  # a folder store: never pruned
    keeper.write_bytes(b"")
    store = CallbackStore()  # a new throwaway
    left = [p for p in stores_dir().iterdir() if THROWAWAY_NAME.fullmatch(p.name)]
    assert len(left) == KEEP_THROWAWAY_STORES
    assert store.path in {p.resolve() for p in left}
    assert keeper.exists()
    assert not any(p.name.endswith("-wal") and not Path(str(p)[:-4]).exists() for p in stores_dir().iterdir())


def test_recent_and_in_use_throwaways_are_spared():
    recent = _old_throwaways(25, age=60)
    prune_throwaway_stores(keep=5)
    assert all(p.exists() for p in recent)  # written a minute ago: maybe in use elsewhere
    listener = Listener().start()  # a running listener's own throwaway
    try:
        os.utime(listener.store.path, (0, 0))
        for extra in ("-wal", "-shm"):
            if Path(f"{listener.store.path}{extra}").exists():
                os.utime(f"{listener.store.path}{extra}", (0, 0))
        prune_throwaway_stores(keep=0, min_age=0)
        assert listener.store.path.exists()
    finally:
        listener.stop()


def test_default_store_path_is_new_each_time_and_folder_path_is_stable(tmp_path):
    assert default_store_path() != default_store_path()
    assert folder_store_path(tmp_path) == folder_store_path(tmp_path)
    assert folder_store_path(tmp_path) != folder_store_path(tmp_path / "x")
    assert folder_store_path(tmp_path).parent == stores_dir()
    assert not THROWAWAY_NAME.fullmatch(folder_store_path(tmp_path).name)
    sandbox = folder_store_path(tmp_path, environment="sandbox")
    assert sandbox != folder_store_path(tmp_path) and sandbox.name.endswith("-sandbox.sqlite")


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_the_readme_example_store_names_are_gitignored():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = set(re.findall(r"[\w-]+\.sqlite3?\b", readme))
    assert names, "the README names no example store"
    candidates = sorted(names | {f"{n}-wal" for n in names} | {f"{n}-shm" for n in names})
    out = subprocess.run(["git", "check-ignore", "--no-index", *candidates], cwd=ROOT, capture_output=True, text=True)
    ignored = set(out.stdout.split())
    assert ignored == set(candidates), sorted(set(candidates) - ignored)


def test_a_held_store_is_never_pruned_and_released_ones_are() -> None:
    made = _old_throwaways(KEEP_THROWAWAY_STORES + 3)
    paths.hold_store(made[0])
    paths.hold_store(made[0])  # held twice (two listeners): released twice before it can go
    try:
        removed = prune_throwaway_stores()
        assert made[0] not in removed and made[0].exists()
        assert set(removed) == set(made[1:3])  # 22 not held, newest 20 kept
        paths.release_store(made[0])
        assert prune_throwaway_stores(keep=0) and made[0].exists()
    finally:
        paths.release_store(made[0])
    assert made[0] in prune_throwaway_stores(keep=0)


def test_homes_follow_mpesa_lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path / "home"))
    assert paths.lab_home() == tmp_path / "home"
    assert paths.stores_dir() == tmp_path / "home" / "stores"
    assert paths.reports_dir() == tmp_path / "home" / "reports"
    assert paths.workshop_dir() == tmp_path / "home" / "workshop"
    assert paths.newest_store() is None
    made = paths.stores_dir() / "older.sqlite"
    made.parent.mkdir(parents=True)
    made.write_bytes(b"")
    assert paths.newest_store() == made


def test_the_lab_home_is_under_the_users_home_folder_on_every_os(monkeypatch, tmp_path):
    """Path.home() is %USERPROFILE% on Windows and $HOME elsewhere: the lab's folders follow it,
    built with pathlib (no '/' written into a path), and the workshop's folder is the same one."""
    from pathlib import Path

    from mpesa_lab import paths
    from mpesa_lab.workshop.roster import default_folder

    monkeypatch.delenv("MPESA_LAB_HOME", raising=False)
    home = tmp_path / "Users" / "Wanjiru Kamau"  # a space, as Windows user folders often have
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    assert paths.lab_home() == home / ".mpesa-lab"
    assert paths.stores_dir() == home / ".mpesa-lab" / "stores"
    assert default_folder() == paths.workshop_dir() == home / ".mpesa-lab" / "workshop"
