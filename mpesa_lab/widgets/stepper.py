"""The sequence stepper: the seven steps of M-Pesa Express, walked through a real transaction.

The diagram is the lab's seven steps of one push (merchant -> Daraja -> acknowledgement -> prompt ->
PIN -> callback -> query), adapted from Safaricom's "How It Works" list (whose seventh step is the
customer's SMS, and which, like this, leaves out OAuth; docs/daraja.md), drawn as SVG with the current step highlighted. The messages come from this
lab's store (the push request and answer, every callback delivery with its headers, the queries)
and, in local mode, from the emulator's timeline for what happens on the phone. Secrets are
masked twice: the store keeps requests masked, and everything is scrubbed again before display.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from mpesa_lab.clock import NAIROBI, duration_words
from mpesa_lab.codes import status_of
from mpesa_lab.constants import STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.display import badge, esc, pre
from mpesa_lab.store.records import scrub
from mpesa_lab.widgets._base import style

if TYPE_CHECKING:
    from mpesa_lab.lab import Lab

# (short title, from lane, to lane, arrow label). Lanes: 0 merchant, 1 Daraja / M-PESA, 2 phone.
STEPS: tuple[tuple[str, int, int, str], ...] = (
    ("Merchant sends the STK push", 0, 1, "POST /mpesa/stkpush/v1/processrequest"),
    ("Daraja checks and accepts it", 1, 1, "token, Password, fields, shortcode"),
    ("Acknowledgement to the merchant", 1, 0, '200 ResponseCode "0" + CheckoutRequestID'),
    ("Prompt on the customer's phone", 1, 2, '"Pay Ksh… ? Enter M-PESA PIN"'),
    ("Customer enters the PIN (or not)", 2, 1, "PIN / Cancel / no answer"),
    ("Callback to the merchant", 1, 0, "POST CallBackURL  stkCallback ResultCode"),
    ("Merchant queries the status", 0, 1, "POST /mpesa/stkpushquery/v1/query"),
)
LANES = ("Merchant (your code)", "Daraja / M-PESA", "Customer phone")
_CUSTOMER_EVENTS = (
    "answered_by_lab",
    "pin_entered",
    "cancelled",
    "timed_out",
    "answered_late",
    "prompt_failed",
    "scripted",
    "rejected",
    "unreachable",
)


@dataclass
class Step:
    """One step of one transaction: when it happened (if known) and the HTTP message it carried."""

    number: int
    title: str
    at: datetime | None = None
    at_note: str = ""
    message: str = ""  # the HTTP message (or what happened), already masked
    note: str = ""
    happened: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    # How fast the lab's world ran (its time scale; None: the quick lab, 1.0: real time), so a
    # gap between steps can be told in real-world seconds too: gap / time_scale.
    time_scale: float | None = None

    def real_seconds_since(self, earlier: Step) -> float | None:
        """Real-world seconds from ``earlier`` to this step (None without times or a time scale)."""
        if self.at is None or earlier.at is None or not self.time_scale:
            return None
        return (self.at - earlier.at).total_seconds() / self.time_scale

    def excerpt(self, limit: int = 400) -> str:
        """The message, whole if it fits in ``limit`` characters, else cut at the last line break or
        space before the limit (never inside a word) and ending in "… (N more characters)"."""
        return cut_text(self.message, limit)


def cut_text(text: str, limit: int) -> str:
    """``text`` cut at a word boundary at most ``limit`` characters in, saying how much is left."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind("\n"), head.rfind(" "))
    if end <= 0:  # one unbroken word longer than the limit: cut it, but say so
        end = limit
    head = head[:end].rstrip()
    return f"{head}\n… ({len(text) - len(head)} more characters)"


def _parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=NAIROBI)


def _json(value: Any) -> str:
    return json.dumps(scrub(value), indent=2, ensure_ascii=False, default=str)


def _http_request(method: str, path: str, headers: dict[str, str], body: Any) -> str:
    head = "\n".join(f"{k}: {v}" for k, v in headers.items())
    return f"{method} {path} HTTP/1.1\n{head}\n\n{_json(body)}"


