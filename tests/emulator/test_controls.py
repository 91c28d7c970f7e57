"""The controls are described once (controls.py): the Python API and the /_lab/ routes come from it."""

from __future__ import annotations

import inspect

from starlette.routing import Route

from mpesa_lab.emulator import Emulator, EmulatorConfig
from mpesa_lab.emulator.contract import CONTRACT_JSON_PATH, CONTRACT_YAML_PATH
from mpesa_lab.emulator.controls import PREFIX, Controls, route_table
from mpesa_lab.emulator.models import TxStatus

from .conftest import TIMEOUT


def test_the_served_lab_routes_are_exactly_the_described_ones():
    emulator = Emulator(EmulatorConfig())
    served = {
        (method, r.path)
        for r in emulator.app.routes
        if isinstance(r, Route) and r.path.startswith(PREFIX)
        for method in (r.methods or ())
        if method != "HEAD"
    }
    described = {(spec.method, PREFIX + spec.path) for spec, _ in route_table()}
    # the contract is a document, not a control: served beside them, without the control token
    contract = {("GET", CONTRACT_YAML_PATH), ("GET", CONTRACT_JSON_PATH)}
    assert served == described | contract
    assert len(described) == len(route_table())  # one control per method and path


def test_every_described_route_names_a_control_whose_parameters_take_what_http_sends():
    for spec, name in route_table():
        params = inspect.signature(getattr(Controls, name)).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for field in (*spec.query, *(spec.body or ())):
            assert takes_any or field in params, f"{spec.method} {spec.path}: {name}() does not take {field!r}"


def test_the_emulator_is_its_controls():
    public = [name for name in vars(Controls) if not name.startswith("_")]
    assert {"answer", "set_next_result", "inject_callback_fault", "fail_next", "reset", "wait_until_final"} <= set(
        public
    )
    for name in public:
        assert getattr(Emulator, name) is getattr(Controls, name)


def test_statuses_are_rendered_as_plain_strings(lab):
    lab.emulator.configure(interactive=True)
    cid = lab.push_ok()
    assert lab.emulator.wait_for_prompt(timeout=TIMEOUT)["checkout_request_id"] == cid
    tx = lab.emulator.state.get(cid)
    assert tx.status is TxStatus.PROMPTED and tx.status == "prompted"
    shown = lab.emulator.transaction(cid)["status"]
    assert type(shown) is str and shown == "prompted"
    lab.emulator.answer(cid, cancel=True)
    final = lab.emulator.wait_until_final(cid, TIMEOUT)
    assert type(final["status"]) is str and final["status"] == "completed"
