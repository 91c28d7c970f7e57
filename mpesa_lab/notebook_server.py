"""`mpesa-lab lab`: JupyterLab on the course notebooks, ready to run.

From a clone (the package sits next to ``pyproject.toml`` and ``notebooks/``) JupyterLab opens
``notebooks/`` in place. From an installed wheel, the notebooks shipped inside the package
(``mpesa_lab/notebooks``, put there at build time by ``setup.py``) are first copied to a working
folder, ``$MPESA_LAB_HOME/notebooks`` by default; a file already there is never overwritten, so a
learner's edits survive upgrades and re-runs. JupyterLab runs as a child process in its own
session, so Ctrl-C reaches only this command, which then stops JupyterLab cleanly (no "Shutdown
this Jupyter server?" prompt).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

import httpx

from mpesa_lab.paths import lab_home

# What a course folder holds that a learner needs (authoring sources stay in the repository).
COURSE_SUFFIXES = {".ipynb", ".md", ".csv", ".json", ".jsonl", ".parquet", ".png", ".svg"}
_SKIP_PARTS = {".ipynb_checkpoints", "__pycache__", "source", "solutions"}


class NotebookServerError(RuntimeError):
    """JupyterLab could not be started on the course; the message says what to do."""


@dataclass
class CourseCopy:
    """What preparing the working folder did."""

    folder: Path
    copied: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the learner's own (possibly edited) copies


def clone_notebooks() -> Path | None:
    """``notebooks/`` of the source checkout this package runs from, or None when installed."""
    root = Path(__file__).resolve().parent.parent
    folder = root / "notebooks"
    if (root / "pyproject.toml").is_file() and folder.is_dir():
        return folder
    return None


def packaged_notebooks() -> Path | None:
    """The notebooks shipped inside the installed package, or None."""
    try:
        folder = Path(str(resources.files("mpesa_lab") / "notebooks"))
    except (ModuleNotFoundError, TypeError):
        return None
    return folder if folder.is_dir() and any(folder.rglob("*.ipynb")) else None


def course_files(folder: Path) -> list[Path]:
    """The files of a course folder worth giving a learner, relative to it."""
    out = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and path.suffix.lower() in COURSE_SUFFIXES and not _SKIP_PARTS & set(relative.parts):
            out.append(relative)
    return out


def copy_course(source: Path, target: Path) -> CourseCopy:
    """Copy the course into ``target``; files already there are kept as they are (never overwritten)."""
    result = CourseCopy(target)
    for relative in course_files(source):
        destination = target / relative
        if destination.exists():
            result.kept.append(str(relative))
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, destination)
        result.copied.append(str(relative))
    return result


def resolve_folder(
    folder: str | Path | None = None, workdir: str | Path | None = None
) -> tuple[Path, CourseCopy | None]:
    """Where JupyterLab should open: ``folder`` if given, the clone's notebooks/, or a working
    copy of the packaged notebooks (in ``workdir``, default ``$MPESA_LAB_HOME/notebooks``)."""
    if folder is not None:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise NotebookServerError(f"{path} is not a folder: pass --dir with an existing folder of notebooks")
        return path, None
    in_clone = clone_notebooks()
    if in_clone is not None:
        return in_clone, None
    shipped = packaged_notebooks()
    if shipped is None:
        raise NotebookServerError(
            "no course notebooks found: this installed package has none, and it does not run from a "
            "clone with a notebooks/ folder. Pass --dir FOLDER, or reinstall from a release wheel."
        )
    target = Path(workdir).expanduser().resolve() if workdir else lab_home() / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    return target, copy_course(shipped, target)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(_family(host)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_is_free(host: str, port: int) -> bool:
    """Whether JupyterLab could listen on ``host:port`` now (bound as tornado binds: reusing
    TIME_WAIT addresses, so a port a previous lab just left counts as free)."""
    with socket.socket(_family(host)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_busy_message(host: str, port: int) -> str:
    """One line for a busy port: which port, and a free one to use instead."""
    try:
        other = free_port(host)
    except OSError:
        return f"port {port} on {host} is already in use; choose another with --port PORT"
    return (
        f"port {port} on {host} is already in use (another JupyterLab or server?); "
        f"port {other} is free: mpesa-lab lab --port {other}"
    )


# Defaults for a learner's first minutes: no "get notified about official Jupyter news?" pop-up
# over the first notebook, no update check. They are overrides (defaults), so a learner can still
# turn either on in Settings.
QUIET_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def quiet_settings_dir() -> Path:
    """An app-settings folder whose overrides.json adds QUIET_OVERRIDES to the installation's own."""
    import json

    installed = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    overrides: dict[str, Any] = {}
    if (installed / "overrides.json").is_file():
        try:
            overrides = json.loads((installed / "overrides.json").read_text(encoding="utf-8"))
        except ValueError:
            overrides = {}
    for plugin, values in QUIET_OVERRIDES.items():
        overrides[plugin] = {**values, **overrides.get(plugin, {})}
    folder = lab_home() / "jupyterlab-app-settings"
    folder.mkdir(parents=True, exist_ok=True)
    if (installed / "page_config.json").is_file():
        shutil.copy2(installed / "page_config.json", folder / "page_config.json")
    (folder / "overrides.json").write_text(json.dumps(overrides, indent=2), encoding="utf-8")
    return folder


