"""The facilitator's timing table (notebook 09), made from each notebook's own ``minutes``.

Notebook 09's source holds ``{{ timing }}``, ``{{ full_course }}`` and ``{{ half_day }}`` where the
table and its totals go; ``build.py`` fills them from the ``minutes`` in every other source's header
(the number its "Time:" line says), so the guide and the notebooks cannot disagree.
"""

from __future__ import annotations

import textwrap

BREAK = 15
HALF_DAY = ("00", "01", "03", "04", "05", "06")
NAMES = {"00": "start here", "01": "the journey", "02": "the access token", "03": "password and timestamp",
         "04": "first STK push", "05": "callbacks and the listener", "06": "errors and result codes",
         "07": "result-code analytics", "08": "the real sandbox",
         "10": "your own callback endpoint",
         "11": "troubleshooting by symptom"}
NOTES = {
    "00": "everyone's lab running before moving on",
    "01": "draw the sequence on the board",
    "03": "the two-timestamps trap lands better if someone's laptop is on UTC",
    "05": "the longest; do not rush \"store before acknowledging\"",
    "08": "live only if the room's accounts are ready",
}


def hours(minutes: int) -> str:
    """``440`` -> ``"7 hours 20 minutes"``."""
    whole, rest = divmod(minutes, 60)
    return f"{whole} hours" + (f" {rest} minutes" if rest else "")


def fills(minutes: dict[str, int]) -> dict[str, str]:
    """The placeholders of notebook 09, from ``minutes`` by notebook number (``"00"`` ... ``"08"``)."""
    rows = []
    for number in sorted(NAMES):
        rows.append(f"| {number} {NAMES[number]} | {minutes[number]} | {NOTES.get(number, '')} |".replace("|  |", "| |"))
        if number == "04":
            rows.append(f"| *break* | {BREAK} | |")
    total = sum(minutes[n] for n in NAMES) + BREAK
    half = sum(minutes[n] for n in HALF_DAY) + BREAK
    table = "\n".join(rows)
    timing = textwrap.dedent(f"""
        ## Timing

        | notebook | minutes | note |
        | --- | ---: | --- |
        {{table}}

        About {hours(total)} with the break (the table adds up to {total} minutes). For a **half day**
        (about {hours(half)} with the break), run {", ".join(HALF_DAY[:-1])} and {HALF_DAY[-1]}, and give
        02, 07 and 08 as homework.
        """).strip("\n").replace("{table}", table)
    return {"timing": timing, "full_course": hours(total), "half_day": hours(half)}
