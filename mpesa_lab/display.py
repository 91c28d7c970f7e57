"""Rich display for notebooks: the HTML a learner sees for a Lab, a Push, a callback, a query.

Plain functions returning HTML strings (no ipywidgets, no emulator import), which the widgets
reuse. They reach IPython through its HTML formatter (:func:`register`), by class *name*: the
classes shown (in ``daraja`` and ``lab``, floors below and beside this one) never import their
renderer and this module never imports them, so there is no cycle to hide. ``Lab.start()``
registers them in a running IPython; ``%load_ext mpesa_lab.display`` does it by hand (e.g. for the
client alone). Every value shown is escaped; nothing here ever receives a secret (requests arrive
masked).
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mpesa_lab.codes import CodeEntry, lookup, status_of

if TYPE_CHECKING:
    from mpesa_lab.daraja.callbacks import ParsedCallback
    from mpesa_lab.daraja.results import StkQueryResult
    from mpesa_lab.lab import Lab, Push

#: Status -> (text colour, background). Paid/success green, failed red, pending amber, rejected grey-violet.
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "paid": ("#116329", "#dafbe1"),
    "success": ("#116329", "#dafbe1"),
    "accepted": ("#0a3069", "#ddf4ff"),
    "failed": ("#a40e26", "#ffebe9"),
    "pending": ("#7d4e00", "#fff8c5"),
    "rejected": ("#6e40c9", "#f3e8ff"),
    "error": ("#a40e26", "#ffebe9"),
    "running": ("#116329", "#dafbe1"),
    "stopped": ("#57606a", "#eaeef2"),
}

_CARD = (
    "font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; font-size: 13px; "
    "line-height: 1.45; border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 14px; "
    "max-width: 760px; background: #ffffff; color: #1f2328;"
)
# Explicit left alignment and no stripes: JupyterLab styles rendered HTML tables as numbers.
_KEY = ("color: #57606a; padding: 2px 12px 2px 0; vertical-align: top; white-space: nowrap; text-align: left; "
        "background: transparent; border: none;")
_VAL = "padding: 2px 0; vertical-align: top; text-align: left; background: transparent; border: none;"


def esc(value: Any) -> str:
    """HTML-escaped text of ``value`` ('' for None)."""
    return "" if value is None else html.escape(str(value))


def badge(status: str, text: str | None = None) -> str:
    """A coloured pill for a status (paid, failed, pending, rejected, success, ...)."""
    fg, bg = STATUS_COLOURS.get(status, ("#24292f", "#eaeef2"))
    return (
        f'<span class="mpl-badge mpl-{esc(status)}" style="display:inline-block; padding:1px 9px; '
        f'border-radius:10px; font-weight:600; color:{fg}; background:{bg}; border:1px solid {fg}33;">'
        f"{esc(text if text is not None else status)}</span>"
    )


def rows(pairs: list[tuple[str, str]]) -> str:
    """A two-column key/value table; values are HTML already (escape them before)."""
    body = "".join(
        f'<tr style="background: transparent;"><td style="{_KEY}">{esc(k)}</td><td style="{_VAL}">{v}</td></tr>' for k, v in pairs if v
    )
    return f'<table style="border-collapse: collapse; margin: 6px 0 0 0; border: none;">{body}</table>'


def card(title_html: str, body_html: str) -> str:
    return f'<div class="mpl-card" style="{_CARD}"><div style="font-size:14px;">{title_html}</div>{body_html}</div>'


def code_rows(code: str | None, desc: str | None, entry: CodeEntry | None) -> list[tuple[str, str]]:
    """The rows every outcome shows: code with Daraja's words, meaning, what to do."""
    entry = entry if entry is not None else (lookup(code) if code not in (None, "") else None)
    pairs = [("code", f"<b>{esc(code)}</b> {esc(desc or (entry.message if entry else ''))}" if code else "")]
    if entry is not None:
        pairs.append(("meaning", esc(entry.explanation)))
        pairs.append(("what to do", esc(entry.mitigation)))
        if not entry.known:
            pairs.append(("note", "not in Daraja's documented tables; the raw payload is kept"))
    return pairs


