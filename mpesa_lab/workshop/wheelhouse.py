"""``mpesa-lab workshop wheelhouse DIR``: everything a participant installs, with no internet.

The facilitator builds it once, online, the day before::

    DIR/
      wheels/            every wheel for every declared platform (one folder: pip and uv pick
                         the ones that fit), and index.html listing them (pip's --find-links
                         reads it over HTTP)
      course.zip         the notebooks and their data (the project's wheel carries them too:
                         ``mpesa-lab lab`` unpacks them)
      INSTALL.md         the one-line offline install per OS (bash, PowerShell, cmd; pip and uv)
      wheelhouse.json    what was built: platforms, Python version, files and sizes

Participants install from a copy of the folder (a USB stick) or from the facilitator's laptop
(``mpesa-lab workshop serve --wheelhouse DIR`` serves it read-only under ``/install/``).

Wheels come from the registry the facilitator's pip is configured for (``pip download
--only-binary :all: --platform ... --python-version ...``, one run per platform); the project's
own wheel is built locally from the clone.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from mpesa_lab.workshop.install import Platform, install_markdown

DEFAULT_PYTHON = "3.11"
PROJECT = "mpesa-lab"
# The project's data sets that ship beside the notebooks (as setup.py ships them in the wheel).
COURSE_DATA = ("week", "messy_callbacks.jsonl")
_SOURCE_PARTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "mpesa_lab", "notebooks", "data")


def _manylinux(arch: str) -> tuple[str, ...]:
    # pip before 24 does not widen a manylinux tag to the older ones: list them (glibc 2.28 and
    # older covers every maintained desktop Linux).
    return tuple(f"manylinux_2_{minor}_{arch}" for minor in range(28, 16, -1)) + (f"manylinux2014_{arch}",)


PLATFORMS: dict[str, Platform] = {
    "linux-x86_64": Platform("linux-x86_64", "linux", "Linux (x86-64)", _manylinux("x86_64")),
    "linux-aarch64": Platform("linux-aarch64", "linux", "Linux (arm64)", _manylinux("aarch64")),
    # pip widens a macOS tag to every older macOS and to universal2 wheels
    "macos-arm64": Platform("macos-arm64", "macos", "macOS 14+ (Apple silicon)", ("macosx_14_0_arm64",)),
    "macos-x86_64": Platform("macos-x86_64", "macos", "macOS 13+ (Intel)", ("macosx_13_0_x86_64",)),
    "windows-amd64": Platform("windows-amd64", "windows", "Windows (x86-64)", ("win_amd64",)),
    "windows-arm64": Platform("windows-arm64", "windows", "Windows (arm64)", ("win_arm64",)),
}
ALIASES = {"linux-arm64": "linux-aarch64", "macos-intel": "macos-x86_64", "windows-x86_64": "windows-amd64"}
EVERYWHERE = ("linux-x86_64", "linux-aarch64", "macos-arm64", "macos-x86_64", "windows-amd64")


class WheelhouseError(RuntimeError):
    """The wheelhouse could not be built; the message says what failed and what to do."""


def platform_named(name: str) -> Platform:
    """A platform by name (``linux-x86_64``, ``macos-arm64``, ``windows-amd64``, ... or ``current``)."""
    key = name.strip().lower()
    key = current_platform() if key == "current" else ALIASES.get(key, key)
    if key not in PLATFORMS:
        raise WheelhouseError(f"unknown platform {name!r}: use one of {', '.join(PLATFORMS)} (or 'current')")
    return PLATFORMS[key]


def current_platform() -> str:
    """This machine's platform name in :data:`PLATFORMS`."""
    tag = sysconfig.get_platform().lower()  # linux-x86_64, macosx-14.0-arm64, win-amd64, win-arm64
    if tag.startswith("win"):
        return "windows-arm64" if "arm64" in tag else "windows-amd64"
    if tag.startswith("macosx"):
        return "macos-arm64" if tag.endswith(("arm64", "universal2")) else "macos-x86_64"
    return "linux-aarch64" if tag.endswith(("aarch64", "arm64")) else "linux-x86_64"


def project_source() -> Path | None:
    """The clone this package runs from (``pyproject.toml`` beside ``mpesa_lab/``), else None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "mpesa_lab").is_dir() else None


@dataclass
class Wheelhouse:
    """What :func:`build_wheelhouse` made."""

    folder: Path
    python_version: str
    platforms: list[str]
    project_wheel: str
    files: dict[str, int] = field(default_factory=dict)  # wheel name -> bytes
    failed: dict[str, str] = field(default_factory=dict)  # platform -> why

    @property
    def wheels(self) -> Path:
        return self.folder / "wheels"

    @property
    def megabytes(self) -> float:
        return sum(self.files.values()) / 1e6

    def manifest(self) -> dict[str, object]:
        return {
            "project": PROJECT,
            "project_wheel": self.project_wheel,
            "python_version": self.python_version,
            "platforms": self.platforms,
            "failed": self.failed,
            "files": self.files,
        }


Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _pip_failure(process: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (process.stderr or "").splitlines() if line.strip()]
    useful = [line for line in lines if line.startswith(("ERROR", "error"))] or lines[-2:]
    return " ".join(useful)[-400:] or f"pip exited with status {process.returncode}"


def build_project_wheel(source: Path, wheels: Path, *, run: Runner = _run) -> Path:
    """The project's wheel, built from a copy of ``source`` (the clone is never written to)."""
    with tempfile.TemporaryDirectory(prefix="mpesa-lab-build-") as scratch:
        copy = Path(scratch) / "src"
        copy.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints", "*.sqlite*")
        for name in _SOURCE_PARTS:
            part = source / name
            if part.is_dir():
                shutil.copytree(part, copy / name, ignore=ignore)
            elif part.is_file():
                shutil.copy2(part, copy / name)
        out = Path(scratch) / "out"
        process = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(copy)])
        built = sorted(out.glob("*.whl")) if out.is_dir() else []
        if process.returncode != 0 or not built:
            raise WheelhouseError(f"could not build the project's wheel from {source}: {_pip_failure(process)}")
        wheels.mkdir(parents=True, exist_ok=True)
        target = wheels / built[0].name
        shutil.copy2(built[0], target)
        return target


