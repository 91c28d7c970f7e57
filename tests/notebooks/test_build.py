"""notebooks/build.py: percent-format sources routed into the learner's notebook and the solutions
twin, with the lesson's facts in the metadata and ids that do not move."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks.mistakes import MISTAKES
from tests.notebooks.runner import load_build

BUILD = load_build()

SOURCE = """\
# ---
# jupyter:
#   mpesa_lab:
#     lesson: 42-a-lesson
#     title: A lesson
#     minutes: 5
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 42 · A lesson
#
# It takes {{ full_course }}.

# %%
from mpesa_lab.course import check

# %% tags=["exercise"]
answer = ...  # the answer

# %% tags=["solution"]
answer = 42

# %%
check.msisdn(answer, "254708374149")
"""


def _lesson(tmp_path: Path, text: str = SOURCE):
    path = tmp_path / "42_a_lesson.py"
    path.write_text(text, encoding="utf-8")
    return BUILD.load_source(path)


def test_exercise_cells_route_starter_to_learners_and_solution_to_facilitators(tmp_path: Path):
    lesson = _lesson(tmp_path)
    fills = {"full_course": "7 hours"}
    learner = BUILD.build(lesson, solutions=False, fills=fills)
    solved = BUILD.build(lesson, solutions=True, fills=fills)
    assert [c.id for c in learner.cells] == ["42-000", "42-001", "42-002", "42-003"] == [c.id for c in solved.cells]
    assert learner.cells[0].source == "# 42 · A lesson\n\nIt takes 7 hours."
    assert (learner.cells[2].source, learner.cells[2].metadata["tags"]) == ("answer = ...  # the answer", ["exercise"])
    assert (solved.cells[2].source, solved.cells[2].metadata["tags"]) == ("answer = 42", ["solution"])
    assert learner.metadata["mpesa_lab"] == {
        "lesson": "42-a-lesson",
        "solutions": False,
        "title": "A lesson",
        "minutes": 5,
        "expects_rule_17": 0,
    }
    assert all(not c.get("outputs") for c in learner.cells if c.cell_type == "code")
    # Rebuilt from the same source: the same bytes.
    assert BUILD.render(learner) == BUILD.render(BUILD.build(_lesson(tmp_path), solutions=False, fills=fills))


def test_the_tests_put_each_typical_mistake_in_its_exercise_cell(tmp_path: Path):
    lesson = _lesson(tmp_path)
    wrong = BUILD.build(lesson, solutions=False, mistakes=["answer = '42'"], fills={})
    assert wrong.cells[2].source == "answer = '42'"
    with pytest.raises(ValueError, match="2 mistakes for 1 exercises"):
        BUILD.build(lesson, solutions=False, mistakes=["a = 1", "b = 2"], fills={})


@pytest.mark.parametrize(
    "broken, message",
    [
        (SOURCE.replace('# %% tags=["exercise"]\nanswer = ...  # the answer\n\n', ""), "must follow its exercise"),
        (SOURCE.replace('# %% tags=["solution"]\nanswer = 42\n\n', ""), "no solution cell"),
        (SOURCE.replace("#     lesson: 42-a-lesson\n", ""), "no mpesa_lab: lesson"),
    ],
)
def test_a_malformed_source_is_named(tmp_path: Path, broken: str, message: str):
    with pytest.raises(ValueError, match=message):
        _lesson(tmp_path, broken)


def test_every_lesson_has_one_typical_mistake_per_exercise():
    lessons = {lesson.name: lesson for lesson in map(BUILD.load_source, BUILD.sources())}
    assert set(MISTAKES) == set(lessons)
    for name, lesson in lessons.items():
        assert len(MISTAKES[name]) == len(lesson.exercises), name


def test_check_fails_on_a_notebook_that_differs_from_its_source(tmp_path: Path, monkeypatch, capsys):
    built = BUILD.targets()
    path, nb = next(iter(built.items()))
    stale = tmp_path / path.name
    stale.write_text(BUILD.render(nb).replace('"cell_type": "markdown"', '"cell_type": "markdown" ', 1))
    monkeypatch.setattr(BUILD, "targets", lambda: {stale: nb})
    monkeypatch.setattr(BUILD, "HERE", tmp_path)
    assert BUILD.main(["--check"]) == 1
    assert path.name in capsys.readouterr().out
    assert BUILD.main([]) == 0 and BUILD.main(["--check"]) == 0
