"""Sources -> record tables -> frames: load outcomes from anything a user has.

``load(source)`` accepts a running ``Lab``, a ``CallbackStore`` or its SQLite file, and files from
people's own sandbox or production logs: JSON lines of raw callbacks (one
``{"Body": {"stkCallback": ...}}`` per line, or wrapped with a received time:
``{"received_at": "...", "body": {...}}``), a JSON array, a folder of ``.json`` files, CSV
exports, Parquet files, and the day-partitioned Parquet folder written by :func:`export`.

Real logs are messy: codes and amounts as numbers or strings, Balance with no Value, one-element
Item arrays collapsed to an object, prefixes in ResultDesc, alphanumeric and undocumented codes.
All of that parses. A record that cannot be a callback (not JSON, a truncated last line, no
Body.stkCallback, no CheckoutRequestID or ResultCode) is counted in ``Outcomes.problems`` with
where it was, never fatal. Big inputs go through DuckDB (JSON extraction in SQL) and Arrow (the
line reader), not a Python loop per record.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab.analytics import limits
from mpesa_lab.analytics.limits import LoadError  # noqa: F401 - re-exported: load.LoadError
from mpesa_lab.store import frames

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pandas as pd
    import pyarrow as pa

Progress = Callable[[int, int], None]  # (bytes done, bytes total)

SQLITE_MAGIC = limits.SQLITE_MAGIC
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson", ".log", ".txt"}
MAX_PROBLEMS_KEPT = 200


@dataclass(frozen=True)
class Problem:
    """One record that could not be used, or one code the catalogue does not know."""

    location: str
    kind: str  # "malformed" | "unknown_code" | "skipped_file" | "quarantined"
    detail: str


@dataclass
class Outcomes:
    """What ``load`` found: the two frames, and what was wrong with the input."""

    source: str
    transactions: "pd.DataFrame"
    callbacks: "pd.DataFrame"
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    records: int = 0

    @property
    def malformed(self) -> int:
        return self.counts.get("malformed", 0) + self.counts.get("skipped_file", 0)

    @property
    def unknown_codes(self) -> dict[str, int]:
        """Codes outside the catalogue and how many callbacks carried each."""
        df = self.callbacks
        unknown = df.loc[df["category"] == "unknown", "result_code"]
        return {str(k): int(v) for k, v in unknown.value_counts().items()}

    def summary(self) -> "pd.DataFrame":
        from mpesa_lab.analytics.analyses import summary

        return summary(self.transactions)

    def problems_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame([p.__dict__ for p in self.problems],
                            columns=["location", "kind", "detail"])

    def __repr__(self) -> str:
        parts = [f"{len(self.transactions):,} transactions", f"{len(self.callbacks):,} callbacks"]
        if self.malformed:
            parts.append(f"{self.malformed:,} malformed")
        if self.unknown_codes:
            parts.append(f"{sum(self.unknown_codes.values()):,} with unknown codes")
        return f"<Outcomes from {self.source}: {', '.join(parts)}>"


# --------------------------------------------------------------------------------------------
# The entry point.


def load(source: Any, *, progress: Progress | None = None) -> Outcomes:
    """Load outcomes from a Lab, a CallbackStore, a SQLite store file, JSON lines, a JSON array,
    a folder of .json files, a CSV or Parquet file, or an exported Parquet folder."""
    with frames.system_allocator():
        return _load(source, progress)


def _load(source: Any, progress: Progress | None) -> Outcomes:
    store_path = _store_path(source)
    if store_path is not None:
        return _load_store(store_path)
    if hasattr(source, "columns") and hasattr(source, "iloc"):  # a DataFrame
        kind = _is_our_schema(source.columns)
        table = _arrow_from_pandas(source)
        return _ours({kind: table}, "DataFrame") if kind else _from_table(table, "DataFrame")
    path = Path(os.fspath(source)).expanduser()
    if not path.exists():
        raise LoadError(f"{path}: no such file or folder. Pass a store (.sqlite), a JSON lines "
                        "file, a JSON array, a folder of .json files, a CSV or a Parquet file")
    if path.is_dir():
        return _load_folder(path, progress)
    limits.regular_file(path)  # a FIFO or a device would block or never end
    head = limits.head(path)
    if head.startswith(SQLITE_MAGIC):
        return _load_store(path)
    limits.check_sqlite_file(path, head)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        limits.check_parquet_file(path)
        return _load_parquet([path], str(path))
    if suffix in (".csv", ".tsv"):
        return _load_csv(path)
    return _load_json_file(path, progress)


def _store_path(source: Any) -> Path | None:
    store = getattr(source, "store", None)  # a Lab or a Listener
    if store is not None and hasattr(store, "path") and hasattr(store, "transactions"):
        return Path(store.path)
    if hasattr(source, "path") and hasattr(source, "transactions") and hasattr(source, "record_push"):
        return Path(source.path)
    return None


# --------------------------------------------------------------------------------------------
# A CallbackStore's SQLite file.


def _load_store(path: Path) -> Outcomes:
    import sqlite3

    try:
        return _read_store_file(path)
    except (sqlite3.Error, RuntimeError) as exc:
        # (the reader process's error ends with the exception's own line; its traceback is noise)
        reason = limits.one_line(str(exc).strip().splitlines()[-1] if str(exc).strip() else exc)
        if "no such table" in reason or "no such column" in reason:
            raise LoadError(f"{path} is a SQLite database but not an mpesa-lab callback store "
                            f"({reason}): pass the store the listener wrote") from None
        raise LoadError(f"{path}: the store cannot be read ({reason}); if it is damaged, "
                        f"sqlite3 {path.name} '.recover' may save its rows") from None


def _read_store_file(path: Path) -> Outcomes:
    import sqlite3

    from mpesa_lab.store.arrow import read_store

    for_tx = read_store(path, for_view="transactions")
    transactions = frames.build_transactions(for_tx.pop("callbacks"), for_tx.pop("pushes"),
                                             for_tx.pop("queries"))
    for_cb = read_store(path, for_view="callbacks")
    callbacks = frames.build_callbacks(for_cb.pop("callbacks"), for_cb.pop("pushes"))
    conn = sqlite3.connect(path, timeout=30.0)
    try:
        quarantined = conn.execute("SELECT delivery_id, reason FROM quarantine ORDER BY id").fetchall()
    finally:
        conn.close()
    problems = [Problem(f"{path.name} delivery {d}", "quarantined", r) for d, r in quarantined]
    counts = {"malformed": len(quarantined)}
    out = Outcomes(str(path), transactions, callbacks, problems[:MAX_PROBLEMS_KEPT], counts,
                   records=len(callbacks) + len(quarantined))
    _note_unknown_codes(out, lambda cid: f"{path.name} callback {cid}")
    return out


# --------------------------------------------------------------------------------------------
# JSON: lines, arrays, folders. Every record becomes one line of JSON text; DuckDB extracts the
# fields of all of them in one SQL statement.


#: what a record nested past Python's JSON reader (about 1,000 levels) is reported as
TOO_DEEP = (f"nested deeper than {sys.getrecursionlimit():,} levels (a callback is 5 deep): "
            "not a callback")


_ELEMENTS = -2  # a span's offset when its rows are the elements of a JSON array (name[i])


@dataclass
class _Lines:
    """Lines of JSON text with a global number each, and where each number came from."""

    tables: list["pa.Table"] = field(default_factory=list)  # columns: n (int64), line (string)
    spans: list[tuple[int, str, int]] = field(default_factory=list)  # (first n, name, offset)
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    next_n: int = 1

    def add_table(self, name: str, lines: "pa.Array | pa.ChunkedArray", first_line: int = 1) -> None:
        import numpy as np
        import pyarrow as pa

        n = np.arange(self.next_n, self.next_n + len(lines), dtype="int64")
        self.spans.append((self.next_n, name, first_line - 1))
        if isinstance(lines, pa.ChunkedArray):  # kept in the reader's chunks: no copy
            n = pa.chunked_array(np.split(n, np.cumsum([len(c) for c in lines.chunks])[:-1]),
                                 pa.int64()) if lines.num_chunks else pa.chunked_array([], pa.int64())
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
            self.tables.append(pa.table({"n": pa.array([self.next_n], pa.int64()),
                                         "line": pa.array([json.dumps(record)], pa.large_string())}))
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
            raise LoadError(f"{path} is not a JSON lines log: every line is longer than "
                            f"{limits.MAX_LINE_BYTES >> 20} MiB (a callback is about 1 kB). Pass "
                            "a file of one callback per line") from None
        for number, size in overlong[:MAX_PROBLEMS_KEPT]:
            lines.problem(f"{name}:{number}", "malformed",
                          f"a line of {size / (1 << 20):,.1f} MiB, over the "
                          f"{limits.MAX_LINE_BYTES >> 20} MiB limit for one callback; skipped")
        lines.add_table(name, text)


def _read_lines_carefully(path: Path, progress: Progress | None
                          ) -> "tuple[pa.ChunkedArray, list[tuple[int, int]]]":
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


def _read_lines_fast(path: Path, progress: Progress | None) -> "pa.ChunkedArray":
    """Every line of a text file as Arrow strings (multi-threaded, no quoting), in the reader's
    chunks: concatenating them would copy the whole file once more."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    total = path.stat().st_size
    if total == 0:
        return pa.array([], pa.large_string())
    read = pacsv.ReadOptions(column_names=["line"], block_size=limits.MAX_LINE_BYTES, use_threads=True)
    parse = pacsv.ParseOptions(delimiter="\x01", quote_char=False, escape_char=False,
                               newlines_in_values=False, ignore_empty_lines=False)
    convert = pacsv.ConvertOptions(column_types={"line": pa.large_string()}, strings_can_be_null=False,
                                   check_utf8=False)
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
                lines.problem(f"{name}[{index}]", "malformed",
                              f"{TOO_DEEP}; the rest of the array is skipped")
                break
            except json.JSONDecodeError as exc:
                within = (f" within {limits.MAX_LINE_BYTES >> 20} MiB of its start (the limit for one "
                          "callback)" if len(buf) - pos > limits.MAX_LINE_BYTES else "")
                lines.problem(f"{name}[{index}]", "malformed",
                              f"not valid JSON{within} ({exc.msg}); the rest of the array is skipped")
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