def pre(value: Any) -> str:
    """A JSON (or text) block, escaped."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return (
        '<pre style="margin: 4px 0; padding: 8px; background: #f6f8fa; border-radius: 6px; '
        f'font-size: 12px; white-space: pre-wrap; word-break: break-all;">{esc(text)}</pre>'
    )


def _when(value: datetime | None) -> str:
    return esc(value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " " + (value.tzname() or "")) if value else ""


def _money(value: Any) -> str:
    if value in (None, ""):
        return ""
    try:
        return esc(f"KES {float(value):,.2f}")
    except (TypeError, ValueError):
        return esc(value)


# --------------------------------------------------------------------------------------------
# The objects a learner meets


def callback_html(cb: "ParsedCallback") -> str:
    """A parsed stkCallback: status coloured, code with meaning and mitigation, receipt."""
    status = status_of(cb.result_code)
    flags = " ".join(badge("rejected", f) for f, on in (("duplicate", cb.duplicate), ("unknown push", cb.unknown)) if on)
    title = f"{badge(status)} <b>callback</b> <code>{esc(cb.checkout_request_id)}</code> {flags}"
    pairs = code_rows(cb.result_code, cb.result_desc, cb.entry)
    pairs += [
        ("receipt", f"<code>{esc(cb.receipt)}</code>" if cb.receipt else ""),
        ("amount", _money(cb.amount)),
        ("phone", esc(cb.phone)),
        ("transaction date", _when(cb.transaction_date)),
        ("received", _when(cb.received_at)),
        ("MerchantRequestID", esc(cb.merchant_request_id)),
    ]
    return card(title, rows(pairs))


def query_html(result: "StkQueryResult") -> str:
    """An STK query answer: pending / success / failed, with what to do next."""
    title = f"{badge(result.status)} <b>STK query</b> <code>{esc(result.checkout_request_id)}</code>"
    pairs = code_rows(result.result_code, result.result_desc, result.entry)
    if result.result_code is None:
        pairs = [("answer", esc(result.result_desc or result.entry.message)),
                 ("meaning", esc(result.entry.explanation)), ("what to do", esc(result.entry.mitigation))]
    pairs.append(("HTTP", esc(result.http_status)))
    return card(title, rows(pairs))


def push_html(push: "Push") -> str:
    """A push: Daraja's acknowledgement, and its outcome if the callback is already stored."""
    result = push.result
    request = result.request or {}
    callback = None
    try:
        callback = push.lab.listener.callback(push.checkout_request_id)
    except Exception:  # the store may be gone; the acknowledgement is still worth showing
        callback = None
    if callback is not None:
        status = status_of(callback.result_code)
        state = f"{badge(status)} callback stored"
    else:
        state = f"{badge('accepted')} waiting for the callback (<code>push.wait()</code>, or <code>push.query()</code>)"
    title = f"<b>STK push</b> <code>{esc(push.checkout_request_id)}</code> &nbsp;{state}"
    pairs = [
        ("Daraja said", esc(f"{result.response_code} {result.response_description}")),
        ("customer message", esc(result.customer_message)),
        ("phone", esc(request.get("PhoneNumber"))),
        ("amount", _money(request.get("Amount"))),
        ("account", esc(request.get("AccountReference"))),
        ("MerchantRequestID", esc(result.merchant_request_id)),
    ]
    if callback is not None:
        pairs += code_rows(callback.result_code, callback.result_desc, callback.entry)
        pairs.append(("receipt", f"<code>{esc(callback.receipt)}</code>" if callback.receipt else ""))
    return card(title, rows(pairs))


def lab_html(lab: "Lab") -> str:
    """The lab: running or stopped, where Daraja and the callbacks are, what the store holds."""
    running = getattr(lab, "running", None)
    if running is None:  # a Lab without the property: its listener tells
        running = bool(getattr(lab.listener, "running", True))
    settings = lab.settings
    title = (f"{badge('running' if running else 'stopped')} <b>mpesa-lab</b> "
             f"<span style='color:#57606a'>{esc(settings.environment)}</span>")
    pairs = [
        ("Daraja", f"<code>{esc(settings.base_url)}</code>"
         + (" (local emulator)" if getattr(lab, "emulator", None) is not None else "")),
        ("CallBackURL", f"<code>{esc(settings.callback_url)}</code>"),
        ("shortcode", esc(settings.shortcode)),
    ]
    try:
        store = lab.store
        pairs.append(("store", f"<code>{esc(store.path)}</code>"))
        counts = (f"{store.count_pushes()} pushes, {store.count_callbacks()} callbacks, "
                  f"{store.count_quarantined()} quarantined")
        pairs.append(("so far", esc(counts) + _status_counts(lab)))
    except Exception as exc:  # a store that cannot be read must not hide the rest
        pairs.append(("store", esc(f"unreadable: {exc}")))
    if not running:
        pairs.append(("next", "start again with <code>Lab.start()</code>; the store stays readable"))
    return card(title, rows(pairs))


def _status_counts(lab: "Lab") -> str:
    try:
        frame = lab.transactions()
    except Exception:
        return ""
    if "status" not in frame.columns or frame.empty:
        return ""
    counts = frame["status"].astype(str).value_counts()
    return " &nbsp;" + " ".join(badge(s, f"{s} {n}") for s, n in counts.items() if n)


def error_html(exc: BaseException) -> str:
    """A refused request or a Daraja error: its code, Daraja's words and the documented fix."""
    from mpesa_lab.daraja.errors import AmbiguousPushError, DarajaError, ValidationError

    name = type(exc).__name__
    if isinstance(exc, ValidationError):
        title = f"{badge('rejected', 'not sent')} <b>{esc(exc.field)}</b> refused before sending"
        pairs = [("value", f"<code>{esc(repr(exc.value))}</code>"), ("rule", esc(exc.rule)), ("fix", esc(exc.fix))]
    elif isinstance(exc, DarajaError):
        title = f"{badge('error', name)} Daraja refused the request"
        pairs = [
            ("errorCode", f"<b>{esc(exc.error_code)}</b> {esc(exc.error_message)}"),
            ("HTTP", esc(exc.http_status)),
            ("requestId", esc(exc.request_id)),
            ("meaning", esc(exc.entry.explanation)),
            ("what to do", esc(exc.mitigation)),
            ("safe to retry", "yes (Daraja did not process it)" if exc.retryable else ""),
            ("note", esc(exc.hint)),
        ]
    elif isinstance(exc, AmbiguousPushError):
        title = f"{badge('pending', 'unknown')} the push may have reached Daraja"
        pairs = [("what happened", esc(exc))]
    else:
        title = f"{badge('error', name)}"
        pairs = [("message", esc(exc))]
    return card(title, rows(pairs))


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
