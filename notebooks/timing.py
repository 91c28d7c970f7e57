"""The facilitator's plan (notebook 09): the timed table, the half-day cut and the talking points,
made from the lessons' own sources.

Notebook 09's source holds ``{{ timing }}``, ``{{ talking_points }}``, ``{{ full_course }}`` and
``{{ half_day }}`` where they go; ``build.py`` fills them from every source's header (``title``,
``minutes``: the number its "Time:" line says; ``requires``: the lessons it needs) and its first
cell's "**Prerequisites:**" line. Every numbered lesson is in the plan, in number order, unless
its header says ``audience: facilitator`` (09 itself): a new lesson appears once its source is
there. So the guide and the notebooks cannot disagree, and a cut that drops a lesson another in
the cut needs fails the build (:func:`missing_prerequisites`).
"""

from __future__ import annotations

import math
import re
import textwrap

BREAK = 15
BREAK_AFTER = "04"  # the break follows this lesson (the first push: a natural pause)
SLACK_SHARE = 0.10  # slack per block of teaching: a tenth of its minutes, rounded up to 5
# The half-day cut: the journey from the token to the result codes. 03 needs 02 (it signs a push
# with the access token 02 fetches), so 02 is in; 01 is not needed by any later lesson (it
# "helps"): tell its sequence at the board in 5 minutes of 00's slack, and give it as homework.
HALF_DAY = ("00", "02", "03", "04", "05", "06")
NOTES = {
    "00": "everyone's lab running before moving on",
    "01": "draw the sequence on the board",
    "03": "the two-timestamps trap lands better if someone's laptop is on UTC",
    "05": 'the longest; do not rush "store before acknowledging"',
    "08": "live only if the room's accounts are ready",
}
# What to say, per lesson: two or three points a facilitator makes before the room starts typing.
TALKING_POINTS = {
    "00": [
        "one call starts three things: a Daraja (the emulator), a listener for callbacks, a client",
        "the dashboard is the customer's phone and the merchant's screen side by side",
        "nobody moves on until every lab shows a paid push",
    ],
    "01": [
        "seven steps, three parties: draw them, then find each in a real transaction's timings",
        "accepted (step 3) is not paid: the callback (step 6) is the outcome",
    ],
    "02": [
        "a token is an hour's permission for every push, not one per push",
        "`expires_in` is a string: parse it, refresh before it runs out",
        "`404.001.03 Invalid Access Token`: a token missing, mistyped or expired",
    ],
    "03": [
        "Timestamp: yyyyMMddHHmmss, in Nairobi time by convention; Daraja does not check its freshness",
        "Password = base64(shortcode + passkey + timestamp): decode one to debug it",
        "`Wrong credentials`: a wrong passkey, a shortcode/passkey pair that do not belong together, or the timestamp computed twice; decode and compare",
    ],
    "04": [
        "four answers on the phone, four ResultCodes: predict before pressing",
        "the push call returns at step 3; the live table fills at step 6",
    ],
    "05": [
        "store the callback, then acknowledge: in that order, always",
        "duplicates happen: count a payment once (by CheckoutRequestID)",
        "no callback? query the status; never push again",
    ],
    "06": [
        "an error is refused now (HTTP); a result fails later (callback)",
        "every code has a meaning and a mitigation in the catalogue",
        "17 on a re-run is the 2-minute rule, not a bug",
    ],
    "07": [
        "codes are text: `result_code == 0` finds nothing",
        "rank failures by what the merchant can do about them",
    ],
    "08": [
        "credentials live in `.env`, never in a cell: outputs get saved",
        "a callback needs a public URL: that is the tunnel's job",
        "reported in 2026: the sandbox's test number ends in 1037 (no answer); expect it",
    ],
    "10": [
        "the callback endpoint is the part every real integration gets wrong: write it in your stack",
        "store, then acknowledge; settle once per CheckoutRequestID; check amount and phone",
        "callbacks are unsigned: confirm with an STK query before you fulfil; run check-callback in CI",
    ],
    "11": [
        "read the symptom, not the code: reproduce it with one call, then fix it",
        "`mpesa-lab doctor` checks a real .env without printing a secret",
    ],
}
_TWO_DIGITS = re.compile(r"\b(\d\d)\b")
_RANGE = re.compile(r"\b(\d\d) to (\d\d)\b")
_HELPS = re.compile(r"\b(\d\d)\b(?:\s*\([^)]*\))?\s+helps")