# The token reaches JupyterLab in a file named by JUPYTER_TOKEN_FILE, never on its command line:
# every user of the machine can read a process's arguments (ps -eo args). The file is 0600 in a
# 0700 folder of its own and is deleted once JupyterLab answers (it reads it once, at start), so
# the token is in no environment either: kernels and terminals inherit only a stale file name.
TOKEN_FILE_VARIABLE = "JUPYTER_TOKEN_FILE"


def lab_command(folder: Path, host: str, port: int, open_browser: bool) -> list[str]:
    """JupyterLab's command line. It holds no secret: see ``lab_environment`` for the token."""
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--LabApp.app_settings_dir={quiet_settings_dir()}",
        f"--ServerApp.root_dir={folder}",
        f"--ServerApp.ip={host}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.open_browser={open_browser}",
    ] + (["--ServerApp.allow_root=True"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    # (containers and workshop VMs often run as root; JupyterLab refuses without this flag)


def own_session() -> dict[str, Any]:
    """Popen options that keep Ctrl-C in the terminal away from JupyterLab (this command stops
    it cleanly): a new session on Linux and macOS; a new process group on Windows, which has no
    sessions (there ``start_new_session`` is ignored and Ctrl-C would reach every process)."""
    if sys.platform.startswith("win"):
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"start_new_session": True}


def write_token_file(token: str) -> Path:
    """The token in a new 0600 file inside a new 0700 folder (see TOKEN_FILE_VARIABLE)."""
    folder = Path(tempfile.mkdtemp(prefix="mpesa-lab-jupyter-"))  # 0700
    path = folder / "token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)  # read as is: no newline
    return path


def remove_token_file(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


def lab_environment(token_file: Path) -> dict[str, str]:
    """JupyterLab's environment: ours, with the token file's name and no JUPYTER_TOKEN (which
    would win over the file)."""
    env = dict(os.environ)
    env.pop("JUPYTER_TOKEN", None)
    env[TOKEN_FILE_VARIABLE] = str(token_file)
    return env


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], timeout: float, host: str = "127.0.0.1", port: int | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if port is not None and not port_is_free(host, port):
                raise NotebookServerError(port_busy_message(host, port))
            raise NotebookServerError(
                f"JupyterLab exited with status {process.returncode} before answering; is jupyterlab "
                "installed (pip install jupyterlab)? Run with --verbose to see its log."
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise NotebookServerError(f"JupyterLab did not answer at {url} within {timeout:g} s")


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM (Jupyter's clean shutdown), then SIGKILL if it hangs; returns its exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return int(process.returncode or 0)


def run_lab(
    folder: str | Path | None = None,
    *,
    workdir: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8888,
    open_browser: bool = True,
    start_timeout: float = 120.0,
    out: IO[str] | None = None,
    quiet_server: bool = True,
) -> int:
    """Run JupyterLab on the course until Ctrl-C (or SIGTERM); returns an exit status."""
    out = out or sys.stdout
    path, copied = resolve_folder(folder, workdir)
    if copied is not None:
        print(
            f"Course notebooks in {path}: {len(copied.copied)} copied, {len(copied.kept)} of yours kept as they are.",
            file=out,
            flush=True,
        )
    if port == 0:
        port = free_port(host)
    elif not port_is_free(host, port):
        raise NotebookServerError(port_busy_message(host, port))
    token = secrets.token_urlsafe(24)
    token_file = write_token_file(token)
    base = f"http://{host}:{port}"
    log = subprocess.DEVNULL if quiet_server else None
    # Own session: Ctrl-C in the terminal reaches this process only; we stop JupyterLab cleanly.
    try:
        process = subprocess.Popen(
            lab_command(path, host, port, open_browser),
            cwd=path,
            env=lab_environment(token_file),
            stdout=log,
            stderr=log,
            **own_session(),
        )
    except BaseException:
        remove_token_file(token_file)
        raise
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    if hasattr(signal, "SIGTERM") and _main_thread():
        signal.signal(signal.SIGTERM, on_term)
    try:
        try:
            wait_until_ready(f"{base}/api/status?token={token}", process, start_timeout, host, port)
        finally:
            remove_token_file(token_file)
        print(f"JupyterLab is running on {path}", file=out, flush=True)
        print(f"Open {base}/lab?token={token}", file=out, flush=True)
        print("Press Ctrl-C to stop.", file=out, flush=True)
        process.wait()
        return int(process.returncode or 0)
    except KeyboardInterrupt:
        print("Stopping JupyterLab…", file=out, flush=True)
        stop(process)
        print("Stopped.", file=out, flush=True)
        return 0
    except BaseException:
        stop(process)
        raise
    finally:
        if _main_thread():
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
