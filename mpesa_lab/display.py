"""Rich display for notebooks: the HTML a learner sees for a Lab, a Push, a callback, a query.

Plain functions returning HTML strings (no ipywidgets, no emulator import), which the widgets
reuse: this module computes the values, ``templates/display/*.html`` lays them out (the shared
pieces, a badge, a key/value row, a card, are macros of ``templates/display/parts.html``, and
the functions of the same names call them). They reach IPython through its HTML formatter
(:func:`register`), by class *name*: the classes shown (in ``daraja`` and ``lab``, floors below
and beside this one) never import their renderer and this module never imports them, so there
is no cycle to hide. ``Lab.start()`` registers them in a running IPython; ``%load_ext
mpesa_lab.display`` does it by hand (e.g. for the client alone). Every value shown is escaped
(the templates autoescape); nothing here ever receives a secret (requests arrive masked).
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from mpesa_lab._templates import macro, markup
from mpesa_lab._templates import render as render_template
from mpesa_lab.codes import CodeEntry, lookup, status_of

if TYPE_CHECKING:
    from mpesa_lab.daraja.callbacks import ParsedCallback
    from mpesa_lab.daraja.results import StkQueryResult
    from mpesa_lab.lab import Lab, Push

_PARTS = "display/parts.html"


def esc(value: Any) -> str:
    """HTML-escaped text of ``value`` ('' for None), for the widgets' own layout strings."""
    return "" if value is None else html.escape(str(value))


def badge(status: str, text: str | None = None) -> str:
    """A coloured pill for a status (paid, failed, pending, rejected, success, ...)."""
    return str(macro(_PARTS, "badge")(status, text))


def rows(pairs: list[tuple[str, str]]) -> str:
    """A two-column key/value table; values are HTML already (escape them before)."""
    return str(macro(_PARTS, "rows")([(key, markup(value)) for key, value in pairs]))


def card(title_html: str, body_html: str) -> str:
    """A card: a title line over a body, both HTML already."""
    return str(macro(_PARTS, "card")(markup(title_html), markup(body_html)))


def pre(value: Any) -> str:
    """A JSON (or text) block, escaped."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return str(macro(_PARTS, "pre")(text))


class Outcome(NamedTuple):
    """What every outcome shows: the code, Daraja's words (or the catalogue's), the entry."""

    code: str | None
    words: str
    entry: CodeEntry | None


def outcome(code: str | None, desc: str | None, entry: CodeEntry | None) -> Outcome:
    """The code, the words to show beside it (Daraja's, else the catalogue's) and its entry."""
    entry = entry if entry is not None else (lookup(code) if code not in (None, "") else None)
    return Outcome(code, desc or (entry.message if entry else ""), entry)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " " + (value.tzname() or "") if value else ""


def _money(value: Any) -> str:
    if value in (None, ""):
        return ""
    try:
        return f"KES {float(value):,.2f}"
    except (TypeError, ValueError):
        return str(value)


# --------------------------------------------------------------------------------------------
# The objects a learner meets (templates/display/*.html lay them out)


def callback_html(cb: ParsedCallback) -> str:
    """A parsed stkCallback: status coloured, code with meaning and mitigation, receipt."""
    return render_template(
        "display/callback.html",
        cb=cb,
        status=status_of(cb.result_code),
        flags=[flag for flag, on in (("duplicate", cb.duplicate), ("unknown push", cb.unknown)) if on],
        outcome=outcome(cb.result_code, cb.result_desc, cb.entry),
        amount=_money(cb.amount),
        transaction_date=_when(cb.transaction_date),
        received=_when(cb.received_at),
    )


def query_html(result: StkQueryResult) -> str:
    """An STK query answer: pending / success / failed, with what to do next."""
    return render_template(
        "display/query.html", result=result, outcome=outcome(result.result_code, result.result_desc, result.entry)
    )


def push_html(push: Push) -> str:
    """A push: Daraja's acknowledgement, and its outcome if the callback is already stored."""
    result = push.result
    request = result.request or {}
    callback = None
    try:
        callback = push.lab.listener.callback(push.checkout_request_id)
    except Exception:  # the store may be gone; the acknowledgement is still worth showing
        callback = None
    return render_template(
        "display/push.html",
        result=result,
        checkout_request_id=push.checkout_request_id,
        callback=callback,
        status=status_of(callback.result_code) if callback is not None else None,
        outcome=outcome(callback.result_code, callback.result_desc, callback.entry) if callback is not None else None,
        phone=request.get("PhoneNumber"),
        amount=_money(request.get("Amount")),
        account=request.get("AccountReference"),
    )


