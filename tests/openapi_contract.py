"""Checking real HTTP traffic against the contract, docs/openapi.yaml (OpenAPI 3.1).

The emulator's answers, the callbacks it posts and the client's requests are checked with
openapi-core (status declared for the operation, media type declared, body valid against its
schema, security and parameters for requests); what the operations cannot name (an unknown path,
a wrong method) is checked against the document's reusable responses with the same JSON Schema
dialect. Every failure is an AssertionError that quotes the exchange and the contract's complaint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[1]
DOCS_CONTRACT = ROOT / "docs" / "openapi.yaml"
PACKAGED_CONTRACT = ROOT / "mpesa_lab" / "data" / "openapi.yaml"
_BASE = "urn:mpesa-lab:contract"


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """docs/openapi.yaml, parsed."""
    return yaml.safe_load(DOCS_CONTRACT.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def contract() -> OpenAPI:
    return OpenAPI.from_dict(document())


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource(_BASE, Resource.from_contents(document(), default_specification=DRAFT202012))


def schema_errors(pointer: str, value: Any) -> list[str]:
    """Why ``value`` does not fit the schema at ``pointer`` (e.g. ``/components/schemas/StkCallback``)."""
    validator = OAS31Validator({"$ref": f"{_BASE}#{pointer}"}, registry=_registry())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in validator.iter_errors(value)]


def _exchange(response: httpx.Response) -> str:
    request = response.request
    sent = request.content[:300].decode("utf-8", "replace")
    return (
        f"{request.method} {request.url.path}{'?' + request.url.query.decode() if request.url.query else ''} "
        f"{sent!r} -> HTTP {response.status_code} {response.headers.get('content-type')!r} "
        f"{response.content[:400].decode('utf-8', 'replace')!r}"
    )


def _mock_request(request: httpx.Request) -> MockRequest:
    url = request.url
    return MockRequest(
        f"{url.scheme}://{url.host}:{url.port}",
        request.method.lower(),
        url.path,
        args=dict(url.params),
        headers=dict(request.headers),
        data=request.content or None,
        content_type=request.headers.get("content-type", ""),
    )


def _declared(path: str, method: str, status: int) -> dict[str, Any]:
    responses = document()["paths"][path][method]["responses"]
    declared = responses.get(str(status)) or responses.get("default") or {}
    if "$ref" in declared:
        declared = document()["components"]["responses"][declared["$ref"].rsplit("/", 1)[-1]]
    return declared


def check_answer(response: httpx.Response) -> None:
    """``response`` (to a request on one of the contract's paths) is an answer the contract allows."""
    request = _mock_request(response.request)
    if not response.content:
        declared = _declared(request.path, request.method, response.status_code)
        assert declared.get("x-body-may-be-empty"), (
            f"an empty body is not in the contract for HTTP {response.status_code}: {_exchange(response)}"
        )
        return
    answer = MockResponse(
        response.content, status_code=response.status_code, content_type=response.headers.get("content-type", "")
    )
    try:
        contract().validate_response(request, answer)
    except Exception as exc:  # openapi-core's errors: the chained cause says which schema rule failed
        raise AssertionError(f"not in the contract: {_reason(exc)}\n  {_exchange(response)}") from None


def check_common_answer(response: httpx.Response, name: str) -> None:
    """``response`` fits the document's reusable response ``name`` (ResourceNotFound, MethodNotAllowed,
    WrongHostPage): the answers to paths and methods no operation names."""
    declared = document()["components"]["responses"][name]
    media = response.headers.get("content-type", "").split(";")[0].strip()
    assert media in declared["content"], f"{media!r} is not a media type of {name}: {_exchange(response)}"
    pointer = f"/components/responses/{name}/content/{media.replace('/', '~1')}/schema"
    body = response.json() if media == "application/json" else response.text  # a web page is text
    errors = schema_errors(pointer, body)
    assert not errors, f"not a {name} answer: {errors}\n  {_exchange(response)}"


def check_request(request: httpx.Request) -> None:
    """``request`` (as a client sent it) is one the contract describes: path, method, security,
    parameters and body."""
    try:
        contract().validate_request(_mock_request(request))
    except Exception as exc:
        body = request.content[:400].decode("utf-8", "replace")
        raise AssertionError(
            f"request not in the contract: {_reason(exc)}\n  {request.method} {request.url} {body!r}"
        ) from None


@dataclass
class WebhookCall:
    """A webhook request as openapi-core reads one (its WebhookRequest protocol)."""

    name: str
    body: bytes
    content_type: str = "application/json"
    method: str = "post"
    parameters: RequestParameters = field(default_factory=RequestParameters)


def check_callback(raw: bytes, content_type: str = "application/json") -> None:
    """``raw`` (a callback body as POSTed) is an stkCallback the contract's webhook describes."""
    try:
        contract().validate_request(WebhookCall("stkCallback", raw, content_type.split(";")[0].strip().lower()))
    except Exception as exc:
        raise AssertionError(f"callback not in the contract: {_reason(exc)}\n  {raw[:500]!r}") from None


def _reason(exc: BaseException) -> str:
    """openapi-core's error in a line: the schema's own complaints first (where in the body, and
    what is wrong), then the chain of errors that led there."""
    complaints: list[str] = []
    chain: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 4:
        for error in getattr(seen, "schema_errors", None) or ():
            where = "/".join(map(str, getattr(error, "absolute_path", ()))) or "(body)"
            complaints.append(f"{where}: {getattr(error, 'message', error)}")
        chain.append(type(seen).__name__)
        if not complaints and not getattr(seen, "schema_errors", None):
            chain[-1] += f" ({str(seen)[:300]})"
        seen = seen.__cause__
    if complaints:
        chain = [name.split(" (")[0] for name in chain]
    return "; ".join(complaints[:5]) + f" [{' <- '.join(chain)}]"
