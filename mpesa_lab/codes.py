"""The catalogue: every Daraja error code and M-Pesa Express result code, with its meaning.

The tables live in ``mpesa_lab/data/*.csv`` so that notebooks, pandas and this module read the
same data. Rows with ``source == "doc"`` are Daraja's documented codes; rows with
``source == "observed"`` were seen from live Daraja beyond its doc page, with when (``seen``) and
where (``seen_in``) they were reported (docs/daraja.md). ``result_wordings.csv`` holds other
wordings live Daraja has used for documented codes (1037 "No response from user." in 2026).
Lookups never raise for an unknown code: they return an entry of kind ``"unknown"`` that says
what to do next.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["error", "result", "unknown"]

UNKNOWN_MITIGATION = (
    "This code is not in Daraja's documented tables. Keep the raw payload, check the "
    "transaction's final state with an STK query, and report the code with its message."
)


@dataclass(frozen=True)
class CodeEntry:
    """One row of the catalogue."""

    kind: Kind
    code: str
    name: str
    message: str
    explanation: str
    mitigation: str
    http_status: int | None = None
    category: str | None = None
    #: codes a handler treats alike (``"no_answer"``: 1019, 1036, 1037), or None
    family: str | None = None
    final: bool | None = None
    retryable: bool = False
    source: str = "doc"
    #: observed codes: when (e.g. "2026") and where they were reported
    seen: str | None = None
    seen_in: str | None = None
    #: other wordings live Daraja has used for this code, newest first
    wordings: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return self.kind != "unknown"

    @property
    def documented(self) -> bool:
        """In Daraja's own tables (not only observed from the live system)."""
        return self.source == "doc"

    def __str__(self) -> str:
        return f"{self.code} {self.message}: {self.explanation} Fix: {self.mitigation}"


def _norm(text: str) -> str:
    text = text.replace("\u2013", "-").replace("\u2014", "-").lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


def normalize_code(code: object) -> str:
    """Daraja sends codes as strings or numbers (1032, "1032", 1032.0): one canonical string."""
    if isinstance(code, bool):
        return str(code)
    if isinstance(code, float) and code.is_integer():
        return str(int(code))
    text = str(code).strip()
    if re.fullmatch(r"[+-]?\d+\.0+", text):
        text = text.split(".")[0]
    if re.fullmatch(r"\+?0*\d+", text) and "." not in text:
        text = str(int(text))
    return text


def _read(name: str) -> list[dict[str, str]]:
    # Binary, then decoded here: csv wants newline="" and Traversable.open takes no newline argument.
    raw = resources.files("mpesa_lab.data").joinpath(name).read_bytes().decode("utf-8")
    return list(csv.DictReader(io.StringIO(raw, newline="")))


@lru_cache(maxsize=1)
def error_codes() -> tuple[CodeEntry, ...]:
    """Every documented (and observed) Daraja error code, in table order."""
    return tuple(
        CodeEntry(
            kind="error",
            code=row["code"],
            name=row["name"],
            message=row["message"],
            explanation=row["explanation"],
            mitigation=row["mitigation"],
            http_status=int(row["http_status"]) if row["http_status"] else None,
            retryable=row["retryable"] == "yes",
            source=row["source"],
        )
        for row in _read("error_codes.csv")
    )


@lru_cache(maxsize=1)
def result_wordings() -> tuple[dict[str, str], ...]:
    """Other wordings live Daraja has used for result codes (code, wording, source, seen, seen_in)."""
    return tuple(_read("result_wordings.csv"))


@lru_cache(maxsize=1)
def result_codes() -> tuple[CodeEntry, ...]:
    """Every documented (and observed) STK result code, in table order."""
    wordings: dict[str, list[str]] = {}
    for row in result_wordings():
        wordings.setdefault(row["code"], []).append(row["wording"])
    return tuple(
        CodeEntry(
            kind="result",
            code=row["code"],
            name=row["name"],
            message=row["description"],
            explanation=row["explanation"],
            mitigation=row["mitigation"],
            category=row["category"],
            family=row.get("family") or None,
            final=row["final"] == "yes",
            source=row["source"],
            seen=row.get("seen") or None,
            seen_in=row.get("seen_in") or None,
            wordings=tuple(wordings.get(row["code"], ())),
        )
        for row in _read("result_codes.csv")
    )


def live_wording(code: object) -> str:
    """The newest wording live Daraja is known to use for ``code`` (else the catalogue's)."""
    entry = result_entry(code)
    return entry.wordings[0] if entry.wordings else entry.message


def _message_matches(entry: CodeEntry, message: str) -> bool:
    want, got = _norm(entry.message).replace(" xxxx", ""), _norm(message)
    if not got:
        return False
    if want in got or got in want:
        return True
    head = " ".join(want.split()[:3])
    return len(head.split()) == 3 and head in got


