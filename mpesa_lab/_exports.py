"""Lazy package exports, declared once as real imports that every static tool can read.

A package lists what it exports as ordinary ``from ... import ...`` statements under
``if TYPE_CHECKING:`` (so type checkers, IDEs and import-graph tools see them), then calls
:func:`lazy_exports`, which reads that same block and imports each name on first use::

    if TYPE_CHECKING:
        from mpesa_lab.listener.server import Listener
    __getattr__, __dir__, __all__ = lazy_exports(__name__)

Why lazy at all: ``mpesa-lab --help`` and ``import mpesa_lab.lab`` stay fast (bench/bench_startup.py)
because a package's ``__init__`` does not import pandas, uvicorn or the store until a name is
used. First use from several threads at once is safe: ``importlib.import_module`` waits for a
module another thread is still importing.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Callable
from typing import Any


def _declared(path: str, package: str) -> dict[str, tuple[str, str]]:
    """name -> (module, attribute) from the ``if TYPE_CHECKING:`` imports of the file at ``path``."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    table: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")):
            continue
        for statement in node.body:
            if not isinstance(statement, ast.ImportFrom) or statement.module is None:
                continue
            module = statement.module
            if statement.level:  # relative: from .server import Listener
                module = importlib.util.resolve_name("." * statement.level + module, package)
            for alias in statement.names:
                table[alias.asname or alias.name] = (module, alias.name)
    return table


def lazy_exports(package: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """(``__getattr__``, ``__dir__``, ``__all__``) for the package named ``package``."""
    module = sys.modules[package]
    table = _declared(module.__file__ or "", package)

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(target[0]), target[1])
        setattr(module, name, value)  # once imported, a plain attribute: no second lookup
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(module), *table})

    return __getattr__, __dir__, sorted(table)