def _mask_headers(headers: dict[str, Any]) -> dict[str, Any]:
    masked = {}
    for key, value in (headers or {}).items():
        lowered = str(key).lower()
        if lowered in ("authorization", "proxy-authorization", "cookie", "x-api-key") or "token" in lowered:
            masked[key] = "<masked>"
        else:
            masked[key] = value
    return scrub(masked)


def transaction_steps(lab: Lab, checkout_request_id: str) -> list[Step]:
    """The seven steps of one push made through ``lab``, from its store (and emulator timeline)."""
    from mpesa_lab.daraja.client import USER_AGENT

    store = lab.store
    pushes = store.pushes()
    mine = pushes[pushes["checkout_request_id"] == checkout_request_id]
    if mine.empty:
        raise KeyError(
            f"no push {checkout_request_id!r} in this lab's store ({store.path.name}); pick one from lab.pushes()"
        )
    push = mine.iloc[0]
    request = push["request"] or {}
    response = push["response"] or {}
    timeline: list[dict[str, Any]] = []
    tx: dict[str, Any] = {}
    emulator = getattr(lab, "emulator", None)
    scale = getattr(lab, "time_scale", None)
    if emulator is not None:
        try:
            tx = emulator.transaction(checkout_request_id)
            timeline = tx["timeline"]
            scale = tx.get("time_scale")  # the scale this push ran at, even if changed since
        except Exception:  # forgotten by the emulator, or another emulator: the store still tells
            timeline = []

    def event(*names: str) -> dict[str, Any] | None:
        return next((e for e in timeline if e.get("event") in names), None)

    steps: list[Step] = []
    # 1. The request. Its Timestamp is when the client built it (whole seconds, Nairobi).
    headers = {"Authorization": "Bearer <masked>", "Content-Type": "application/json", "User-Agent": USER_AGENT}
    sent = None
    stamp = str(request.get("Timestamp") or "")
    if len(stamp) == 14 and stamp.isdigit():
        sent = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    steps.append(
        Step(
            1,
            STEPS[0][0],
            sent,
            "from the request's Timestamp (whole seconds)",
            _http_request("POST", STK_PUSH_PATH, headers, request),
            "Headers as DarajaClient sends them (the access token masked); the body as stored, Password masked.",
        )
    )
    # 2. Daraja accepts (local: the emulator's own record).
    accepted = event("accepted")
    steps.append(
        Step(
            2,
            STEPS[1][0],
            _parse_time(accepted and accepted.get("at")),
            "Daraja's clock (emulator)",
            (accepted or {}).get("detail", "")
            or "Daraja validated the token, the Password (shortcode + passkey + Timestamp) and every field.",
            "" if accepted else "Only the emulator shows this step; live Daraja does not tell.",
        )
    )
    # 3. The acknowledgement, as recorded by the lab when it arrived.
    error = push["error"]
    ack_status = "200 OK" if response else f"{(error or {}).get('httpStatus', '')} (refused)"
    steps.append(
        Step(
            3,
            STEPS[2][0],
            push["pushed_at"].to_pydatetime(),
            "recorded by the lab on arrival",
            f"HTTP/1.1 {ack_status}\nContent-Type: application/json\n\n{_json(response or error)}",
        )
    )
    # 4. The prompt and 5. the customer's answer: only Daraja and the phone see these.
    prompted = event("prompted")
    steps.append(
        Step(
            4,
            STEPS[3][0],
            _parse_time(prompted and prompted.get("at")),
            "Daraja's clock (emulator)",
            (prompted or {}).get("detail", ""),
            "" if prompted else "No prompt recorded (refused before the prompt, or a real phone).",
            happened=prompted is not None,
        )
    )
    answered = event(*_CUSTOMER_EVENTS)
    detail = ""
    if answered is not None:
        detail = f"{answered['event']}: {answered.get('detail', '')}"
        later = [
            e
            for e in timeline
            if e.get("event") in ("pin_entered", "paid", "declined", "completed") and e is not answered
        ]
        detail += "".join(f"\n{e['event']}: {e.get('detail', '')}" for e in later)
    steps.append(
        Step(
            5,
            STEPS[4][0],
            _parse_time(answered and answered.get("at")),
            "Daraja's clock (emulator)",
            detail,
            "" if answered else "The customer's answer is not visible to the merchant.",
            happened=answered is not None,
        )
    )
    # 6. The callback: the first delivery stored for this push, headers and body as received.
    deliveries = store.deliveries()
    delivered = deliveries[deliveries["checkout_request_id"] == checkout_request_id]
    if not delivered.empty:
        first = delivered.iloc[0]
        body = first["body"]
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        head = "\n".join(f"{k}: {v}" for k, v in _mask_headers(first["headers"]).items())
        from urllib.parse import urlsplit

        path = urlsplit(lab.settings.callback_url or "").path or "/<callback path>"
        code = (
            (parsed or {}).get("Body", {}).get("stkCallback", {}).get("ResultCode")
            if isinstance(parsed, dict)
            else None
        )
        copies = len(delivered)
        steps.append(
            Step(
                6,
                STEPS[5][0],
                first["received_at"].to_pydatetime(),
                "stored by the listener",
                f"POST {path} HTTP/1.1\n{head}\n\n{_json(parsed)}",
                f"{copies} deliveries (duplicates are kept, counted once)" if copies > 1 else "",
                extra={
                    "result_code": None if code is None else str(code),
                    "ack": f"listener answered HTTP {first['http_status']}",
                },
            )
        )
    else:
        steps.append(
            Step(
                6,
                STEPS[5][0],
                None,
                "",
                "",
                "No callback stored yet: it may be late or lost; that is what the STK query is for.",
                happened=False,
            )
        )
    # 7. The query, if one was made through the lab.
    queries = store.queries()
    asked = queries[queries["checkout_request_id"] == checkout_request_id]
    if not asked.empty:
        last = asked.iloc[-1]
        answer = last["response"] or last["error"]
        steps.append(
            Step(
                7,
                STEPS[6][0],
                last["queried_at"].to_pydatetime(),
                "recorded by the lab on arrival",
                _http_request("POST", STK_QUERY_PATH, headers, last["request"])
                + f"\n\n--- answer ---\n{_json(answer)}",
                f"{len(asked)} queries made" if len(asked) > 1 else "",
            )
        )
    else:
        steps.append(
            Step(
                7,
                STEPS[6][0],
                None,
                "",
                "",
                "Not queried: push.query() asks Daraja for the status (optional when the callback arrived).",
                happened=False,
            )
        )
    for step in steps:
        step.time_scale = scale
    if emulator is not None and scale is None and tx.get("result_code") is not None:
        # The quick lab: its gaps are not real-world time; say what the timing model gives instead.
        model = lab.real_world_delay(tx["result_code"])
        steps[5].extra["real_world"] = (
            f"Quick lab: not real-world time. For real, ResultCode {tx['result_code']} comes "
            f"{model.low:g}-{model.high:g} s after the acknowledgement (median {model.median:g} s: "
            f"{model.what}); Lab.start(time_scale=1) runs in real time."
        )
    return steps


