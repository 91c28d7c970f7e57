"""Deferred imports that are safe under threads and safe to interrupt: :func:`import_on_first_use`.

Heavy dependencies (phonenumbers, uvicorn) are imported by the call that needs them, not with
the module that uses them. ``IMPORT_LOCK`` is shared with :mod:`mpesa_lab._startup`, whose
stand-in module imports the real one under it.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types

# One lock for every deferred first import of this module. Python's own import lock is per
# module, and a module sits in sys.modules from the moment its import *starts*: whoever reads it
# from there (or from a parent's attribute) before that import finished gets a half-initialised
# module ("partially initialized module 'phonenumbers' has no attribute ..."). A first import
# therefore runs under this lock and through importlib.import_module, which also waits on the
# module's own lock. Re-entrant: a deferred import may trigger another one in the same thread.
IMPORT_LOCK = threading.RLock()


def _fully_imported(name: str) -> types.ModuleType | None:
    """The module ``name`` if its import has finished, else None (absent or still running)."""
    module = sys.modules.get(name)
    if module is None:
        return None
    spec = getattr(module, "__spec__", None)
    if spec is not None and getattr(spec, "_initializing", False):
        return None  # another thread is executing its body right now
    return module


def import_on_first_use(name: str) -> types.ModuleType:
    """``import_module(name)``, safe under threads and safe to interrupt.

    Threads: the module is returned only once its import has finished; concurrent first uses
    wait for the one import (see ``IMPORT_LOCK``). Call it from functions, not at module level:
    the lock is held while the module's body runs.

    Interrupts: a Ctrl-C in the middle of a first import (a notebook interrupting
    ``Lab.start()``) would leave half-imported modules behind, and the next attempt would fail
    on them (e.g. "module 'uvicorn' has no attribute 'logging'"). On any exception the modules
    this import added are forgotten, so the next try starts clean. (Under the lock no other
    deferred import runs meanwhile, and modules another thread is still importing are left.)"""
    module = _fully_imported(name)
    if module is not None:  # the common case: no lock
        return module
    with IMPORT_LOCK:
        before = set(sys.modules)
        try:
            return importlib.import_module(name)
        except BaseException:
            for added in set(sys.modules) - before:
                if _fully_imported(added) is not None:
                    sys.modules.pop(added, None)
            raise
