"""The maintainers' tools leave nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _newcomer_path(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "newcomer_path.py"), "--repo", str(tmp_path / "no-such-repo"), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_newcomer_path_deletes_its_folder_even_when_a_step_fails(tmp_path):
    # Issue 18 (12): each run left an ~836 MB clone + venv in the temp folder.
    done = _newcomer_path(tmp_path)
    assert done.returncode != 0  # the clone fails: nothing to clone
    assert not list(tmp_path.glob("mpesa-lab-newcomer-*")), "the temporary folder was left behind"


def test_newcomer_path_keeps_its_folder_when_asked(tmp_path):
    done = _newcomer_path(tmp_path, "--keep")
    kept = list(tmp_path.glob("mpesa-lab-newcomer-*"))
    assert done.returncode != 0 and len(kept) == 1 and f"kept {kept[0]}" in done.stdout