def _load_json_file(path: Path, progress: Progress | None) -> Outcomes:
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
        records = _read_whole_file(path, progress)
        if records is not None:
            lines.spans.append((1, path.name, 0))
            return _outcomes_from_records(records, lines, str(path))
        _read_lines(path, progress, path.name, lines)
    return _from_lines(lines, str(path))


def _folder_files(path: Path, pattern: str, lines: _Lines | None = None) -> list[Path]:
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
                lines.problem(name, "skipped_file", "a symlink to outside the folder; not followed "
                                                    "(copy the file into the folder to read it)")
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


def _load_folder(path: Path, progress: Progress | None) -> Outcomes:
    parquet = _folder_files(path, "*.parquet")
    if parquet:
        for file in parquet:
            limits.check_parquet_file(file)
        return _load_parquet(parquet, str(path), folder=path)
    lines = _Lines()
    files = _folder_files(path, "*", lines)
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
            lines.problem(name, "skipped_file", f"a JSON document of {size >> 20:,} MiB, over the "
                          f"{limits.MAX_JSON_DOCUMENT_BYTES >> 20} MiB limit for one read whole: "
                          + limits.TO_JSON_LINES.replace("FILE", name.removesuffix(file.suffix)))
        else:
            _decode_json_document(file.read_text("utf-8", errors="replace"), name, lines)
        done += size
        if progress is not None:
            progress(done, total)
    return _from_lines(lines, str(path))


