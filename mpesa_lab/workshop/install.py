"""The one-line offline installs a participant types, per OS and shell, for pip and for uv.

The same lines go in the wheelhouse's INSTALL.md (from a copied folder: ``wheels``), on the page
``mpesa-lab workshop serve --wheelhouse`` serves (from the facilitator's laptop: an
``http://<host>:<port>/install/wheels/`` URL, with ``--trusted-host``, since pip ignores a plain
HTTP source it does not trust), in README.md and docs/workshop.md.

Each line creates ``.venv`` with the Python the wheels were built for (binary wheels are per
Python version) and installs with no index: nothing is fetched from the internet.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mpesa_lab._templates import render

SHELLS = ("bash", "powershell", "cmd")


@dataclass(frozen=True)
class Platform:
    """A platform a wheelhouse is built for: pip's ``--platform`` tags and the OS family."""

    name: str
    os: str  # linux | macos | windows
    label: str
    tags: tuple[str, ...]


def shells_for(os_family: str) -> tuple[str, ...]:
    return ("powershell", "cmd") if os_family == "windows" else ("bash",)


def install_lines(
    shell: str, python_version: str, source: str, *, tool: str = "pip", package: str = "mpesa-lab"
) -> str:
    """One line that makes ``.venv`` and installs ``package`` from ``source`` with no index.

    ``source`` is a folder (``wheels``) or an ``http://`` URL of the served wheels. ``shell`` is
    ``bash`` (Linux, macOS), ``powershell`` or ``cmd`` (Windows); ``tool`` is ``pip`` or ``uv``.
    """
    if shell not in SHELLS:
        raise ValueError(f"shell must be one of {', '.join(SHELLS)}; got {shell!r}")
    windows = shell != "bash"
    python = f"py -{python_version}" if windows else f"python{python_version}"
    venv_python = r".venv\Scripts\python.exe" if windows else ".venv/bin/python"
    folder = source
    trusted = ""
    if folder.startswith("http://"):
        host = urlsplit(folder).hostname or ""
        trusted = f" --trusted-host {host}"
    find = f"--no-index --find-links {folder}"
    then = "; " if shell == "powershell" else " && "  # Windows PowerShell 5 has no &&
    make_venv = f"{python} -m venv .venv"
    if tool == "pip":
        return f"{make_venv}{then}{venv_python} -m pip install {find}{trusted} {package}"
    if tool != "uv":
        raise ValueError(f"tool must be pip or uv; got {tool!r}")
    uv = r".venv\Scripts\uv.exe" if windows else ".venv/bin/uv"
    offline = "" if folder.startswith(("http://", "https://")) else " --offline"
    return (
        f"{make_venv}{then}{venv_python} -m pip install {find}{trusted} uv{then}"
        f"{uv} pip install --python {venv_python}{offline} {find} {package}"
    )


def run_lines(shell: str) -> dict[str, str]:
    """After the install: start the course, and check the room (the card's ``.env`` beside you)."""
    bin_ = r".venv\Scripts" + "\\" if shell != "bash" else ".venv/bin/"
    return {"lab": f"{bin_}mpesa-lab lab", "check": f"{bin_}mpesa-lab workshop check .env"}


def commands(platforms: list[Platform], python_version: str, source: str) -> list[dict[str, object]]:
    """Rows for the page and INSTALL.md: per OS family, per shell, the pip and uv lines."""
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for platform in platforms:
        if platform.os in seen:
            continue
        seen.add(platform.os)
        labels = ", ".join(p.label for p in platforms if p.os == platform.os)
        for shell in shells_for(platform.os):
            rows.append(
                {
                    "os": platform.os,
                    "labels": labels,
                    "shell": {"bash": "Terminal (bash/zsh)", "powershell": "PowerShell", "cmd": "Command Prompt (cmd)"}[
                        shell
                    ],
                    "pip": install_lines(shell, python_version, source),
                    "uv": install_lines(shell, python_version, source, tool="uv"),
                    **run_lines(shell),
                }
            )
    return rows


def install_markdown(platforms: list[Platform], python_version: str, source: str) -> str:
    """INSTALL.md of a wheelhouse folder: the lines to run next to the copied folder."""
    out = [
        "# Installing mpesa-lab with no internet",
        "",
        f"Copy this whole folder to your laptop, open a terminal in it and run the line for your OS. "
        f"You need Python {python_version} (the wheels are built for it): `python{python_version} --version` "
        f"(Windows: `py -{python_version} --version`).",
        "The uv line is faster; the pip line needs nothing but Python.",
        "",
    ]
    for row in commands(platforms, python_version, source):
        out += [f"## {row['labels']}: {row['shell']}", "", "```", str(row["pip"]), "```", "", "or, faster:", ""]
        out += [
            "```",
            str(row["uv"]),
            "```",
            "",
            f"Then `{row['lab']}` opens the course; `{row['check']}` checks the room.",
            "",
        ]
    out += [
        "The course (notebooks and data) is inside the mpesa-lab wheel: `mpesa-lab lab` unpacks it into your "
        "lab folder (`~/.mpesa-lab/notebooks`; Windows: `%USERPROFILE%\\.mpesa-lab\\notebooks`). "
        "`course.zip` holds the same notebooks, for reading without installing.",
        "",
    ]
    return "\n".join(out)


def install_page(platforms: list[Platform], python_version: str, wheels_url: str, title: str) -> str:
    """The page the workshop server shows at ``/install/``: the lines with its own URL in them."""
    return render(
        "workshop/install.html",
        title=title,
        python_version=python_version,
        wheels_url=wheels_url,
        rows=commands(platforms, python_version, wheels_url),
    )
