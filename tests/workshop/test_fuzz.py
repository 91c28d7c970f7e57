"""Property: whatever reaches the workshop server (any route, method, credentials, headers, query,
body: valid-looking, random JSON, deep, large, binary, badly encoded), the answer is a 4xx/2xx with
one JSON line, or a Daraja error Daraja itself would give; nothing is logged with a traceback;
and afterwards the room still works for an honest participant."""

from __future__ import annotations

import base64
import json
import logging
import string
import time
from collections import Counter
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.emulator import EmulatorConfig
from mpesa_lab.workshop import WorkshopServer

from .conftest import Participant

EXAMPLES = 1650  # about 75 per route
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# route name -> (path template ({inbox}, {cid}, {random}: filled per example), its method, its credentials)
ROUTES = {
    "oauth": (OAUTH_PATH, "GET", "basic"),
    "stk_push": (STK_PUSH_PATH, "POST", "bearer"),
    "stk_query": (STK_QUERY_PATH, "POST", "bearer"),
    "lab": ("/_lab/", "GET", "bearer"),
    "lab_transactions": ("/_lab/transactions", "GET", "bearer"),
    "lab_transaction": ("/_lab/transactions/{cid}", "GET", "basic"),
    "lab_answer": ("/_lab/transactions/{cid}/answer", "POST", "bearer"),
    "lab_next_result": ("/_lab/next-result", "POST", "bearer"),
    "lab_reset": ("/_lab/reset", "POST", "facilitator"),
    "inbox": ("/_workshop/inbox/{inbox}", "POST", "none"),
    "page": ("/_workshop/", "GET", "facilitator"),
    "api_room": ("/_workshop/api/room", "GET", "facilitator"),
    "api_faults": ("/_workshop/api/faults", "POST", "facilitator"),
    "api_reset": ("/_workshop/api/reset", "POST", "facilitator"),
    "api_participants": ("/_workshop/api/participants", "POST", "facilitator"),
    "hello": ("/_workshop/relay/hello", "POST", "basic"),
    "pull": ("/_workshop/relay/pull", "GET", "basic"),
    "ack": ("/_workshop/relay/ack", "POST", "basic"),
    "progress": ("/_workshop/progress", "POST", "bearer"),
    "course": ("/_workshop/course", "POST", "basic"),
    "api_hints": ("/_workshop/api/hints", "POST", "facilitator"),
    "random": ("/{random}", "POST", "none"),
}
OUR_ROUTES = {
    "inbox",
    "page",
    "api_room",
    "api_faults",
    "api_reset",
    "api_participants",
    "hello",
    "pull",
    "ack",
    "progress",
    "course",
    "api_hints",
    "random",
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["\ud800", "busy", "drop", "p01", "09.3", "http://127.0.0.1:1/"]),
)
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "kind",
                    "seconds",
                    "delay",
                    "ids",
                    "exercise",
                    "direct_url",
                    "health_url",
                    "pin",
                    "cancel",
                    "Body",
                    "stkCallback",
                    "ResultCode",
                    "CheckoutRequestID",
                    "x",
                    "lesson",
                    "events",
                    "since",
                    "status",
                    "text",
                ]
            )
            | st.text(max_size=6),
            kids,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "json", "json", "empty", "deep", "big", "bytes", "latin1", "callback"]))
    if kind == "json":
        return json.dumps(draw(values), allow_nan=True).encode("utf-8", "surrogatepass")
    if kind == "empty":
        return b""
    if kind == "deep":
        depth = draw(st.integers(33, 200_000))
        return draw(st.sampled_from([b"[", b'{"a":'])) * depth
    if kind == "big":
        return b'{"name": "' + b"x" * draw(st.integers(10_000, 300_000)) + b'"}'
    if kind == "latin1":
        return json.dumps({"name": draw(st.text(max_size=20))}, ensure_ascii=False).encode("latin-1", "replace")
    if kind == "callback":
        code = draw(st.one_of(st.integers(0, 3000), st.text(max_size=40), values))
        return json.dumps(
            {
                "Body": {
                    "stkCallback": {
                        "CheckoutRequestID": draw(st.text(max_size=30)),
                        "ResultCode": code,
                        "ResultDesc": draw(st.text(max_size=50)),
                    }
                }
            },
            allow_nan=True,
        ).encode("utf-8", "surrogatepass")
    return draw(st.binary(max_size=2000))


