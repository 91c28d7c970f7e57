"""The facilitator's page: one self-contained HTML document that polls ``/_workshop/api/room``.

No external assets (venue Wi-Fi), no framework: the page reads its token from ``?token=`` and
sends it as a Bearer header on every call, redraws once a second, and offers the room faults. The
page itself is ``templates/workshop/facilitator.html``.
"""

from __future__ import annotations

from mpesa_lab._templates import render


def facilitator_page(title: str) -> str:
    """The page's HTML (the token is read by the page itself from its own URL)."""
    return render("workshop/facilitator.html", title=title)