def unknown_entry(code: object, message: str | None = None) -> CodeEntry:
    """The entry for a code outside the tables: never an exception, always advice."""
    return CodeEntry(
        kind="unknown",
        code=normalize_code(code) if code is not None else "",
        name="unknown",
        message=message or "Unknown code",
        explanation="Not in Daraja's documented error or result tables.",
        mitigation=UNKNOWN_MITIGATION,
        source="unknown",
    )


def error_entry(code: object, message: str | None = None) -> CodeEntry:
    """Look up a Daraja errorCode; ``message`` tells apart the codes Daraja reuses (500.001.1001)."""
    key = str(code).strip() if code is not None else ""
    same_code = [e for e in error_codes() if e.code == key]
    if message:
        for entry in same_code:
            if _message_matches(entry, message):
                return entry
        if not same_code:
            by_message = [e for e in error_codes() if _message_matches(e, message)]
            if len(by_message) == 1:
                return by_message[0]
    if len(same_code) >= 1 and (not message or len(same_code) == 1):
        return same_code[0]
    if same_code:
        # A reused code with an unfamiliar message: keep the code's family, show the real words.
        first = same_code[0]
        return CodeEntry(
            kind="error",
            code=first.code,
            name="unrecognised_message",
            message=message or first.message,
            explanation=f"Daraja uses {first.code} for several errors; this message is not one of them.",
            mitigation=UNKNOWN_MITIGATION,
            http_status=first.http_status,
            source="unknown",
        )
    return unknown_entry(code, message)


def result_entry(code: object) -> CodeEntry:
    """Look up a ResultCode (number or string, e.g. 1032, "1032", "SFC_IC0003")."""
    key = normalize_code(code)
    for entry in result_codes():
        if entry.code.lower() == key.lower():
            return entry
    return unknown_entry(code)


#: What a ResultCode says about the money, the one rule every view uses (frames, cards, widgets).
STATUS_PAID, STATUS_FAILED, STATUS_PENDING = "paid", "failed", "pending"


def pending_result_codes() -> frozenset[str]:
    """ResultCodes (lower case) that are not final: the payment may still complete (e.g. 4999)."""
    return frozenset(entry.code.lower() for entry in result_codes() if entry.final is False)


#: The family of codes that all mean "the customer never answered the prompt".
NO_ANSWER = "no_answer"


def family_codes(family: str) -> frozenset[str]:
    """ResultCodes (lower case) of one family of the catalogue, e.g. ``family_codes("no_answer")``."""
    return frozenset(entry.code.lower() for entry in result_codes() if entry.family == family)


def no_answer_codes() -> frozenset[str]:
    """The ResultCodes that mean "no answer": 1037 (documented), 1019 (the sandbox, 2022) and 1036
    (2019) have all ended an unanswered prompt, so a handler treats them alike."""
    return family_codes(NO_ANSWER)


def is_no_answer(code: object) -> bool:
    """Whether ``code`` (number or text) means the customer never answered the prompt."""
    return code is not None and normalize_code(code).lower() in no_answer_codes()


def status_of(code: object) -> str:
    """What a callback's or a query's ResultCode means for the payment: paid (0), failed (any
    final code, unknown ones included), pending (no code yet, or a non-final one)."""
    key = normalize_code(code) if code is not None else ""
    if key == "" or key.lower() in ("nan", "none"):
        return STATUS_PENDING
    if key == "0":
        return STATUS_PAID
    return STATUS_PENDING if key.lower() in pending_result_codes() else STATUS_FAILED


def lookup(code: object, message: str | None = None) -> CodeEntry:
    """Look up any code: errorCodes look like ``400.002.02``, anything else is a ResultCode."""
    text = str(code).strip() if code is not None else ""
    if not text and message:
        return error_entry("", message)
    if re.fullmatch(r"\d{3}\.\d{3}(\.\d+)?", text):
        return error_entry(text, message)
    entry = result_entry(text)
    if not entry.known and message:
        return unknown_entry(text, message)
    return entry


def by_name(name: str) -> CodeEntry:
    """The entry with this catalogue name (e.g. ``"wrong_credentials"``, ``"cancelled"``)."""
    for entry in (*error_codes(), *result_codes()):
        if entry.name == name:
            return entry
    raise KeyError(f"no catalogue entry named {name!r}")


def invalid_field(message: str | None) -> str | None:
    """The field named by "Bad Request - Invalid <Field>", or None."""
    if not message:
        return None
    match = re.search(r"Invalid\s+([A-Za-z][A-Za-z0-9_]*)\s*\.?\s*$", message.replace("\u2013", "-"))
    return match.group(1) if match else None


def catalogue_frame() -> pd.DataFrame:
    """Both tables as one DataFrame (column ``kind`` says which)."""
    import pandas as pd

    rows = [entry.__dict__ for entry in (*error_codes(), *result_codes())]
    return pd.DataFrame(rows)
