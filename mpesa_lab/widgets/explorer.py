"""The code explorer: search the catalogue, read what a code means, and make it happen.

The catalogue (``mpesa_lab.codes``) gives meaning and mitigation. How to produce each code comes
from the local emulator's control API (``GET /_lab/triggers``), over HTTP like everything the
merchant side does; "Trigger it now" then makes a real request through this lab and shows what
came back (Daraja's error, or the callback). Waits happen in a background thread.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any

import httpx
import ipywidgets as widgets

from mpesa_lab import codes
from mpesa_lab.codes import CodeEntry
from mpesa_lab.constants import SANDBOX_TEST_MSISDN
from mpesa_lab.daraja.errors import MpesaLabError
from mpesa_lab.display import badge, callback_html, card, error_html, esc, query_html, rows
from mpesa_lab.widgets._base import run_in_background, style

if TYPE_CHECKING:
    from mpesa_lab.lab import Lab

# Errors raised on a route other than the push, for fail_next.
_ROUTE = {"400.008.01": "oauth", "400.008.02": "oauth"}
_QUERY_ERRORS = {"transaction_being_processed"}


# The list is a <select>, one line per code: a monospace font (the stylesheet's .mpl-code-list)
# keeps the code column aligned, and the message is cut at a word, with "…", to fit the box's
# width (LIST_CHARS characters) instead of being clipped mid-word by it. The detail shows it whole.
CODE_COLUMN = 12
LIST_CHARS = 58


def _label(entry: CodeEntry) -> str:
    source = " (observed)" if entry.source == "observed" else ""
    room = LIST_CHARS - CODE_COLUMN - 1 - len(source)
    message = entry.message
    if len(message) > room:
        cut = message[: room - 1].rsplit(" ", 1)[0].rstrip(" ,.;:-")
        message = cut + "…"
    return f"{entry.code:<{CODE_COLUMN}} {message}{source}"


class CodeExplorer(widgets.VBox):
    """Search and filter every documented and observed code; trigger the selected one."""

    def __init__(self, lab: Lab | None = None, *, wait_timeout: float = 20.0) -> None:
        self.lab = lab
        self.wait_timeout = wait_timeout
        self.entries: list[CodeEntry] = [*codes.error_codes(), *codes.result_codes()]
        self._triggers: dict[str, Any] | None = None
        self._busy = threading.Lock()
        # Each trigger changes the amount a little: the same amount to the same phone twice within
        # 120 s is rule 17 on a real phone (and the Lab warns about it).
        self._nudge = itertools.cycle(range(100))
        self.search = widgets.Text(
            placeholder="search: 1032, cancel, PIN, credentials…",
            description="Search",
            layout=widgets.Layout(width="330px"),
        )
        self.kind = widgets.ToggleButtons(
            options=[("all", "all"), ("error codes", "error"), ("result codes", "result")],
            value="all",
            style={"button_width": "115px"},
        )
        self.source = widgets.Dropdown(
            options=[("documented and observed", "all"), ("documented", "doc"), ("observed live", "observed")],
            value="all",
            layout=widgets.Layout(width="200px"),
        )
        self.list = widgets.Select(options=[], rows=14, layout=widgets.Layout(width="450px", margin="0 14px 0 0"))
        self.list.add_class("mpl-code-list")
        self.detail = widgets.HTML(layout=widgets.Layout(width="500px"))
        self.trigger = widgets.Button(
            description="Trigger it now", icon="bolt", button_style="warning", layout=widgets.Layout(width="180px")
        )
        self.result = widgets.HTML(layout=widgets.Layout(width="500px"))
        self.result.add_class("mpl-trigger-outcome")
        self.last_result: Any = None  # what the last trigger brought back (callback, query or error)
        self._outcome_of: CodeEntry | None = None  # the code whose outcome the panel shows
        self.done = threading.Event()  # set when the last trigger finished
        self.done.set()
        for w in (self.search, self.kind, self.source):
            w.observe(lambda _c: self._filter(), names="value")
        self.list.observe(lambda _c: self._show(), names="value")
        self.trigger.on_click(lambda _b: self.fire())
        filters = widgets.HBox([self.search, self.source])
        right = widgets.VBox([self.detail, self.trigger, self.result])
        super().__init__(
            [
                style(),
                widgets.HTML("<div class='mpl-title'>Codes</div>"),
                filters,
                self.kind,
                widgets.HBox([self.list, right]),
            ]
        )
        self.add_class("mpl-panel")
        self._filter()

    # ---- browsing ------------------------------------------------------------------------

    @property
    def shown(self) -> list[CodeEntry]:
        """The entries the list shows now."""
        return [e for _label_, e in self.list.options]

    @property
    def selected(self) -> CodeEntry | None:
        return self.list.value

    def select(self, code: str, message: str | None = None) -> CodeEntry:
        """Select a code in the list (``message``, part of Daraja's words, tells apart reused codes)."""
        for entry in self.shown:
            if entry.code == code and (message is None or message.lower() in entry.message.lower()):
                self.list.value = entry
                return entry
        raise KeyError(f"code {code!r} is not in the list as filtered; clear the search or the filters")

    def _filter(self) -> None:
        words = self.search.value.strip().lower().split()
        chosen = []
        for entry in self.entries:
            if self.kind.value != "all" and entry.kind != self.kind.value:
                continue
            if self.source.value != "all" and entry.source != self.source.value:
                continue
            text = " ".join((entry.code, entry.name, entry.message, entry.explanation, entry.mitigation)).lower()
            if all(w in text for w in words):
                chosen.append(entry)
        current = self.list.value
        self.list.options = [(_label(e), e) for e in chosen]
        self.list.value = current if current in chosen else (chosen[0] if chosen else None)
        self._show()

    def triggers(self) -> dict[str, Any]:
        """The emulator's trigger table (empty when this lab does not run against the emulator)."""
        if self._triggers is None:
            self._triggers = {}
            if self.lab is not None and self.lab.settings.environment == "local":
                try:
                    response = httpx.get(f"{self.lab.settings.base_url}/_lab/triggers", timeout=5)
                    response.raise_for_status()
                    self._triggers = response.json()
                except (httpx.HTTPError, ValueError):
                    self._triggers = {}
        return self._triggers

    def how(self, entry: CodeEntry) -> str:
        """How to produce ``entry`` in the emulator (text from the emulator itself)."""
        table = self.triggers()
        if not table:
            return (
                "Triggers exist in the local emulator only: start the lab with Lab.start() "
                "(local) to produce codes on purpose."
            )
        if entry.kind == "result":
            for trigger in table.get("triggers", []):
                if trigger["code"] == entry.code:
                    return f"Push to PhoneNumber {trigger['phone']} (magic number). Real condition: {trigger['how']}"
            return (
                f'Script it: POST /_lab/next-result {{"code": "{entry.code}"}} (emulator.set_next_result), then push.'
            )
        for trigger in table.get("error_triggers", []):
            if trigger["name"] == entry.name:
                return trigger["how"]
        return f'Inject it: POST /_lab/errors {{"code": "{entry.code}"}} (emulator.fail_next), then push.'

    def _show(self) -> None:
        entry = self.selected
        if entry is not self._outcome_of and self.done.is_set():
            # Another code selected: the outcome under the button was the previous code's.
            self.result.value = ""
            self._outcome_of = None
        if entry is None:
            self.detail.value = "<i>No code matches.</i>"
            self.trigger.disabled = True
            return
        kind = "error code" if entry.kind == "error" else "result code"
        title = f"<b style='font-size:16px'>{esc(entry.code)}</b> {badge('rejected', kind)}"
        if entry.source == "observed":
            title += " " + badge("pending", "observed live, beyond the doc")
        pairs = [
            ("Daraja says", esc(entry.message)),
            ("name", f"<code>{esc(entry.name)}</code>"),
            ("HTTP status", esc(entry.http_status) if entry.http_status else ""),
            ("category", esc(entry.category)),
            ("meaning", esc(entry.explanation)),
            ("what to do", esc(entry.mitigation)),
            ("safe to retry", "yes" if entry.retryable else ""),
            ("how to trigger it", esc(self.how(entry))),
        ]
        self.detail.value = card(title, rows(pairs))
        self.trigger.disabled = not self.triggers() or self.lab is None

    # ---- triggering ----------------------------------------------------------------------

    def fire(self, *, block: bool = False) -> None:
        """Trigger the selected code now; the outcome shows under the button (``block``: wait)."""
        entry = self.selected
        if entry is None or self.lab is None or not self.triggers():
            return
        if not self._busy.acquire(blocking=False):
            return
        self.done.clear()
        self.trigger.disabled = True
        self._outcome_of = entry
        self.result.value = f"<i>triggering {esc(entry.code)}…</i>"

        def work() -> None:
            try:
                self.last_result = self._trigger(entry)
                shown = self._render(self.last_result)
            except Exception as exc:  # shown, never raised into a background thread's void
                self.last_result = exc
                shown = error_html(exc)
            try:
                if self.selected is entry:
                    self.result.value = shown
                else:  # the learner moved on while it ran: this outcome is not the selected code's
                    self.result.value = ""
                    self._outcome_of = None
            finally:
                self.trigger.disabled = False
                self._busy.release()
                self.done.set()

        if block:
            work()
        else:
            run_in_background("code-trigger", work)

    def _render(self, outcome: Any) -> str:
        if isinstance(outcome, BaseException):
            return error_html(outcome)
        if hasattr(outcome, "checkout_request_id") and hasattr(outcome, "status"):
            return query_html(outcome)
        return callback_html(outcome)

    def _trigger(self, entry: CodeEntry) -> Any:
        assert self.lab is not None
        lab = self.lab
        if entry.kind == "result":
            trigger = next((t for t in self.triggers().get("triggers", []) if t["code"] == entry.code), None)
            options: dict[str, Any] = {}
            if trigger is None:
                self._control("POST", "/next-result", {"code": entry.code, "phone": SANDBOX_TEST_MSISDN})
                phone, amount, reference = SANDBOX_TEST_MSISDN, 1 + next(self._nudge), "LAB"
            else:
                phone, reference = trigger["phone"], trigger["account_reference"]
                amount = trigger["amount"] + next(self._nudge)  # magic numbers ignore the amount
                options["transaction_type"] = trigger["transaction_type"]
                if trigger.get("party_b"):
                    options["party_b"] = trigger["party_b"]
            try:
                push = lab.push(phone, amount, reference, "Trigger", **options)
            except MpesaLabError as exc:
                return exc
            return push.wait(timeout=self.wait_timeout)
        return self._trigger_error(entry)

    def _trigger_error(self, entry: CodeEntry) -> Any:
        """Inject the error for the next request(s) and make that request, through a fresh client
        (its own token, so OAuth errors show) with the lab's settings."""
        from mpesa_lab.daraja.client import DarajaClient

        assert self.lab is not None
        lab = self.lab
        message = entry.message.replace("XXXX", "Timestamp")
        # A short backoff: the retries still happen (and are said to), without a 3.5 s wait.
        with DarajaClient(lab.settings, backoff=0.05, backoff_cap=0.2) as client:
            if entry.name in _QUERY_ERRORS:
                push = lab.push(SANDBOX_TEST_MSISDN, 1 + next(self._nudge), "LAB", "Trigger")
                self._control("POST", "/errors", {"code": entry.code, "message": message, "count": 1, "route": "query"})
                return client.stk_query(push.checkout_request_id)  # pending, not an error
            # Retryable errors are retried by the client, and a refused token refreshed once:
            # inject enough for every attempt, so what comes back is Daraja's error itself.
            count = client.max_retries + 1 if entry.retryable else (2 if entry.name == "invalid_access_token" else 1)
            self._control(
                "POST",
                "/errors",
                {"code": entry.code, "message": message, "count": count, "route": _ROUTE.get(entry.code, "push")},
            )
            try:
                client.stk_push(SANDBOX_TEST_MSISDN, 1, "LAB", "Trigger")
            except MpesaLabError as exc:
                return exc
            finally:
                self._control("DELETE", "/errors", None)
        raise RuntimeError(f"the emulator did not answer {entry.code} as injected")

    def _control(self, method: str, path: str, body: Any) -> Any:
        assert self.lab is not None
        response = httpx.request(method, f"{self.lab.settings.base_url}/_lab{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()
