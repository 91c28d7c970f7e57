"""Items of a learner's notebook, executed in a real ipykernel (nbclient): stop, reuse, re-run."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

START = """\
from mpesa_lab.lab import Lab, LabError
lab = Lab.start()
lab"""

CELLS = [
    START,
    """\
push = lab.push("0708374149", 10, "NB-001", "Notebook")
print(push.wait(timeout=20).result_code)
first_store = lab.store.path
lab.emulator.configure(interactive=True)  # the next prompt waits for an answer that never comes
pending = lab.push("0722000002", 10, "NB-002", "Notebook")""",
    """\
lab.stop()
print(lab.running)
lab""",
    """\
errors = []
for call in (push.query, lambda: pending.wait(timeout=30), lambda: lab.push("0708374149", 11, "NB", "nb")):
    try:
        call()
    except LabError as exc:
        errors.append(str(exc))
print(len(errors), all("stopped" in e and "Lab.start()" in e for e in errors))
print(push.wait(timeout=1).result_code)  # a callback stored before the stop is still an answer""",
    START,  # the start cell, run again
    """\
old = lab
print(lab.store.path == first_store, len(lab.transactions()))""",
    START,  # and again, without a stop in between
    """\
try:
    old.push("0708374149", 12, "NB", "nb")
except LabError as exc:
    print("old:", exc)
lab.push("0708374149", 13, "NB", "nb").wait(20)
print(len(lab.transactions()))
lab.stop()""",
]


def _outputs(cell) -> str:
    text = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text.append(out["text"])
        elif out.get("output_type") in ("execute_result", "display_data"):
            text.append(out["data"].get("text/plain", ""))
        elif out.get("output_type") == "error":
            text.append("ERROR " + out["ename"] + ": " + out["evalue"])
    return "".join(text)


@pytest.mark.timeout(180)
def test_stop_reuse_and_rerun_in_a_real_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("MPESA_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    folder = tmp_path / "course"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    out = [_outputs(c) for c in nb.cells]
    assert not any("ERROR" in o for o in out), out
    assert "running" in out[0]
    assert out[1].strip() == "0"
    assert out[2].splitlines()[0] == "False" and "stopped" in out[2]
    assert out[3].split() == ["3", "True", "0"]
    assert out[5].strip() == "True 2"  # the re-run start cell continued the same store
    assert "newer lab is running" in out[7]
    assert out[7].strip().endswith("3")
    stores = sorted(p.name for p in (tmp_path / "home" / "stores").glob("*.sqlite"))
    assert len(stores) == 1 and stores[0].startswith("course-"), stores
