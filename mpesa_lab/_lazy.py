"""Keep start-up cheap: defer the parts of our dependencies that no lab call needs.

httpx imports its command-line client (``httpx._main``: click, rich, pygments; ~0.1 s) every
time ``import httpx`` runs, only to offer ``httpx.main``. Before httpx is first imported we put a
stand-in module in its place: ``httpx.main()`` and any other use of ``httpx._main`` still work,
they import the real module on first use. If httpx is already imported, nothing changes.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_CLI = "httpx._main"


class _DeferredHttpxCli(types.ModuleType):
    """Stands in for ``httpx._main`` until something actually uses it."""

    def _load(self) -> types.ModuleType:
        if sys.modules.get(_CLI) is self:
            del sys.modules[_CLI]
        real = importlib.import_module(_CLI)
        parent = sys.modules.get("httpx")
        if parent is not None and getattr(parent, "_main", None) is self:
            parent._main = real  # type: ignore[attr-defined]
        return real

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(self._load(), name)


def _main(*args: Any, **kwargs: Any) -> Any:
    """httpx's command line, imported on first call."""
    return _STAND_IN._load().main(*args, **kwargs)


_STAND_IN = _DeferredHttpxCli(_CLI, "httpx's command-line client, imported on first use by mpesa_lab._lazy")
_STAND_IN.main = _main  # type: ignore[attr-defined]


def defer_httpx_cli() -> None:
    """Install the stand-in, unless httpx (or its CLI) is already imported."""
    if "httpx" not in sys.modules and _CLI not in sys.modules:
        sys.modules[_CLI] = _STAND_IN


def import_on_first_use(name: str) -> types.ModuleType:
    """``import_module(name)``, made safe to interrupt: a Ctrl-C in the middle of a first import
    (a notebook interrupting ``Lab.start()``) would leave half-imported modules behind, and the
    next attempt would fail on them (e.g. "module 'uvicorn' has no attribute 'logging'"). On any
    exception the modules this import added are forgotten, so the next try starts clean."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    before = set(sys.modules)
    try:
        return importlib.import_module(name)
    except BaseException:
        for added in set(sys.modules) - before:
            sys.modules.pop(added, None)
        raise
