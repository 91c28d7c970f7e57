"""The store's large-store reader off Linux, exercised here: Windows has no ``fork`` and no
``os.statvfs`` and cannot delete a file it still maps; macOS must not fork without exec. The
branches are chosen by ``sys.platform``/``os`` and run for real on Linux: the second reader
started with multiprocessing's ``spawn`` method, and the tables read without memory maps."""

from __future__ import annotations

import os
import sys

import pytest

from mpesa_lab.store import arrow
from mpesa_lab.store.arrow import read_store
from tests.store.test_views_schema import _fill


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    from mpesa_lab.store import CallbackStore

    store = CallbackStore(tmp_path_factory.mktemp("platforms") / "platforms.sqlite")
    _fill(store, n=40)
    store.close()
    return store.path


@pytest.mark.parametrize(
    ("platform", "method", "mapped"), [("linux", "fork", True), ("win32", "spawn", False), ("darwin", "spawn", True)]
)
def test_each_platform_gets_a_reader_it_can_run(monkeypatch, platform, method, mapped):
    monkeypatch.setattr(sys, "platform", platform)
    assert arrow.start_method() == method
    assert arrow._mapped_reads() is mapped


def test_no_statvfs_means_the_temp_folder(monkeypatch):
    monkeypatch.delattr(os, "statvfs", raising=False)  # as on Windows (was an AttributeError)
    assert arrow._scratch_dir() is None


def test_the_spawned_reader_without_maps_gives_the_same_tables(store_path, tmp_path, monkeypatch):
    here = read_store(store_path, for_view="callbacks")
    # the reader process, run here, with the Windows/macOS choices (a real spawn, no memory maps)
    monkeypatch.setattr(arrow, "start_method", lambda: "spawn")
    monkeypatch.setattr(arrow, "_mapped_reads", lambda: False)
    folder = tmp_path / "out"
    folder.mkdir()
    arrow._child(str(store_path), "callbacks", str(folder))
    assert sorted(os.listdir(folder)) == sorted(f"{name}.arrow" for name in here)
    assert "callbacks.arrow" in os.listdir(folder)  # the spawned process's table
    import pyarrow as pa

    for name in here:
        with pa.OSFile(str(folder / f"{name}.arrow")) as source:
            spawned = pa.ipc.open_file(source).read_all()
        assert spawned.num_rows == here[name].num_rows and spawned.num_rows > 0, name
        assert spawned.column_names == here[name].column_names, name
    # and the whole read through the child process, with files read into memory (Windows)
    child = read_store(store_path, for_view="transactions", subprocess_rows=0)
    assert {name: table.num_rows for name, table in child.items()} == {
        name: table.num_rows for name, table in read_store(store_path, for_view="transactions").items()
    }
