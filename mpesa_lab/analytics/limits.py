"""What a file must be before the loader reads it, and the limits that keep a hostile or broken
one from hanging, exhausting or crashing it (docs/limits.md, "Files and stores").

Each check either passes or raises :class:`LoadError`, one line that says what is wrong with the
file and how to fix it. Raw bytes from the file are never echoed: at most a short escaped
excerpt. A few bad lines in a good log are not refused here: the loader counts them as problems.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from mpesa_lab.errors import MpesaLabError

#: A single ``.json`` document in a folder (an object, not an array: arrays stream) is parsed
#: whole by Python's ``json``, which holds its text and every object: a bigger one is skipped,
#: with how to turn it into JSON lines.
MAX_JSON_DOCUMENT_BYTES = 256 << 20
#: A line of a JSON lines file longer than this is skipped as malformed (a callback is about
#: 1 kB; the listener refuses bodies over 64 kB). The line reader works in blocks of this size.
MAX_LINE_BYTES = 16 << 20
#: How much of a file's start is looked at to tell text from binary data.
SNIFF_BYTES = 64 << 10
#: What a file's start is shown as, at most, in a message (escaped).
EXCERPT_BYTES = 24

SQLITE_MAGIC = b"SQLite format 3\x00"
PARQUET_MAGIC = b"PAR1"
SQLITE_SUFFIXES = {".sqlite", ".sqlite3", ".db"}
TO_JSON_LINES = (
    "convert it to JSON lines (one callback per line), which is read in a stream: jq -c '.[]' FILE > FILE.jsonl"
)


class LoadError(MpesaLabError, ValueError):
    """The source itself cannot be read (missing, of a kind we do not know, not what its name
    says, or beyond a limit); the message is one line saying what to do."""


def excerpt(data: bytes, limit: int = EXCERPT_BYTES) -> str:
    """The first bytes of ``data`` as printable ASCII, everything else escaped (``\\x89``)."""
    shown = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in data[:limit])
    return f"'{shown}{'...' if len(data) > limit else ''}'"


def one_line(text: object, limit: int = 200) -> str:
    """A library's error message as one short printable line (it may quote the file's bytes)."""
    flat = " ".join(str(text).split())
    flat = "".join(ch if ch.isprintable() and ord(ch) < 0x2000 else "?" for ch in flat)
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def regular_file(path: Path) -> os.stat_result:
    """``path``'s status, if it is a regular file: a FIFO would block the read forever, a device
    never ends."""
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(status.st_mode)
            else "a socket"
            if stat.S_ISSOCK(status.st_mode)
            else "a device"
            if stat.S_ISCHR(status.st_mode) or stat.S_ISBLK(status.st_mode)
            else "not a regular file"
        )
        raise LoadError(
            f"{path} is {kind}, not a file: save the data to a file first "
            "(e.g. cat PIPE > callbacks.jsonl) and pass that"
        )
    return status


def head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def binary_reason(start: bytes) -> str | None:
    """Why the start of a file is not text (NUL bytes, not UTF-8, control characters), or None."""
    if not start:
        return None
    if b"\x00" in start:
        return "it holds NUL bytes"
    try:
        start.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(start) - 3:  # (a character cut by the sample's end is fine)
            return f"it is not UTF-8 text (byte {exc.start})"
    controls = sum(start.count(bytes([b])) for b in (*range(1, 9), *range(14, 32), 127))
    if controls > len(start) // 20:
        return "it is mostly control characters"
    return None


def has_a_json_record(start: bytes) -> bool:
    """Whether any whole line of ``start`` is a JSON object (a log with a few bad lines)."""
    for line in start.split(b"\n")[:-1] or [start]:
        line = line.strip()
        if line.startswith(b"{") and line.endswith(b"}"):
            try:
                if isinstance(json.loads(line), dict):
                    return True
            except (ValueError, RecursionError):
                continue
    return False


def check_json_text(path: Path, start: bytes) -> None:
    """Refuse a file that is binary data from its start with no JSON record in it (the wrong file,
    or a binary format under a .json name); a log with a few broken lines passes."""
    reason = binary_reason(start)
    if reason is not None and not has_a_json_record(start):
        raise LoadError(
            f"{path} is not JSON text: {reason}; it starts {excerpt(start)}. Pass a JSON "
            "lines file of callbacks, a store (.sqlite), CSV or Parquet"
        )


def check_sqlite_file(path: Path, start: bytes) -> None:
    """A file named like a store that is not SQLite."""
    if path.suffix.lower() in SQLITE_SUFFIXES and not start.startswith(SQLITE_MAGIC):
        raise LoadError(
            f"{path} is not a SQLite database (it starts {excerpt(start)}): pass the "
            "callback store the listener wrote (mpesa-lab listen --db PATH)"
        )


def check_parquet_file(path: Path) -> None:
    """Parquet begins and ends with PAR1; anything else would reach DuckDB as garbage."""
    size = regular_file(path).st_size
    with path.open("rb") as fh:
        start = fh.read(4)
        fh.seek(max(0, size - 4))
        end = fh.read(4)
    if size < 12 or start != PARQUET_MAGIC or end != PARQUET_MAGIC:
        raise LoadError(
            f"{path} is not a Parquet file (it starts {excerpt(start)} and should "
            "start and end with PAR1; cut short or another format?): pass the file "
            "analytics.export wrote, or remove this one"
        )


def inside(folder: Path, path: Path) -> bool:
    """Whether ``path`` (symlinks resolved) is within ``folder`` (already resolved)."""
    try:
        path.resolve().relative_to(folder)
    except (ValueError, OSError, RuntimeError):  # outside, or a symlink loop
        return False
    return True