def prose_prerequisites(markdown: str) -> tuple[list[str], list[str]]:
    """(needed, helpful) lesson numbers named by a "**Prerequisites:**" paragraph."""
    found = re.search(r"\*\*Prerequisites:\*\*(.*?)(?:\n\s*\n|\Z)", markdown, re.S)
    if not found:
        return [], []
    text = found.group(1)
    named: set[str] = set()
    for first, last in _RANGE.findall(text):
        named.update(f"{n:02d}" for n in range(int(first), int(last) + 1))
    named.update(_TWO_DIGITS.findall(text))
    helps = set(_HELPS.findall(text))
    return sorted(named - helps), sorted(helps)


def requires(meta: dict, markdown: str = "") -> list[str]:
    """The lessons a lesson needs: its header's ``requires``, else what its prose names."""
    if "requires" in meta:
        return sorted(f"{int(n):02d}" for n in meta["requires"] or [])
    return prose_prerequisites(markdown)[0]


def missing_prerequisites(cut: tuple[str, ...] | list[str], lessons: dict[str, dict]) -> list[str]:
    """What a cut lacks: ``"03 needs 02"`` for each lesson in it whose prerequisite is not."""
    return [f"{n} needs {need}" for n in cut for need in lessons[n].get("requires", []) if need not in cut]


def hours(minutes: int) -> str:
    """``440`` -> ``"7 hours 20 minutes"``."""
    whole, rest = divmod(minutes, 60)
    return f"{whole} hours" + (f" {rest} minutes" if rest else "")


def _slack(minutes: int) -> int:
    return 5 * math.ceil(minutes * SLACK_SHARE / 5) if minutes else 0


def plan(lessons: dict[str, dict], cut: tuple[str, ...] | list[str]) -> tuple[list[tuple[str, int, str]], int]:
    """The timed rows of a session (lessons, the break after :data:`BREAK_AFTER`, slack closing
    each block) and its total minutes."""
    rows: list[tuple[str, int, str]] = []
    block = 0
    for number in cut:
        meta = lessons[number]
        rows.append((f"{number} {meta['title']}", int(meta["minutes"]), NOTES.get(number, "")))
        block += int(meta["minutes"])
        if number == BREAK_AFTER:
            rows.append(("*slack*", _slack(block), "catch-up and questions"))
            rows.append(("*break*", BREAK, ""))
            block = 0
    if block:
        rows.append(("*slack*", _slack(block), "catch-up and questions"))
    return rows, sum(minutes for _, minutes, _ in rows)


def in_plan(lessons: dict[str, dict]) -> list[str]:
    """The learners' lessons, in number order (not the facilitator's guide)."""
    return sorted(n for n, meta in lessons.items() if meta.get("audience") != "facilitator")


def fills(lessons: dict[str, dict]) -> dict[str, str]:
    """The placeholders of notebook 09 from each lesson's header (``title``, ``minutes``,
    ``requires``), by lesson number (``"00"``, ...)."""
    course = in_plan(lessons)
    half = [n for n in HALF_DAY if n in lessons]
    broken = missing_prerequisites(half, lessons)
    if broken:
        raise ValueError(f"the half-day cut {half} drops a prerequisite: {'; '.join(broken)} (timing.HALF_DAY)")
    rows, total = plan(lessons, course)
    half_rows, half_total = plan(lessons, half)
    slack = sum(m for what, m, _ in rows if what == "*slack*")
    half_slack = sum(m for what, m, _ in half_rows if what == "*slack*")
    homework = [n for n in course if n not in half]
    table = "\n".join(f"| {what} | {minutes} | {note} |".replace("|  |", "| |") for what, minutes, note in rows)
    timing = (
        textwrap.dedent(f"""
        ## Timing

        | notebook | minutes | note |
        | --- | ---: | --- |
        {{table}}

        About {hours(total)} with the break and slack (the table adds up to {total} minutes, {slack} of
        them slack: a tenth of each block, for the laptop that will not start and the question worth
        answering). For a **half day** (about {hours(half_total)} with the break and {half_slack}
        minutes of slack), run {", ".join(half[:-1])} and {half[-1]}, and give {", ".join(homework[:-1])} and
        {homework[-1]} as homework. Every lesson of the half day has its prerequisites in it (03 needs 02);
        01 only helps, so tell its sequence at the board in five minutes of 00's slack.
        """)
        .strip("\n")
        .replace("{table}", table)
    )
    points = ["## Talking points", "", "What to say before the room starts typing, lesson by lesson.", ""]
    for number in course:
        meta = lessons[number]
        said = TALKING_POINTS.get(number) or ["(none written yet: add them to notebooks/timing.py TALKING_POINTS)"]
        needs = ", ".join(meta.get("requires", [])) or "nothing"
        points.append(
            f"- **{number} {meta['title']}** ({meta['minutes']} min; needs {needs}): " + "; ".join(said) + "."
        )
    return {
        "timing": timing,
        "talking_points": "\n".join(points),
        "full_course": hours(total),
        "half_day": hours(half_total),
    }
