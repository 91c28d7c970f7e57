"""Finding Chromium for the browser suite, and installing Debian's when a fresh machine lacks it.

The README's test command must pass on a fresh Debian machine with nothing else run first, so the
suite brings its own browser: Debian's ``chromium`` package through apt-get (as root, or through
``sudo`` when it needs no password). Playwright's own browser download is never used: it cannot
work offline and is not what the project tests against. Where nothing can be installed the suite
fails loudly (BrowserMissing) with the one command to run, never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT = "/usr/bin/chromium"
# apt-get can take minutes on a cold mirror; a hung install should still end the run.
INSTALL_TIMEOUT_S = 900.0


class BrowserMissing(RuntimeError):
    """No Chromium where the suite expects it, and none could be installed."""


def configured() -> str:
    """The Chromium the suite asks for: MPESA_LAB_CHROMIUM, else Debian's."""
    return os.environ.get("MPESA_LAB_CHROMIUM", DEFAULT)


def find(binary: str) -> str | None:
    """The path of `binary` (a path or a name on PATH) if it exists, else None."""
    found = shutil.which(binary)
    if found:
        return found
    return binary if Path(binary).is_file() else None


def _privilege_prefix() -> list[str] | None:
    """[] as root, ["sudo", "-n"] where sudo needs no password, None where neither works."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return []
    sudo = shutil.which("sudo")
    if sudo is None:
        return None
    try:
        probe = subprocess.run([sudo, "-n", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [sudo, "-n"] if probe.returncode == 0 else None


def install_debian_chromium() -> str:
    """apt-get install chromium (as root or with passwordless sudo); the installed path.

    Raises BrowserMissing, naming the command a person can run, when apt-get is absent, no
    privilege is available, or the install fails.
    """
    manual = "sudo apt-get install chromium"
    apt = shutil.which("apt-get")
    if apt is None:
        raise BrowserMissing(
            f"the browser suite needs Chromium at {configured()} and this machine has no apt-get to "
            "install Debian's: install Chromium yourself and set MPESA_LAB_CHROMIUM to its path"
        )
    prefix = _privilege_prefix()
    if prefix is None:
        raise BrowserMissing(
            f"the browser suite needs Debian's chromium and cannot install it (not root, and sudo "
            f"asks for a password): run `{manual}` once, then the tests again"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(
        "\nbrowser suite: chromium is missing; installing Debian's chromium with apt-get (once per machine)",
        file=sys.stderr,
        flush=True,
    )
    for step in (["update", "-qq"], ["install", "-y", "-qq", "chromium"]):
        command = [*prefix, apt, *step]
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise BrowserMissing(
                f"`{' '.join(command)}` did not finish in {INSTALL_TIMEOUT_S:.0f} s; run `{manual}` yourself"
            ) from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise BrowserMissing(
                f"`{' '.join(command)}` failed ({done.returncode}): "
                f"{' / '.join(tail) or 'no output'}; run `{manual}` yourself"
            )
    for candidate in (configured(), DEFAULT, "chromium"):
        path = find(candidate)
        if path:
            return path
    raise BrowserMissing(
        f"apt-get installed chromium but no binary is at {configured()} or on PATH; set MPESA_LAB_CHROMIUM to its path"
    )


def require_chromium() -> str:
    """The Chromium binary to drive: the configured one, else Debian's (or a `chromium` on PATH),
    installed with apt-get if missing.

    An explicitly configured MPESA_LAB_CHROMIUM that does not exist is an error (it is never
    silently replaced by another browser).
    """
    wanted = configured()
    path = find(wanted)
    if path:
        return path
    if "MPESA_LAB_CHROMIUM" in os.environ:
        raise BrowserMissing(
            f"MPESA_LAB_CHROMIUM={wanted} does not exist; point it at a Chromium "
            "binary or unset it to use (and install) Debian's"
        )
    return find("chromium") or install_debian_chromium()
