"""The contract (docs/openapi.yaml): valid OpenAPI 3.1, consistent with itself and with the
catalogue, shipped in the package, and served by the emulator byte for byte.

What conforms to it is checked elsewhere: the emulator's answers (test_contract_answers.py), its
callbacks (test_contract_callbacks.py) and the client's requests (tests/daraja/test_contract_requests.py).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from mpesa_lab import codes
from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH
from mpesa_lab.emulator import Emulator
from mpesa_lab.emulator.cli import banner
from mpesa_lab.emulator.control import require_token
from tests.openapi_contract import DOCS_CONTRACT, PACKAGED_CONTRACT, ROOT, document, schema_errors

from .conftest import Daraja, assert_envelope


def test_the_contract_is_valid_openapi_3_1() -> None:
    doc = document()
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"]), doc["openapi"]
    validate(doc)  # openapi-spec-validator: the 3.1 meta-schema, every $ref resolved
    json.dumps(doc)  # and nothing YAML-only (dates, sets): the JSON form must exist


def test_the_contract_describes_daraja_s_three_paths_and_the_callback() -> None:
    doc = document()
    assert set(doc["paths"]) == {OAUTH_PATH, STK_PUSH_PATH, STK_QUERY_PATH}
    assert set(doc["webhooks"]) == {"stkCallback"}


def _examples() -> Iterator[tuple[str, str, Any]]:
    """(where, schema pointer, example value) for every example of a media type in the document."""

    def media_examples(where: str, pointer: str, content: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
        for media, body in content.items():
            escaped = media.replace("/", "~1")
            for name, example in (body.get("examples") or {}).items():
                value = example["value"]
                if isinstance(value, str) and value.startswith("<"):
                    continue  # a placeholder the reader fills in
                yield f"{where} {media} {name}", f"{pointer}/content/{escaped}/schema", value

    doc = document()
    for group in ("paths", "webhooks"):
        for path, item in doc[group].items():
            for method, operation in item.items():
                where = f"{group} {path} {method}"
                base = f"/{group}/{path.replace('~', '~0').replace('/', '~1')}/{method}"
                if "requestBody" in operation:
                    yield from media_examples(
                        f"{where} request", f"{base}/requestBody", operation["requestBody"]["content"]
                    )
                for status, response in operation["responses"].items():
                    if "content" in response:
                        yield from media_examples(
                            f"{where} {status}", f"{base}/responses/{status}", response["content"]
                        )
    for name, response in doc["components"]["responses"].items():
        yield from media_examples(f"response {name}", f"/components/responses/{name}", response["content"])


def test_every_example_in_the_contract_fits_its_own_schema() -> None:
    examples = list(_examples())
    assert len(examples) > 40, "the examples were not found: the walk over the document is broken"
    wrong = {where: errors for where, pointer, value in examples if (errors := _fits(pointer, value))}
    assert not wrong, wrong


def _fits(pointer: str, value: Any) -> list[str]:
    if value == "<base64(174380 + passkey + Timestamp)>":
        return []
    return schema_errors(pointer, value)


def test_every_catalogued_error_is_an_example_of_the_contract() -> None:
    """An error added to the catalogue (mpesa_lab/data/error_codes.csv) is described in the contract too."""
    shown = [
        (value["errorCode"], value["errorMessage"])
        for _, _, value in _examples()
        if isinstance(value, dict) and "errorCode" in value
    ]

    def described(entry: codes.CodeEntry) -> bool:
        # "Bad Request - Invalid XXXX" stands for every field; "Method Not Allowed" is worded
        # "GET Method Not Allowed" on the wire.
        pattern = re.escape(entry.message).replace("XXXX", r"\w+")
        return any(code == entry.code and re.fullmatch(rf"(\w+ )?{pattern}", message) for code, message in shown)

    missing = [f"{entry.code} {entry.message}" for entry in codes.error_codes() if not described(entry)]
    assert not missing, f"add these to docs/openapi.yaml (an example with its x-evidence): {missing}"


def test_every_catalogued_result_code_is_named_by_the_contract() -> None:
    """A result code added to the catalogue is named in the contract's ResultCode description."""
    text = document()["components"]["schemas"]["ResultCode"]["description"]
    named = set(re.findall(r"[A-Za-z0-9_]+", text))
    missing = [entry.code for entry in codes.result_codes() if entry.code not in named]
    assert not missing, f"name these in docs/openapi.yaml, components/schemas/ResultCode: {missing}"


def test_the_package_ships_the_published_contract() -> None:
    assert PACKAGED_CONTRACT.read_bytes() == DOCS_CONTRACT.read_bytes(), (
        "docs/openapi.yaml and mpesa_lab/data/openapi.yaml differ: edit docs/openapi.yaml, then "
        "cp docs/openapi.yaml mpesa_lab/data/openapi.yaml"
    )


def test_the_contract_is_package_data() -> None:
    """A wheel without it would serve a 500 instead of the contract once installed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["mpesa_lab"]
    package = ROOT / "mpesa_lab"
    assert PACKAGED_CONTRACT in {path for pattern in patterns for path in package.glob(pattern)}


def test_the_emulator_serves_the_published_contract(lab: Daraja) -> None:
    served = lab.http.get("/_lab/openapi.yaml")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/yaml"
    assert served.content == DOCS_CONTRACT.read_bytes()
    as_json = lab.http.get("/_lab/openapi.json")
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json() == document()
    assert lab.http.head("/_lab/openapi.json").status_code == 200
    assert_envelope(lab.http.post("/_lab/openapi.yaml"), 405, "405.001", "POST Method Not Allowed")
    assert lab.lab("GET", "").json()["contract"] == {
        "openapi_yaml": "/_lab/openapi.yaml",
        "openapi_json": "/_lab/openapi.json",
    }
    assert "/_lab/openapi.yaml" in banner(lab.emulator.url)


def test_the_contract_needs_no_control_token_and_goes_with_the_control_api(lab: Daraja) -> None:
    """It holds no secret, so a team can fetch it from a sandbox shared beyond loopback; with the
    control API off, /_lab/ is not served at all, the contract included."""
    state = lab.emulator.state
    require_token(state, "a-control-token-of-24-chars")
    try:
        assert lab.lab("GET", "/transactions").status_code == 401
        assert lab.http.get("/_lab/openapi.yaml").status_code == 200
    finally:
        require_token(state, None)
    lab.emulator.configure(control_api=False)
    assert_envelope(lab.http.get("/_lab/openapi.yaml"), 404, "404.001.01")
    assert_envelope(lab.http.get("/_lab/openapi.json"), 404, "404.001.01")


def test_a_fresh_emulator_serves_the_json_form_without_a_warm_cache() -> None:
    """The JSON form is made on first request in a process that never read the YAML."""
    with Emulator(name="test-contract-fresh") as emu:
        emu.start()
        answer = httpx.get(emu.url + "/_lab/openapi.json", timeout=15)
    assert answer.status_code == 200
    assert answer.json()["openapi"] == document()["openapi"]


@pytest.mark.parametrize("path", ["/_lab/openapi.yml", "/_lab/openapi", "/openapi.json", "/docs"])
def test_other_contract_looking_paths_are_daraja_s_404(lab: Daraja, path: str) -> None:
    assert_envelope(lab.http.get(path), 404, "404.001.01")
