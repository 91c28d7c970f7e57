"""Checks of notebook 09, running a workshop: right answers pass, wrong ones are named."""

from __future__ import annotations

import pandas as pd
import pytest

from mpesa_lab.course import check
from tests.course.helpers import ok, todo, wrong


def _room(rows):
    return pd.DataFrame(rows, columns=["status", "result_code", "phone"])


def test_room_rehearsal():
    phones = ["254711009001", "254711009002"]
    ok(check.room_rehearsal(_room([("paid", "0", phones[0]), ("paid", "0", phones[1])]), phones))
    todo(check.room_rehearsal(..., phones))
    wrong(check.room_rehearsal(_room([("paid", "0", phones[0])]), phones), "254711009002: no push at all")
    wrong(
        check.room_rehearsal(_room([("paid", "0", phones[0]), ("failed", "1032", phones[1])]), phones),
        "254711009002: no paid push (last: failed 1032",
    )


def test_struggling_participant():
    frame = _room(
        [
            ("paid", "0", "254711009001"),
            ("failed", "2001", "254711009004"),
            ("paid", "0", "254711009001"),
            ("failed", "2001", "254711009004"),
            ("failed", "8006", "254711009004"),
        ]
    )
    ok(check.struggling_participant(("254711009004", "2001"), frame))
    ok(check.struggling_participant(["254711009004", 2001], frame))
    todo(check.struggling_participant(..., frame))
    wrong(check.struggling_participant(("254711009001", "0"), frame), "has a paid push")
    wrong(check.struggling_participant(("254711009004", "8006"), frame), "not the code this phone gets most")
    wrong(check.struggling_participant(("0711009004", "2001"), frame), "not in the frame")
    wrong(check.struggling_participant("254711009004", frame), "a pair")


def _room_data(errors: list[tuple[str, int]], results: list[tuple[str, int]], people: int = 4) -> dict:
    """Shaped like GET /_workshop/api/room (WorkshopServer.summary())."""
    return {
        "participants": [{"id": f"p{n:02d}"} for n in range(1, people + 1)],
        "errors": [{"code": c, "count": n, "name": ""} for c, n in errors],
        "results": [{"code": c, "count": n, "name": ""} for c, n in results],
    }


def test_room_fault():
    room = _room_data([("500.003.02", 16), ("400.002.02", 1)], [("0", 8)])
    ok(check.room_fault(("500.003.02", 16), room))
    ok(check.room_fault(["500.003.02", 16], room))
    assert "Retry the request after a short wait" in str(check.room_fault(("500.003.02", 16), room))
    todo(check.room_fault(..., room))
    wrong(check.room_fault(("0", 8), room), "0 is a ResultCode from the callbacks", "'errors' chart")
    wrong(check.room_fault(("400.002.02", 1), room), "not the one the most pushes got")
    wrong(check.room_fault(("500.003.01", 16), room), "not in the room's errors chart")
    wrong(
        check.room_fault(("500.003.02", 4), room),
        "not the count next to 500.003.02",
        "the number of participants",
        "retries included",
    )
    wrong(check.room_fault(("500.003.02", 15), room), "not the count next to 500.003.02")
    wrong(check.room_fault(("500.003.02", "16"), room), "whole number, not str")
    wrong(check.room_fault("500.003.02", room), "a pair (error_code, pushes)")
    with pytest.raises(ValueError, match="no errors"):
        check.room_fault(("500.003.02", 16), _room_data([], [("0", 4)]))
