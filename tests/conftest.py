"""Fixtures shared across the test folders."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Tokyo"])
def host_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the host's timezone (TZ) set to UTC, UTC-5/-4 and UTC+9 in turn.

    Daraja's timestamps must come out in Nairobi time whatever the host says.
    """
    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    # The host's local clock really is in that zone now (else the tests below prove nothing).
    now = datetime.now(UTC)
    assert datetime.now().astimezone().utcoffset() == now.astimezone(ZoneInfo(request.param)).utcoffset()
    try:
        yield request.param
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()