# DuckDB macros: ResultCode spelled as the catalogue does (1032, "1032", 1032.0, "+01032" are all
# "1032", like mpesa_lab.codes.normalize_code), numbers from "1", "1.00" or "1,000", times from
# epoch seconds (or ms), ISO text (Nairobi when it has no offset), or Daraja's YYYYMMDDHHmmss
# (Nairobi, UTC+3). ``v`` is ``TRY_CAST(x AS DOUBLE)``, computed once: a macro repeats its
# arguments, so anything costly is made a column first. ``txt`` trims (spaces, as DuckDB's trim
# does) only text that has them: most values have none, and trimming copies every one.
_MACROS = r"""
SET TimeZone = 'Africa/Nairobi';
CREATE OR REPLACE TEMP MACRO txt(x) AS CASE WHEN x = '' THEN NULL
    WHEN starts_with(x, ' ') OR ends_with(x, ' ') THEN nullif(trim(x), '') ELSE x END;
CREATE OR REPLACE TEMP MACRO code(x, v) AS CASE
    WHEN v IS NOT NULL AND v = trunc(v) AND abs(v) < 1e15 AND NOT contains(lower(x), 'e')
        THEN CAST(CAST(v AS BIGINT) AS VARCHAR)
    ELSE txt(x) END;
CREATE OR REPLACE TEMP MACRO num(x) AS
    coalesce(TRY_CAST(x AS DOUBLE), TRY_CAST(replace(trim(x), ',', '') AS DOUBLE));
CREATE OR REPLACE TEMP MACRO when_ts(x, v) AS CASE
    WHEN v IS NULL THEN epoch(TRY_CAST(x AS TIMESTAMPTZ))
    WHEN v >= 1e13 AND v < 1e14 THEN epoch(TRY_STRPTIME(left(trim(x), 14), '%Y%m%d%H%M%S')) - 10800
    WHEN v >= 1e11 AND v < 1e13 THEN v / 1000
    ELSE v END;
"""

# One JSON parse per line into a struct (DuckDB matches keys case-insensitively); the rare
# wrapped record (the callback under "body", "callback" or "payload", as an object or as text)
# is parsed again from there. ResultCode and the items come as text whatever JSON type they had.
#: the callback's own text fields, and the keys a log keeps its received time under: every
#: path's types and SQL below are written from these two lists
_STK_TEXT = ("MerchantRequestID", "CheckoutRequestID", "ResultCode", "ResultDesc")
_TIME_KEYS = ("received_at", "receivedAt", "received", "timestamp", "time", "ts")
_TIMES = ",".join(f'"{key}":"VARCHAR"' for key in _TIME_KEYS)


def _received(struct: str = "") -> str:
    """SQL: the first received time the record has (``struct``: where the keys are, e.g. "r.")."""
    return "coalesce(" + ", ".join(struct + key for key in _TIME_KEYS) + ")"


_STK = "{" + "".join(f'"{name}":"VARCHAR",' for name in _STK_TEXT) + '"CallbackMetadata":{"Item":"JSON"}}'
_LINE = '{"Body":{"stkCallback":' + _STK + '},"stkCallback":' + _STK + "," + _TIMES + "}"
_BODY = '{"Body":{"stkCallback":' + _STK + '},"stkCallback":' + _STK + '}'
_ITEMS = '[{"Name":"VARCHAR","Value":"JSON"}]'

# The metadata items of a callback (``kv``: a list of Name/Value; ``names``: their names), as
# every path reads them: the whole object as JSON text, and the five documented items as raw
# text. The object is built as text because a MAP cost as much as the rest of the query, and
# with string_agg (which skips the NULLs of nameless items) rather than a filtered list; the
# five items of a paid callback, in Daraja's order, are a struct (a third of the cost).
_ITEM_COLUMNS = """CASE WHEN names = ['Amount', 'MpesaReceiptNumber', 'Balance', 'TransactionDate', 'PhoneNumber']
        THEN CAST(to_json({'Amount': kv[1].Value, 'MpesaReceiptNumber': kv[2].Value, 'Balance': kv[3].Value,
                           'TransactionDate': kv[4].Value, 'PhoneNumber': kv[5].Value}) AS VARCHAR)
        ELSE coalesce('{' || list_aggregate(list_transform(kv, lambda x: CASE WHEN x.Name IS NOT NULL
            THEN to_json(x.Name) || ':' || coalesce(CAST(x.Value AS VARCHAR), 'null') END), 'string_agg', ',')
            || '}', '{}') END AS items_json,
        kv[list_position(names, 'Amount')].Value ->> '$' AS amount_raw,
        kv[list_position(names, 'MpesaReceiptNumber')].Value ->> '$' AS receipt_raw,
        kv[list_position(names, 'Balance')].Value ->> '$' AS balance_raw,
        kv[list_position(names, 'TransactionDate')].Value ->> '$' AS date_raw,
        kv[list_position(names, 'PhoneNumber')].Value ->> '$' AS phone_raw"""

