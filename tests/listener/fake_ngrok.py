"""A stand-in for the ngrok agent, enough for pyngrok: offline tests of the tunnel code.

pyngrok runs ``ngrok start --none --log stdout [--config F] [--authtoken T]`` (the real agent
also reads NGROK_AUTHTOKEN from its environment, as this one does), reads the log for
"starting web service" (addr=...), "tunnel session started" and "client session established",
probes the agent's local API, then POSTs /api/endpoints to open a tunnel. Modes:

ok       behave like a healthy agent; the tunnel's public URL is https://abcd.ngrok-free.app
exit     log an error and exit at once
badauth  log ngrok's authentication failure (ERR_NGROK_105) and exit
hang     start the web service but never connect (pyngrok would wait forever)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PUBLIC_URL = "https://abcd.ngrok-free.app"


def log(line: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime())
    sys.stdout.write(f"t={stamp} {line}\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--record", required=True)
    parser.add_argument("command", nargs="?")
    parser.add_argument("--none", action="store_true")
    parser.add_argument("--log")
    parser.add_argument("--config")
    parser.add_argument("--authtoken")
    parser.add_argument("--region")
    args = parser.parse_args()

    def record(event: dict) -> None:
        with open(args.record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")

    record(
        {
            "event": "started",
            "pid": os.getpid(),
            "argv": sys.argv[1:],
            "authtoken_given": bool(args.authtoken or os.environ.get("NGROK_AUTHTOKEN")),
            "authtoken_on_command_line": args.authtoken is not None,
        }
    )

    if args.mode == "exit":
        log('lvl=eror msg="failed to start the agent" err="fake agent told to fail"')
        return 1
    if args.mode == "badauth":
        log(
            'lvl=eror msg="session closing" obj=tunnels.session err="authentication failed: The '
            'authtoken you specified does not look like a proper ngrok authtoken. ERR_NGROK_105"'
        )
        return 1

    endpoints: dict[str, dict] = {}

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep stdout for the agent's log
            pass

        def _send(self, status: int, payload: dict | None) -> None:
            body = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path in ("/api/endpoints", "/api/tunnels"):
                self._send(200, {"endpoints": list(endpoints.values()), "uri": self.path})
            else:
                self._send(404, {"error_code": 100, "msg": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            options = json.loads(self.rfile.read(length) or b"{}")
            record({"event": "create", "options": options})
            name = options.get("name", "tunnel")
            endpoint = {
                "id": f"ep_{len(endpoints) + 1}",
                "name": name,
                "uri": f"/api/endpoints/{name}",
                "url": PUBLIC_URL,
                "upstream": options.get("upstream", {}),
            }
            endpoints[name] = endpoint
            self._send(201, endpoint)

        def do_DELETE(self) -> None:
            name = self.path.rsplit("/", 1)[-1]
            record({"event": "delete", "name": name})
            endpoints.pop(name, None)
            self._send(204, None)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    log('lvl=info msg="no configuration paths supplied"')
    log(f'lvl=info msg="starting web service" obj=web addr={host}:{port} allow_hosts=[]')
    if args.mode == "hang":
        while True:
            time.sleep(3600)
    log('lvl=info msg="tunnel session started" obj=tunnels.session')
    log('lvl=info msg="client session established" obj=csess id=fake')
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
