"""The tolerant line-by-line reader: JSON lines, JSON arrays and folders of .json files.

Every record becomes one line of JSON text with a global number ``n`` (and where it came from:
``file:line``, ``file[i]``); DuckDB extracts the fields of all of them in one SQL statement
(``json_sql.FAST``, and ``json_sql.EXTRACT`` for the lines the fast one cannot vouch for). A
line that is not a callback is a problem at its line, never fatal. A JSON lines file that is
clean throughout is read whole by ``json_scan`` instead, for the same frames.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab.analytics import json_scan, json_sql, limits
from mpesa_lab.analytics.limits import LoadError
from mpesa_lab.analytics.outcomes import (
    MAX_PROBLEMS_KEPT,
    Outcomes,
    Problem,
    Progress,
    from_records,
    note_unknown_codes,
)
from mpesa_lab.store import frames

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

JSON_SUFFIXES = {".json", ".jsonl", ".ndjson", ".log", ".txt"}

#: what a record nested past Python's JSON reader (about 1,000 levels) is reported as
TOO_DEEP = f"nested deeper than {sys.getrecursionlimit():,} levels (a callback is 5 deep): not a callback"


_ELEMENTS = -2  # a span's offset when its rows are the elements of a JSON array (name[i])


@dataclass
class _Lines:
    """Lines of JSON text with a global number each, and where each number came from."""

    tables: list[pa.Table] = field(default_factory=list)  # columns: n (int64), line (string)
    spans: list[tuple[int, str, int]] = field(default_factory=list)  # (first n, name, offset)
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    next_n: int = 1

    def add_table(self, name: str, lines: pa.Array | pa.ChunkedArray, first_line: int = 1) -> None:
        import numpy as np
        import pyarrow as pa

        n = np.arange(self.next_n, self.next_n + len(lines), dtype="int64")
        self.spans.append((self.next_n, name, first_line - 1))
        if isinstance(lines, pa.ChunkedArray):  # kept in the reader's chunks: no copy
            n = (
                pa.chunked_array(np.split(n, np.cumsum([len(c) for c in lines.chunks])[:-1]), pa.int64())
                if lines.num_chunks
                else pa.chunked_array([], pa.int64())
            )
            lines = pa.chunked_array([c.cast(pa.large_string()) for c in lines.chunks], pa.large_string())
        else:
            lines = lines.cast(pa.large_string())
        self.tables.append(pa.table({"n": n, "line": lines}))
        self.next_n += len(lines)

    def add_records(self, name: str, records: list[tuple[str, Any]]) -> None:
        """Decoded records with a location label each (JSON arrays, single files)."""
        import pyarrow as pa

        for label, record in records:
            self.spans.append((self.next_n, label, -1))
            self.tables.append(
                pa.table(
                    {
                        "n": pa.array([self.next_n], pa.int64()),
                        "line": pa.array([json.dumps(record)], pa.large_string()),
                    }
                )
            )
            self.next_n += 1

    def problem(self, location: str, kind: str, detail: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(Problem(location, kind, detail))

    def locate(self, n: int) -> str:
        import bisect

        starts = [s for s, _, _ in self.spans]
        i = bisect.bisect_right(starts, n) - 1
        if i < 0:
            return f"record {n}"
        start, name, offset = self.spans[i]
        if offset == _ELEMENTS:
            return f"{name}[{n - start}]"
        return name if offset < 0 else f"{name}:{n - start + 1 + offset}"


def _read_lines(path: Path, progress: Progress | None, name: str, lines: _Lines) -> None:
    """Every line of a text file into ``lines``: by Arrow's reader, or, for a file it refuses (a
    line longer than its block, text that is not UTF-8), by the careful reader."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        fast = _read_lines_fast(path, progress)
        if len(fast) and (pc.max(pc.binary_length(fast)).as_py() or 0) > limits.MAX_LINE_BYTES:
            raise pa.ArrowInvalid("a line over the limit")  # (Arrow reads up to two blocks)
        lines.add_table(name, fast)
    except pa.ArrowInvalid:
        text, overlong = _read_lines_carefully(path, progress)
        if overlong and not pc.any(pc.not_equal(pc.utf8_trim_whitespace(text), "")).as_py():
            raise LoadError(
                f"{path} is not a JSON lines log: every line is longer than "
                f"{limits.MAX_LINE_BYTES >> 20} MiB (a callback is about 1 kB). Pass "
                "a file of one callback per line"
            ) from None
        for number, size in overlong[:MAX_PROBLEMS_KEPT]:
            lines.problem(
                f"{name}:{number}",
                "malformed",
                f"a line of {size / (1 << 20):,.1f} MiB, over the "
                f"{limits.MAX_LINE_BYTES >> 20} MiB limit for one callback; skipped",
            )
        lines.add_table(name, text)


