"""Make a module answer calls: ``analytics.load(...)`` and ``analytics.report(...)``.

DESIGN.md names the modules load.py and report.py, and the one-call API is
``mpesa_lab.analytics.load(source)`` / ``mpesa_lab.analytics.report(source, out_dir)``. Importing
a submodule makes it the package's attribute of that name (replacing a function of the same
name), so the module itself forwards the call to its function.
"""

from __future__ import annotations

import sys
import types
from typing import Any


def make_callable(module_name: str, function_name: str) -> None:
    module = sys.modules[module_name]

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(self, function_name)(*args, **kwargs)

    module.__class__ = _CallableModule
