"""Opening a store: a store that cannot be used refuses at start with one line saying what to do
(never "Waiting for callbacks..." then 503 for every callback), every entry point says that same
line, files are private whatever the umask, and the schema carries a version."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mpesa_lab.background import running_servers
from mpesa_lab.daraja.errors import MpesaLabError
from mpesa_lab.paths import lab_home
from mpesa_lab.store import CallbackStore, StoreError
from mpesa_lab.store.schema import APPLICATION_ID, SCHEMA, SCHEMA_VERSION

CLI = [sys.executable, "-m", "mpesa_lab.cli"]


def _corrupt_pages(path: Path) -> None:
    store = CallbackStore(path)
    for i in range(200):
        store.record_push(
            {"PhoneNumber": "254708374149", "Amount": i, "AccountReference": "x" * 400},
            {"CheckoutRequestID": f"ws_CO_{i}", "ResponseCode": "0"},
        )
    store.close()
    data = bytearray(path.read_bytes())
    data[4096 * 5 : 4096 * 5 + 3000] = os.urandom(3000)  # pages in the middle, not the header
    path.write_bytes(bytes(data))


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"this is a spreadsheet, not a database" * 100)


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")


def _newer(path: Path) -> None:
    CallbackStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")


def _wal_blocked(path: Path) -> None:
    # Nothing can be written: the WAL file's place is taken (works even for root, unlike chmod).
    CallbackStore(path).close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    Path(f"{path}-wal").mkdir()


def _filled(path: Path, rows: int = 50) -> None:
    store = CallbackStore(path)
    for i in range(rows):
        store.record_push({"PhoneNumber": "254708374149", "Amount": i}, {"CheckoutRequestID": f"ws_CO_{i}"})
    store.close()


def _table_dropped(path: Path) -> None:
    _filled(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE callbacks")


def _index_dropped(path: Path) -> None:
    _filled(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX callbacks_checkout")


def _column_dropped(path: Path) -> None:
    _filled(path)
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE queries DROP COLUMN result_code")


def _root_page_damaged(path: Path) -> None:
    """The callbacks table's root page overwritten: every callback's insert would fail."""
    _filled(path)
    with sqlite3.connect(path) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'callbacks'").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as fh:
        fh.seek((root - 1) * size)
        fh.write(b"\xa5" * size)


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "callbacks table dropped": (_table_dropped, "missing table callbacks"),
    "index dropped": (_index_dropped, "missing index callbacks_checkout"),
    "column dropped": (_column_dropped, "missing column queries.result_code"),
    "root page damaged": (_root_page_damaged, "damaged"),
    "corrupt pages": (_corrupt_pages, "damaged"),
    "not SQLite": (_not_sqlite, "damaged"),
    "foreign schema": (_foreign, "not an mpesa-lab callback store"),
    "newer schema": (_newer, "newer mpesa-lab"),
    "cannot write": (_wal_blocked, "store path"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_store_that_cannot_be_used_refuses_to_open_with_one_line(tmp_path, name):
    make, fragment = BROKEN[name]
    path = tmp_path / "store.sqlite"
    make(path)
    with pytest.raises(StoreError) as caught:
        CallbackStore(path)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message and "Traceback" not in message
    assert "pass" in message  # says what to do
    assert isinstance(caught.value, MpesaLabError)


@pytest.mark.parametrize("name", ["root page damaged", "callbacks table dropped"])
def test_a_damaged_store_too_big_for_the_full_check_still_refuses(tmp_path, monkeypatch, name):
    """Above the full check's size (256 MiB; it once skipped every check) the bounded check still
    finds damage where every callback's insert goes."""
    from mpesa_lab.store import schema as store_module

    make, fragment = BROKEN[name]
    path = tmp_path / "store.sqlite"
    make(path)
    monkeypatch.setattr(store_module, "FULL_CHECK_MAX_BYTES", 0, raising=False)
    monkeypatch.setattr(store_module, "_QUICK_CHECK_MAX_BYTES", 0, raising=False)
    with pytest.raises(StoreError, match=fragment) as caught:
        CallbackStore(path)
    assert "move it aside" in str(caught.value) and str(path) in str(caught.value)


def test_a_big_healthy_store_passes_the_bounded_check_unchanged(tmp_path, monkeypatch):
    from mpesa_lab.store import schema as store_module

    path = tmp_path / "store.sqlite"
    _filled(path, rows=20)
    monkeypatch.setattr(store_module, "FULL_CHECK_MAX_BYTES", 0)
    store = CallbackStore(path)
    try:
        assert store.count_pushes() == 20 and store.count_deliveries() == 0
        assert store.count_callbacks() == 0 and store.count_quarantined() == 0
    finally:
        store.close()