def _read_lines_carefully(path: Path, progress: Progress | None) -> tuple[pa.ChunkedArray, list[tuple[int, int]]]:
    """Every line as text, bytes that are not UTF-8 replaced (U+FFFD), and a line longer than
    ``limits.MAX_LINE_BYTES`` left empty and never held (its number and size returned). Python,
    so only for the files Arrow's reader refuses."""
    import pyarrow as pa

    total = path.stat().st_size
    chunks: list[pa.Array] = []
    texts: list[str] = []
    overlong: list[tuple[int, int]] = []
    pending, size, number, done = bytearray(), 0, 0, 0

    def end_line() -> None:
        nonlocal pending, size, number
        number += 1
        if size > limits.MAX_LINE_BYTES:
            overlong.append((number, size))
            texts.append("")
        else:
            texts.append(bytes(pending).rstrip(b"\r").decode("utf-8", "replace"))
        pending, size = bytearray(), 0

    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(4 << 20), b""):
            pieces = block.split(b"\n")
            for i, piece in enumerate(pieces):
                size += len(piece)
                if size <= limits.MAX_LINE_BYTES:
                    pending += piece
                elif pending:
                    pending = bytearray()
                if i < len(pieces) - 1:
                    end_line()
            if len(texts) >= 65536:
                chunks.append(pa.array(texts, pa.large_string()))
                texts = []
            done += len(block)
            if progress is not None:
                progress(done, total)
    if size or pending:
        end_line()
    chunks.append(pa.array(texts, pa.large_string()))
    return pa.chunked_array(chunks, pa.large_string()), overlong


def _read_lines_fast(path: Path, progress: Progress | None) -> pa.ChunkedArray:
    """Every line of a text file as Arrow strings (multi-threaded, no quoting), in the reader's
    chunks: concatenating them would copy the whole file once more."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    total = path.stat().st_size
    if total == 0:
        return pa.array([], pa.large_string())
    read = pacsv.ReadOptions(column_names=["line"], block_size=limits.MAX_LINE_BYTES, use_threads=True)
    parse = pacsv.ParseOptions(
        delimiter="\x01", quote_char=False, escape_char=False, newlines_in_values=False, ignore_empty_lines=False
    )
    convert = pacsv.ConvertOptions(
        column_types={"line": pa.large_string()}, strings_can_be_null=False, check_utf8=False
    )
    if progress is None:
        return pacsv.read_csv(path, read, parse, convert)["line"]
    chunks, done = [], 0
    with pacsv.open_csv(path, read, parse, convert) as reader:
        for batch in reader:
            chunks.append(batch.column(0))
            done = min(total, done + int(batch.column(0).nbytes))
            progress(done, total)
    progress(total, total)
    return pa.chunked_array(chunks, pa.large_string())


def _stream_json_array(path: Path, name: str, lines: _Lines, progress: Progress | None) -> None:
    """A JSON array (``[...]``) read in blocks, never whole: each element's own text (the raw
    payload, as it was written) becomes one row, as a line of JSON lines would; salvaged up to
    the first broken element, and an element over ``limits.MAX_LINE_BYTES`` ends it too."""
    import pyarrow as pa

    decoder = json.JSONDecoder()
    total = path.stat().st_size
    block = 4 << 20
    chunks: list[pa.Array] = []
    texts: list[str] = []
    index, done = 0, 0
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        buf = fh.read(block)
        done = len(buf)
        buf = buf.lstrip("\ufeff \t\r\n")
        pos, eof = 1, False  # (the file starts with "[": the caller looked)

        def refill() -> bool:
            nonlocal buf, pos, eof, done
            more = fh.read(block)
            done = min(total, done + len(more))
            if progress is not None:
                progress(done, total)
            eof = not more
            buf, pos = buf[pos:] + more, 0
            return bool(more)

        while True:
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    pos += 1
                if pos < len(buf) or not refill():
                    break
            if pos >= len(buf):
                lines.problem(f"{name}[{index}]", "malformed", "the array is not closed (truncated file?)")
                break
            if buf[pos] == "]":
                break
            try:
                while True:
                    try:
                        _, end = decoder.raw_decode(buf, pos)
                        break
                    except json.JSONDecodeError:
                        # Perhaps only cut by the block's end: read on, up to one element's limit.
                        if eof or len(buf) - pos > limits.MAX_LINE_BYTES or not refill():
                            raise
            except RecursionError:
                lines.problem(f"{name}[{index}]", "malformed", f"{TOO_DEEP}; the rest of the array is skipped")
                break
            except json.JSONDecodeError as exc:
                within = (
                    f" within {limits.MAX_LINE_BYTES >> 20} MiB of its start (the limit for one callback)"
                    if len(buf) - pos > limits.MAX_LINE_BYTES
                    else ""
                )
                lines.problem(
                    f"{name}[{index}]",
                    "malformed",
                    f"not valid JSON{within} ({exc.msg}); the rest of the array is skipped",
                )
                break
            texts.append(buf[pos:end])
            index, pos = index + 1, end
            if len(texts) >= 65536:
                chunks.append(pa.array(texts, pa.large_string()))
                texts = []
    chunks.append(pa.array(texts, pa.large_string()))
    first = lines.next_n
    lines.add_table(name, pa.chunked_array(chunks, pa.large_string()))
    lines.spans[-1] = (first, name, _ELEMENTS)


def _decode_json_document(text: str, name: str, lines: _Lines) -> None:
    """A whole .json file that is not an array (those stream: ``_stream_json_array``): one
    record, or JSON lines after all."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        lines.problem(name, "malformed", "empty file")
        return
    try:
        lines.add_records(name, [(name, json.loads(stripped))])
    except RecursionError:
        lines.problem(name, "malformed", TOO_DEEP)
    except json.JSONDecodeError as exc:
        if "\n" in stripped.strip():  # perhaps JSON lines after all
            for i, raw in enumerate(stripped.splitlines(), start=1):
                _one_line(raw, f"{name}:{i}", lines)
        else:
            lines.problem(name, "malformed", f"not valid JSON ({exc.msg}, line {exc.lineno})")


