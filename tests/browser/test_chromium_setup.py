"""The browser suite brings its own Chromium on a fresh Debian machine (apt-get, root or sudo).

apt-get and sudo are replaced by small scripts on PATH that record how they were called and, for
``install``, put a stand-in ``chromium`` where Debian's would go: the logic that decides whether,
how and with which privilege to install is the real one.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.browser import chromium


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fresh_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with a fake apt-get and no chromium anywhere the suite looks."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    _script(
        bin_dir / "apt-get",
        f"""
echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> {log}
if [ "$1" = install ]; then printf '#!/bin/sh\\necho Chromium 1.0\\n' > {bin_dir}/chromium; chmod +x {bin_dir}/chromium; fi
""",
    )
    # Only what the fake scripts need, so the machine's own chromium (if any) is out of sight.
    base = tmp_path / "base"
    base.mkdir()
    for tool in ("sh", "chmod", "true"):
        (base / tool).symlink_to(shutil.which(tool))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{base}")
    monkeypatch.delenv("MPESA_LAB_CHROMIUM", raising=False)
    monkeypatch.setattr(chromium, "DEFAULT", str(tmp_path / "no-such" / "chromium"))
    return tmp_path


def _calls(machine: Path) -> list[str]:
    log = machine / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_as_root_installs_debian_chromium_and_returns_it(fresh_machine: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    path = chromium.require_chromium()
    assert path == str(fresh_machine / "bin" / "chromium")
    calls = _calls(fresh_machine)
    assert calls[0].startswith("apt-get update")
    assert calls[1].startswith("apt-get install -y -qq chromium")
    assert all(call.endswith("DEBIAN_FRONTEND=noninteractive") for call in calls)


def test_not_root_uses_passwordless_sudo(fresh_machine: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    log = fresh_machine / "calls.log"
    _script(fresh_machine / "bin" / "sudo", f'echo "sudo $*" >> {log}\nshift\nexec "$@"\n')
    path = chromium.require_chromium()
    assert Path(path).name == "chromium"
    calls = _calls(fresh_machine)
    assert calls[0] == "sudo -n true"
    assert any(call.startswith("sudo -n ") and call.endswith("install -y -qq chromium") for call in calls)
    assert any(call.startswith("apt-get install") for call in calls)


def test_sudo_with_a_password_fails_loudly_with_the_command_to_run(fresh_machine: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    _script(fresh_machine / "bin" / "sudo", "echo 'a password is required' >&2\nexit 1\n")
    with pytest.raises(chromium.BrowserMissing, match=r"run `sudo apt-get install chromium` once"):
        chromium.require_chromium()
    assert not any(call.startswith("apt-get") for call in _calls(fresh_machine))


def test_a_failing_install_says_what_apt_get_said(fresh_machine: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    _script(fresh_machine / "bin" / "apt-get", "echo 'E: Unable to locate package chromium' >&2\nexit 100\n")
    with pytest.raises(chromium.BrowserMissing, match=r"failed \(100\): E: Unable to locate package chromium"):
        chromium.require_chromium()


def test_a_configured_browser_that_is_missing_is_an_error_not_an_install(fresh_machine: Path, monkeypatch) -> None:
    monkeypatch.setenv("MPESA_LAB_CHROMIUM", str(fresh_machine / "elsewhere" / "chrome"))
    with pytest.raises(chromium.BrowserMissing, match="MPESA_LAB_CHROMIUM=.*does not exist"):
        chromium.require_chromium()
    assert _calls(fresh_machine) == []


def test_an_existing_chromium_is_used_without_installing(fresh_machine: Path) -> None:
    _script(fresh_machine / "bin" / "chromium", "exit 0\n")
    assert chromium.require_chromium() == str(fresh_machine / "bin" / "chromium")
    assert _calls(fresh_machine) == []
