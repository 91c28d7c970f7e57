"""The facilitator's plan (notebook 09) agrees with the lessons: the timing table and its totals
come from each notebook's own minutes (issue 18, item 10: 09 said 15 and 20 minutes where 01 and
04 said 20 and 30), every lesson is in it, every cut keeps its lessons' prerequisites (issue 23:
the half-day cut dropped 02, which 03 needs), and there is slack and a talking point per lesson."""

from __future__ import annotations

import re

import nbformat
import pytest

from tests.notebooks.runner import learner_notebooks, load_build


def _time_line(nb) -> int:
    found = re.search(r"\*\*Time:\*\* about (\d+) minutes", nb.cells[0].source)
    assert found, "the first cell has no '**Time:** about N minutes' line"
    return int(found.group(1))


@pytest.fixture(scope="module")
def build():
    return load_build()


@pytest.fixture(scope="module")
def lessons(build):
    """Each source's plan facts by number, as build.py hands them to timing.py."""
    return {lesson.name[:2]: build.plan_facts(lesson) for lesson in map(build.load_source, build.sources())}


def test_each_notebooks_time_line_is_its_minutes():
    for path in learner_notebooks():
        nb = nbformat.read(path, as_version=4)
        assert _time_line(nb) == nb.metadata["mpesa_lab"]["minutes"], path.name


def test_the_workshop_timing_table_matches_the_notebooks_headers():
    notebooks = {p.name[:2]: nbformat.read(p, as_version=4) for p in learner_notebooks()}
    guide = next(c.source for c in notebooks["09"].cells if "## Timing" in c.source)
    rows = dict(re.findall(r"^\| (\d\d) [^|]+\| (\d+) \|", guide, re.M))
    learners = {n for n, nb in notebooks.items() if nb.metadata["mpesa_lab"].get("audience") != "facilitator"}
    assert set(rows) == learners and "09" not in rows, rows  # every lesson, new ones included
    for number, minutes in rows.items():
        assert int(minutes) == _time_line(notebooks[number]), f"09 says {minutes} min for {number}"
    pause = int(re.search(r"^\| \*break\* \| (\d+) \|", guide, re.M).group(1))
    slack = [int(m) for m in re.findall(r"^\| \*slack\* \| (\d+) \|", guide, re.M)]
    assert len(slack) == 2 and all(m > 0 for m in slack)  # one per block: before and after the break
    total = sum(map(int, rows.values())) + pause + sum(slack)
    assert f"the table adds up to {total} minutes, {sum(slack)} of" in guide
    hours, rest = divmod(total, 60)
    assert f"About {hours} hours" + (f" {rest} minutes" if rest else "") + " with the break and slack" in guide


def test_the_half_day_cut_adds_up(build):
    notebooks = {p.name[:2]: nbformat.read(p, as_version=4) for p in learner_notebooks()}
    guide = " ".join(next(c.source for c in notebooks["09"].cells if "## Timing" in c.source).split())
    cut = re.search(r"run ([\d, and]+), and give", guide).group(1).replace(" and", ",").split(", ")
    assert tuple(cut) == build.timing.HALF_DAY
    lessons = sum(_time_line(notebooks[n]) for n in cut)
    half = re.search(r"about (\d+) hours(?: (\d+) minutes)? with the break and (\d+) minutes of slack", guide)
    assert int(half.group(1)) * 60 + int(half.group(2) or 0) == lessons + build.timing.BREAK + int(half.group(3))


def test_every_cut_keeps_its_lessons_prerequisites(build, lessons):
    timing = build.timing
    course = timing.in_plan(lessons)
    assert timing.missing_prerequisites(timing.HALF_DAY, lessons) == []
    assert timing.missing_prerequisites(course, lessons) == []
    # the cut before issue 23 dropped 02: the check names it, and the build refuses such a cut
    assert timing.missing_prerequisites(("00", "01", "03", "04", "05", "06"), lessons) == ["03 needs 02"]
    old, timing.HALF_DAY = timing.HALF_DAY, ("00", "01", "03", "04", "05", "06")
    try:
        with pytest.raises(ValueError, match="drops a prerequisite: 03 needs 02"):
            timing.fills(lessons)
    finally:
        timing.HALF_DAY = old


def test_each_lessons_header_says_what_its_prose_prerequisites_say(build):
    for path in build.sources():
        lesson = build.load_source(path)
        prose = next(
            text for kind, text in (c for c in lesson.cells if not isinstance(c, build.Exercise)) if kind == "md"
        )
        needed, helps = build.timing.prose_prerequisites(prose)
        if "requires" in lesson.meta:  # machine-readable in the header: the same lessons as the prose
            assert sorted(lesson.meta["requires"]) == needed, (path.name, lesson.meta["requires"], needed)
        assert not set(helps) & set(build.plan_facts(lesson)["requires"]), path.name


def test_prose_prerequisites_read_ranges_lists_and_helpers(build):
    read = build.timing.prose_prerequisites
    assert read("**Prerequisites:** notebooks 02 to 05. Optional: an account.\n\nmore 07") == (
        ["02", "03", "04", "05"],
        [],
    )
    assert read("**Prerequisites:** notebook 00 (the dashboard); 01 (the journey) helps.") == (["00"], ["01"])
    assert read("**Prerequisites:** notebooks 03 and 05.") == (["03", "05"], [])
    assert read("no such line") == ([], [])


def test_every_lesson_has_talking_points_in_the_guide(lessons):
    nb = nbformat.read(next(p for p in learner_notebooks() if p.name.startswith("09")), as_version=4)
    guide = next(c.source for c in nb.cells if "## Talking points" in c.source)
    for number, meta in lessons.items():
        if meta.get("audience") == "facilitator":
            continue
        line = next(line for line in guide.splitlines() if line.startswith(f"- **{number} "))
        # a lesson added later (10, 11) shows a placeholder until its points are written
        assert ("none written yet" in line) if number not in build_points() else line.count(";") >= 1, line


def build_points() -> set[str]:
    return set(load_build().timing.TALKING_POINTS)


def test_docs_workshop_shows_the_same_plan():
    """docs/workshop.md's plan is 09's table, row for row (rebuilt notebooks, then the doc)."""
    from pathlib import Path

    nb = nbformat.read(next(p for p in learner_notebooks() if p.name.startswith("09")), as_version=4)
    guide = next(c.source for c in nb.cells if "## Timing" in c.source).split("## Talking points")[0]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "workshop.md").read_text(encoding="utf-8")
    rows = [line for line in guide.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows and all(row in doc for row in rows), [row for row in rows if row not in doc]
