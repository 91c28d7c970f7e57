"""Deferred imports are safe under threads (issue 19 item 1).

A module sits in sys.modules from the moment its import starts; a lazy import that hands it out
from there gives a thread a half-initialised module. The bug shows only on a module's *first*
import, so every check runs in a fresh interpreter, several times, with the threads released
together by a barrier.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROUNDS = 4


def run_fresh(code: str, *, timeout: float = 120.0) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON line, which is returned."""
    env = {**os.environ, "MPESA_LAB_HOME": os.environ.get("MPESA_LAB_HOME", "")}
    if not env["MPESA_LAB_HOME"]:
        env.pop("MPESA_LAB_HOME")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


FIRST_USE_16_THREADS = """
import json, threading
from mpesa_lab._lazy import import_on_first_use

barrier = threading.Barrier(16)
errors = []

def first_use(index):
    barrier.wait()
    try:
        if index % 2:
            phonenumbers = import_on_first_use("phonenumbers")
            carrier = import_on_first_use("phonenumbers.carrier")
            # Names bound late in the modules' bodies: missing while the import still runs.
            phonenumbers.PhoneNumberType.MOBILE, phonenumbers.parse, carrier.name_for_number
        else:
            uvicorn = import_on_first_use("uvicorn")
            uvicorn.Config, uvicorn.Server
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")

threads = [threading.Thread(target=first_use, args=(i,)) for i in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"errors": errors}))
"""


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_sixteen_threads_first_use_get_whole_modules(round_):
    out = run_fresh(FIRST_USE_16_THREADS)
    assert out["errors"] == []


NORMALIZE_16_THREADS = """
import json, threading
from mpesa_lab.daraja.requests import normalize_phone

barrier = threading.Barrier(16)
results, errors = [], []

def check(index):
    barrier.wait()
    try:
        results.append(normalize_phone("0708374149"))
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")

threads = [threading.Thread(target=check, args=(i,)) for i in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"results": sorted(set(results)), "errors": errors}))
"""


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_sixteen_threads_normalize_their_first_phone(round_):
    out = run_fresh(NORMALIZE_16_THREADS)
    assert out == {"results": ["254708374149"], "errors": []}


CLIENT_16_THREADS = """
import json, threading
from concurrent.futures import ThreadPoolExecutor
from mpesa_lab.config import Settings
from mpesa_lab.daraja.client import DarajaClient
from mpesa_lab.emulator import Emulator, EmulatorConfig

emu = Emulator(EmulatorConfig(callback_faults=("drop",), enforce_duplicate_rule=False),
               name="lazy-threads").start()
try:
    client = DarajaClient(Settings.local(base_url=emu.url, callback_url="http://127.0.0.1:9/cb"))
    barrier = threading.Barrier(16)

    def push(index):
        if index < 16:
            barrier.wait()
        try:
            return client.stk_push(f"0712{index:06d}", 1, f"order-{index}").checkout_request_id
        except Exception as exc:
            return f"ERROR {type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(push, range(64)))
    client.close()
finally:
    emu.stop()
errors = [a for a in answers if a.startswith("ERROR")]
print(json.dumps({"ok": len(answers) - len(errors), "errors": errors[:5]}))
"""


@pytest.mark.parametrize("round_", range(2))
def test_client_pushing_from_sixteen_threads_loses_none_of_its_first_64(round_):
    out = run_fresh(CLIENT_16_THREADS)
    assert out == {"ok": 64, "errors": []}


EIGHT_LISTENERS = """
import json, tempfile, threading
from mpesa_lab.listener.server import Listener

folder = tempfile.mkdtemp()
barrier = threading.Barrier(8)
started, errors = [], []

def start(index):
    listener = Listener(f"{folder}/store-{index}.sqlite", name=f"lazy-{index}")
    barrier.wait()
    try:
        listener.start()
        started.append(listener)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")

threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
import httpx
answers = [httpx.get(listener.url + "/", timeout=5).status_code for listener in started]
for listener in started:
    listener.stop()
print(json.dumps({"started": len(started), "answered": len(answers), "errors": errors}))
"""


@pytest.mark.parametrize("round_", range(3))
def test_eight_listeners_started_at_once_all_start(round_):
    out = run_fresh(EIGHT_LISTENERS)
    assert out == {"started": 8, "answered": 8, "errors": []}


REHEARSAL = """
import json
from mpesa_lab.workshop import simulate
sim = simulate(participants=5)
try:
    results = sim.push_all(2, wait=20)
    failed = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, Exception)]
    answered = 0
    for push in results:
        if not isinstance(push, Exception):
            push.wait(1)  # already in: push_all waited
            answered += 1
finally:
    sim.stop()
print(json.dumps({"pushes": len(results), "answered": answered, "failed": failed[:3]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(2))
def test_workshop_rehearsal_example_succeeds_in_a_fresh_process(round_):
    """docs/workshop.md's rehearsal example: every push of every participant is answered."""
    out = run_fresh(REHEARSAL, timeout=180)
    assert out == {"pushes": 10, "answered": 10, "failed": []}
