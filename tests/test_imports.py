"""The import graph: a call imports what it needs, not what some other call might.

Each check runs in a fresh interpreter and looks at ``sys.modules`` (the times themselves are
measured in bench/bench_startup.py, not here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Heavy or unrelated to the call: analysis stack, terminal UI, the httpx CLI's deps, uvicorn's
# process supervisors, phonenumbers' carrier data, the tunnel's pyngrok.
HEAVY = (
    "pandas",
    "numpy",
    "matplotlib",
    "duckdb",
    "pyarrow",
    "ipywidgets",
    "rich",
    "click",
    "pygments",
    "multiprocessing",
    "uvicorn",
    "phonenumbers",
    "pyngrok",
    "dotenv",
    "jinja2",
)


def modules_after(code: str, tmp_path: Path) -> set[str]:
    script = code + "\nimport json, sys\nprint('\\n' + json.dumps(sorted(sys.modules)))\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPESA_LAB_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


def test_import_lab_loads_no_heavy_or_unneeded_module(tmp_path):
    modules = modules_after("import mpesa_lab.lab", tmp_path)
    assert loaded(modules, HEAVY) == []
    # the merchant side never imports the emulator; the CLI module of httpx is deferred
    assert not any(m.startswith("mpesa_lab.emulator") for m in modules)
    assert "mpesa_lab.lab" in modules and "httpx" in modules


def test_the_templates_load_jinja2_on_first_render_only(tmp_path):
    """The rich display (and with it the templates' seam) imports without jinja2; a card needs it."""
    code = (
        "import sys\nimport mpesa_lab.display as display\nassert 'jinja2' not in sys.modules\n"
        "assert 'mpesa-lab' in display.badge('running', 'mpesa-lab')\n"
    )
    modules = modules_after(code, tmp_path)
    assert "mpesa_lab._templates" in modules and "jinja2" in modules


def test_cli_help_loads_no_rich_no_client_no_servers(tmp_path):
    code = (
        "import contextlib, io, sys\nfrom mpesa_lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        "assert 'listen' in out.getvalue() and 'sandbox' in out.getvalue()\n"
    )
    modules = modules_after(code, tmp_path)
    assert loaded(modules, HEAVY + ("httpx", "starlette", "sqlite3")) == []
    assert (
        loaded(
            modules,
            (
                "mpesa_lab.listener.server",
                "mpesa_lab.store.core",
                "mpesa_lab.listener.tunnel",
                "mpesa_lab.daraja.client",
                "mpesa_lab.lab",
            ),
        )
        == []
    )


def test_listen_help_still_shows_the_listener_options(tmp_path):
    code = (
        "import contextlib, io\nfrom mpesa_lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n        main(['listen', '--help'])\n    except SystemExit:\n        pass\n"
        "assert '--expose' in out.getvalue() and '--max-body' in out.getvalue(), out.getvalue()\n"
    )
    modules = modules_after(code, tmp_path)
    assert "mpesa_lab.listener.server" not in modules and "rich" not in modules


def test_httpx_command_line_still_works_when_deferred(tmp_path):
    code = (
        "import contextlib, io, sys\nimport mpesa_lab.lab, httpx\n"
        "assert 'click' not in sys.modules\n"
        "sys.argv = ['httpx', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n        httpx.main()\n    except SystemExit:\n        pass\n"
        "assert 'Usage' in out.getvalue(), out.getvalue()\n"
        "from httpx._main import print_help\n"
    )
    modules = modules_after(code, tmp_path)
    assert "click" in modules  # loaded on first use, and working


# What a learner's own app imports: mpesa_lab's library modules leave their httpx alone (issue 20:
# no module replaces another package's module); only the entry points opt in (mpesa_lab._startup).
HTTPX_CLI_IS_REAL = (
    "import sys, types\nimport httpx\ncli = sys.modules['httpx._main']\n"
    "assert type(cli) is types.ModuleType and cli.__spec__ is not None, cli\n"
    "assert 'click' in sys.modules\n"
)


@pytest.mark.parametrize(
    "imports",
    [
        "import mpesa_lab",
        "import mpesa_lab.daraja",
        "from mpesa_lab.daraja import DarajaClient",
        "from mpesa_lab.listener import Listener",
    ],
)
def test_a_library_import_leaves_httpx_untouched(tmp_path, imports):
    modules_after(imports + "\n" + HTTPX_CLI_IS_REAL, tmp_path)


@pytest.mark.parametrize(
    "entry_point",
    [
        "import mpesa_lab.lab",
        "import contextlib, io\nfrom mpesa_lab.cli import main\nwith contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n",
    ],
)
def test_the_entry_points_opt_in_to_deferring_the_httpx_cli(tmp_path, entry_point):
    code = (
        entry_point + "\nimport sys, httpx\nfrom mpesa_lab import _startup\n"
        "assert sys.modules['httpx._main'] is _startup._STAND_IN\n"
    )
    assert "click" not in modules_after(code, tmp_path)


def test_listener_package_names_resolve_lazily(tmp_path):
    code = (
        "import mpesa_lab.listener as listener\n"
        "assert 'mpesa_lab.store.core' not in __import__('sys').modules\n"
        "from mpesa_lab.listener import CallbackStore, Listener, DEFAULT_MAX_BODY_BYTES\n"
        "assert set(listener.__all__) <= set(dir(listener))\n"
        "for name in listener.__all__:\n    getattr(listener, name)\n"
    )
    modules = modules_after(code, tmp_path)
    assert "mpesa_lab.store.core" in modules and "pandas" not in modules


def test_a_push_validates_phones_with_phonenumbers_on_first_use(tmp_path):
    code = (
        "from mpesa_lab.daraja.requests import normalize_phone\n"
        "import sys\nassert 'phonenumbers' not in sys.modules\n"
        "assert normalize_phone('0722 000 000') == '254722000000'\n"
    )
    assert "phonenumbers.carrier" in modules_after(code, tmp_path)


def test_an_interrupted_first_import_leaves_nothing_half_done(tmp_path, monkeypatch):
    from mpesa_lab._lazy import import_on_first_use

    package = tmp_path / "halfpkg"
    package.mkdir()
    (package / "__init__.py").write_text("from halfpkg import helper\nfrom halfpkg import slow\n")
    (package / "helper.py").write_text("VALUE = 1\n")
    # the first import of `slow` is interrupted (Ctrl-C), as a notebook user might do
    (package / "slow.py").write_text(
        "import pathlib\nflag = pathlib.Path(__file__).with_name('interrupted')\n"
        "if not flag.exists():\n    flag.touch()\n    raise KeyboardInterrupt\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(KeyboardInterrupt):
            import_on_first_use("halfpkg")
        assert not any(m == "halfpkg" or m.startswith("halfpkg.") for m in sys.modules)
        module = import_on_first_use("halfpkg")
        assert module.helper.VALUE == 1 and module.slow is sys.modules["halfpkg.slow"]
    finally:
        for name in [m for m in sys.modules if m == "halfpkg" or m.startswith("halfpkg.")]:
            del sys.modules[name]
