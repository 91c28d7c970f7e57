"""The rehearsal that is the real day: 30 participants run the actual course notebooks against one room.

One workshop server (this process, as on the facilitator's laptop). Each simulated participant
is a process of its own with its own card file (``MPESA_LAB_ROOM``), its own ``MPESA_LAB_HOME``
and working folder, and runs the real course notebooks 00-07 in order with nbclient, each in a
fresh kernel (``JPY_SESSION_NAME`` set to the notebook, as Jupyter Server does). No notebook is
changed: the lessons join the room by themselves (``mpesa_lab.listener.room_report``). Four in
five participants run the solutions (their checks pass); every fifth runs the learner's copy
(its exercises stay "not yet"). ``--parallel`` participants run at once (2 cores: 2 or 3).

Mid-run the facilitator turns a room fault on (``delay``: callbacks 2 s late, 60 s) and
broadcasts a hint. Measured and checked:

- time per lesson: each notebook's wall time (kernel start included), median and p90;
- callbacks delivered: every participant's lesson stores, read after the run; each accepted push
  has its callback in the same store (except the one 05 drops on purpose), no store holds a
  callback of a push it did not make, and the room counted exactly the callbacks the stores hold;
- the page: each participant's lessons as the facilitator's API shows them at the end (the
  room view per exercise), who the fault reached, who showed the hint;
- page update latency: a probe participant reports a fresh exercise every second through the
  same reporter the notebooks use; the time until the facilitator's API (what the page polls,
  once a second) shows it, p50 / p99; and the API's own answer time under the load.

    python bench/bench_rehearsal.py                          # 30 participants, notebooks 00-07
    python bench/bench_rehearsal.py --participants 4 --notebooks 00,04 --parallel 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "bench_rehearsal.json"
NOTEBOOKS = ROOT / "notebooks"
COURSE = ("00", "01", "02", "03", "04", "05", "06", "07")
HINT_MARK = "mpesa-lab-room-hint"
HINT_TEXT = "Rehearsal hint: a late callback is not a lost one; query it"


# ---- one participant (a process of its own) ---------------------------------------------------


def participant_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the notebooks of one participant in order; what each took and what it showed."""
    import nbformat
    from nbclient import NotebookClient

    os.environ.update(spec["env"])
    work = Path(spec["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    lessons = []
    for path in spec["notebooks"]:
        nb = nbformat.read(path, as_version=4)
        os.environ["JPY_SESSION_NAME"] = str(path)  # Jupyter Server names the kernel's notebook so
        started, wall = time.perf_counter(), time.time()
        error = None
        try:
            NotebookClient(
                nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(work)}}
            ).execute()
        except Exception as exc:  # a failing cell: recorded, the participant goes on to the next lesson
            error = f"{type(exc).__name__}: {str(exc)[-300:]}"
        outputs = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
        lessons.append(
            {
                "notebook": Path(path).name,
                "seconds": time.perf_counter() - started,
                "started": wall,
                "ended": time.time(),
                "error": error,
                "hint_shown": HINT_MARK in outputs and HINT_TEXT[:30] in outputs,
                "fault_shown": "Room fault" in outputs,
            }
        )
    return {"participant": spec["participant"], "lessons": lessons}


# ---- the stores, after the run -------------------------------------------------------------------


def read_stores(home: Path) -> dict[str, Any]:
    """What a participant's lesson stores hold: pushes accepted, callbacks, and who they belong to."""
    from mpesa_lab.store import CallbackStore

    totals = {"pushes": 0, "pushes_accepted": 0, "callbacks": 0, "without_callback": 0, "no_push": 0, "quarantined": 0}
    for path in sorted((home / "course").glob("*.sqlite")):
        store = CallbackStore(path)
        try:
            pushes = store.pushes()
            deliveries = store.deliveries()
        finally:
            store.close()
        cids = set(pushes["checkout_request_id"].dropna()) if len(pushes) else set()
        accepted = deliveries[deliveries["outcome"] == "accepted"] if len(deliveries) else deliveries
        firsts = accepted[~accepted["duplicate"]] if len(accepted) else accepted
        got = set(firsts["checkout_request_id"].dropna()) if len(firsts) else set()
        totals["pushes"] += len(pushes)
        totals["pushes_accepted"] += len(cids)
        totals["callbacks"] += len(firsts)
        totals["without_callback"] += len(cids - got)
        totals["no_push"] += int(firsts["unknown"].sum()) if len(firsts) else 0
        totals["quarantined"] += int((deliveries["outcome"] == "quarantined").sum()) if len(deliveries) else 0
    return totals


# ---- the room --------------------------------------------------------------------------------------


def _card(folder: Path, creds: dict[str, str]) -> Path:
    card = folder / "card.env"
    card.write_text(
        f"MPESA_ENV=workshop\nMPESA_BASE_URL={creds['base_url']}\nMPESA_CONSUMER_KEY={creds['consumer_key']}\n"
        f"MPESA_CONSUMER_SECRET={creds['consumer_secret']}\nMPESA_SHORTCODE={creds['shortcode']}\n"
        f"MPESA_PASSKEY={creds['passkey']}\n"
    )
    return card


