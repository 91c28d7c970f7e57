"""docs/emulator.md stays true to the code: its trigger tables list every result code and every
error the emulator can produce on purpose, and its settings table every EmulatorConfig field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mpesa_lab.emulator import ERROR_PHONES, ERROR_TRIGGERS, TRIGGERS, EmulatorConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def section(title: str) -> list[str]:
    """The table rows under the ``## title`` heading."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in body.splitlines() if line.startswith("| ")]


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split(" | ")]


def test_result_code_table_has_every_trigger_with_its_magic_phone():
    rows = {cells(r)[0]: cells(r) for r in section("Result-code triggers")}
    for trigger in TRIGGERS:
        assert trigger.code in rows, f"ResultCode {trigger.code} is missing from the docs' trigger table"
        assert rows[trigger.code][1] == trigger.phone, rows[trigger.code]
        assert rows[trigger.code][2], f"ResultCode {trigger.code} has no real condition in the docs"


def test_error_table_has_every_error_with_its_status_and_phone():
    rows = [cells(r) for r in section("Error triggers")]
    for trigger in ERROR_TRIGGERS:
        message = trigger.message.replace("XXXX", "`<Field>`").replace("Method", "`GET` Method")
        matching = [r for r in rows if r[0] == trigger.code and r[1] == message]
        assert matching, f"{trigger.code} {trigger.message!r} is missing from the docs' error table"
        assert matching[0][2] == str(trigger.http_status), matching[0]
        assert matching[0][3], f"{trigger.name} has no trigger in the docs"
        if trigger.phone:
            assert trigger.phone in matching[0][3], matching[0]
    assert {t.phone for t in ERROR_TRIGGERS if t.phone} == set(ERROR_PHONES)


def test_settings_table_has_every_config_field():
    table = " ".join(section("EmulatorConfig"))
    for field in dataclasses.fields(EmulatorConfig):
        assert f"`{field.name}`" in table, f"EmulatorConfig.{field.name} is missing from the docs' settings table"


def test_docs_do_not_describe_removed_workarounds():
    assert "NODELAY" not in DOC.read_text(encoding="utf-8")