def _one_line(raw: str, location: str, lines: _Lines) -> None:
    if raw.strip():
        try:
            lines.add_records(location, [(location, json.loads(raw))])
        except RecursionError:
            lines.problem(location, "malformed", TOO_DEEP)
        except json.JSONDecodeError as exc:
            lines.problem(location, "malformed", f"not valid JSON ({exc.msg})")


def load_json_file(path: Path, progress: Progress | None) -> Outcomes:
    """A JSON lines file (read whole by ``json_scan`` when it is clean), a JSON array (streamed)
    or one JSON document."""
    lines = _Lines()
    size = path.stat().st_size
    head = limits.head(path)
    limits.check_json_text(path, head)  # whole-file garbage is refused; a few bad lines are not
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if size == 0:
        lines.problem(path.name, "malformed", "empty file")
    elif start.startswith(b"["):
        _stream_json_array(path, path.name, lines, progress)
    else:
        records = json_scan.read_whole_file(path, progress)
        if records is not None:
            lines.spans.append((1, path.name, 0))
            return _outcomes_from_records(records, lines, str(path))
        _read_lines(path, progress, path.name, lines)
    return _from_lines(lines, str(path))


def folder_files(path: Path, pattern: str, lines: _Lines | None = None) -> list[Path]:
    """The regular files under ``path`` matching ``pattern``. Symlinks are followed only when
    they stay inside the folder (subfolders that are symlinks are never entered); the others,
    and pipes, sockets and devices, are skipped (and listed when ``lines`` is given)."""
    import stat

    root = path.resolve()
    files = []
    for p in sorted(path.rglob(pattern)):
        name = str(p.relative_to(path))
        if p.is_symlink() and not limits.inside(root, p):
            if lines is not None:
                lines.problem(
                    name,
                    "skipped_file",
                    "a symlink to outside the folder; not followed (copy the file into the folder to read it)",
                )
            continue
        try:
            mode = p.stat().st_mode
        except OSError:  # a dangling symlink, or gone since the listing
            continue
        if stat.S_ISREG(mode):
            files.append(p)
        elif not stat.S_ISDIR(mode) and lines is not None:
            lines.problem(name, "skipped_file", "not a regular file (a pipe, socket or device); skipped")
    return files


def load_folder(path: Path, progress: Progress | None) -> Outcomes:
    """A folder of JSON files (lines, arrays, single records); other files are skipped and listed."""
    lines = _Lines()
    files = folder_files(path, "*", lines)
    if not files:
        lines.problem(path.name, "skipped_file", "the folder is empty")
    total = sum(p.stat().st_size for p in files) or 1
    done = 0
    for file in files:
        name = str(file.relative_to(path))
        size = file.stat().st_size
        suffix = file.suffix.lower()
        head = limits.head(file) if suffix in JSON_SUFFIXES else b""
        reason = limits.binary_reason(head)
        if suffix not in JSON_SUFFIXES:
            lines.problem(name, "skipped_file", f"not a JSON file ({file.suffix or 'no suffix'}); skipped")
        elif reason is not None and not limits.has_a_json_record(head):
            lines.problem(name, "skipped_file", f"not JSON text ({reason}); skipped")
        elif suffix in (".jsonl", ".ndjson", ".log", ".txt"):
            try:
                _read_lines(file, None, name, lines)
            except LoadError as exc:
                lines.problem(name, "skipped_file", f"{exc}; skipped")
        elif head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
            _stream_json_array(file, name, lines, None)
        elif size > limits.MAX_JSON_DOCUMENT_BYTES:
            lines.problem(
                name,
                "skipped_file",
                f"a JSON document of {size >> 20:,} MiB, over the "
                f"{limits.MAX_JSON_DOCUMENT_BYTES >> 20} MiB limit for one read whole: "
                + limits.TO_JSON_LINES.replace("FILE", name.removesuffix(file.suffix)),
            )
        else:
            _decode_json_document(file.read_text("utf-8", errors="replace"), name, lines)
        done += size
        if progress is not None:
            progress(done, total)
    return _from_lines(lines, str(path))