def download_command(
    platform: Platform, wheels: Path, requirements: Sequence[str], python_version: str, pip_args: Sequence[str] = ()
) -> list[str]:
    """``pip download`` of binary wheels for one platform into ``wheels`` (already there: kept)."""
    command = [sys.executable, "-m", "pip", "download", "--only-binary", ":all:", "--python-version", python_version]
    command += ["--implementation", "cp", "--dest", str(wheels), "--find-links", str(wheels), "--progress-bar", "off"]
    for tag in platform.tags:
        command += ["--platform", tag]
    return command + list(pip_args) + list(requirements)


def write_index(wheels: Path) -> Path:
    """``wheels/index.html``: a link per wheel, what pip's and uv's ``--find-links`` read over HTTP."""
    names = sorted(p.name for p in wheels.glob("*.whl"))
    links = "\n".join(f'<a href="{quote(name)}">{html.escape(name)}</a><br>' for name in names)
    path = wheels / "index.html"
    path.write_text(
        f"<!doctype html>\n<html><head><title>wheels</title></head><body>\n{links}\n</body></html>\n", encoding="utf-8"
    )
    return path


def write_course(source: Path, target: Path) -> Path | None:
    """``course.zip``: the learner's notebooks (no solutions, no sources) and the course data."""
    notebooks = source / "notebooks"
    if not notebooks.is_dir():
        return None
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(notebooks.glob("*")):
            if path.is_file() and path.suffix in (".ipynb", ".md"):
                archive.write(path, Path("mpesa-lab-course", "notebooks", path.name).as_posix())
        for name in COURSE_DATA:
            base = source / "data" / name
            for path in sorted(base.rglob("*")) if base.is_dir() else [base] if base.is_file() else []:
                if path.is_file():
                    archive.write(path, Path("mpesa-lab-course", "data", path.relative_to(source / "data")).as_posix())
    return target


def build_wheelhouse(
    folder: str | os.PathLike[str],
    platforms: Sequence[str] = EVERYWHERE,
    *,
    python_version: str = DEFAULT_PYTHON,
    source: Path | None = None,
    project_wheel: Path | None = None,
    extra: Sequence[str] = ("uv",),
    pip_args: Sequence[str] = (),
    run: Runner = _run,
    say: Callable[[str], None] = lambda _line: None,
) -> Wheelhouse:
    """Build the wheelhouse in ``folder`` (see the module's docstring); return what it holds.

    ``project_wheel`` uses a wheel already built instead of building one from ``source`` (default:
    this clone). ``extra`` are more requirements (uv, for the faster install). ``pip_args`` go to
    every ``pip download`` (e.g. ``--index-url``). A platform whose wheels are not all in the
    registry is reported in ``failed`` (the others are still built); all failing is an error.
    """
    chosen = [platform_named(name) for name in platforms] or [platform_named("current")]
    chosen = list({p.name: p for p in chosen}.values())
    root = Path(folder).expanduser()
    wheels = root / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    source = source or project_source()
    if project_wheel is None:
        if source is None:
            raise WheelhouseError(
                "no project source to build mpesa-lab's wheel from: run this from a clone of the project "
                "(pip install -e .), or pass the wheel with --project-wheel"
            )
        say(f"building {PROJECT}'s wheel from {source}")
        project_wheel = build_project_wheel(source, wheels, run=run)
    elif project_wheel.parent.resolve() != wheels.resolve():
        shutil.copy2(project_wheel, wheels / project_wheel.name)
    requirements = [str(wheels / project_wheel.name), *extra]
    house = Wheelhouse(root, python_version, [p.name for p in chosen], project_wheel.name)
    for platform in chosen:
        say(f"downloading wheels for {platform.label} (Python {python_version})")
        process = run(download_command(platform, wheels, requirements, python_version, pip_args))
        if process.returncode != 0:
            house.failed[platform.name] = _pip_failure(process)
            say(f"  {platform.name}: FAILED: {house.failed[platform.name]}")
    house.platforms = [p.name for p in chosen if p.name not in house.failed]
    if not house.platforms:
        raise WheelhouseError(
            "no platform could be built: "
            + "; ".join(f"{name}: {why}" for name, why in house.failed.items())
            + ". Check the network (pip must reach the registry) and the platform names."
        )
    house.files = {p.name: p.stat().st_size for p in sorted(wheels.glob("*.whl"))}
    write_index(wheels)
    if source is not None:
        write_course(source, root / "course.zip")
    (root / "wheelhouse.json").write_text(json.dumps(house.manifest(), indent=2) + "\n", encoding="utf-8")
    chosen_ok = [p for p in chosen if p.name in house.platforms]
    (root / "INSTALL.md").write_text(install_markdown(chosen_ok, python_version, "wheels"), encoding="utf-8")
    return house