@st.composite
def requests_(draw: st.DrawFn) -> dict[str, Any]:
    route = draw(st.sampled_from(sorted(ROUTES)))
    _, method, auth = ROUTES[route]
    # Mostly the route's own method and credentials (so bodies reach the handlers), else anything.
    if draw(st.integers(0, 3)) == 0:
        method = draw(st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
    if draw(st.integers(0, 3)) == 0:
        auth = draw(st.sampled_from(["none", "basic", "bearer", "facilitator", "other_basic", "garbage"]))
    query = draw(
        st.dictionaries(
            st.sampled_from(["wait", "max", "ack", "kind", "participant", "token", "grant_type", "x"]),
            st.sampled_from(
                ["0", "0.01", "-1", "nan", "inf", "1e999", "1,2,x", "9" * 30, "p01", "", "busy", "client_credentials"]
            ),
            max_size=3,
        )
    )
    if route == "pull":
        query.setdefault("wait", "0")  # never a 30 s long poll in a fuzz run
        if query["wait"] not in ("0", "0.01", "-1", "nan"):
            query["wait"] = "0"
    return {
        "route": route,
        "method": method,
        "query": query,
        "auth": auth,
        "inbox": draw(st.sampled_from(["own", "own", "wrong", "empty"])),
        "cid": draw(st.text(alphabet=string.ascii_letters + string.digits + "_-%.", min_size=1, max_size=40)),
        "random": draw(st.text(alphabet=string.ascii_letters + string.digits + "-._~/%", max_size=40)),
        "ctype": draw(st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1", None])),
        "encoding": draw(st.sampled_from([None, None, "gzip", "identity"])),
        "forwarded": draw(st.booleans()),
        "ua": draw(st.sampled_from([None, "mpesa-lab-workshop-delivery", "curl/8"])),
        "body": draw(bodies()),
    }


def test_any_request_to_any_workshop_route_gets_a_clear_answer(tmp_path, caplog):
    server = WorkshopServer(
        tmp_path / "room", participants=3, config=EmulatorConfig(seed=3), name="workshop-fuzz"
    ).start()
    p1, p2 = Participant(server, "p01"), Participant(server, "p02")
    http = httpx.Client(base_url=server.url, timeout=30, trust_env=False)
    auths = {
        "none": {},
        "basic": p1.basic,
        "bearer": p1.bearer,
        "other_basic": p2.basic,
        "facilitator": {"Authorization": f"Bearer {server.facilitator_token}"},
        "garbage": {"Authorization": "Basic " + base64.b64encode(b"\xff:\x00").decode()},
    }
    own_inbox = server.room.desk("p01").participant.inbox_token.reveal()
    per_route: Counter = Counter()
    statuses: Counter = Counter()

    @SETTINGS
    @given(requests_())
    def run(req: dict[str, Any]) -> None:
        inbox = {"own": own_inbox, "wrong": "not-a-token", "empty": ""}[req["inbox"]]
        path = ROUTES[req["route"]][0].format(inbox=inbox, cid=req["cid"], random=req["random"])
        headers = dict(auths[req["auth"]])
        if req["ctype"]:
            headers["content-type"] = req["ctype"]
        if req["encoding"]:
            headers["content-encoding"] = req["encoding"]
        if req["forwarded"]:
            headers["x-forwarded-for"] = "10.1.2.3"
        if req["ua"]:
            headers["user-agent"] = req["ua"]
        response = http.request(req["method"], path, params=req["query"], headers=headers, content=req["body"])
        per_route[req["route"]] += 1
        statuses[response.status_code] += 1
        assert "Traceback" not in response.text
        status = response.status_code
        if req["route"] in OUR_ROUTES:
            # the inbox's "not kept" answers (mailbox full, loop, rate) are the only 5xx of our own
            assert status < 500 or (req["route"] == "inbox" and status in (503, 508)), (path, status, response.text)
        if req["method"] == "HEAD" or not response.content:
            return
        if req["route"] == "page" and status == 200:
            assert response.headers["content-type"].startswith("text/html")
            return
        payload = response.json()
        assert isinstance(payload, dict)
        if status >= 400 and "errorMessage" in payload:
            assert "\n" not in payload["errorMessage"] and len(payload["errorMessage"]) < 400, payload
            assert payload["errorCode"] != "500.003.1001" or "254709531001" in req["body"].decode("latin-1")

    with caplog.at_level(logging.WARNING):
        try:
            run()
        finally:
            http.close()
    try:
        print("fuzz examples per route:", dict(sorted(per_route.items())), "statuses:", dict(sorted(statuses.items())))
        assert sum(per_route.values()) >= EXAMPLES and min(per_route[r] for r in ROUTES) >= 30, per_route
        assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
        # still healthy: an honest participant pushes and their callback reaches their mailbox
        server.stop_fault()
        honest = Participant(server, "p03")
        token = server.room.desk("p03").participant.inbox_token.reveal()
        accepted = honest.push(CallBackURL=f"{server.url}/_workshop/inbox/{token}")
        assert accepted.status_code == 200, accepted.text
        desk = server.room.desk("p03")
        deadline = time.monotonic() + 15
        while desk.mailbox.counts["received"] < 1:
            assert time.monotonic() < deadline, "no callback reached the mailbox after the fuzz run"
            time.sleep(0.05)
        room = httpx.get(f"{server.url}/_workshop/api/room", headers=auths["facilitator"], timeout=10)
        assert room.status_code == 200 and len(room.content) < 200_000
        honest.close()
    finally:
        p1.close()
        p2.close()
        server.stop()
