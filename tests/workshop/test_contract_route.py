"""A participant reads the contract (docs/openapi.yaml) through the room, as from their own
emulator: GET /_lab/openapi.yaml and /_lab/openapi.json open to their token, and nothing else
does (no other method on those paths, no neighbouring path, nothing without a token)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.workshop.conftest import assert_envelope

DOCS_CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_a_participant_fetches_the_contract_through_the_room(server, people):
    p = people["p01"]
    as_yaml = p.http.get("/_lab/openapi.yaml", headers=p.bearer)
    assert as_yaml.status_code == 200, as_yaml.text
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert as_yaml.content == DOCS_CONTRACT.read_bytes()
    as_json = p.http.get("/_lab/openapi.json", headers=p.bearer)
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"].startswith("application/json")
    assert json.loads(as_json.content) == yaml.safe_load(as_yaml.content)


def test_only_those_two_reads_open(server, people):
    p = people["p01"]
    for path in ("/_lab/openapi.yaml", "/_lab/openapi.json"):
        assert_envelope(p.http.get(path), "404.001.03", 404)  # no token: nothing
        assert_envelope(p.http.get(path, headers={"Authorization": "Bearer not-a-token"}), "404.001.03", 404)
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert_envelope(p.http.request(method, path, headers=p.bearer), "401.003.01", 401)
    for path in ("/_lab/openapi", "/_lab/openapi.yml", "/_lab/openapi.yaml.bak", "/_lab/config", "/_lab/apps"):
        assert_envelope(p.http.get(path, headers=p.bearer), "401.003.01", 401)