# The record's columns from the raw text both paths extract, typed by the macros in _MACROS.
_RECORD_COLUMNS = """when_ts(received_raw, received_num) AS received_ts,
    txt(cid_raw) AS checkout_request_id,
    txt(merchant_raw) AS merchant_request_id,
    code(code_raw, code_num) AS result_code,
    result_desc,
    num(amount_raw) AS amount, txt(receipt_raw) AS receipt, num(balance_raw) AS balance,
    when_ts(date_raw, TRY_CAST(date_raw AS DOUBLE)) AS transaction_ts,
    code(phone_raw, TRY_CAST(phone_raw AS DOUBLE)) AS phone,
    items_json"""

_EXTRACT = f"""
WITH parsed AS (
    SELECT n, line, TRY(from_json(line, '{_LINE}')) AS r
    FROM lines WHERE line <> '' AND NOT (length(line) < 8 AND trim(line) = '')
),
unwrapped AS (
    SELECT n, r,
        coalesce(r.Body.stkCallback, r.stkCallback) AS s0,
        CASE WHEN r IS NOT NULL AND r.Body.stkCallback IS NULL AND r.stkCallback IS NULL
             THEN coalesce(json_extract(line, '$.body'), json_extract(line, '$.callback'),
                           json_extract(line, '$.payload')) END AS inner_json,
        {_received('r.')} AS received_raw,
        CASE WHEN r IS NULL THEN json_valid(line) END AS valid
    FROM parsed
),
inner_parsed AS (
    SELECT n, r, valid, received_raw, s0,
        CASE WHEN inner_json IS NOT NULL THEN TRY(from_json(
            CASE WHEN json_type(inner_json) = 'VARCHAR' THEN inner_json ->> '$'
                 ELSE CAST(inner_json AS VARCHAR) END, '{_BODY}')) END AS b
    FROM unwrapped
),
stk AS (
    SELECT n, r, valid, received_raw, coalesce(s0, b.Body.stkCallback, b.stkCallback) AS s
    FROM inner_parsed
),
fields AS (
    SELECT n, r, s, valid, received_raw,
        CASE WHEN s.CallbackMetadata.Item IS NOT NULL THEN TRY(from_json(
            CASE WHEN json_type(s.CallbackMetadata.Item) = 'OBJECT'
                 THEN '[' || CAST(s.CallbackMetadata.Item AS VARCHAR) || ']'
                 ELSE CAST(s.CallbackMetadata.Item AS VARCHAR) END, '{_ITEMS}')) END AS kv
    FROM stk
),
raw AS MATERIALIZED (
    -- Plain columns first: a macro repeats its argument, and a repeated lookup is slow.
    SELECT n, r IS NULL AS no_json, s IS NULL AS no_stk, valid, received_raw,
        TRY_CAST(received_raw AS DOUBLE) AS received_num,
        s.CheckoutRequestID AS cid_raw, s.ResultCode AS code_raw, TRY_CAST(s.ResultCode AS DOUBLE) AS code_num,
        s.MerchantRequestID AS merchant_raw, s.ResultDesc AS result_desc,
        {_ITEM_COLUMNS}
    FROM (SELECT *, list_transform(kv, lambda x: x.Name) AS names FROM fields)
)
SELECT n,
    CASE
        WHEN no_json THEN CASE WHEN valid THEN 'a JSON value that is not a callback'
                               ELSE 'not valid JSON (a truncated or broken line?)' END
        WHEN no_stk THEN 'no Body.stkCallback (nor a wrapper with one under "body")'
        WHEN txt(cid_raw) IS NULL THEN 'no CheckoutRequestID'
        WHEN code(code_raw, code_num) IS NULL THEN 'no ResultCode'
    END AS problem,
    {_RECORD_COLUMNS}
FROM raw
ORDER BY n
"""


# The fast path, for the lines almost every log is made of: a bare ``{"Body": {"stkCallback":
# ...}}`` or one wrapped as ``{"received_at": ..., "body": {...}}``, parsed straight into typed
# structs (the items as a list of Name/Value, no second parse). Keys are matched exactly, so the
# wrapper is a second typed parse of only the lines the first found no callback in. Every line
# it cannot vouch for (not JSON, not a callback, another wrapper, the callback as text, Item
# collapsed to an object, blank) is flagged ``slow`` and goes through ``_EXTRACT`` above, which
# knows every variant and words the problems; line numbers come from ``n`` either way.
_TYPED_STK = ("{" + "".join(f'"{name}":"VARCHAR",' for name in _STK_TEXT)
              + '"CallbackMetadata":{"Item":[{"Name":"VARCHAR","Value":"JSON"}]}}')
_TYPED_BARE = '{"Body":{"stkCallback":' + _TYPED_STK + '},' + _TIMES + '}'
_TYPED_WRAPPED = '{"body":{"Body":{"stkCallback":' + _TYPED_STK + '}}}'

_FAST = f"""
WITH bare AS (
    SELECT n, line, TRY(from_json(line, '{_TYPED_BARE}')) AS r FROM lines
),
wrapped AS (
    SELECT n, line, r, CASE WHEN r IS NOT NULL AND r.Body.stkCallback IS NULL
        THEN TRY(from_json(line, '{_TYPED_WRAPPED}')).body.Body.stkCallback END AS w
    FROM bare
),
stk AS (
    SELECT n, line, coalesce(r.Body.stkCallback, w) AS s,
        {_received('r.')} AS received_raw
    FROM wrapped
),
raw AS MATERIALIZED (
    SELECT n, received_raw, TRY_CAST(received_raw AS DOUBLE) AS received_num,
        CASE WHEN s IS NULL THEN true  -- (a CASE: the text is searched only when it must be)
             WHEN s.CallbackMetadata IS NOT NULL THEN s.CallbackMetadata.Item IS NULL
             ELSE contains(lower(line), '"item"') END AS slow,
        s.CheckoutRequestID AS cid_raw, s.ResultCode AS code_raw,
        TRY_CAST(s.ResultCode AS DOUBLE) AS code_num,
        s.MerchantRequestID AS merchant_raw, s.ResultDesc AS result_desc,
        {_ITEM_COLUMNS}
    FROM (SELECT *, s.CallbackMetadata.Item AS kv,
        list_transform(s.CallbackMetadata.Item, lambda x: x.Name) AS names FROM stk)
)
SELECT n, slow,
    CASE WHEN txt(cid_raw) IS NULL THEN 'no CheckoutRequestID'
         WHEN code(code_raw, code_num) IS NULL THEN 'no ResultCode' END AS problem,
    {_RECORD_COLUMNS}
FROM raw
"""


