"""Checks for notebook 09, running a workshop: the rehearsal, a struggling participant, a room fault."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from mpesa_lab import codes
from mpesa_lab.course.checks._shared import todo, type_name, unanswered, verdict
from mpesa_lab.course.verdict import Verdict


def _frame_rows(frame: Any) -> list[Mapping[str, Any]]:
    if hasattr(frame, "to_dict"):
        return frame.to_dict("records")
    return list(frame)


def room_rehearsal(frame: Any, phones: Iterable[str]) -> Verdict:
    """Every participant's phone has a paid push in the transactions frame."""
    name = "Room rehearsal"
    if unanswered(frame):
        return todo(name, "Push once to each participant's phone, wait, then pass lab.transactions().")
    rows = _frame_rows(frame)
    wanted = [str(p) for p in phones]
    problems = []
    by_phone: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_phone.setdefault(str(row.get("phone")), []).append(row)
    others = sorted(p for p in by_phone if p not in wanted)
    if others:
        problems.append(
            f"{len(others)} phone(s) outside the room ({', '.join(others[:3])}"
            f"{', ...' if len(others) > 3 else ''}): keep only this rehearsal's rows, filtered "
            "on its pushes' checkout_request_id"
        )
    for phone in wanted:
        seen = by_phone.get(phone, [])
        if len(seen) > 1:
            problems.append(
                f"{phone}: {len(seen)} rows, but the rehearsal pushed once: earlier pushes' "
                "rows (a paid one would hide a failure now) must go; filter on this "
                "rehearsal's checkout_request_id"
            )
        elif not seen:
            problems.append(f"{phone}: no push at all; push to it")
        elif not any(str(r.get("status")) == "paid" for r in seen):
            last = seen[-1]
            problems.append(
                f"{phone}: no paid push (last: {last.get('status')} "
                f"{last.get('result_code')} {last.get('result_desc')}); push again and answer"
            )
    return verdict(name, problems, f"All {len(wanted)} phones paid: the room's setup works end to end.")


def struggling_participant(answer: Any, frame: Any) -> Verdict:
    """(phone, code): the phone with no paid push, and the ResultCode it gets most."""
    name = "Who needs help?"
    if unanswered(answer):
        return todo(name, "Group the frame by phone; find the one with no paid push and its commonest code.")
    rows = _frame_rows(frame)
    by_phone: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_phone.setdefault(str(row.get("phone")), []).append(row)
    stuck = {p: r for p, r in by_phone.items() if not any(str(x.get("status")) == "paid" for x in r)}
    if len(stuck) != 1:
        raise ValueError(f"this frame has {len(stuck)} phones with no paid push; the exercise needs one")
    phone, its_rows = next(iter(stuck.items()))
    code = Counter(str(r.get("result_code")) for r in its_rows).most_common(1)[0][0]
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return verdict(name, [f"answer with a pair (phone, result_code), not {answer!r}"])
    got_phone, got_code = str(answer[0]), codes.normalize_code(answer[1])
    problems = []
    if got_phone != phone:
        if got_phone in by_phone:
            problems.append(f"{got_phone} has a paid push: look for the phone with none")
        else:
            problems.append(f"{got_phone} is not in the frame (phones look like 2547XXXXXXXX)")
    elif got_code != code:
        problems.append(f"{got_code} is not the code this phone gets most; count its result_code values")
    entry = codes.result_entry(code)
    return verdict(name, problems, f"{code} is {entry.name}: tell them: {entry.mitigation}")


def room_fault(answer: Any, room: Mapping[str, Any]) -> Verdict:
    """(error_code, pushes): the Daraja error a room fault answered most, from the room's data."""
    name = "What the room saw"
    if unanswered(answer):
        return todo(name, "Take the first entry of the room data's 'errors' chart: its code and its count.")
    errors = [e for e in room.get("errors", []) if e.get("count")]
    if not errors:
        raise ValueError("this room's data has no errors; turn a fault on and push before the exercise")
    top = max(errors, key=lambda e: e["count"])
    code, count = str(top["code"]), int(top["count"])
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return verdict(name, [f"answer with a pair (error_code, pushes), not {answer!r}"])
    got_code, got_count = answer
    problems = []
    result_codes = {str(r.get("code")) for r in room.get("results", [])}
    if str(got_code).strip() != code:
        if str(got_code).strip() in result_codes:
            problems.append(
                f"{got_code} is a ResultCode from the callbacks (the 'results' chart); the fault's "
                f"answers are Daraja errors, in the 'errors' chart"
            )
        elif str(got_code).strip() in {str(e["code"]) for e in errors}:
            problems.append(f"{got_code} is in the errors chart, but not the one the most pushes got")
        else:
            problems.append(f"{got_code!r} is not in the room's errors chart; error codes look like 500.003.02")
    if isinstance(got_count, bool) or not isinstance(got_count, int):
        problems.append(f"the number of pushes must be a whole number, not {type_name(got_count)}")
    elif got_count != count and not problems:
        people = len(room.get("participants", []))
        hint = (
            (
                " (that is the number of participants; the chart counts every push the server answered, "
                "the labs' retries included)"
            )
            if got_count == people
            else ""
        )
        problems.append(f"{got_count} is not the count next to {code} in the errors chart{hint}")
    entry = codes.error_entry(code)
    return verdict(name, problems, f"{code} is '{entry.message}': {entry.mitigation}")
