"""Nairobi time, the only clock Daraja knows.

Daraja timestamps (the push ``Timestamp``, the callback ``TransactionDate``, the time inside a
``CheckoutRequestID``) are Nairobi local time, UTC+3 all year, whatever the host's timezone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

NAIROBI = ZoneInfo("Africa/Nairobi")
DARAJA_TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"


def nairobi_now() -> datetime:
    """The current time as a timezone-aware Nairobi datetime."""
    return datetime.now(NAIROBI)  # one conversion, not two: the emulator asks on every step


def to_nairobi(moment: datetime) -> datetime:
    """Convert an aware datetime to Nairobi time; a naive one is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(NAIROBI)


def daraja_timestamp(moment: datetime | None = None) -> str:
    """Format ``moment`` (default: now) as Daraja's YYYYMMDDHHmmss in Nairobi time."""
    return to_nairobi(moment or nairobi_now()).strftime(DARAJA_TIMESTAMP_FORMAT)


def parse_daraja_timestamp(value: str | int | float) -> datetime:
    """Parse a YYYYMMDDHHmmss value (string or number, as Daraja sends both) to Nairobi time.

    Raises ValueError naming the value when it is not 14 digits of a real date and time.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a Daraja timestamp: {value!r} (expected YYYYMMDDHHmmss)")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not a Daraja timestamp: {value!r} (expected YYYYMMDDHHmmss)")
        value = int(value)
    text = str(value).strip()
    if len(text) != 14 or not text.isdigit():
        raise ValueError(f"not a Daraja timestamp: {value!r} (expected 14 digits, YYYYMMDDHHmmss)")
    try:
        naive = datetime.strptime(text, DARAJA_TIMESTAMP_FORMAT)
    except ValueError as exc:
        raise ValueError(f"not a Daraja timestamp: {value!r} ({exc})") from None
    return naive.replace(tzinfo=NAIROBI)


def duration_words(seconds: float) -> str:
    """A duration a reader takes in at a glance: '0.6 s', '27 s', '1 min 30 s', '2 h 5 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