# The whole-file path, for a JSON lines file whose every line is an ordinary callback (bare, or
# wrapped as ``{"received_at": ..., "body": {...}}``): DuckDB's own JSON reader scans the file
# on every core straight into typed structs (keys matched case-insensitively, so "body" and
# "Body" are one column and the wrapper is just one more level), with no Python line reader in
# front. It cannot say which line a row came from, so it is used only when it can vouch for the
# whole file: the reader raised nothing, every row is a callback the fast path would accept,
# and there are exactly as many rows as lines (a blank line would shift the numbering). Any
# doubt and the line-by-line path above takes the file, with every problem at its line.
_DIRECT_STK = ("STRUCT(" + "".join(f"{name} VARCHAR, " for name in _STK_TEXT)
               + "CallbackMetadata STRUCT(Item STRUCT(Name VARCHAR, Value JSON)[]))")
_DIRECT_COLUMNS = (f"{{'Body': 'STRUCT(stkCallback {_DIRECT_STK}, Body STRUCT(stkCallback {_DIRECT_STK}))', "
                   + ", ".join(f"'{key}': 'VARCHAR'" for key in _TIME_KEYS) + "}")

_DIRECT = f"""
WITH stk AS (
    SELECT coalesce(Body.stkCallback, Body.Body.stkCallback) AS s,
        {_received()} AS received_raw
    FROM read_json($path, format = 'newline_delimited', columns = {_DIRECT_COLUMNS},
                   case_insensitive_keys = true, ignore_errors = false)
),
raw AS (
    SELECT received_raw, TRY_CAST(received_raw AS DOUBLE) AS received_num,
        s IS NULL OR (s.CallbackMetadata IS NOT NULL AND s.CallbackMetadata.Item IS NULL) AS slow,
        s.CheckoutRequestID AS cid_raw, s.ResultCode AS code_raw,
        TRY_CAST(s.ResultCode AS DOUBLE) AS code_num,
        s.MerchantRequestID AS merchant_raw, s.ResultDesc AS result_desc,
        {_ITEM_COLUMNS}
    FROM (SELECT *, s.CallbackMetadata.Item AS kv,
        list_transform(s.CallbackMetadata.Item, lambda x: x.Name) AS names FROM stk)
)
SELECT slow, {_RECORD_COLUMNS}
FROM raw
"""


def _count_lines(path: Path) -> int:
    """Lines in a text file, not counting blank ones at its very end (numpy over a memory map:
    the file is not read into Python)."""
    import mmap

    import numpy as np

    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        data = np.frombuffer(mm, np.uint8)
        try:
            tail = bytes(data[max(0, size - 65536):])
            end = size - (len(tail) - len(tail.rstrip(b" \t\r\n")))
            if end == 0:
                return 0
            step = 1 << 24
            newlines = sum(int(np.count_nonzero(data[i:min(i + step, end)] == 10))
                           for i in range(0, end, step))
        finally:
            del data  # the map cannot close while numpy still looks at it
    return newlines + 1


def _ends_with_a_record(path: Path) -> bool:
    """Whether the last line is a whole JSON object (or too long to tell from the file's tail)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        fh.seek(max(0, size - 65536))
        tail = fh.read().rstrip(b" \t\r\n")
    if b"\n" not in tail and size > 65536:
        return True  # one huge last line: DuckDB will judge it
    last = tail.rsplit(b"\n", 1)[-1]
    try:
        return isinstance(json.loads(last), dict)
    except (ValueError, RecursionError):
        return False


def _read_whole_file(path: Path, progress: Progress | None) -> "pa.Table | None":
    """Record table of a JSON lines file read by DuckDB in one scan, or None if it cannot vouch
    for every line (see ``_DIRECT``)."""
    import threading

    import duckdb
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _ends_with_a_record(path):
        return None  # a log cut off mid-line (it is still being written): no scan to throw away
    counted: list[int] = []

    def beside_the_scan() -> None:  # DuckDB lets go of the GIL while it scans
        counted.append(_count_lines(path))
        import pandas  # noqa: F401 - the frames need it next; importing it now overlaps the scan

    counter = threading.Thread(target=beside_the_scan, daemon=True)
    counter.start()
    con = _connect()
    try:
        table = _run_with_progress(con, _DIRECT, {"path": str(path)}, progress, path.stat().st_size)
    except duckdb.Error:
        return None
    finally:
        con.close()
        counter.join()
    # A callback without its id or code is a problem the line-by-line path words at its line.
    if (not counted or table.num_rows != counted[0] or pc.any(table["slow"]).as_py()
            or table["checkout_request_id"].null_count or table["result_code"].null_count):
        return None
    n = pa.array(np.arange(1, table.num_rows + 1, dtype="int64"))
    return table.drop_columns(["slow"]).add_column(0, "n", n)


def _run_with_progress(con: "duckdb.DuckDBPyConnection", sql: str, params: dict[str, Any],
                       progress: Progress | None, total: int) -> "pa.Table":
    """Run ``sql`` to an Arrow table; with ``progress``, report DuckDB's own progress as bytes."""
    if progress is None:
        return con.sql(sql, params=params).to_arrow_table()
    import threading

    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["table"] = con.sql(sql, params=params).to_arrow_table()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
        try:
            done = con.query_progress()
        except Exception:  # noqa: BLE001 - progress is a nicety, never a failure
            done = -1
        if done > 0:
            progress(min(total, int(total * done / 100)), total)
    if "error" in result:
        raise result["error"]
    progress(total, total)
    return result["table"]