class PageProbe:
    """A probe participant's reports and the facilitator's API, measured while the room runs."""

    def __init__(self, server: Any, card: Path, pid: str) -> None:
        import httpx

        from mpesa_lab.listener.room_report import RoomReporter, read_card

        self.server, self.pid = server, pid
        self.reporter = RoomReporter(read_card(card), heartbeat=1.0)
        self.reporter.set_lesson("99-probe")
        token = server.room.roster.facilitator_token.reveal()
        self.http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.latencies: list[float] = []
        self.api_seconds: list[float] = []
        self.timeline: list[dict[str, Any]] = []  # (time, lessons in progress) for the report
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def room(self) -> dict[str, Any]:
        started = time.perf_counter()
        answer = self.http.get("/_workshop/api/room")
        self.api_seconds.append(time.perf_counter() - started)
        return answer.json()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            status = "passed" if n % 2 else "failed"  # one exercise, its verdict flipping each time
            sent = time.perf_counter()
            self.reporter.note("check", exercise="probe", status=status)
            seen = False
            while not seen and time.perf_counter() - sent < 10 and not self._stop.is_set():
                room = self.room()
                me = next(p for p in room["participants"] if p["id"] == self.pid)
                seen = any(x["exercise"] == "probe" and x["status"] == status for x in me["lesson_exercises"])
                if not seen:
                    time.sleep(0.05)
            if seen:
                self.latencies.append(time.perf_counter() - sent)
            if n % 5 == 0:
                self.timeline.append(
                    {"t": time.time(), "lessons": [p["lesson"] for p in room["participants"] if p["id"] != self.pid]}
                )
            self._stop.wait(1.0)

    def start(self) -> PageProbe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(15)
        self.reporter.stop()
        self.http.close()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rehearse(
    participants: int = 30,
    notebooks: tuple[str, ...] = COURSE,
    parallel: int = 2,
    fault_after: float | None = None,
    fault_seconds: float = 60.0,
    folder: Path | None = None,
) -> dict[str, Any]:
    """Run the rehearsal; the room's numbers and the checks' results (see the module's docstring)."""
    from mpesa_lab.workshop import WorkshopServer

    folder = Path(folder or tempfile.mkdtemp(prefix="mpesa-rehearsal-"))
    paths = {n: sorted(NOTEBOOKS.glob(f"{n}-*.ipynb"))[0] for n in notebooks}
    solutions = {n: NOTEBOOKS / "solutions" / paths[n].name for n in notebooks}
    server = WorkshopServer(folder / "room", participants=participants + 1, title="Rehearsal", name="rehearsal").start()
    specs = []
    for i in range(1, participants + 1):
        pid = f"p{i:02d}"
        own = folder / pid
        own.mkdir(parents=True, exist_ok=True)
        learner = i % 5 == 0
        specs.append(
            {
                "participant": pid,
                "workdir": str(own / "work"),
                "learner": learner,
                "notebooks": [str(paths[n] if learner else solutions[n]) for n in notebooks],
                "env": {
                    "MPESA_LAB_ROOM": str(_card(own, server.credentials(pid))),
                    "MPESA_LAB_HOME": str(own / "home"),
                    "MPESA_LAB_STRICT_CHECKS": "0",
                },
            }
        )
    probe_pid = f"p{participants + 1:02d}"
    (folder / "probe").mkdir(exist_ok=True)
    probe = PageProbe(server, _card(folder / "probe", server.credentials(probe_pid)), probe_pid).start()
    results: list[dict[str, Any]] = []
    fault_info: dict[str, Any] = {}
    started = time.time()

    def one(spec: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, __file__, "--participant-spec", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if done.returncode != 0:
            return {"participant": spec["participant"], "lessons": [], "error": done.stderr[-1500:]}
        return json.loads(done.stdout.strip().splitlines()[-1])

    def fault_later() -> None:
        if fault_after is None:
            return
        time.sleep(fault_after)
        fault_info["on"] = time.time()
        server.room.start_fault("delay", fault_seconds, delay=2.0)
        server.room.broadcast(HINT_TEXT)
        fault_info["off"] = time.time() + fault_seconds

    timer = threading.Thread(target=fault_later, daemon=True)
    timer.start()
    try:
        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(one, specs))
        wall = time.time() - started
        time.sleep(2)  # the last reports (a heartbeat) reach the room
        room = probe.room()
    finally:
        probe.stop()
        server.stop()

    by_id = {p["id"]: p for p in room["participants"]}
    people = []
    for spec, result in zip(specs, results, strict=True):
        stores = read_stores(Path(spec["env"]["MPESA_LAB_HOME"]))
        page = by_id[spec["participant"]]
        room_callbacks = sum(page["results"].values())
        on, off = fault_info.get("on"), fault_info.get("off")
        ran_in_fault = on is not None and any(
            lesson["started"] < off and lesson["ended"] > on for lesson in result["lessons"]
        )
        people.append(
            {
                "participant": spec["participant"],
                "learner_copy": spec["learner"],
                "lessons": result["lessons"],
                "error": result.get("error"),
                "stores": stores,
                "room_callbacks": room_callbacks,
                "room_pushes": page["pushes"],
                "room_accepted": page["accepted"],
                "callbacks_match": room_callbacks == stores["callbacks"],
                "pushes_match": page["pushes"] == stores["pushes"],
                "lessons_on_page": sorted({x for x in page.get("lessons_done", [])}),
                "ran_during_fault": ran_in_fault,
                "fault_hit": "delay" in page["faults_hit"],
                "hint_shown": any(lesson["hint_shown"] for lesson in result["lessons"]),
            }
        )
    per_lesson: dict[str, list[float]] = {}
    for person in people:
        for lesson in person["lessons"]:
            per_lesson.setdefault(lesson["notebook"], []).append(lesson["seconds"])
    exercises = room["exercises"]
    return {
        "participants": participants,
        "notebooks": list(notebooks),
        "parallel": parallel,
        "wall_seconds": round(wall, 1),
        "load_average": os.getloadavg()[0],
        "time_per_lesson": {
            name: {"median": round(statistics.median(s), 2), "p90": round(_pct(s, 0.9) or 0, 2), "runs": len(s)}
            for name, s in sorted(per_lesson.items())
        },
        "failing_notebooks": [
            (p["participant"], lesson["notebook"], lesson["error"])
            for p in people
            for lesson in p["lessons"]
            if lesson["error"]
        ]
        + [(p["participant"], None, p["error"]) for p in people if p["error"]],
        "callbacks": {
            "pushes_accepted": sum(p["stores"]["pushes_accepted"] for p in people),
            "callbacks_stored": sum(p["stores"]["callbacks"] for p in people),
            "pushes_without_callback": sum(p["stores"]["without_callback"] for p in people),
            # a callback whose push is in no store of this participant: 03 pushes once by hand
            # (httpx, no Lab.push), so its callback has no push row; each lab has its own
            # emulator and listener, so no callback can reach another participant's store
            "callbacks_without_a_push_in_the_store": sum(p["stores"]["no_push"] for p in people),
            "quarantined": sum(p["stores"]["quarantined"] for p in people),
            "room_counted": sum(p["room_callbacks"] for p in people),
            "participants_whose_room_count_matches_their_stores": sum(p["callbacks_match"] for p in people),
            "room_counted_pushes": sum(p["room_pushes"] for p in people),
            "pushes_in_stores": sum(p["stores"]["pushes"] for p in people),
            "participants_whose_room_push_count_matches_their_stores": sum(p["pushes_match"] for p in people),
        },
        "fault": {
            "kind": "delay (2 s)" if fault_info else None,
            "ran_during_fault": sum(p["ran_during_fault"] for p in people),
            "hit": sum(p["fault_hit"] for p in people),
            "hit_but_not_running": sum(p["fault_hit"] and not p["ran_during_fault"] for p in people),
            "hint_shown_in_a_notebook": sum(p["hint_shown"] for p in people),
        },
        "page": {
            "report_to_api_latency_p50_s": _pct(probe.latencies, 0.5),
            "report_to_api_latency_p99_s": _pct(probe.latencies, 0.99),
            "samples": len(probe.latencies),
            "api_room_answer_p50_s": _pct(probe.api_seconds, 0.5),
            "api_room_answer_p99_s": _pct(probe.api_seconds, 0.99),
            "page_polls_every_s": 1.0,
            "lessons_in_progress_over_time": probe.timeline,
        },
        "exercise_view": exercises,
        "people": people,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=30)
    parser.add_argument("--notebooks", default=",".join(COURSE), help="lesson numbers, e.g. 00,04")
    parser.add_argument("--parallel", type=int, default=2, help="participants running at once")
    parser.add_argument("--fault-after", type=float, default=None, help="seconds into the run (default: a third)")
    parser.add_argument("--participant-spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.participant_spec:
        print(json.dumps(participant_main(json.loads(args.participant_spec))))
        return 0
    notebooks = tuple(n.strip() for n in args.notebooks.split(",") if n.strip())
    # A third of the way in (estimated at ~6 s a notebook per participant and --parallel at once).
    fault_after = (
        args.fault_after if args.fault_after is not None else args.participants * len(notebooks) * 6 / args.parallel / 3
    )
    result = rehearse(args.participants, notebooks, args.parallel, fault_after)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    short = {k: v for k, v in result.items() if k not in ("people", "exercise_view")}
    short["page"] = {k: v for k, v in result["page"].items() if k != "lessons_in_progress_over_time"}
    print(json.dumps(short, indent=2, default=str))
    print(f"full result: {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
