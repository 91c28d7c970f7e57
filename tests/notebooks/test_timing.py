"""The facilitator's timing table (notebook 09) agrees with each notebook's own "Time:" line:
both come from the notebook's minutes, and the totals are the table's sum (issue 18, item 10:
09 said 15 and 20 minutes where 01 and 04 said 20 and 30)."""

from __future__ import annotations

import re

import nbformat

from tests.notebooks.runner import learner_notebooks


def _time_line(nb) -> int:
    found = re.search(r"\*\*Time:\*\* about (\d+) minutes", nb.cells[0].source)
    assert found, "the first cell has no '**Time:** about N minutes' line"
    return int(found.group(1))


def test_each_notebooks_time_line_is_its_minutes():
    for path in learner_notebooks():
        nb = nbformat.read(path, as_version=4)
        assert _time_line(nb) == nb.metadata["mpesa_lab"]["minutes"], path.name


def test_the_workshop_timing_table_matches_the_notebooks_headers():
    notebooks = {p.name[:2]: nbformat.read(p, as_version=4) for p in learner_notebooks()}
    guide = next(c.source for c in notebooks["09"].cells if "## Timing" in c.source)
    rows = dict(re.findall(r"^\| (\d\d) [^|]+\| (\d+) \|", guide, re.M))
    assert set(rows) == set(notebooks) - {"09"}, rows  # every lesson but the guide itself
    for number, minutes in rows.items():
        assert int(minutes) == _time_line(notebooks[number]), f"09 says {minutes} min for {number}"
    pause = int(re.search(r"^\| \*break\* \| (\d+) \|", guide, re.M).group(1))
    total = sum(map(int, rows.values())) + pause
    assert f"the table adds up to {total} minutes" in guide
    hours, rest = divmod(total, 60)
    assert f"About {hours} hours {rest} minutes with the break" in guide or (
        not rest and f"About {hours} hours with the break" in guide
    )
    half = (
        sum(
            int(rows[n])
            for n in re.search(r"run ([\d, and]+), and give", guide).group(1).replace(" and", ",").split(", ")
        )
        + pause
    )
    hours, rest = divmod(half, 60)
    assert f"about {hours} hours" + (f" {rest} minutes" if rest else "") + " with the break" in guide
