"""The store's file and folders: private (0700 folders, 0600 files) whatever the umask.

A store under the lab's home gets its home and folders made private, and an existing file we own
tightened; a store the user placed elsewhere is created 0600 but its folders are left as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

from mpesa_lab.paths import lab_home


def prepare(path: Path) -> None:
    """Create ``path``'s folders and the file itself, privately (see the module docstring).
    Raises OSError."""
    home = lab_home().expanduser().resolve()
    in_home = inside(path, home)
    if in_home:
        private_dir(home)
        for folder in reversed(path.relative_to(home).parents[:-1]):
            private_dir(home / folder)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    private_file(path, tighten=in_home)


def private_dir(folder: Path) -> None:
    """Make ``folder`` (and missing parents) and set it to 0700, whatever the umask."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if owned(folder):
        folder.chmod(0o700)


def private_file(path: Path, *, tighten: bool) -> None:
    """Create ``path`` as 0600 (whatever the umask); ``tighten`` an existing file we own, too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if tighten and owned(path):
            for item in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if item.exists():
                    item.chmod(0o600)
        return
    try:
        if hasattr(os, "fchmod"):  # not on Windows, where modes mean little anyway
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def owned(path: Path) -> bool:
    """True if this user owns ``path`` (always on systems without user ids)."""
    return not hasattr(os, "getuid") or path.stat().st_uid == os.getuid()


def inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True