def _connect() -> "duckdb.DuckDBPyConnection":
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET arrow_large_buffer_size = true")  # large_string out: pandas' str, no copy
    con.execute(_MACROS)
    return con


def _from_lines(lines: _Lines, source: str) -> Outcomes:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = (pa.concat_tables(lines.tables) if lines.tables
             else pa.table({"n": pa.array([], pa.int64()), "line": pa.array([], pa.large_string())}))
    lines.tables.clear()  # the text is ~the file's size: hold it once, and only while parsing
    con = _connect()
    con.register("lines", table)
    fast = con.sql(_FAST).to_arrow_table()
    slow = fast["slow"].to_numpy(zero_copy_only=False)
    extracted = fast.drop_columns(["slow"])
    if slow.any():
        extracted = _drop_rows(extracted, slow)
        con.unregister("lines")
        con.register("lines", table.filter(pc.is_in(table["n"], value_set=fast["n"].filter(slow))))
        rest = con.sql(_EXTRACT).to_arrow_table()
        extracted = _merge_by_n(extracted, rest.cast(extracted.schema))
    con.close()
    del table, fast, slow
    frames.release_unused()
    bad = extracted.filter(pc.is_valid(extracted["problem"]))
    for n, reason in zip(bad["n"].to_pylist()[:MAX_PROBLEMS_KEPT], bad["problem"].to_pylist()):
        lines.problem(lines.locate(n), "malformed", reason)
    if bad.num_rows > MAX_PROBLEMS_KEPT:
        lines.counts["malformed"] = lines.counts.get("malformed", 0) + bad.num_rows - MAX_PROBLEMS_KEPT
    good = (_drop_rows(extracted, pc.is_valid(extracted["problem"]).to_numpy(zero_copy_only=False))
            if bad.num_rows else extracted)
    good = good.drop_columns(["problem"])
    total = extracted.num_rows
    del extracted, bad
    return _outcomes_from_records(good, lines, source, total)


#: up to this many rows are dropped or merged by slicing (no copy); more, by a filter or a sort
_FEW_ROWS = 256


def _drop_rows(table: "pa.Table", mask: "np.ndarray") -> "pa.Table":
    """``table`` without the rows where ``mask`` is true. A few broken lines in a big log must
    not copy the whole table: the rest is kept as slices of it."""
    import numpy as np
    import pyarrow as pa

    positions = np.flatnonzero(mask)
    if len(positions) > _FEW_ROWS:
        return table.filter(pa.array(~mask))
    pieces, start = [], 0
    for position in positions:
        pieces.append(table.slice(start, position - start))
        start = position + 1
    pieces.append(table.slice(start))
    return pa.concat_tables(pieces)


def _merge_by_n(base: "pa.Table", extra: "pa.Table") -> "pa.Table":
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


def _outcomes_from_records(good: "pa.Table", lines: _Lines, source: str,
                           total: int | None = None) -> Outcomes:
    """Frames from the callback records of lines (``n``: their global line number)."""
    records = good.rename_columns(["callback_id" if c == "n" else c for c in good.column_names])
    del good
    out = _outcomes(records, None, None, source, lines.problems, lines.counts)
    out.records = (records.num_rows if total is None else total) + lines.counts.get("skipped_file", 0)
    _note_unknown_codes(out, lambda n: lines.locate(int(n)))
    return out


def _outcomes(callbacks: "pa.Table", pushes: "pa.Table | None", queries: "pa.Table | None",
              source: str, problems: list[Problem], counts: dict[str, int]) -> Outcomes:
    transactions, callback_frame = frames.build_frames(callbacks, pushes, queries)
    return Outcomes(source, transactions, callback_frame, list(problems), dict(counts),
                    records=len(callback_frame))


def _note_unknown_codes(out: Outcomes, locate: Callable[[Any], str]) -> None:
    import numpy as np

    df = out.callbacks
    rows = np.flatnonzero((df["category"] == "unknown").to_numpy())
    if not len(rows):
        return
    # Only the few rows and three columns needed: a boolean mask over the whole frame would
    # rebuild every text column (hundreds of MiB at a million rows) to keep a handful.
    unknown = df[["result_code", "result_desc", "callback_id"]].take(rows)
    out.counts["unknown_code"] = len(unknown)
    for code, group in unknown.groupby("result_code", sort=True, observed=True):
        where = ", ".join(locate(i) for i in group["callback_id"].head(3).tolist())
        more = f" and {len(group) - 3} more" if len(group) > 3 else ""
        desc = group["result_desc"].dropna()
        said = f" ({desc.iloc[0]!r})" if len(desc) else ""
        out.problems.append(Problem(where + more, "unknown_code",
                                    f"ResultCode {code}{said} is not in the catalogue: "
                                    f"{len(group)} callback(s)"))


# --------------------------------------------------------------------------------------------
# Tables: CSV exports, Parquet files and folders, DataFrames. Our own schema is read as is;
# anything else is taken as callbacks whose columns are matched by name.

