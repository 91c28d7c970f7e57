"""The virtual phone: the customer's side of an STK push, played by hand.

This is the one widget on the Safaricom side: a real customer answers on a real handset, so it
drives the local emulator's interactive API (``wait_for_prompt``, ``answer``) and needs a lab
started in local mode. It shows the exact prompt text the emulator sends, a PIN pad, OK, Cancel
and Ignore, then an SMS-like confirmation or failure.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from mpesa_lab.clock import duration_words, nairobi_now
from mpesa_lab.codes import is_no_answer
from mpesa_lab.constants import SANDBOX_TEST_MSISDN
from mpesa_lab.daraja.requests import normalize_phone
from mpesa_lab.display import esc
from mpesa_lab.widgets._base import Watcher, style

if TYPE_CHECKING:
    from mpesa_lab.emulator import Emulator
    from mpesa_lab.lab import Lab

_MERCHANT = re.compile(r"Ksh[\d,.]+ to (.+?) Account no\. ")
# What the lab's prompt_timeout stands for: an unanswered prompt ends as 1037 about 30 s after
# the push (the 2026 sandbox, shared/daraja/observed-behaviour.md; the emulator's timing model,
# asked through Lab.real_world_delay).
NO_ANSWER_CODE = "1037"
_SCREEN = (
    "width: 236px; min-height: 300px; background: linear-gradient(#e9f5ec, #ffffff); border-radius: 18px; "
    "padding: 10px 12px; font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; "
    "color: #1f2328; box-sizing: border-box;"
)


class VirtualPhone(widgets.VBox):
    """A Safaricom handset for ``phone`` on the lab's emulator.

    With ``interactive=True`` (the default) the number's behaviour becomes "interactive" in the
    emulator, so its prompts wait for this phone instead of answering themselves; ``close()``
    gives the number its previous behaviour back. A background watcher picks each prompt up as
    soon as the emulator shows it (``Emulator.wait_for_prompt``) and notices when a prompt ends
    elsewhere (answered from code, or timed out).
    """

    def __init__(
        self, lab: Lab, phone: str | int = SANDBOX_TEST_MSISDN, *, interactive: bool = True, watch: bool = True
    ) -> None:
        from mpesa_lab.lab import LabError

        emulator = getattr(lab, "emulator", None)
        if emulator is None:
            raise LabError(
                "the virtual phone drives the local emulator, and this lab talks to the real "
                f"{lab.settings.environment} Daraja: answer the prompt on the real handset"
            )
        self.lab = lab
        self.emulator: Emulator = emulator
        self.number = normalize_phone(phone)
        self._previous_profile: str | None = None
        if interactive:
            self._previous_profile = self.emulator.set_profile(self.number, "interactive")["previous_profile"]
        self.prompt: dict[str, Any] | None = None  # the prompt on screen, as the emulator listed it
        self.outcome: dict[str, Any] | None = None  # the last transaction this phone finished
        self._lock = threading.RLock()

        self.screen = widgets.HTML()
        # The time left to answer, redrawn by the watcher each second while a prompt is on screen.
        self.countdown = widgets.HTML(layout=widgets.Layout(width="236px"))
        self.countdown.add_class("mpl-phone-countdown")
        self.pin = widgets.Password(placeholder="PIN", layout=widgets.Layout(width="236px", margin="8px 0 4px 0"))
        keys = [str(d) for d in range(1, 10)] + ["⌫", "0", "C"]
        self.keypad_keys = []
        for key in keys:
            button = widgets.Button(description=key, layout=widgets.Layout(width="72px", height="38px"))
            button.on_click(lambda _b, k=key: self.press(k))
            self.keypad_keys.append(button)
        keypad = widgets.GridBox(
            self.keypad_keys,
            layout=widgets.Layout(grid_template_columns="repeat(3, 76px)", grid_gap="5px", width="236px"),
        )
        keypad.add_class("mpl-keypad")
        self.ok = widgets.Button(description="OK", button_style="success", layout=widgets.Layout(width="76px"))
        self.cancel = widgets.Button(description="Cancel", button_style="danger", layout=widgets.Layout(width="76px"))
        self.ignore = widgets.Button(
            description="Ignore",
            tooltip="put the phone away: the prompt times out (1037)",
            layout=widgets.Layout(width="76px"),
        )
        self.ok.on_click(lambda _b: self.send_pin())
        self.cancel.on_click(lambda _b: self.press_cancel())
        self.ignore.on_click(lambda _b: self.press_ignore())
        actions = widgets.HBox(
            [self.cancel, self.ignore, self.ok],
            layout=widgets.Layout(width="236px", justify_content="space-between", margin="6px 0 0 0"),
        )
        caption = widgets.HTML(
            "<div style='color:#8b949e;font-size:11px;text-align:center;width:236px'>virtual phone · "
            "drives the local emulator</div>"
        )
        super().__init__(
            [style(), self.screen, self.countdown, self.pin, keypad, actions, caption],
            layout=widgets.Layout(width="262px", align_items="center"),
        )
        self.add_class("mpl-phone")
        self._render()
        self._watcher: Watcher | None = Watcher(f"phone-{self.number}", self._watch) if watch else None

    # ---- what the learner does -----------------------------------------------------------

    def press(self, key: str) -> None:
        """A key of the PIN pad: a digit, ⌫ (delete one) or C (clear)."""
        if key == "⌫":
            self.pin.value = self.pin.value[:-1]
        elif key == "C":
            self.pin.value = ""
        elif key.isdigit() and len(self.pin.value) < 8:
            self.pin.value += key

    def send_pin(self) -> dict[str, Any] | None:
        """OK: enter the PIN typed so far."""
        if not self.pin.value:
            with self._lock:
                if self.prompt is not None:
                    self._render(note="Enter your M-PESA PIN first.")
            return None
        return self._answer(pin=self.pin.value)

    def press_cancel(self) -> dict[str, Any] | None:
        """Cancel: the customer refuses (ResultCode 1032)."""
        return self._answer(cancel=True)

    def press_ignore(self) -> dict[str, Any] | None:
        """Ignore: no answer, the prompt times out (ResultCode 1037), without waiting the full timeout."""
        return self._answer(ignore=True)

    def _answer(self, **choice: Any) -> dict[str, Any] | None:
        with self._lock:
            prompt = self.prompt
            if prompt is None:
                self._render(note="No payment request on this phone.")
                return None
            self.pin.value = ""
            try:
                tx = self.emulator.answer(prompt["checkout_request_id"], **choice)
            except Exception as exc:  # e.g. it timed out a moment ago: show it, do not raise in a click
                self.prompt = None
                self._render(note=f"That request is over: {exc}")
                return None
            self._finish(tx)
            return tx

    # ---- what the phone notices ----------------------------------------------------------

    def _watch(self) -> None:
        with self._lock:
            current = self.prompt
        if current is None:
            found = self.emulator.wait_for_prompt(self.number, timeout=0.5)
            if found is not None:
                with self._lock:
                    if self.prompt is None:
                        self.prompt = found
                        self._render()
            return
        # A prompt is on screen: has it ended elsewhere (push.answer(), the timeout)?
        self._draw_countdown()
        self._watcher_sleep(0.25)
        try:
            tx = self.emulator.transaction(current["checkout_request_id"])
        except Exception:
            tx = None
        with self._lock:
            if self.prompt is current and (tx is None or tx.get("final")):
                if tx is None:
                    self.prompt = None
                    self._render()
                else:
                    self._finish(tx)

    def _watcher_sleep(self, seconds: float) -> None:
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.sleep(seconds)
        else:
            time.sleep(seconds)

    def refresh(self) -> None:
        """Look for a prompt now (what the watcher does by itself)."""
        with self._lock:
            if self.prompt is None:
                found = self.emulator.wait_for_prompt(self.number, timeout=0)
                if found is not None:
                    self.prompt = found
            self._render()

    def _finish(self, tx: dict[str, Any]) -> None:
        self.prompt = None
        self.outcome = tx
        self.pin.value = ""  # digits typed for a prompt that ended (a timeout) must not stay
        self._render()

    def seconds_left(self) -> float | None:
        """Seconds until the prompt on screen times out (1037), or None with no prompt."""
        prompt = self.prompt
        expires = prompt.get("expires_at") if prompt else None
        if not expires:
            return None
        moment = datetime.fromisoformat(expires)
        now = nairobi_now() if moment.tzinfo else datetime.now()
        return max(0.0, (moment - now).total_seconds())

    def _draw_countdown(self) -> None:
        with self._lock:
            left = self.seconds_left()
            if left is None:
                self.countdown.value = ""
                return
            prompt = self.prompt or {}
            total = _seconds_between(prompt.get("prompted_at"), prompt.get("expires_at"))
            wait = f"{total:.0f} s" if total else "prompt_timeout seconds"
            lab_wait = f"in this lab the prompt waits {wait}"
            scale = prompt.get("time_scale")
            real_left = ""
            if scale:  # a timed lab: the same moment in real-world time
                real_left = f" (real: {duration_words(left / scale)})"
                lab_wait += f", {duration_words(total / scale)} of real time" if total else ""
            lifetime = f"about {self.lab.real_world_delay(NO_ANSWER_CODE).median:.0f} s"
            self.countdown.value = (
                # Drawn on the handset's dark frame: light text, tight lines.
                "<div class='mpl-countdown' style='font-size:12px;line-height:1.35;color:#e6edf3;"
                "text-align:center;margin:6px 0 2px 0'>"
                f"<b class='mpl-countdown-left' style='color:#ffd479;font-size:14px'>{left:.0f} s left"
                f"{esc(real_left)}</b> to answer"
                f"<br><span style='font-size:11px;color:#c9d1d9'>{esc(lab_wait)}; a real M\u2011PESA prompt "
                f"ends {lifetime} after the push, as 1037 (sandbox, 2026)</span></div>"
            )

    # ---- drawing -------------------------------------------------------------------------

    def _render(self, note: str = "") -> None:
        now = nairobi_now().strftime("%H:%M")
        head = (
            "<div style='display:flex;justify-content:space-between;font-size:11px;color:#57606a;'>"
            f"<span>Safaricom</span><span>{esc(now)}</span></div>"
            f"<div style='text-align:center;font-size:11px;color:#57606a;margin-bottom:8px'>{esc(self.number)}</div>"
        )
        if self.prompt is not None:
            body = (
                "<div style='font-weight:700;color:#0b7a3e;margin-bottom:6px'>M-PESA</div>"
                f"<div style='font-size:14px;line-height:1.4'>{esc(self.prompt['prompt'])}</div>"
            )
        elif self.outcome is not None:
            body = self._sms(self.outcome)
        else:
            body = (
                "<div style='text-align:center;color:#57606a;margin-top:70px'>"
                "<div style='font-weight:700;color:#0b7a3e;font-size:18px;margin-bottom:6px'>M-PESA</div>"
                "No payment request.<br>"
                "<span style='font-size:11px'>Push to this number and the prompt appears here.</span></div>"
            )
        if note:
            body += f"<div style='margin-top:10px;color:#a40e26;font-size:12px'>{esc(note)}</div>"
        self.screen.value = f'<div style="{_SCREEN}">{head}{body}</div>'
        waiting = self.prompt is not None
        if not waiting:
            self.pin.value = ""
        self._draw_countdown()
        for button in (*self.keypad_keys, self.ok, self.cancel, self.ignore):
            button.disabled = not waiting
        self.pin.disabled = not waiting

    def _sms(self, tx: dict[str, Any]) -> str:
        code = str(tx.get("result_code"))
        amount = f"Ksh{float(tx.get('amount') or 0):,.2f}"
        match = _MERCHANT.search(tx.get("prompt") or "")
        merchant = match.group(1) if match else tx.get("business_short_code", "the merchant")
        account = tx.get("account_reference") or ""
        when = _nairobi(tx.get("completed_at"))
        detail = next(
            (e.get("detail", "") for e in reversed(tx.get("timeline", [])) if e.get("event") == "pin_entered"), ""
        )
        if code == "0":
            text = (
                f"{tx.get('receipt')} Confirmed. {amount} sent to {merchant} for account {account} "
                f"on {when}. Transaction cost, Ksh0.00."
            )
            colour = "#116329"
        elif code == "1032":
            text = f"You cancelled the payment of {amount} to {merchant}. No money was moved."
            colour = "#7d4e00"
        elif is_no_answer(code):  # 1037, 1019, 1036: one family, one message
            text = f"The request to pay {amount} to {merchant} expired without an answer. No money was moved."
            colour = "#7d4e00"
        elif code == "2001":
            text = f"Wrong PIN: the payment of {amount} to {merchant} was not made. {detail[:1].upper()}{detail[1:]}."
            colour = "#a40e26"
        elif code == "8006":
            text = "Your M-PESA PIN is locked after too many wrong attempts. Call Customer Care (100) to unlock it."
            colour = "#a40e26"
        elif code == "1":
            text = f"Failed. You do not have enough money in your M-PESA account to pay {amount} to {merchant}."
            colour = "#a40e26"
        else:
            text = f"Failed: {tx.get('result_desc') or 'the payment did not go through'}."
            colour = "#a40e26"
        return (
            "<div style='font-weight:700;margin-bottom:6px'>Messages · M-PESA</div>"
            f"<div style='background:#f2f2f7;border-radius:12px;padding:8px 10px;font-size:13px;"
            f"line-height:1.4;border-left:4px solid {colour}'>{esc(text)}</div>"
            f"<div style='font-size:11px;color:#57606a;margin-top:6px'>ResultCode {esc(code)} · "
            f"{esc(tx.get('checkout_request_id'))}</div>"
        )

    # ---- life cycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop watching and give the number its previous behaviour back."""
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.stop()
            self._watcher = None
        previous = getattr(self, "_previous_profile", None)
        if previous is not None:
            try:
                self.emulator.set_profile(self.number, previous)
            except Exception:  # the emulator may be stopped already
                pass
            self._previous_profile = None
        super().close()


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _nairobi(iso: str | None) -> str:
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso)
    return f"{moment.day}/{moment.month}/{moment.strftime('%y')} at {moment.strftime('%I:%M %p').lstrip('0')}"
