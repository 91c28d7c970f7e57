"""The rehearsal, small (issue 23 item 5): two participants run the real notebooks 00 and 04, each
in its own process, kernel, lab home and card, against one workshop room; nothing in the
notebooks changed. The full size (30 participants, 00-07) is ``bench/bench_rehearsal.py``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(180)


def _bench():
    spec = importlib.util.spec_from_file_location("_bench_rehearsal", ROOT / "bench" / "bench_rehearsal.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_two_participants_run_the_course_in_one_room(tmp_path):
    result = _bench().rehearse(2, ("00", "04"), parallel=2, fault_after=1.0, fault_seconds=120, folder=tmp_path)
    assert result["failing_notebooks"] == []
    callbacks = result["callbacks"]
    # Every callback in its own participant's store, and the room counted exactly those.
    assert callbacks["pushes_accepted"] > 0
    assert callbacks["pushes_without_callback"] == 0 and callbacks["callbacks_without_a_push_in_the_store"] == 0
    assert callbacks["callbacks_stored"] == callbacks["pushes_accepted"] == callbacks["room_counted"]
    assert callbacks["participants_whose_room_count_matches_their_stores"] == 2
    assert callbacks["participants_whose_room_push_count_matches_their_stores"] == 2
    for person in result["people"]:  # both run the solutions: every exercise passed, on the page
        assert person["lessons_on_page"] == ["00-start-here", "04-first-push"], person
    view = {(x["lesson"], x["exercise"]): x for x in result["exercise_view"]}
    assert view[("04-first-push", "A push the customer ignored")]["passed"] == 2
    # The fault turned on a second in reached both running lessons; the hint showed in a notebook.
    assert result["fault"]["hit"] == 2 and result["fault"]["hint_shown_in_a_notebook"] == 2
    assert result["page"]["samples"] > 0