_ALIASES = {
    "checkout_request_id": ("checkoutrequestid", "checkoutid", "checkout"),
    "merchant_request_id": ("merchantrequestid",),
    "result_code": ("resultcode", "code"),
    "result_desc": ("resultdesc", "resultdescription", "description", "desc"),
    "amount": ("amount",),
    "receipt": ("receipt", "mpesareceiptnumber", "receiptnumber", "mpesareceipt"),
    "balance": ("balance",),
    "transaction_date": ("transactiondate",),
    "phone": ("phone", "phonenumber", "msisdn"),
    "received_at": ("receivedat", "received", "callbackat", "timestamp", "createdat", "time"),
}


def _squash(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _mapping(columns: Iterable[str]) -> dict[str, str]:
    by_squash = {_squash(c): c for c in columns}
    found = {}
    for target, aliases in _ALIASES.items():
        for alias in (_squash(target), *aliases):
            if alias in by_squash:
                found[target] = by_squash[alias]
                break
    return found


def _is_our_schema(columns: Iterable[str]) -> str | None:
    names = set(columns)
    if {"status", "result_code", "checkout_request_id", "pushed_at"} <= names:
        return "transactions"
    if {"received_at", "result_code", "duplicate", "items_json"} <= names:
        return "callbacks"
    return None


def _from_table(table: "pa.Table", source: str, first_row: int = 1, name: str | None = None) -> Outcomes:
    """Rows of a table taken as callbacks (columns matched by name)."""
    con = _connect()
    con.register("src", table)
    found = _mapping(table.column_names)
    problems: list[Problem] = []
    counts: dict[str, int] = {}
    if "checkout_request_id" not in found or "result_code" not in found:
        con.close()
        raise LoadError(
            f"{source}: no CheckoutRequestID / ResultCode columns among {table.column_names[:12]}; "
            "name them checkout_request_id and result_code (or as Daraja does)")

    def col(target: str, how: str) -> str:
        if target not in found:
            return "NULL"
        text = f'CAST("{found[target]}" AS VARCHAR)'
        if how in ("when_ts", "code"):
            return f"{how}({text}, TRY_CAST({text} AS DOUBLE))"
        return f"{how}({text})"

    sql = f"""
        SELECT row_number() OVER () AS callback_id, {col('received_at', 'when_ts')} AS received_ts,
            {col('checkout_request_id', 'txt')} AS checkout_request_id,
            {col('merchant_request_id', 'txt')} AS merchant_request_id,
            {col('result_code', 'code')} AS result_code,
            CAST({col('result_desc', '')} AS VARCHAR) AS result_desc,
            {col('amount', 'num')} AS amount, {col('receipt', 'txt')} AS receipt,
            {col('balance', 'num')} AS balance, {col('transaction_date', 'when_ts')} AS transaction_ts,
            {col('phone', 'code')} AS phone, '{{}}' AS items_json
        FROM src
    """
    records = con.sql(sql).to_arrow_table()
    con.close()
    import pyarrow.compute as pc

    ok = pc.and_(pc.is_valid(records["checkout_request_id"]), pc.is_valid(records["result_code"]))
    bad = records.filter(pc.invert(ok))
    label = name or source
    for n, cid in zip(bad["callback_id"].to_pylist(), bad["checkout_request_id"].to_pylist()):
        counts["malformed"] = counts.get("malformed", 0) + 1
        if len(problems) < MAX_PROBLEMS_KEPT:
            problems.append(Problem(f"{label} row {n + first_row - 1}", "malformed",
                                    "no ResultCode" if cid else "no CheckoutRequestID"))
    out = _outcomes(records.filter(ok), None, None, source, problems, counts)
    out.records = records.num_rows
    _note_unknown_codes(out, lambda n: f"{label} row {int(n) + first_row - 1}")
    return out


def _frames_from_ours(kind: str, df: "pd.DataFrame") -> "pd.DataFrame":
    schema = frames.TRANSACTIONS if kind == "transactions" else frames.CALLBACKS
    for column in ("result_name", "category", "explanation", "mitigation"):
        df.pop(column) if column in df.columns else None
    if "result_code" in df.columns:
        df["result_code"] = df["result_code"].astype("str").where(df["result_code"].notna())
    frames.explain(df)
    out = frames.conform(df, schema)
    if kind == "transactions":  # derived, and an interval does not survive every engine's trip
        out["latency"] = out["callback_at"] - out["pushed_at"]
        out["latency_s"] = out["latency"].dt.total_seconds()
    return out


def _load_csv(path: Path) -> Outcomes:
    con = _connect()
    try:
        table = con.sql("SELECT * FROM read_csv(?, all_varchar = true, header = true, "
                        "null_padding = true, ignore_errors = false)", params=[str(path)]).to_arrow_table() \
            if path.stat().st_size else None
    except Exception as exc:  # noqa: BLE001 - a broken CSV is reported, not raised
        con.close()
        return _empty(str(path), [Problem(path.name, "malformed",
                                          f"not a readable CSV: {limits.one_line(exc)}")])
    con.close()
    if table is None or table.num_rows == 0:
        return _empty(str(path), [Problem(path.name, "malformed", "empty file")])
    kind = _is_our_schema(table.column_names)
    if kind is not None:
        return _ours({kind: table}, str(path))
    return _from_table(table, str(path), first_row=2, name=path.name)


def _load_parquet(files: list[Path], source: str, folder: Path | None = None) -> Outcomes:
    """Parquet files, or a folder written by :func:`export` (``transactions/day=.../*.parquet``
    and ``callbacks/day=...``): DuckDB scans them, so only the columns are held, never the files."""
    con = _connect()
    tables: dict[str, "pa.Table"] = {}
    groups: dict[str, list[str]] = {}
    for file in files:
        parts = file.relative_to(folder).parts if folder else (file.name,)
        group = parts[0] if folder and parts[0] in ("transactions", "callbacks") else "data"
        groups.setdefault(group, []).append(str(file))
    import duckdb

    try:
        for group, names in groups.items():
            rel = con.sql("SELECT * EXCLUDE (day) FROM read_parquet(?, hive_partitioning = true, "
                          "union_by_name = true)" if _has_day(names) else
                          "SELECT * FROM read_parquet(?, union_by_name = true)", params=[names])
            tables[group] = rel.to_arrow_table()
    except duckdb.Error as exc:
        raise LoadError(f"{source}: the Parquet data cannot be read ({limits.one_line(exc)}): pass "
                        "the folder analytics.export wrote, or files written by pyarrow or DuckDB") from None
    finally:
        con.close()
    if set(tables) <= {"transactions", "callbacks"}:
        return _ours(tables, source)
    table = tables["data"]
    kind = _is_our_schema(table.column_names)
    if kind is not None:
        return _ours({kind: table}, source)
    return _from_table(table, source)


def _has_day(names: list[str]) -> bool:
    return any(f"{os.sep}day=" in n for n in names)


def _ours(tables: dict[str, "pa.Table"], source: str) -> Outcomes:
    """Frames that are already in our schema (an export): fix the dtypes, rebuild the missing one."""
    import pandas as pd

    tx = _frames_from_ours("transactions", _pandas(tables["transactions"])) \
        if "transactions" in tables else None
    cb = _frames_from_ours("callbacks", _pandas(tables["callbacks"])) if "callbacks" in tables else None
    if cb is None:
        cb = frames.conform(pd.DataFrame(), frames.CALLBACKS)
    if tx is None:
        records = _records_from_callback_frame(cb)
        tx = frames.build_transactions(records)
    out = Outcomes(source, tx, cb, [], {}, records=len(cb))
    _note_unknown_codes(out, lambda n: f"callback {n}")
    return out


def _pandas(table: "pa.Table") -> "pd.DataFrame":
    df = table.to_pandas()
    for column in df.columns:  # Parquet keeps the zone; a CSV keeps the offset in the text
        if column.endswith("_at") or column == "transaction_date":
            import pandas as pd

            df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601") \
                if df[column].dtype == object or str(df[column].dtype) == "str" else df[column]
    if "latency" in df.columns and str(df["latency"].dtype) in ("str", "object"):
        import pandas as pd

        df["latency"] = pd.to_timedelta(df["latency"])
    return df


def _records_from_callback_frame(cb: "pd.DataFrame") -> "pa.Table":
    """A callbacks frame back to callback records (an export that kept only callbacks)."""
    import pandas as pd
    import pyarrow as pa

    epoch = pd.Timestamp(0, tz="UTC")

    def seconds(column: str) -> "pa.Array":
        return pa.array((cb[column] - epoch).dt.total_seconds(), pa.float64(), from_pandas=True)

    return pa.table({
        "callback_id": pa.array(cb["callback_id"].astype("float64"), pa.float64(), from_pandas=True).cast(pa.int64()),
        "received_ts": seconds("received_at"), "transaction_ts": seconds("transaction_date"),
        **{c: pa.array(cb[c], pa.string(), from_pandas=True)
           for c in ("checkout_request_id", "merchant_request_id", "result_code", "result_desc",
                     "receipt", "phone", "items_json")},
        "amount": pa.array(cb["amount"], pa.float64(), from_pandas=True),
        "balance": pa.array(cb["balance"], pa.float64(), from_pandas=True)})


def _arrow_from_pandas(df: "pd.DataFrame") -> "pa.Table":
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False)