def lab_html(lab: Lab) -> str:
    """The lab: running or stopped, where Daraja and the callbacks are, what the store holds."""
    running = getattr(lab, "running", None)
    if running is None:  # a Lab without the property: its listener tells
        running = bool(getattr(lab.listener, "running", True))
    store_path = counts = store_error = None
    statuses: list[tuple[str, int]] = []
    try:
        store = lab.store
        store_path = store.path
        counts = (
            f"{store.count_pushes()} pushes, {store.count_callbacks()} callbacks, "
            f"{store.count_quarantined()} quarantined"
        )
        statuses = _status_counts(lab)
    except Exception as exc:  # a store that cannot be read must not hide the rest
        store_error = f"unreadable: {exc}"
    return render_template(
        "display/lab.html",
        settings=lab.settings,
        running=running,
        local=getattr(lab, "emulator", None) is not None,
        store_path=store_path,
        counts=counts,
        statuses=statuses,
        store_error=store_error,
    )


def _status_counts(lab: Lab) -> list[tuple[str, int]]:
    try:
        frame = lab.transactions()
    except Exception:
        return []
    if "status" not in frame.columns or frame.empty:
        return []
    counts = frame["status"].astype(str).value_counts()
    return [(str(s), int(n)) for s, n in counts.items() if n]


def error_html(exc: BaseException) -> str:
    """A refused request or a Daraja error: its code, Daraja's words and the documented fix."""
    from mpesa_lab.daraja.errors import AmbiguousPushError, DarajaError, ValidationError

    kind = (
        "validation"
        if isinstance(exc, ValidationError)
        else "daraja"
        if isinstance(exc, DarajaError)
        else "ambiguous"
        if isinstance(exc, AmbiguousPushError)
        else "other"
    )
    return render_template(
        "display/error.html",
        kind=kind,
        exc=exc,
        name=type(exc).__name__,
        message=str(exc),
        value_repr=repr(getattr(exc, "value", None)),
    )


# --------------------------------------------------------------------------------------------
# The seam to IPython


#: (module, class name) -> renderer. By name, so nothing here imports the classes it shows.
RENDERERS: dict[tuple[str, str], Callable[[Any], str]] = {
    ("mpesa_lab.daraja.callbacks", "ParsedCallback"): callback_html,
    ("mpesa_lab.daraja.results", "StkQueryResult"): query_html,
    ("mpesa_lab.lab", "Push"): push_html,
    ("mpesa_lab.lab", "Lab"): lab_html,
}


def to_html(obj: Any) -> str | None:
    """The rich HTML of ``obj`` (its class or a base class is in :data:`RENDERERS`), else None."""
    for klass in type(obj).__mro__:
        render = RENDERERS.get((klass.__module__, klass.__name__))
        if render is not None:
            return render(obj)
    return None


def register(formatter: Any = None) -> bool:
    """Register the renderers with an IPython HTML formatter (default: the running shell's).

    Returns False, doing nothing, outside IPython. Safe to call again (it replaces, never stacks).
    """
    if formatter is None:
        ipython = sys.modules.get("IPython")  # never import IPython just to find there is no shell
        shell = ipython.get_ipython() if ipython is not None else None
        if shell is None:
            return False
        formatter = shell.display_formatter.formatters["text/html"]
    for (module, name), render in RENDERERS.items():
        formatter.for_type_by_name(module, name, render)
    return True


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mpesa_lab.display``: rich cards for the lab's objects in this shell."""
    register(ipython.display_formatter.formatters["text/html"])