# Label widths are estimated at CHAR_PX per character (generous for a 12 px sans-serif), and the
# lanes are spread so that every label fits between the lifelines it sits between, with PAD to
# spare: a label never crosses a lifeline.
CHAR_PX = 7.0
PAD = 14
LOOP = 48  # a self-message's label starts this far right of its lifeline


def label_width(text: str) -> float:
    return CHAR_PX * len(text)


def lane_xs() -> tuple[float, ...]:
    """The lifelines' x, far enough apart for the widest label between each pair of lanes."""
    need = [0.0] * (len(LANES) - 1)  # the room needed between lane i and lane i + 1
    for _title, src, dst, label in STEPS:
        if src == dst:
            if src < len(need):
                need[src] = max(need[src], LOOP + label_width(label) + PAD)
        else:
            span = abs(dst - src)
            per_gap = (label_width(label) + 2 * PAD) / span
            for lane in range(min(src, dst), max(src, dst)):
                need[lane] = max(need[lane], per_gap)
    box = 176  # the lanes' name boxes
    xs = [40 + box / 2]
    for gap in need:
        xs.append(xs[-1] + max(gap, box + 20))
    return tuple(xs)


def diagram_svg(current: int, happened: list[bool] | None = None) -> str:
    """The sequence diagram as SVG, step ``current`` (1-7) highlighted."""
    top, gap = 58, 40
    xs = lane_xs()
    width = int(xs[-1] + 176 / 2 + 10)
    height = top + gap * len(STEPS) + 16
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="Segoe UI, Roboto, Helvetica, Arial, sans-serif" font-size="12">',
        '<defs><marker id="mpl-arr" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto" '
        'markerUnits="userSpaceOnUse">'
        '<path d="M0,0 L10,4 L0,8 z" fill="context-stroke"/></marker></defs>',
    ]
    for x, name in zip(xs, LANES, strict=True):
        parts.append(f'<rect x="{x - 88}" y="8" width="176" height="30" rx="6" fill="#f6f8fa" stroke="#d0d7de"/>')
        parts.append(f'<text x="{x}" y="28" text-anchor="middle" font-weight="600" fill="#1f2328">{esc(name)}</text>')
        parts.append(
            f'<line class="mpl-lifeline" x1="{x}" y1="38" x2="{x}" y2="{height - 6}" stroke="#d0d7de" '
            'stroke-dasharray="4 4"/>'
        )
    # A white halo under each label's letters: arrows and lifelines never run through the text.
    halo = ' paint-order="stroke" stroke="#ffffff" stroke-width="4" stroke-linejoin="round"'
    for index, (_title, src, dst, label) in enumerate(STEPS, start=1):
        y = top + gap * (index - 1)
        on = index == current
        done = happened[index - 1] if happened else True
        colour = "#0969da" if on else ("#57606a" if done else "#c9d1d9")
        stroke = 3 if on else 1.4
        dash = ' stroke-dasharray="5 4"' if index == 7 or not done else ""
        weight = ' font-weight="700"' if on else ""
        if on:
            parts.append(f'<rect x="6" y="{y - 16}" width="{width - 12}" height="{gap - 4}" rx="6" fill="#ddf4ff"/>')
        parts.append(
            f'<circle cx="18" cy="{y}" r="10" fill="{colour}"/>'
            f'<text x="18" y="{y + 4}" text-anchor="middle" fill="#fff" font-weight="700">{index}</text>'
        )
        if src == dst:
            x = xs[src]
            parts.append(
                f'<path d="M{x},{y - 8} h40 v16 h-38" fill="none" stroke="{colour}" stroke-width="{stroke}"'
                f'{dash} marker-end="url(#mpl-arr)"/>'
            )
            parts.append(
                f'<text class="mpl-step-label" x="{x + LOOP}" y="{y + 4}" fill="{colour}"{weight}{halo}>'
                f"{esc(label)}</text>"
            )
        else:
            x1, x2 = xs[src], xs[dst]
            parts.append(
                f'<line x1="{x1}" y1="{y + 4}" x2="{x2}" y2="{y + 4}" stroke="{colour}" '
                f'stroke-width="{stroke}"{dash} marker-end="url(#mpl-arr)"/>'
            )
            parts.append(
                f'<text class="mpl-step-label" x="{(x1 + x2) / 2}" y="{y - 3}" text-anchor="middle" '
                f'fill="{colour}"{weight}{halo}>{esc(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


class SequenceStepper(widgets.VBox):
    """Pick a push from the lab's store and step through its seven steps, message by message."""

    def __init__(self, lab: Lab, checkout_request_id: str | None = None) -> None:
        self.lab = lab
        self.steps: list[Step] = []
        self.transaction = widgets.Dropdown(
            description="Push", layout=widgets.Layout(width="620px"), style={"description_width": "50px"}
        )
        self.reload = widgets.Button(description="Reload", icon="refresh", layout=widgets.Layout(width="90px"))
        self.previous = widgets.Button(description="Previous", icon="arrow-left", layout=widgets.Layout(width="110px"))
        self.next = widgets.Button(description="Next", icon="arrow-right", layout=widgets.Layout(width="110px"))
        self.step = widgets.IntSlider(
            value=1,
            min=1,
            max=len(STEPS),
            description="Step",
            layout=widgets.Layout(width="330px"),
            style={"description_width": "40px"},
        )
        self.diagram = widgets.HTML()
        self.detail = widgets.HTML(layout=widgets.Layout(width=f"{int(lane_xs()[-1] + 98)}px"))
        self.previous.on_click(lambda _b: self.go(self.step.value - 1))
        self.next.on_click(lambda _b: self.go(self.step.value + 1))
        self.reload.on_click(lambda _b: self.load_choices())
        self.step.observe(lambda _c: self._draw(), names="value")
        self.transaction.observe(lambda _c: self._load(), names="value")
        controls = widgets.HBox([self.previous, self.step, self.next])
        super().__init__(
            [
                style(),
                widgets.HTML("<div class='mpl-title'>M-Pesa Express, step by step</div>"),
                widgets.HBox([self.transaction, self.reload]),
                controls,
                self.diagram,
                self.detail,
            ]
        )
        self.add_class("mpl-panel")
        self.load_choices(checkout_request_id)

    def load_choices(self, checkout_request_id: str | None = None) -> None:
        """Re-read the pushes (newest first) into the picker."""
        frame = self.lab.store.pushes()
        frame = frame[frame["checkout_request_id"].notna()].iloc[::-1]
        callbacks = self.lab.store.callbacks()
        first_code = callbacks.drop_duplicates("checkout_request_id").set_index("checkout_request_id")["result_code"]
        options = []
        for row in frame.itertuples(index=False):
            code = first_code.get(row.checkout_request_id)
            status = status_of(None if code is None else str(code))
            when = row.pushed_at.strftime("%H:%M:%S")
            options.append(
                (
                    f"{when}  {row.phone}  KES {row.amount:,.0f}  {status}"
                    f"{'' if code is None else ' ' + str(code)}  {row.checkout_request_id}",
                    row.checkout_request_id,
                )
            )
        self.transaction.options = options
        if checkout_request_id is not None:
            self.transaction.value = checkout_request_id
        elif options:
            self.transaction.value = options[0][1]
        self._load()

    def _load(self) -> None:
        cid = self.transaction.value
        self.steps = transaction_steps(self.lab, cid) if cid else []
        self._draw()

    def go(self, number: int) -> None:
        """Show step ``number`` (1-7; clamped)."""
        self.step.value = max(1, min(len(STEPS), number))

    def _draw(self) -> None:
        current = self.step.value
        self.previous.disabled = current <= 1
        self.next.disabled = current >= len(STEPS)
        happened = [s.happened for s in self.steps] if self.steps else None
        self.diagram.value = f"<div style='overflow-x:auto'>{diagram_svg(current, happened)}</div>"
        if not self.steps:
            self.detail.value = "<i>No push in this lab's store yet: push, then Reload.</i>"
            return
        step = self.steps[current - 1]
        earlier = next((s for s in reversed(self.steps[: current - 1]) if s.at is not None), None)
        timing = ""
        if step.at is not None:
            timing = f"at {step.at.astimezone(NAIROBI).strftime('%H:%M:%S.%f')[:-3]} ({esc(step.at_note)})"
            if earlier is not None:
                delta = (step.at - earlier.at).total_seconds()
                shown = f"{delta * 1000:,.0f} ms" if abs(delta) < 10 else f"{delta:,.2f} s"
                if step.number == 2 and earlier.number == 1:
                    shown += " (step 1 has whole seconds only)"
                timing += f" · <b>{shown}</b> after step {earlier.number}"
                real = step.real_seconds_since(earlier)
                if real is not None and step.time_scale != 1.0:
                    timing += f" (real world: <b>{esc(duration_words(real))}</b> at time_scale {step.time_scale:g})"
        state = "" if step.happened else " " + badge("pending", "not seen")
        if step.extra.get("result_code") is not None:
            state += " " + badge(status_of(step.extra["result_code"]), f"ResultCode {step.extra['result_code']}")
        body = pre(step.message) if step.message else ""
        note = f"<div style='color:#57606a;font-size:12px'>{esc(step.note)}</div>" if step.note else ""
        ack = f"<div style='color:#57606a;font-size:12px'>{esc(step.extra['ack'])}</div>" if "ack" in step.extra else ""
        if "real_world" in step.extra:
            ack += f"<div style='color:#57606a;font-size:12px'>{esc(step.extra['real_world'])}</div>"
        self.detail.value = (
            f"<div style='font-size:14px;margin:4px 0'><b>{step.number}. {esc(step.title)}</b>{state}</div>"
            f"<div style='color:#57606a;font-size:12px'>{timing}</div>{note}{body}{ack}"
        )
