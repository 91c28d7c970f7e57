"""A lab's life as a learner meets it: stopped labs say so, stores continue, Ctrl-C never leaks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mpesa_lab.background import running_servers
from mpesa_lab.lab import Lab, LabError, active_lab
from mpesa_lab.paths import folder_store_path


@pytest.fixture(autouse=True)
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("MPESA_LAB_HOME", str(home))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    work = tmp_path / "course"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


def test_a_stopped_lab_says_so_and_every_call_raises_one_clear_lab_error():
    lab = Lab.start()
    assert lab.running
    push = lab.push("0708374149", 10, "LIFE", "life")
    assert push.wait(20).result_code == "0"
    lab.emulator.configure(interactive=True)
    pending = lab.push("0722000001", 10, "LIFE", "life")  # never answered: the lab stops first
    lab.stop()

    assert lab.running is False
    assert "stopped" in repr(lab) and "Lab.start()" in repr(lab)
    assert "stopped" in repr(push)
    calls = {
        "lab.push": lambda: lab.push("0708374149", 11, "LIFE", "life"),
        "lab.query": lambda: lab.query(push.checkout_request_id),
        "push.query": push.query,
        "push.answer": push.answer,
        "push.cancel": push.cancel,
        "pending.wait": lambda: pending.wait(timeout=30),
    }
    for name, call in calls.items():
        with pytest.raises(LabError) as info:
            call()
        message = str(info.value)
        assert "stopped" in message and "Lab.start()" in message, name
        assert "client has been closed" not in message
    # the stored callback of a finished push is still an answer, and the store stays readable
    assert push.wait(timeout=1).result_code == "0"
    assert len(lab.transactions()) == 2
    lab.stop()  # twice is fine


def test_waiting_on_a_stopped_lab_does_not_wait_out_its_timeout():
    import time

    lab = Lab.start()
    lab.emulator.configure(interactive=True)  # the prompt waits for an answer that never comes
    push = lab.push("0722000001", 10, "LIFE", "life")
    lab.stop()
    started = time.monotonic()
    with pytest.raises(LabError):
        push.wait(timeout=30)
    assert time.monotonic() - started < 2


def test_restarting_replaces_and_continues_the_same_store(tmp_path):
    first = Lab.start()
    first_push = first.push("0708374149", 5, "LIFE", "life")
    first_push.wait(20)
    second = Lab.start()  # the re-run start cell
    try:
        assert not first.running and second.running
        assert second.store.path == first.store.path == folder_store_path(Path.cwd()).resolve()
        with pytest.raises(LabError, match="newer lab is running"):
            first.push("0708374149", 6, "LIFE", "life")
        with pytest.raises(LabError):
            first_push.query()
        second.push("0708374149", 7, "LIFE", "life").wait(20)
        assert len(second.transactions()) == 2  # the earlier row did not vanish
    finally:
        second.stop()


def test_fresh_starts_a_new_store_and_another_folder_has_its_own(tmp_path, monkeypatch):
    lab = Lab.start()
    default = lab.store.path
    lab.push("0708374149", 5, "LIFE", "life").wait(20)
    lab.stop()
    with Lab.start(fresh=True) as fresh:
        assert fresh.store.path != default and len(fresh.transactions()) == 0
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    with Lab.start() as elsewhere:
        assert elsewhere.store.path != default and len(elsewhere.transactions()) == 0
    with pytest.raises(ValueError, match="not both"):
        Lab.start(store=tmp_path / "x.sqlite", fresh=True)


def test_a_notebook_gets_its_own_store(monkeypatch, tmp_path):
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "course" / "01-first-push.ipynb"))
    one = folder_store_path()
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "course" / "02-failures.ipynb"))
    two = folder_store_path()
    assert one != two and one.name.startswith("01-first-push-")


_INTERRUPT_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from mpesa_lab.lab import Lab, active_lab
    from mpesa_lab.background import running_servers

    interrupted_in_start = 0
    leaks = []
    for delay in [float(d) for d in sys.argv[1:]]:
        timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
        lab = None
        started = False
        try:
            timer.start()
            lab = Lab.start(fresh=True)
            started = True
            time.sleep(3)  # the interrupt lands here when the start was quicker
        except KeyboardInterrupt:
            if not started:
                interrupted_in_start += 1
        timer.join()
        if lab is not None:
            lab.stop()
        time.sleep(0.05)
        servers = [n for n in running_servers()]
        threads = [t.name for t in threading.enumerate() if t.name.startswith("mpesa-lab-lab")]
        if servers or threads or active_lab() is not None:
            leaks.append((delay, started, servers, threads))
    print("interrupted_in_start", interrupted_in_start)
    print("leaks", leaks)
    """
)


def test_ctrl_c_at_any_moment_of_start_leaves_no_server_running(tmp_path):
    delays = [
        "0.0",
        "0.002",
        "0.005",
        "0.01",
        "0.02",
        "0.03",
        "0.05",
        "0.08",
        "0.12",
        "0.16",
        "0.2",
        "0.25",
        "0.3",
        "0.4",
    ]
    env = dict(os.environ, MPESA_LAB_HOME=str(tmp_path / "home"))
    out = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_SCRIPT, *delays],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert lines["leaks"] == "[]", out.stdout
    # the test means something only if many interrupts really landed inside Lab.start()
    assert int(lines["interrupted_in_start"]) >= 4, out.stdout


def test_no_lab_servers_outlive_this_module():
    assert active_lab() is None
    assert not {"lab-listener", "lab-emulator"} & set(running_servers())


def test_pushing_the_same_amount_again_warns_that_it_will_be_17():
    from mpesa_lab.lab import LabWarning

    with Lab.start() as lab:
        assert lab.push("0708374149", 21, "LIFE", "life").wait(20).result_code == "0"
        with pytest.warns(LabWarning, match="ResultCode 17"):
            again = lab.push("0708374149", 21, "LIFE", "life")
        assert again.wait(20).result_code == "17"  # the warning told the truth
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", LabWarning)
            assert lab.push("0708374149", 22, "LIFE", "life").wait(20).result_code == "0"