def test_a_foreign_database_is_left_untouched(tmp_path):
    path = tmp_path / "theirs.sqlite"
    _foreign(path)
    with pytest.raises(StoreError):
        CallbackStore(path)
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert tables == {"customers"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway")
def test_a_read_only_store_refuses_to_open(tmp_path):
    path = tmp_path / "ro.sqlite"
    CallbackStore(path).close()
    path.chmod(0o444)
    with pytest.raises(StoreError, match="writable"):
        CallbackStore(path)


def test_a_version_1_store_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS meta")[0])
        conn.execute("INSERT INTO pushes (at, at_ts, checkout_request_id) VALUES ('x', 1.0, 'ws_CO_OLD')")
        conn.execute("PRAGMA user_version = 1")
    store = CallbackStore(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert dict(conn.execute("SELECT key, value FROM meta"))["migrated_from"] == "1"
    assert store.count_pushes() == 1
    store.close()


def test_a_new_store_is_marked_with_its_version(tmp_path):
    CallbackStore(tmp_path / "new.sqlite").close()
    with sqlite3.connect(tmp_path / "new.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


# ---- permissions -------------------------------------------------------------------------------


@pytest.fixture
def open_umask():
    previous = os.umask(0o022)  # the common default: files 0644, folders 0755
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_lab_home_and_stores_are_private_whatever_the_umask(open_umask):
    store = CallbackStore()
    store.record_push({"PhoneNumber": "254708374149", "Amount": 1}, {"CheckoutRequestID": "ws_CO_P"})
    assert _mode(lab_home()) == 0o700
    assert _mode(lab_home() / "stores") == 0o700
    assert _mode(store.path) == 0o600
    wal = Path(f"{store.path}-wal")
    assert wal.exists() and _mode(wal) == 0o600
    store.close()


def test_an_existing_open_lab_home_is_tightened(open_umask):
    (lab_home() / "stores").mkdir(parents=True, mode=0o755)
    lab_home().chmod(0o755)
    old = lab_home() / "stores" / "old.sqlite"
    CallbackStore(old).close()
    old.chmod(0o644)
    CallbackStore(old).close()
    assert _mode(lab_home()) == 0o700 and _mode(old) == 0o600


def test_a_store_at_a_path_of_ones_own_is_private_too(tmp_path, open_umask):
    path = tmp_path / "mine" / "lab.sqlite"
    CallbackStore(path).close()
    assert _mode(path) == 0o600


# ---- every entry point: one line, never a traceback --------------------------------------------


@pytest.fixture
def env(tmp_path):
    environment = dict(os.environ, MPESA_LAB_HOME=str(tmp_path / "home"), COLUMNS="300", PYTHONUNBUFFERED="1")
    for name in ("MPESA_ENV", "MPESA_BASE_URL", "MPESA_CALLBACK_URL"):
        environment.pop(name, None)
    return environment


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(CLI + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "command",
    [
        ["listen", "--port", "0", "--db", "{store}"],
        ["demo", "--store", "{store}"],
    ],
)
@pytest.mark.parametrize("make", [_corrupt_pages, _table_dropped], ids=["corrupt pages", "table dropped"])
def test_cli_refuses_a_broken_store_with_one_line(tmp_path, env, command, make):
    store = tmp_path / "broken.sqlite"
    make(store)
    result = _run([part.format(store=store) for part in command], env, tmp_path)
    assert result.returncode != 0
    assert "Waiting for callbacks" not in result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "damaged" in lines[0], result.stderr


def test_cli_push_with_an_unusable_lab_home_says_so_in_one_line(tmp_path, env):
    blocker = tmp_path / "home-is-a-file"
    blocker.write_text("x")
    env["MPESA_LAB_HOME"] = str(blocker)
    result = _run(["push", "254708374149", "1"], env, tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "MPESA_LAB_HOME" in lines[0], result.stderr


def test_lab_start_raises_the_store_error_and_leaves_nothing_running(tmp_path):
    from mpesa_lab.lab import Lab

    store = tmp_path / "broken.sqlite"
    _foreign(store)
    before = set(running_servers())
    with pytest.raises(StoreError, match="not an mpesa-lab callback store"):
        Lab.start(store=store)
    assert set(running_servers()) == before
