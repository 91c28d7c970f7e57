"""Every notebook runs top to bottom, headless, twice in one kernel, against the emulator.

The second run proves re-running works: the start cell replaces the lab (no port conflicts), the
lesson's store is continued (twice the rows, none vanished), and ResultCode 17 appears only where
the lesson is about it. Learner notebooks run with their exercises unanswered (each check must
say so without stopping the notebook); the facilitators' solutions run with strict checks, so a
check that fails on a solution fails the test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.mistakes import MISTAKES
from tests.notebooks.runner import execute, learner_notebooks, load_build, solution_notebooks

pytestmark = pytest.mark.timeout(240)


def _exercises(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(1 for c in nb.cells if {"exercise", "solution"} & set(c.metadata.get("tags", [])))


def _check_reruns(report, path: Path) -> None:
    first, second = (run.probe for run in report.runs)
    assert first["python"] == sys.executable, f"the kernel ran {first['python']}, not the project's Python"
    assert first.get("deliveries", 0) > 0, f"{path.name}: no callback reached the lesson's store"
    # The store is continued, not replaced: the second run adds exactly what the first added.
    for key in ("pushes", "deliveries"):
        assert second[key] == 2 * first[key], (
            f"{path.name}: {key} {first[key]} then {second[key]} (rows vanished or leaked)"
        )
    expected_17 = report.metadata.get("expects_rule_17", 0)
    assert first["rule_17"] == expected_17, f"{path.name}: {first['rule_17']} ResultCode 17 on the first run"
    assert second["rule_17"] == 2 * expected_17, f"{path.name}: ResultCode 17 on the re-run: {second['rule_17']}"


def _room_secrets(lab_home: Path) -> dict[str, str]:
    """Every secret of the workshop rooms a notebook left in its lab home (roster.json), by name."""
    found = {}
    for roster in lab_home.rglob("roster.json"):
        data = json.loads(roster.read_text(encoding="utf-8"))
        found["facilitator_token"] = data["facilitator_token"]
        for p in data["participants"]:
            for key in ("consumer_secret", "passkey", "inbox_token"):
                found[f"{p['id']} {key}"] = p[key]
    return found


def _check_no_room_secrets(report, workdir: Path) -> None:
    """A notebook that runs a workshop room shows none of its secrets (the facilitator URL's token
    above all) in its outputs, which a learner may save."""
    secrets = _room_secrets(workdir / "lab-home")
    if report.metadata["lesson"].startswith("09-"):
        assert "facilitator_token" in secrets, "notebook 09 ran no workshop room"
    outputs = json.dumps([c.get("outputs", []) for c in report.notebook.cells])
    shown = [name for name, value in secrets.items() if value in outputs]
    assert not shown, f"{report.metadata['lesson']}: room secrets in the outputs: {shown}"


@pytest.mark.parametrize("path", learner_notebooks(), ids=lambda p: p.name)
def test_learner_notebook_runs_twice(path: Path, tmp_path: Path):
    report = execute(path, tmp_path, runs=2, strict=False)
    _check_reruns(report, path)
    _check_no_room_secrets(report, tmp_path)
    for run in report.runs:
        verdicts = run.probe["verdicts"]
        assert len(verdicts) == _exercises(path), (
            f"{path.name}: {len(verdicts)} checks ran, {_exercises(path)} exercises"
        )
        passed = [name for name, ok, *_ in verdicts if ok]
        assert not passed, f"{path.name}: the starter code already passes {passed}: the exercise gives its answer away"


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: f"solutions/{p.name}")
def test_solution_notebook_passes_every_check(path: Path, tmp_path: Path):
    report = execute(path, tmp_path, runs=2, strict=True)
    _check_reruns(report, path)
    _check_no_room_secrets(report, tmp_path)
    for run in report.runs:
        verdicts = run.probe["verdicts"]
        assert len(verdicts) == _exercises(path)
        assert all(ok for _, ok, *_ in verdicts), verdicts


BUILD = load_build()
SOURCES = BUILD.sources()


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_a_typical_mistake_is_named_by_its_check_and_the_notebook_still_runs(source: Path, tmp_path: Path):
    """Each exercise holding its typical mistake (mistakes.py): the check says what is wrong; nothing stops."""
    lesson = BUILD.load_source(source)
    mistakes = MISTAKES.get(lesson.name, [])
    assert len(mistakes) == len(lesson.exercises), (
        f"{lesson.name}: {len(lesson.exercises)} exercises, {len(mistakes)} typical mistakes in tests/notebooks/mistakes.py"
    )
    nb = BUILD.build(lesson, solutions=False, mistakes=[code for _check, code in mistakes])
    exercises = [i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", [])]
    for (check_name, _code), i in zip(mistakes, exercises, strict=True):
        assert nb.cells[i + 1].source.startswith(f"check.{check_name}("), (
            f"{lesson.name}: the mistake for check.{check_name} would go in cell {i}, which check.{check_name} does not follow"
        )
    report = execute(nb, tmp_path, runs=1)
    verdicts = report.runs[0].probe["verdicts"]
    assert len(verdicts) == len(lesson.exercises)
    for name, ok, answered, message in verdicts:
        assert answered and not ok, f"{source.stem}: {name}: the mistake was not caught: {message}"
        assert message.startswith("\u2718") and "\n  - " in message, (
            f"{source.stem}: {name}: no problem named: {message}"
        )


def test_08_live_path_runs_against_a_stand_in_sandbox(tmp_path: Path, monkeypatch):
    """``LIVE = True``: the sandbox code path, with an emulator standing in for Safaricom.

    The real sandbox and ngrok are out of reach here, so the 'sandbox' is an emulator reached
    through MPESA_BASE_URL, and MPESA_CALLBACK_URL names a public URL so no tunnel is opened
    (its callbacks go nowhere, as a dead tunnel's would). Live waits are shortened to 1 s.
    """
    from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, SANDBOX_TEST_MSISDN
    from mpesa_lab.emulator import Emulator

    path = next(p for p in learner_notebooks() if p.name.startswith("08-"))
    nb = nbformat.read(path, as_version=4)
    switched = 0
    for cell in nb.cells:
        if cell.source.startswith("LIVE = False"):
            cell.source = cell.source.replace("LIVE = False", "LIVE = True", 1)
            switched += 1
        cell.source = cell.source.replace("timeout=20 if LIVE", "timeout=1 if LIVE")
    assert switched == 1, "the notebook's LIVE switch moved"
    with Emulator(name="stand-in-sandbox").start() as sandbox:
        sandbox.register_subscriber(SANDBOX_TEST_MSISDN, profile="ignores")
        for name, value in {
            "MPESA_BASE_URL": sandbox.url,
            "MPESA_CONSUMER_KEY": LAB_CONSUMER_KEY,
            "MPESA_CONSUMER_SECRET": LAB_CONSUMER_SECRET,
            "MPESA_CALLBACK_URL": "https://callbacks.stand-in-tunnel.net/cb",
        }.items():
            monkeypatch.setenv(name, value)
        report = execute(nb, tmp_path, runs=1)
        pushed = sandbox.transactions(phone=SANDBOX_TEST_MSISDN)
    assert len(pushed) == 1, "the live path did not push the test number to the 'sandbox'"
    texts = [o.get("text", "") for c in nb.cells for o in c.get("outputs", [])]
    assert any(t.startswith("sandbox ") for t in texts), "the lab did not start in the sandbox environment"
    assert any("no callback yet: the query is the fallback" in t for t in texts)
    assert any("Set MY_NUMBER to your own phone" in t for t in texts), "live, nobody else's number may be pushed"
    assert len(report.runs[0].probe["verdicts"]) == 2


def test_the_room_secrets_check_catches_a_printed_facilitator_url(tmp_path: Path):
    """The check above can fail: a facilitator URL printed in an output is found."""
    from types import SimpleNamespace

    from mpesa_lab.workshop import WorkshopServer

    with WorkshopServer(tmp_path / "lab-home" / "course" / "room" / "server", participants=1) as server:
        url = server.facilitator_url
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("room.server.facilitator_url")])
    report = SimpleNamespace(metadata={"lesson": "09-running-a-workshop"}, notebook=nb)
    _check_no_room_secrets(report, tmp_path)  # no output yet: clean
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": repr(url)})]
    with pytest.raises(AssertionError, match="facilitator_token"):
        _check_no_room_secrets(report, tmp_path)
