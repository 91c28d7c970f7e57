"""Pieces of the emulator that need no server: ids, config checks, secrets, boundaries."""

from __future__ import annotations

import ast
import dataclasses
from datetime import datetime
from pathlib import Path

import pytest

import mpesa_lab.emulator as emulator_pkg
from mpesa_lab.clock import NAIROBI
from mpesa_lab.constants import LAB_CONSUMER_SECRET, SANDBOX_PASSKEY
from mpesa_lab.emulator import TRIGGERS, Emulator, EmulatorConfig, EmulatorError
from mpesa_lab.emulator.cli import banner
from mpesa_lab.emulator.ids import RECEIPT_RE, IdFactory, day_char, month_letter, year_letter
from mpesa_lab.emulator.scenarios import magic_phone

FORBIDDEN = (
    "mpesa_lab.daraja.client",
    "mpesa_lab.daraja.requests",
    "mpesa_lab.daraja.auth",
    "mpesa_lab.daraja.errors",
    "mpesa_lab.daraja.config",
    "mpesa_lab.listener",
    "mpesa_lab.config",
)


def test_the_emulator_never_imports_the_merchant_side():
    for path in Path(emulator_pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"


def test_receipt_letters():
    assert (year_letter(2019), month_letter(12), day_char(19)) == ("N", "L", "J")
    assert (year_letter(2025), month_letter(1), day_char(9), day_char(10), day_char(31)) == ("T", "A", "9", "A", "V")
    receipt = IdFactory(1).receipt(datetime(2024, 3, 5, tzinfo=NAIROBI))
    assert RECEIPT_RE.fullmatch(receipt) and receipt[:3] == "SC5"


def test_ids_differ_between_runs_whatever_the_seed():
    # A store reused across runs (or a unique receipt index) must never meet an old id again.
    first, second = IdFactory(3), IdFactory(3)
    assert first.merchant_request_id() != second.merchant_request_id()
    assert first.request_id() != second.request_id()
    moment = datetime(2024, 3, 5, tzinfo=NAIROBI)
    receipts = {first.receipt(moment) for _ in range(20_000)}
    assert len(receipts) == 20_000  # unique within a run, by construction
    assert not receipts & {second.receipt(moment) for _ in range(20_000)}


def test_magic_phone_scheme():
    assert magic_phone("1032") == "254708001032"
    assert magic_phone("17") == "254708000017"
    assert magic_phone("SFC_IC0003") == "254708990003"
    assert all(dataclasses.is_dataclass(t) for t in TRIGGERS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TRIGGERS[0].code = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pending_style": "soon"}, "pending_style must be one of 'error', 'result'"),
        ({"prompt_delay": -1}, "prompt_delay must be >= 0"),
        ({"token_ttl": 0}, "token_ttl must be > 0"),
        ({"callback_faults": ("lose",)}, "callback_faults item must be one of"),
        ({"mix": {"0": 0}}, "add up to 0"),
        ({"rate_limit_per_second": "fast"}, "rate_limit_per_second must be a number"),
        ({"clock": "now"}, "clock must be a callable"),
        ({"seed": "7"}, "seed must be a whole number"),
        ({"seed": 1.5}, "seed must be a whole number"),
    ],
)
def test_config_mistakes_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(**changes)


def test_configure_refuses_unknown_and_fixed_settings():
    emu = Emulator(name="test-units-configure")
    with pytest.raises(EmulatorError, match="unknown setting"):
        emu.configure(colour="red")
    with pytest.raises(EmulatorError, match="seed and clock are fixed"):
        emu.configure(seed=2)
    assert emu.configure(quota=3).quota == 3


def test_secrets_stay_out_of_reprs():
    emu = Emulator(name="test-units-secrets")
    emu.register_subscriber("254711000099", pin="8642")
    state = emu.state
    shown = " ".join(repr(x) for x in (*state.merchants.values(), *state.subscribers.values(), *state.apps.values()))
    assert SANDBOX_PASSKEY not in shown and "8642" not in shown and LAB_CONSUMER_SECRET not in shown
    assert SANDBOX_PASSKEY not in str([m.to_dict() for m in state.merchants.values()])


def test_registry_mistakes_are_clear():
    emu = Emulator(name="test-units-registry")
    with pytest.raises(EmulatorError, match="2547XXXXXXXX"):
        emu.register_subscriber("0712345678")
    with pytest.raises(EmulatorError, match="unknown profile"):
        emu.register_subscriber("254711000098", profile="grumpy")
    with pytest.raises(EmulatorError, match="5 to 7 digits"):
        emu.register_merchant("12", "k")
    with pytest.raises(EmulatorError, match="only for kind='till'"):
        emu.register_merchant("600400", "k", till_number="600401")
    with pytest.raises(EmulatorError, match="balance must be a number"):
        emu.register_subscriber("254711000097", balance=-5)
    with pytest.raises(EmulatorError, match="unknown scenario"):
        emu.set_scenario("chaos")


def test_banner_shows_the_seed_so_a_run_can_be_replayed():
    assert "seed 99 (--seed 99 replays it)" in banner("http://127.0.0.1:8000", seed=99)


def test_banner_names_everything_a_learner_needs():
    text = banner("http://127.0.0.1:8000")
    for needle in (
        "http://127.0.0.1:8000/oauth/v1/generate",
        "mpesa-lab-consumer-key",
        SANDBOX_PASSKEY,
        "174380",
        "174381",
        "254708374149",
        *[t.phone for t in TRIGGERS],
    ):
        assert needle in text
