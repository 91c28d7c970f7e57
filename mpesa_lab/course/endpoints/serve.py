"""Run an endpoint in the background (a notebook, a test): ASGI on uvicorn, WSGI on wsgiref.
One thread each, a free loopback port, ``stop()`` to end it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


@dataclass
class ServedEndpoint:
    """An endpoint being served: its base URL (``url + "/mpesa/callback"`` is the CallBackURL)."""

    url: str
    stop: Any

    @property
    def callback_url(self) -> str:
        return self.url + "/mpesa/callback"

    @property
    def readback_url(self) -> str:
        return self.url + "/orders"


def serve_asgi(app: Any, name: str = "lesson-10-endpoint") -> ServedEndpoint:
    """A FastAPI (any ASGI) app on uvicorn in a daemon thread (re-running replaces, never duplicates)."""
    from mpesa_lab.background import BackgroundServer

    server = BackgroundServer(app, name=name).start()
    return ServedEndpoint(server.url, server.stop)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - wsgiref's name
        pass  # no access log in the notebook's output


class _ThreadingWSGIServer(WSGIServer):
    """wsgiref's server, one thread per request (Daraja may post two callbacks at once)."""

    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._handle, args=(request, client_address), daemon=True).start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def serve_wsgi(app: Any, *, server_name: str = "wsgiref") -> ServedEndpoint:
    """A Flask or Django (any WSGI) app on a free loopback port, in a daemon thread: on the
    standard library's wsgiref, or on werkzeug's server (``server_name="werkzeug"``, Flask's own)."""
    server: Any
    if server_name == "werkzeug":
        from werkzeug.serving import make_server as werkzeug_server

        server = werkzeug_server("127.0.0.1", 0, app, threaded=True)
    else:
        server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return ServedEndpoint(f"http://127.0.0.1:{server.server_port}", stop)
