"""The one start-up trick, behind a seam that entry points opt into: :func:`defer_httpx_cli`.

``import httpx`` always imports httpx's own command-line client (``httpx._main``: click,
pygments, rich), only to offer ``httpx.main``; no request needs it. :func:`defer_httpx_cli`
puts a stand-in module in ``sys.modules["httpx._main"]`` before httpx is first imported:
``httpx.main()`` and any other use of ``httpx._main`` still work, they import the real module on
first use. If httpx (or its CLI) is already imported, nothing changes.

It replaces another package's module, so nothing calls it on import of ``mpesa_lab`` or of a
library module a learner's own app imports (``mpesa_lab.daraja``, ``mpesa_lab.listener``): only
the entry points whose process start-up is measured call it, each once, before they import
httpx:

- ``mpesa_lab.lab`` (a notebook's first import: ``from mpesa_lab.lab import Lab``);
- ``mpesa_lab.cli.main`` (the ``mpesa-lab`` command).

What it buys (issue 20): CPU seconds (user+sys) of a fresh ``python -c "import ..."``, fastest /
median of 15 rounds, trees alternating in the same run on 2 shared cores (``python -c pass``:
0.03); wall time on that loaded machine was too noisy to tell (bench/bench_startup.py, 0.25 s
target, measured 0.15 s unloaded with the stand-in):

==================================  ==================  ==================
                                    with the stand-in   without
``import mpesa_lab.lab``            0.22 / 0.28         0.28 / 0.41
``import mpesa_lab.daraja.client``  0.16 / 0.22         0.21 / 0.30
==================================  ==================  ==================

About a third of what the lab's import costs above Python itself, against a 0.25 s target
(bench/bench_startup.py). It cannot be had another way: httpx's package ``__init__`` imports
``_main`` unconditionally, and the lab's import needs the client, which needs httpx (importing
the client in ``Lab.start()`` instead would only move the cost into its 0.5 s target).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from mpesa_lab._lazy import IMPORT_LOCK

_CLI = "httpx._main"


class _DeferredHttpxCli(types.ModuleType):
    """Stands in for ``httpx._main`` until something actually uses it."""

    def _load(self) -> types.ModuleType:
        # Under the deferred imports' one lock: two threads using httpx.main() at once import the
        # real module once, and neither sees it half-imported (see mpesa_lab._lazy).
        with IMPORT_LOCK:
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
    """httpx's command line (what ``httpx.main`` is bound to), imported on first call."""
    return _STAND_IN._load().main(*args, **kwargs)


_STAND_IN = _DeferredHttpxCli(_CLI, "httpx's command-line client, imported on first use (mpesa_lab._startup)")
# A plain function, not a method: httpx's __init__ sets ``__module__`` on everything it exports.
_STAND_IN.main = _main  # type: ignore[attr-defined]


def defer_httpx_cli() -> None:
    """Install the stand-in for ``httpx._main``, unless httpx (or its CLI) is already imported.

    For entry points only (see the module's docstring); calling it again does nothing."""
    with IMPORT_LOCK:
        if "httpx" not in sys.modules and _CLI not in sys.modules:
            sys.modules[_CLI] = _STAND_IN