def _from_lines(lines: _Lines, source: str) -> Outcomes:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = (
        pa.concat_tables(lines.tables)
        if lines.tables
        else pa.table({"n": pa.array([], pa.int64()), "line": pa.array([], pa.large_string())})
    )
    lines.tables.clear()  # the text is ~the file's size: hold it once, and only while parsing
    con = json_sql.connect()
    con.register("lines", table)
    fast = con.sql(json_sql.FAST).to_arrow_table()
    slow = fast["slow"].to_numpy(zero_copy_only=False)
    extracted = fast.drop_columns(["slow"])
    if slow.any():
        extracted = _drop_rows(extracted, slow)
        con.unregister("lines")
        con.register("lines", table.filter(pc.is_in(table["n"], value_set=fast["n"].filter(slow))))
        rest = con.sql(json_sql.EXTRACT).to_arrow_table()
        extracted = _merge_by_n(extracted, rest.cast(extracted.schema))
    con.close()
    del table, fast, slow
    frames.release_unused()
    bad = extracted.filter(pc.is_valid(extracted["problem"]))
    for n, reason in zip(bad["n"].to_pylist()[:MAX_PROBLEMS_KEPT], bad["problem"].to_pylist(), strict=False):
        lines.problem(lines.locate(n), "malformed", reason)
    if bad.num_rows > MAX_PROBLEMS_KEPT:
        lines.counts["malformed"] = lines.counts.get("malformed", 0) + bad.num_rows - MAX_PROBLEMS_KEPT
    good = (
        _drop_rows(extracted, pc.is_valid(extracted["problem"]).to_numpy(zero_copy_only=False))
        if bad.num_rows
        else extracted
    )
    good = good.drop_columns(["problem"])
    total = extracted.num_rows
    del extracted, bad
    return _outcomes_from_records(good, lines, source, total)


#: up to this many rows are dropped or merged by slicing (no copy); more, by a filter or a sort
_FEW_ROWS = 256


def _drop_rows(table: pa.Table, mask: np.ndarray) -> pa.Table:
    """``table`` without the rows where ``mask`` is true. A few broken lines in a big log must
    not copy the whole table: the rest is kept as slices of it."""
    import numpy as np
    import pyarrow as pa

    positions = np.flatnonzero(mask)
    if len(positions) > _FEW_ROWS:
        return table.filter(pa.array(~mask))
    pieces, start = [], 0
    for position in positions.tolist():
        pieces.append(table.slice(start, position - start))
        start = position + 1
    pieces.append(table.slice(start))
    return pa.concat_tables(pieces)


def _merge_by_n(base: pa.Table, extra: pa.Table) -> pa.Table:
    """The rows of two tables that are each in ``n`` order, in ``n`` order (slices when
    ``extra`` is small, a sort otherwise)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if extra.num_rows == 0:
        return base
    if extra.num_rows > _FEW_ROWS:
        merged = pa.concat_tables([base, extra])
        return merged.take(pc.sort_indices(merged["n"]))
    at = np.searchsorted(base["n"].to_numpy(), extra["n"].to_numpy())
    pieces, start = [], 0
    for i, position in enumerate(at):
        pieces.append(base.slice(start, position - start))
        pieces.append(extra.slice(i, 1))
        start = position
    pieces.append(base.slice(start))
    return pa.concat_tables(pieces)


def _outcomes_from_records(good: pa.Table, lines: _Lines, source: str, total: int | None = None) -> Outcomes:
    """Frames from the callback records of lines (``n``: their global line number)."""
    records = good.rename_columns(["callback_id" if c == "n" else c for c in good.column_names])
    del good
    out = from_records(records, None, None, source, lines.problems, lines.counts)
    out.records = (records.num_rows if total is None else total) + lines.counts.get("skipped_file", 0)
    note_unknown_codes(out, lambda n: lines.locate(int(n)))
    return out
