"""The live callbacks table: every callback the listener stores, newest first, as it arrives.

A background watcher sleeps on the store's commit counter (``CallbackStore.wait_for_change``)
and, when a write lands, re-reads the newest callbacks and sets one trait (the table's HTML).
It also polls the row count every couple of seconds, so a listener in another process is seen.
Columns follow the transactions frame: status, result_code, result_desc, phone, amount (paid),
amount_requested, receipt, latency_s (with real_latency_s, the real-world time at the lab's
time_scale, beside it); the code's meaning and mitigation show on hover and on click.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from mpesa_lab._templates import macro
from mpesa_lab.clock import duration_words
from mpesa_lab.codes import status_of
from mpesa_lab.widgets._base import Watcher, style

if TYPE_CHECKING:
    import pandas as pd

    from mpesa_lab.lab import Lab

COLUMNS = (
    "status",
    "result_code",
    "result_desc",
    "phone",
    "amount",
    "amount_requested",
    "receipt",
    "latency_s",
    "real_latency_s",
)
_TEMPLATE = "widgets/live.html"
_ROW_BG = {"paid": "#f6fff8", "failed": "#fff6f6", "pending": "#fffdf0", "rejected": "#faf5ff"}


class LiveCallbacks(widgets.VBox):
    """Callbacks in this lab's store, newest first (at most ``limit`` rows), updating by itself."""

    def __init__(
        self, lab: Lab, limit: int = 50, *, watch: bool = True, poll_interval: float = 2.0, min_interval: float = 0.25
    ) -> None:
        self.lab = lab
        self.limit = limit
        self.poll_interval = poll_interval
        # At most one redraw per min_interval: under a flood of callbacks the table stays live
        # without re-reading the store for every single one.
        self.min_interval = min_interval
        self._last_refresh = 0.0
        self.rows: list[dict[str, Any]] = []  # what the table shows, newest first
        self.header = widgets.HTML()
        self.table = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.table.add_class("mpl-live-host")
        self._lock = threading.Lock()
        self._generation = lab.store.generation
        self._count = -1
        self._last_poll = 0.0
        super().__init__([style(), self.header, self.table], layout=widgets.Layout(width="100%"))
        self.add_class("mpl-panel")
        self.refresh()
        self._watcher: Watcher | None = Watcher("live-callbacks", self._watch) if watch else None

    # ---- data ----------------------------------------------------------------------------

    def frame(self) -> pd.DataFrame:
        """The newest callbacks (duplicates flagged), with the push's latency, newest first."""
        store = self.lab.store
        callbacks = store.callbacks()
        if callbacks.empty:
            return callbacks
        callbacks = callbacks.tail(self.limit).iloc[::-1].reset_index(drop=True)
        pushes = store.pushes()[["checkout_request_id", "pushed_at", "phone", "amount", "time_scale"]]
        pushes = pushes.dropna(subset=["checkout_request_id"]).drop_duplicates("checkout_request_id")
        pushes = pushes.rename(columns={"phone": "push_phone", "amount": "amount_requested"})
        merged = callbacks.merge(pushes, on="checkout_request_id", how="left")
        # Failed callbacks carry no metadata: the push says who was asked. What was asked for
        # (amount_requested) stays apart from what was paid (amount), as in the transactions frame.
        merged["phone"] = merged["phone"].where(merged["phone"].notna(), merged.pop("push_phone"))
        merged["latency_s"] = (merged["received_at"] - merged["pushed_at"]).dt.total_seconds()
        # In real-world seconds too (the lab's time scale when the push was made; NaN: quick lab).
        merged["real_latency_s"] = merged["latency_s"] / merged.pop("time_scale").astype("float64")
        merged["status"] = [status_of(str(c)) for c in merged["result_code"].astype(str)]
        merged["result_code"] = merged["result_code"].astype(str)
        first = [c for c in COLUMNS if c in merged.columns]
        return merged[first + [c for c in merged.columns if c not in first]]

    def refresh(self) -> None:
        """Re-read the store and redraw (the watcher calls this by itself)."""
        with self._lock:
            frame = self.frame()
            rows = frame.to_dict("records") if not frame.empty else []
            self._count = self.lab.store.count_callbacks()
            self.table.value = self._html(rows)
            self.header.value = self._header(rows)
            self.rows = rows  # last: whoever sees the new rows sees them drawn
            self._last_refresh = time.monotonic()

    def _watch(self) -> None:
        store = self.lab.store
        generation = store.wait_for_change(self._generation, timeout=0.5)
        changed = generation != self._generation
        self._generation = generation
        if not changed and time.monotonic() - self._last_poll >= self.poll_interval:
            # Another process may write the same file: a cheap count tells.
            self._last_poll = time.monotonic()
            changed = store.count_callbacks() != self._count
        if changed:
            wait = self._last_refresh + self.min_interval - time.monotonic()
            time.sleep(max(0.05, wait))  # let a burst of callbacks land: one redraw for many
            self.refresh()

    # ---- drawing -------------------------------------------------------------------------

    def _header(self, rows: list[dict[str, Any]]) -> str:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        shown = f"newest {len(rows)} of {self._count}" if self._count > len(rows) else f"{len(rows)}"
        return str(macro(_TEMPLATE, "header")(shown, list(counts.items())))

    def _html(self, rows: list[dict[str, Any]]) -> str:
        # (heading, the frame column it shows): short headings keep the table inside a notebook's
        # width (the dashboard's included); the column's name is in the heading's hover text.
        heads = [
            ("received", "received_at"),
            ("status", "status"),
            ("code", "result_code"),
            ("result_desc", "result_desc"),
            ("phone", "phone"),
            ("paid", "amount (what the callback says was paid)"),
            ("asked", "amount_requested (what the push asked for)"),
            ("receipt", "receipt"),
            (
                "latency s",
                "latency_s (in brackets: real_latency_s, the same in real-world time at the lab's time_scale)",
            ),
        ]
        return str(macro(_TEMPLATE, "table")([_cells(row) for row in rows], heads))

    def close(self) -> None:
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.stop()
            self._watcher = None
        super().close()


