"""The machine-readable contract of M-Pesa Express, served by the emulator.

``docs/openapi.yaml`` (OpenAPI 3.1: OAuth, STK push, STK query and the stkCallback webhook, with
what live Daraja does beyond its doc page) ships in the package as ``mpesa_lab/data/openapi.yaml``
and is served, byte for byte, at ``/_lab/openapi.yaml``, and as JSON at ``/_lab/openapi.json``, so
a team can point a client generator or a validator at a running emulator. Both paths live under
``/_lab`` (Daraja has no such path) and need no control token: the document holds no secret. They
answer 404 like the rest of ``/_lab`` when the config's ``control_api`` is off.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mpesa_lab.emulator.errors import EnvelopeError

if TYPE_CHECKING:
    from mpesa_lab.emulator.state import EmulatorState

CONTRACT_FILE = "openapi.yaml"
CONTRACT_YAML_PATH = "/_lab/openapi.yaml"
CONTRACT_JSON_PATH = "/_lab/openapi.json"
YAML_MEDIA_TYPE = "application/yaml"  # RFC 9512


@lru_cache(maxsize=1)
def contract_yaml() -> bytes:
    """The contract as shipped (the same bytes as docs/openapi.yaml)."""
    return resources.files("mpesa_lab.data").joinpath(CONTRACT_FILE).read_bytes()


@lru_cache(maxsize=1)
def contract_json() -> bytes:
    """The contract as JSON (the same document; some tools read only JSON)."""
    import yaml  # only when someone asks for the JSON form

    document = yaml.safe_load(contract_yaml())
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def contract_routes(state: EmulatorState) -> list[Route]:
    """GET (and HEAD) /_lab/openapi.yaml and /_lab/openapi.json."""

    def serve(body: Callable[[], bytes], media_type: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not state.config.control_api:
                raise EnvelopeError.named("resource_not_found")
            return Response(body(), media_type=media_type)

        return endpoint

    return [
        Route(CONTRACT_YAML_PATH, serve(contract_yaml, YAML_MEDIA_TYPE), methods=["GET"]),
        Route(CONTRACT_JSON_PATH, serve(contract_json, "application/json"), methods=["GET"]),
    ]
