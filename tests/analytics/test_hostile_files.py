"""Hostile and broken files (issue 19, item 6): each gives one clear LoadError line that says what
is wrong and what to do, never a traceback, a hang or raw bytes; a few bad lines in a good log are
still counted, not fatal; limits keep memory bounded."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mpesa_lab.analytics.limits import LoadError
from mpesa_lab.analytics.sources import load
from mpesa_lab.errors import MpesaLabError


def line(cid: str, code: int = 0) -> str:
    return json.dumps(
        {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": "m",
                    "CheckoutRequestID": cid,
                    "ResultCode": code,
                    "ResultDesc": "d",
                }
            }
        }
    )


def garbage(size: int = 100_000, seed: int = 19) -> bytes:
    data = bytearray(random.Random(seed).randbytes(size))
    data[10] = 0  # (random bytes almost always hold a NUL; this one surely does)
    return bytes(data)


def refused(source: Path) -> str:
    with pytest.raises(LoadError) as caught:
        load(source)
    message = str(caught.value)
    assert isinstance(caught.value, MpesaLabError)
    assert "\n" not in message and message.isprintable() and message.isascii(), repr(message)
    assert str(source) in message
    return message


@pytest.mark.parametrize("name", ["calls.jsonl", "calls.json", "calls.ndjson", "calls.log"])
def test_binary_garbage_named_as_json_is_refused_in_one_line(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(garbage())
    message = refused(path)
    assert "not JSON text" in message and "NUL" in message
    assert "\\x" in message  # a short, escaped excerpt at most


def test_text_that_is_not_utf8_is_refused_too(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(bytes(range(0x80, 0x100)) * 50)
    assert "not UTF-8" in refused(path)


def test_garbage_named_parquet_is_refused(tmp_path):
    path = tmp_path / "day.parquet"
    path.write_bytes(garbage())
    assert "not a Parquet file" in refused(path)


def test_a_parquet_folder_with_one_garbage_file_names_it(tmp_path):
    (tmp_path / "export").mkdir()
    bad = tmp_path / "export" / "part-0.parquet"
    bad.write_bytes(b"PAR1" + garbage(5_000) + b"PAR1")  # the magic, and garbage between
    with pytest.raises(LoadError) as caught:
        load(tmp_path / "export")
    assert "Parquet data cannot be read" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["store.sqlite", "store.db", "store.sqlite3"])
def test_garbage_named_as_a_store_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(garbage())
    assert "not a SQLite database" in refused(path)


def test_a_sqlite_file_that_is_not_a_store_is_refused(tmp_path):
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    assert "not an mpesa-lab callback store" in refused(path)


def test_a_damaged_store_file_is_refused(tmp_path):
    from mpesa_lab.listener import CallbackStore

    path = tmp_path / "lab.sqlite"
    store = CallbackStore(path)
    for i in range(300):
        store.record_push(
            {"PhoneNumber": "254708374149", "Amount": i, "AccountReference": "x" * 300},
            {"CheckoutRequestID": f"ws_CO_{i}", "ResponseCode": "0"},
        )
    store.close()
    with sqlite3.connect(path) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'pushes'").fetchone()[0]
    with path.open("r+b") as fh:
        fh.seek((root - 1) * 4096)
        fh.write(b"\xa5" * 4096)
    assert "cannot be read" in refused(path)


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    fifo = tmp_path / "callbacks.jsonl"
    os.mkfifo(fifo)
    outcome: list[BaseException | object] = []
    worker = threading.Thread(target=lambda: outcome.append(_catch(fifo)), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # release the blocked reader before failing
        with open(fifo, "wb"):
            pass
        worker.join(10)
        pytest.fail("load() blocked on a FIFO")
    assert isinstance(outcome[0], LoadError), outcome
    assert "named pipe" in str(outcome[0]) and "\n" not in str(outcome[0])


def _catch(source: Path) -> BaseException | object:
    try:
        return load(source)
    except BaseException as exc:  # noqa: BLE001 - the test looks at it
        return exc


DEEP = 500_000


@pytest.mark.parametrize(
    "name, text",
    [
        ("deep.json", "[" * DEEP + "]" * DEEP),
        ("deep.jsonl", "[" * DEEP + "]" * DEEP + "\n"),
        ("deep-array.json", "[" + line("ws_CO_1") + "," + "[" * DEEP + "]" * DEEP + "]"),
        ("deep-object.jsonl", '{"a":' * DEEP + "1" + "}" * DEEP + "\n"),
    ],
)
def test_deep_nesting_is_a_problem_not_a_recursion_error(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    out = load(path)
    assert out.malformed == 1
    assert len(out.callbacks) == (1 if name == "deep-array.json" else 0)


def test_a_deep_line_in_a_good_log_is_counted_at_its_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(line("ws_CO_1") + "\n" + "[" * DEEP + "]" * DEEP + "\n" + line("ws_CO_2") + "\n")
    out = load(path)
    assert len(out.callbacks) == 2
    assert [p.location for p in out.problems] == ["log.jsonl:2"]


LONG = 40 << 20  # over the 16 MiB line limit, and over two of Arrow's blocks ("straddling object")


def test_a_file_of_one_enormous_line_is_refused(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"x": "' + "a" * LONG + '"}\n')
    assert "longer than 16 MiB" in refused(path)


@pytest.mark.parametrize("size", [LONG, (16 << 20) + 100], ids=["40 MiB", "just over 16 MiB"])
def test_an_enormous_line_in_a_good_log_is_skipped_at_its_line(tmp_path, size):
    path = tmp_path / "log.jsonl"
    path.write_text(line("ws_CO_1") + "\n" + '{"x": "' + "a" * size + '"}\n' + line("ws_CO_2") + "\n")
    out = load(path)
    assert sorted(out.callbacks["checkout_request_id"]) == ["ws_CO_1", "ws_CO_2"]
    assert [(p.location, p.kind) for p in out.problems] == [("log.jsonl:2", "malformed")]
    assert "16 MiB limit" in out.problems[0].detail


@pytest.mark.parametrize("bad", [b'{"Body": "\x01\x02"}', b'{"Body": "\xff\xfe"}', b"\x00\x00\x00"])
def test_a_few_binary_bytes_in_a_good_log_are_tolerated(tmp_path, bad):
    path = tmp_path / "log.jsonl"
    path.write_bytes((line("ws_CO_1") + "\n").encode() + bad + b"\n" + (line("ws_CO_2") + "\n").encode())
    out = load(path)
    assert len(out.callbacks) == 2
    assert [p.location for p in out.problems] == ["log.jsonl:2"]


def test_a_json_array_is_streamed_not_read_whole(tmp_path, monkeypatch):
    records = [json.loads(line(f"ws_CO_{i}", code=i % 3)) for i in range(12_000)]
    records[7]["Body"]["stkCallback"]["ResultDesc"] = "x" * 9_000_000  # straddles the 4 MiB blocks
    path = tmp_path / "big.json"
    path.write_text(json.dumps(records, indent=1))
    assert path.stat().st_size > 10 << 20

    def read_whole(self, *args, **kwargs):
        raise AssertionError(f"{self} was read whole")

    monkeypatch.setattr(Path, "read_text", read_whole)
    monkeypatch.setattr(Path, "read_bytes", read_whole)
    out = load(path)
    assert len(out.callbacks) == 12_000 and out.malformed == 0
    assert out.callbacks["result_desc"].str.len().max() == 9_000_000


def test_a_broken_array_keeps_its_elements_locations(tmp_path):
    path = tmp_path / "arr.json"
    path.write_text("[" + line("ws_CO_1") + ", 7, " + line("ws_CO_2") + ", {broken")
    out = load(path)
    assert sorted(out.callbacks["checkout_request_id"]) == ["ws_CO_1", "ws_CO_2"]
    assert sorted(p.location for p in out.problems) == ["arr.json[1]", "arr.json[3]"]


def test_a_folder_does_not_follow_symlinks_out_of_it(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "theirs.jsonl").write_text(line("ws_CO_outside") + "\n")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.jsonl").write_text(line("ws_CO_a") + "\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.jsonl").write_text(line("ws_CO_b") + "\n")
    (folder / "link.jsonl").symlink_to(outside / "theirs.jsonl")
    (folder / "dir-link").symlink_to(outside)
    (folder / "inside-link.jsonl").symlink_to(folder / "sub" / "b.jsonl")
    os.mkfifo(folder / "pipe.jsonl")
    out = load(folder)
    assert "ws_CO_outside" not in set(out.callbacks["checkout_request_id"])
    assert set(out.callbacks["checkout_request_id"]) == {"ws_CO_a", "ws_CO_b"}
    skipped = {p.location: p.detail for p in out.problems if p.kind == "skipped_file"}
    assert "outside the folder" in skipped["link.jsonl"] and "outside the folder" in skipped["dir-link"]
    assert "not a regular file" in skipped["pipe.jsonl"]


def test_a_single_json_document_over_the_limit_is_skipped_with_how_to_convert_it(tmp_path, monkeypatch):
    from mpesa_lab.analytics import limits

    monkeypatch.setattr(limits, "MAX_JSON_DOCUMENT_BYTES", 4096)
    (tmp_path / "small.json").write_text(line("ws_CO_small"))
    big = json.loads(line("ws_CO_big"))
    big["Body"]["stkCallback"]["ResultDesc"] = "x" * 5000
    (tmp_path / "big.json").write_text(json.dumps(big))
    out = load(tmp_path)
    assert list(out.callbacks["checkout_request_id"]) == ["ws_CO_small"]
    [problem] = out.problems
    assert problem.location == "big.json" and problem.kind == "skipped_file" and "jq -c" in problem.detail


def test_a_garbage_file_in_a_folder_is_skipped_not_fatal(tmp_path):
    (tmp_path / "a.jsonl").write_text(line("ws_CO_a") + "\n")
    (tmp_path / "b.jsonl").write_bytes(garbage())
    out = load(tmp_path)
    assert list(out.callbacks["checkout_request_id"]) == ["ws_CO_a"]
    assert [(p.location, p.kind) for p in out.problems] == [("b.jsonl", "skipped_file")]


@pytest.mark.parametrize("make", ["garbage", "fifo", "deep", "not-a-store"])
def test_mpesa_lab_report_says_one_thing_and_exits_non_zero(tmp_path, make):
    source = tmp_path / ("in.sqlite" if make == "not-a-store" else "in.jsonl")
    if make == "garbage":
        source.write_bytes(garbage())
    elif make == "fifo":
        os.mkfifo(source)
    elif make == "deep":
        source.write_text("[" * DEEP + "]" * DEEP)
    else:
        source.write_bytes(garbage())
    env = {**os.environ, "MPESA_LAB_HOME": str(tmp_path / "home")}
    env.pop("COLUMNS", None)  # 80 columns: the error must still be one line
    result = subprocess.run(
        [sys.executable, "-m", "mpesa_lab.cli", "report", str(source), "--out", str(tmp_path / "report")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert "Traceback" not in result.stderr + result.stdout
    if make == "deep":  # a file of one bad record: nothing to report, and the line says why
        said = [text for text in result.stderr.splitlines() if text.strip()]
        assert result.returncode == 1 and len(said) == 1, result.stderr
        assert "Nothing to report" in said[0] and "nested deeper than 1,000 levels" in said[0]
        return
    assert result.returncode != 0
    said = [text for text in result.stderr.splitlines() if text.strip()]
    assert len(said) == 1 and str(source) in said[0], result.stderr


def test_the_cli_prints_a_path_with_brackets_literally(tmp_path: Path) -> None:
    """rich markup is off for errors: "[bold]" in a file name is shown, not swallowed."""
    source = tmp_path / "log[bold]x.jsonl"
    source.write_bytes(garbage())
    env = {**os.environ, "MPESA_LAB_HOME": str(tmp_path / "home")}
    env.pop("COLUMNS", None)
    result = subprocess.run(
        [sys.executable, "-m", "mpesa_lab.cli", "report", str(source), "--out", str(tmp_path / "report")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    said = [text for text in result.stderr.splitlines() if text.strip()]
    assert result.returncode == 2 and len(said) == 1 and "log[bold]x.jsonl" in said[0], result.stderr
