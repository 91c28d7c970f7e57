"""What the widgets share: a stoppable background watcher and the page's stylesheet.

Threads here only ever *set widget traits* (e.g. ``html.value = ...``): ipywidgets sends each
trait change as one comm message through the kernel's thread-safe IOPub channel, so the front
end stays consistent. They never print or call ``display()``, which from a background thread
would land in whatever cell happens to be running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import ipywidgets as widgets

log = logging.getLogger("mpesa_lab.widgets")


class Watcher:
    """A daemon thread calling ``step()`` until stopped; ``step`` should block briefly (<1 s)."""

    def __init__(self, name: str, step: Callable[[], None]) -> None:
        self._step = step
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"mpesa-lab-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # a failed refresh must not kill the watcher; try again shortly
                log.exception("widget watcher step failed")
                self._stop.wait(1.0)

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the watcher is stopped meanwhile."""
        self._stop.wait(seconds)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)


def run_in_background(name: str, fn: Callable[[], None]) -> threading.Thread:
    """Run ``fn`` once in a daemon thread (for waits a click must not block the kernel on)."""

    def guarded() -> None:
        try:
            fn()
        except Exception:
            log.exception("background widget job %s failed", name)

    thread = threading.Thread(target=guarded, name=f"mpesa-lab-{name}", daemon=True)
    thread.start()
    return thread


STYLE = """
<style>
.mpl-phone { background: #1c1c1e; border-radius: 34px; padding: 14px 12px 18px 12px !important;
             box-shadow: 0 6px 18px rgba(0,0,0,.25); }
.mpl-phone .widget-button { border-radius: 10px; }
.mpl-keypad .widget-button { background: #2c2c2e; color: #f2f2f7; font-size: 16px; font-weight: 600; }
.mpl-keypad .widget-button:disabled { opacity: .45; }
.mpl-phone .widget-password input { text-align: center; letter-spacing: 6px; font-size: 18px;
                                    background: #f2f2f7; border-radius: 8px; }
.mpl-panel { border: 1px solid #d0d7de; border-radius: 8px; padding: 8px 12px !important; background: #fff; }
.mpl-title { font-weight: 600; font-size: 15px; }
.mpl-live-host, .mpl-live-host .widget-html-content { overflow-x: auto !important; max-width: 100%; }
.mpl-live table { border-collapse: collapse; width: 100%; font-size: 12px; }
.mpl-live th { text-align: left; color: #57606a; border-bottom: 2px solid #d0d7de; padding: 4px 8px; }
.mpl-live td { border-bottom: 1px solid #eaeef2; padding: 4px 8px; vertical-align: top; }
.mpl-live details summary { cursor: pointer; }
.mpl-code-list select { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 12px; white-space: pre; }
.mpl-field-error { color: #a40e26; font-size: 12px; margin: -2px 0 4px 0; }
.mpl-field-warning { color: #7d4e00; font-size: 12px; margin: -2px 0 4px 0; }
.mpl-field-ok { color: #116329; font-size: 12px; margin: -2px 0 4px 0; }
</style>
"""


def style() -> widgets.HTML:
    """A tiny widget carrying the stylesheet (added once per composite widget)."""
    return widgets.HTML(STYLE, layout=widgets.Layout(height="0px", margin="0", padding="0"))
