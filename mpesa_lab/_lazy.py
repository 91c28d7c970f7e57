"""Keep start-up cheap: defer the parts of our dependencies that no lab call needs, safely under
threads.

httpx imports its command-line client (``httpx._main``: click, rich, pygments; ~0.1 s) every
time ``import httpx`` runs, only to offer ``httpx.main``. Before httpx is first imported we put a
stand-in module in its place: ``httpx.main()`` and any other use of ``httpx._main`` still work,
they import the real module on first use. If httpx is already imported, nothing changes.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

_CLI = "httpx._main"


# One lock for every deferred first import of this module. Python's own import lock is per
# module, and a module sits in sys.modules from the moment its import *starts*: whoever reads it
# from there (or from a parent's attribute) before that import finished gets a half-initialised
# module ("partially initialized module 'phonenumbers' has no attribute ..."). A first import
# therefore runs under this lock and through importlib.import_module, which also waits on the
# module's own lock. Re-entrant: a deferred import may trigger another one in the same thread.
_IMPORT_LOCK = threading.RLock()


def _fully_imported(name: str) -> types.ModuleType | None:
    """The module ``name`` if its import has finished, else None (absent or still running)."""
    module = sys.modules.get(name)
    if module is None:
        return None
    spec = getattr(module, "__spec__", None)
    if spec is not None and getattr(spec, "_initializing", False):
        return None  # another thread is executing its body right now
    return module


class _DeferredHttpxCli(types.ModuleType):
    """Stands in for ``httpx._main`` until something actually uses it."""

    def _load(self) -> types.ModuleType:
        with _IMPORT_LOCK:
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
    with _IMPORT_LOCK:
        if "httpx" not in sys.modules and _CLI not in sys.modules:
            sys.modules[_CLI] = _STAND_IN


def import_on_first_use(name: str) -> types.ModuleType:
    """``import_module(name)``, safe under threads and safe to interrupt.

    Threads: the module is returned only once its import has finished; concurrent first uses
    wait for the one import (see ``_IMPORT_LOCK``). Call it from functions, not at module level:
    the lock is held while the module's body runs.

    Interrupts: a Ctrl-C in the middle of a first import (a notebook interrupting
    ``Lab.start()``) would leave half-imported modules behind, and the next attempt would fail
    on them (e.g. "module 'uvicorn' has no attribute 'logging'"). On any exception the modules
    this import added are forgotten, so the next try starts clean. (Under the lock no other
    deferred import runs meanwhile, and modules another thread is still importing are left.)"""
    module = _fully_imported(name)
    if module is not None:  # the common case: no lock
        return module
    with _IMPORT_LOCK:
        before = set(sys.modules)
        try:
            return importlib.import_module(name)
        except BaseException:
            for added in set(sys.modules) - before:
                if _fully_imported(added) is not None:
                    sys.modules.pop(added, None)
            raise
