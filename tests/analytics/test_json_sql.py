"""The SQL for JSON callbacks, generated from one description: the three pipelines (EXTRACT,
FAST, DIRECT) read every ordinary callback to the same record row, with the values Daraja meant."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pytest

from mpesa_lab.analytics import json_sql
from tests.analytics.samples import PAID, body

RECORD = [name for name, _ in json_sql.RECORD_COLUMNS]


def _ordinary_lines() -> list[str]:
    """Lines every pipeline must accept: bare and wrapped, codes and amounts as numbers or text,
    items complete, partial, empty or absent, received times in each accepted form."""
    lines = []
    for i, (code, items) in enumerate(
        [
            (0, PAID),
            ("1032", None),
            (1037.0, []),
            ("SFC_IC0003", None),
            (0, [{"Name": "Amount", "Value": "1,000.00"}, {"Name": "PhoneNumber", "Value": "254708374149"}]),
        ]
    ):
        record = body(f"ws_CO_{i}", code, f"desc {i}", items=items)
        lines.append(json.dumps(record))
        for when in (1782892260.5, 1782892260500, "2026-07-01T10:30:05+03:00", "20260701103005"):
            lines.append(json.dumps({"received_at": when, "body": record}))
    return lines


def _run(sql: str, lines: list[str], path: Path) -> list[dict]:
    con = json_sql.connect()
    try:
        if "$path" in sql:
            path.write_text("\n".join(lines) + "\n")
            table = con.sql(sql, params={"path": str(path)}).to_arrow_table()
        else:
            con.register(
                "lines",
                pa.table(
                    {"n": pa.array(range(1, len(lines) + 1), pa.int64()), "line": pa.array(lines, pa.large_string())}
                ),
            )
            table = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    if "n" in table.column_names:
        table = table.sort_by("n")
    if "slow" in table.column_names:
        assert not any(table["slow"].to_pylist()), "an ordinary callback was sent to the slow path"
    if "problem" in table.column_names:
        assert table["problem"].null_count == table.num_rows
    return table.select(RECORD).to_pylist()


def _same(a: object, b: object) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


def test_the_three_pipelines_read_an_ordinary_callback_alike(tmp_path):
    lines = _ordinary_lines()
    rows = {
        name: _run(getattr(json_sql, name), lines, tmp_path / f"{name}.jsonl") for name in ("EXTRACT", "FAST", "DIRECT")
    }
    for name in ("FAST", "DIRECT"):
        assert len(rows[name]) == len(lines)
        for mine, careful in zip(rows[name], rows["EXTRACT"], strict=True):
            assert all(_same(mine[c], careful[c]) for c in RECORD), (name, mine, careful)
    paid, cancelled, _, alnum, partial = (rows["EXTRACT"][5 * i] for i in range(5))
    assert paid["checkout_request_id"] == "ws_CO_0" and paid["result_code"] == "0"
    assert paid["amount"] == 1.0 and paid["receipt"] == "TG1A2B3C4D" and paid["balance"] is None
    assert paid["phone"] == "254708374149" and paid["transaction_ts"] == 1780293605.0  # Nairobi
    assert json.loads(paid["items_json"]) == {
        "Amount": 1.0,
        "MpesaReceiptNumber": "TG1A2B3C4D",
        "Balance": None,
        "TransactionDate": 20260601090005,
        "PhoneNumber": 254708374149,
    }
    assert cancelled["result_code"] == "1032" and cancelled["items_json"] == "{}"
    assert alnum["result_code"] == "SFC_IC0003" and partial["amount"] == 1000.0
    received = [r["received_ts"] for r in rows["EXTRACT"][1:5]]
    assert received == [1782892260.5, 1782892260.5, 1782891005.0, 1782891005.0]


@pytest.mark.parametrize("name", ["EXTRACT", "FAST", "DIRECT"])
def test_every_pipeline_is_written_from_the_description(name):
    """Each field of the description reaches each pipeline: the callback's keys in its JSON
    structure or SQL type, the items by name, the time keys, every record column."""
    sql = getattr(json_sql, name)
    for key in json_sql.STK_TEXT:
        assert key in sql
    for item, raw in json_sql.ITEMS.items():
        assert f"list_position(names, '{item}')" in sql and f"AS {raw}" in sql
    assert json_sql._received() in sql or json_sql._received("r.") in sql
    for column, expression in json_sql.RECORD_COLUMNS:
        assert (f"{expression} AS {column}" if expression != column else expression) in sql


def test_shapes_render_as_json_structures_and_sql_types():
    shape = {"A": "VARCHAR", "B": {"C": [{"Name": "VARCHAR", "Value": "JSON"}]}}
    assert json_sql.json_structure(shape) == '{"A":"VARCHAR","B":{"C":[{"Name":"VARCHAR","Value":"JSON"}]}}'
    assert json_sql.sql_type(shape) == "STRUCT(A VARCHAR, B STRUCT(C STRUCT(Name VARCHAR, Value JSON)[]))"
