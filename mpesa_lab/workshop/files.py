"""Files the workshop server hands out over HTTP, read-only: the wheelhouse and the cards.

- ``/install/`` (anyone in the room): the install page with this server's URL in each line;
  ``/install/wheels/...`` (pip's and uv's ``--find-links``), ``/install/course.zip``,
  ``/install/INSTALL.md``, ``/install/wheelhouse.json``. Nothing else of the folder is served,
  only GET and HEAD, no path outside those names (``..``, backslashes, symlinks out of the
  folder: 404), and the folder must be a wheelhouse (its ``wheelhouse.json``), so pointing
  ``--wheelhouse`` at a home folder by mistake serves nothing.
- ``/_workshop/cards`` (facilitator's token only: every card holds a participant's secrets):
  the printable cards, for printing from another device.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from mpesa_lab.workshop.roster import RosterError

INSTALL = "/install"
# The only names served from the wheelhouse folder (first path segment under /install/).
SERVED = ("wheels", "course.zip", "INSTALL.md", "wheelhouse.json")


class NotAWheelhouse(RosterError):
    """The folder given to serve is not a wheelhouse; the message says how to make one."""


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain", headers={"cache-control": "no-store"})


def _safe_parts(rest: str) -> list[str] | None:
    """The path's segments if every one is an ordinary name, else None."""
    parts = [part for part in rest.split("/") if part != ""]
    for part in parts:
        if part in (".", "..") or "\\" in part or "\x00" in part or ":" in part or part.startswith("~"):
            return None
    return parts


class InstallFiles:
    """The ``/install`` routes over a wheelhouse folder (see the module's docstring)."""

    def __init__(self, folder: str | os.PathLike[str], base_url: Callable[[], str], title: Callable[[], str]) -> None:
        from mpesa_lab.workshop.wheelhouse import platform_named

        self.folder = Path(folder).expanduser().resolve()
        manifest = self.folder / "wheelhouse.json"
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise NotAWheelhouse(
                f"{self.folder} is not a wheelhouse (no readable wheelhouse.json): build one with "
                f"`mpesa-lab workshop wheelhouse {self.folder}`"
            ) from None
        self.python_version = str(data.get("python_version", "3.11"))
        self.platforms = [platform_named(name) for name in data.get("platforms", [])]
        self.base_url = base_url
        self.title = title
        self.static = StaticFiles(directory=self.folder, html=True, follow_symlink=False)

    def page(self) -> str:
        from mpesa_lab.workshop.install import install_page

        return install_page(self.platforms, self.python_version, f"{self.base_url()}{INSTALL}/wheels/", self.title())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if method not in ("GET", "HEAD"):
            response: Response = _plain(405, f"{method} not allowed: these files are read-only")
            response.headers["allow"] = "GET, HEAD"
        elif path == INSTALL:
            response = RedirectResponse(INSTALL + "/", status_code=307)
        elif path == INSTALL + "/":
            response = HTMLResponse(self.page(), headers={"cache-control": "no-store"})
        else:
            parts = _safe_parts(path[len(INSTALL) + 1 :])
            if not parts or parts[0] not in SERVED:
                response = _plain(404, "not found: the install page is at /install/")
            else:
                inner = dict(scope)
                inner["path"] = "/" + "/".join(parts) + ("/" if path.endswith("/") else "")
                inner["root_path"] = ""
                await self._static(inner, receive, send)
                return
        await response(scope, receive, send)

    async def _static(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.static(scope, receive, send)
        except Exception as exc:  # starlette raises HTTPException for 404/405: answer plainly
            status = int(getattr(exc, "status_code", 404))
            await _plain(status if status in (404, 405) else 404, "not found")(scope, receive, send)


def cards_response(cards: Path) -> Response:
    """The printable cards (the caller checked the facilitator's token)."""
    try:
        text = cards.read_text(encoding="utf-8")
    except OSError:
        return _plain(404, "no cards yet: they are written when the server starts")
    return HTMLResponse(text, headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})


def is_install_path(path: str) -> bool:
    return path == INSTALL or path.startswith(INSTALL + "/")