def _cells(row: dict[str, Any]) -> dict[str, Any]:
    """One callback's cells as text (the template escapes them)."""
    status = row["status"]
    received = row.get("received_at")
    clock = getattr(received, "strftime", None)
    return {
        "background": _ROW_BG.get(status, "#fff"),
        "hover": (
            f"{row.get('explanation') or ''}\nWhat to do: {row.get('mitigation') or ''}"
            f"\nCheckoutRequestID: {row.get('checkout_request_id')}"
        ),
        "time": clock("%H:%M:%S") if clock else "",
        "status": status,
        "flags": " ".join(f"[{f}]" for f in ("duplicate", "unknown") if row.get(f) is True),
        "result_code": row["result_code"],
        "explanation": row.get("explanation"),
        "mitigation": row.get("mitigation"),
        "checkout_request_id": row.get("checkout_request_id"),
        "result_desc": _text(row.get("result_desc")),
        "phone": _text(row.get("phone")),
        "amount": _number(row.get("amount")),
        "amount_requested": _number(row.get("amount_requested")),
        "receipt": _text(row.get("receipt")),
        "latency": _number(row.get("latency_s"), 3),
        "real_latency": _real(row.get("real_latency_s")),
    }


def _real(value: Any) -> str:
    """A real-world duration in words ('12 s', '1 min 30 s'); '' when unknown (the quick lab)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if number != number else duration_words(number)


def _text(value: Any) -> str:
    """A cell's text: '' for None and pandas' NaN/NA (a failed callback has no receipt)."""
    if value is None:
        return ""
    try:
        if value != value:  # NaN
            return ""
    except (TypeError, ValueError):  # pd.NA refuses comparisons
        return ""
    return str(value)


def _number(value: Any, digits: int = 2) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if number != number:  # NaN: no value
        return ""
    return f"{number:,.{digits}f}" if digits != 2 else f"{number:,.2f}"
