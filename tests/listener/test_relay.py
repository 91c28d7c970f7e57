"""The participant's side of workshop mode is merchant side: it joins a workshop server over HTTP
only, without importing the emulator or the workshop server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mpesa_lab.workshop import WorkshopServer

PARTICIPANT = r"""
import json, os, sys
from mpesa_lab.lab import Lab
creds = json.loads(os.environ["CARD"])
with Lab.start("workshop", store=sys.argv[1], env_file=None, **creds) as lab:
    callback = lab.push("254711000400", 40).wait(20)
    print(json.dumps({"code": callback.result_code, "delivery": lab.workshop.delivery,
                      "loaded": sorted(m for m in sys.modules if m.startswith(("mpesa_lab.emulator", "mpesa_lab.workshop")))}))
"""


def test_a_participant_process_joins_over_http_only(tmp_path):
    server = WorkshopServer(tmp_path / "room", participants=1, name="workshop-import-test").start()
    try:
        env = dict(os.environ, CARD=json.dumps(server.credentials("p01")))
        done = subprocess.run(
            [sys.executable, "-c", PARTICIPANT, str(tmp_path / "me.sqlite")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["code"] is not None and out["delivery"] == "direct"
        assert out["loaded"] == []
    finally:
        server.stop()