def _empty(source: str, problems: list[Problem]) -> Outcomes:
    out = _outcomes(frames.empty_records("callbacks"), None, None, source, problems,
                    {"malformed": len(problems)})
    out.records = 0
    return out


# --------------------------------------------------------------------------------------------
# Beyond one machine's memory: a folder of Parquet files partitioned by day.


def export(source: Any, folder: str | os.PathLike[str]) -> Path:
    """Write ``source``'s transactions and callbacks as Parquet partitioned by Nairobi day:
    ``folder/transactions/day=YYYY-MM-DD/part-0.parquet`` and the same for ``callbacks``.
    DuckDB, Spark and BigQuery read it as is; ``load(folder)`` reads it back."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    outcomes = source if isinstance(source, Outcomes) else load(source)
    folder = Path(folder)
    for name, df, when in (("transactions", outcomes.transactions, "pushed_at"),
                           ("callbacks", outcomes.callbacks, "received_at")):
        moment = df[when]
        if name == "transactions":
            moment = moment.fillna(df["callback_at"])
        day = moment.dt.strftime("%Y-%m-%d").fillna("unknown")
        table = pa.Table.from_pandas(df.assign(day=day), preserve_index=False)
        ds.write_dataset(table, folder / name, format="parquet", partitioning=["day"],
                         partitioning_flavor="hive", existing_data_behavior="delete_matching",
                         basename_template="part-{i}.parquet")
    return folder


def scan(folder: str | os.PathLike[str], table: str = "transactions") -> "duckdb.DuckDBPyRelation":
    """A lazy DuckDB relation over an exported folder: filter and aggregate before anything is
    read (``scan(f).filter("day >= '2026-07-03'").aggregate(...)``)."""
    import duckdb

    pattern = str(Path(folder) / table / "**" / "*.parquet")
    return duckdb.sql(f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)")


# analytics.load(source): the module answers the call (see _callable.py).
from mpesa_lab.analytics._callable import make_callable  # noqa: E402

make_callable(__name__, "load")
