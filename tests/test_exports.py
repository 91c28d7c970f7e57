"""Lazy package exports: declared as TYPE_CHECKING imports, imported on first use, thread-safe."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mpesa_lab._exports import lazy_exports


def _package(root: Path, name: str, init: str, modules: dict[str, str]) -> None:
    folder = root / name
    folder.mkdir()
    (folder / "__init__.py").write_text(textwrap.dedent(init))
    for module, body in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(body))


INIT = """
    from typing import TYPE_CHECKING
    from mpesa_lab._exports import lazy_exports
    if TYPE_CHECKING:
        from lazypkg.slow import Thing
        from .other import helper as assist
    __getattr__, __dir__, __all__ = lazy_exports(__name__)
"""
SLOW = """
    import time
    time.sleep(0.3)          # a module that takes a while: other threads must wait, not see it half-made
    class Thing:
        pass
"""


@pytest.fixture
def lazypkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _package(tmp_path, "lazypkg", INIT, {"slow": SLOW, "other": "def helper():\n    return 42\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n == "lazypkg" or n.startswith("lazypkg.")]:
        del sys.modules[name]


def test_names_come_from_the_type_checking_block_and_load_on_first_use(lazypkg: Path) -> None:
    import lazypkg

    assert lazypkg.__all__ == ["Thing", "assist"]
    assert "lazypkg.slow" not in sys.modules
    assert lazypkg.assist() == 42  # relative import and `as` name
    assert lazypkg.Thing.__name__ == "Thing" and "lazypkg.slow" in sys.modules
    assert {"Thing", "assist"} <= set(dir(lazypkg))
    with pytest.raises(AttributeError, match="module 'lazypkg' has no attribute 'Nothing'"):
        lazypkg.Nothing  # noqa: B018


def test_first_use_from_many_threads_at_once_sees_the_finished_module(lazypkg: Path) -> None:
    """In a fresh process (first imports only happen once), 16 threads ask at the same moment."""
    code = textwrap.dedent(f"""
        import sys, threading
        sys.path.insert(0, {str(lazypkg)!r})
        import lazypkg
        barrier = threading.Barrier(16)
        seen, errors = [], []
        def use():
            barrier.wait()
            try:
                seen.append(lazypkg.Thing)
            except Exception as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=use) for _ in range(16)]
        [t.start() for t in threads]; [t.join() for t in threads]
        print(len(seen), len(set(seen)), errors)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "16 1 []"


def test_the_packages_export_what_they_declare() -> None:
    import mpesa_lab.daraja
    import mpesa_lab.listener
    import mpesa_lab.store

    for package in (mpesa_lab.daraja, mpesa_lab.store, mpesa_lab.listener):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"


def test_a_package_without_a_block_exports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _package(tmp_path, "emptypkg", "", {})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("emptypkg")  # not `import emptypkg`: a linter drops an unused import
    try:
        assert lazy_exports("emptypkg")[2] == []
    finally:
        del sys.modules["emptypkg"]
