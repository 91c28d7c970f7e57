"""The DuckDB SQL that turns JSON callbacks into record rows, generated from one description.

A callback is described once, below: its text fields (``STK_TEXT``), its metadata items
(``ITEMS``), the keys a log keeps its received time under (``TIME_KEYS``) and the record columns
made from them (``RECORD_COLUMNS``). Three pipelines are written from that description:

- ``EXTRACT``: the careful one, for any line (every wrapper, Item collapsed to an object, the
  callback as text); it words what is wrong with a line that is not a callback;
- ``FAST``: the typed one, for the lines almost every log is made of; what it cannot vouch for
  it flags ``slow``, and ``EXTRACT`` takes those lines;
- ``DIRECT``: DuckDB's own reader over a whole JSON lines file (see ``json_scan``).

The JSON structures (``from_json``'s) and the SQL types (``read_json``'s ``columns``) are both
rendered from one tree per shape (``_stk``), so a field added to the description reaches the
three pipelines at once. This module only writes text; ``connect`` is the one place a DuckDB
connection with the macros is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

# --------------------------------------------------------------------------------------------
# The description.

#: the callback's own text fields (stkCallback's keys) -> the raw column each is read into
STK_TEXT = {
    "MerchantRequestID": "merchant_raw",
    "CheckoutRequestID": "cid_raw",
    "ResultCode": "code_raw",
    "ResultDesc": "result_desc",
}
#: the documented metadata items, in Daraja's order for a paid callback -> their raw column
ITEMS = {
    "Amount": "amount_raw",
    "MpesaReceiptNumber": "receipt_raw",
    "Balance": "balance_raw",
    "TransactionDate": "date_raw",
    "PhoneNumber": "phone_raw",
}
#: the keys a log keeps its received time under, first found wins
TIME_KEYS = ("received_at", "receivedAt", "received", "timestamp", "time", "ts")
#: one metadata item, as Daraja sends it (a Value is any JSON: number, text, or absent)
ITEM = {"Name": "VARCHAR", "Value": "JSON"}
#: the record columns every pipeline returns, from the raw columns, typed by the macros
#: (``*_num`` is the raw text as a DOUBLE, made a column first: a macro repeats its arguments)
RECORD_COLUMNS = (
    ("received_ts", "when_ts(received_raw, received_num)"),
    ("checkout_request_id", "txt(cid_raw)"),
    ("merchant_request_id", "txt(merchant_raw)"),
    ("result_code", "code(code_raw, code_num)"),
    ("result_desc", "result_desc"),
    ("amount", "num(amount_raw)"),
    ("receipt", "txt(receipt_raw)"),
    ("balance", "num(balance_raw)"),
    ("transaction_ts", "when_ts(date_raw, TRY_CAST(date_raw AS DOUBLE))"),
    ("phone", "code(phone_raw, TRY_CAST(phone_raw AS DOUBLE))"),
    ("items_json", "items_json"),
)

Shape = dict[str, Any]  # key -> a type name, a nested Shape, or [Shape] (a list of them)


def _stk(items: Any) -> Shape:
    """The stkCallback object, its metadata items typed as ``items``."""
    return {**{key: "VARCHAR" for key in STK_TEXT}, "CallbackMetadata": {"Item": items}}


_TIMES: Shape = {key: "VARCHAR" for key in TIME_KEYS}
#: as the careful path reads it: Item as raw JSON (an array, or one object collapsed)
_STK_LOOSE = _stk("JSON")
#: as the fast paths read it: Item as a list of Name/Value
_STK_TYPED = _stk([ITEM])


def json_structure(shape: Any) -> str:
    """``from_json``'s structure text for ``shape`` (``{"A":"VARCHAR","B":[{...}]}``)."""
    if isinstance(shape, str):
        return f'"{shape}"'
    if isinstance(shape, list):
        return "[" + json_structure(shape[0]) + "]"
    return "{" + ",".join(f'"{key}":{json_structure(value)}' for key, value in shape.items()) + "}"


def sql_type(shape: Any) -> str:
    """DuckDB's type for ``shape`` (``STRUCT(A VARCHAR, B STRUCT(...)[])``)."""
    if isinstance(shape, str):
        return shape
    if isinstance(shape, list):
        return sql_type(shape[0]) + "[]"
    return "STRUCT(" + ", ".join(f"{key} {sql_type(value)}" for key, value in shape.items()) + ")"


def _received(struct: str = "") -> str:
    """SQL: the first received time the record has (``struct``: where the keys are, e.g. "r.")."""
    return "coalesce(" + ", ".join(struct + key for key in TIME_KEYS) + ")"


def _raw_stk_columns() -> str:
    """SQL: the callback's text fields from ``s`` as raw columns, and ResultCode as a number
    too (``code_num``: the ``code`` macro's second argument)."""
    first = ("CheckoutRequestID", "ResultCode")
    return (
        ", ".join(f"s.{key} AS {STK_TEXT[key]}" for key in first)
        + ", TRY_CAST(s.ResultCode AS DOUBLE) AS code_num,\n        "
        + ", ".join(f"s.{key} AS {raw}" for key, raw in STK_TEXT.items() if key not in first)
        + ","
    )


def _item_columns() -> str:
    """SQL: the metadata items of a callback (``kv``: a list of Name/Value; ``names``: their
    names), as every path reads them: the whole object as JSON text, and the documented items
    as raw text. The object is built as text because a MAP cost as much as the rest of the
    query, and with string_agg (which skips the NULLs of nameless items) rather than a filtered
    list; the items of a paid callback, in Daraja's order, are a struct (a third of the cost)."""
    names = ", ".join(f"'{name}'" for name in ITEMS)
    struct = ", ".join(f"'{name}': kv[{i}].Value" for i, name in enumerate(ITEMS, start=1))
    raw = ",\n        ".join(
        f"kv[list_position(names, '{name}')].Value ->> '$' AS {column}" for name, column in ITEMS.items()
    )
    return f"""CASE WHEN names = [{names}]
        THEN CAST(to_json({{{struct}}}) AS VARCHAR)
        ELSE coalesce('{{' || list_aggregate(list_transform(kv, lambda x: CASE WHEN x.Name IS NOT NULL
            THEN to_json(x.Name) || ':' || coalesce(CAST(x.Value AS VARCHAR), 'null') END), 'string_agg', ',')
            || '}}', '{{}}') END AS items_json,
        {raw}"""


def _record_columns() -> str:
    return ",\n    ".join(expr if expr == name else f"{expr} AS {name}" for name, expr in RECORD_COLUMNS)


# --------------------------------------------------------------------------------------------
# The macros: ResultCode spelled as the catalogue does (1032, "1032", 1032.0, "+01032" are all
# "1032", like mpesa_lab.codes.normalize_code), numbers from "1", "1.00" or "1,000", times from
# epoch seconds (or ms), ISO text (Nairobi when it has no offset), or Daraja's YYYYMMDDHHmmss
# (Nairobi, UTC+3). ``v`` is ``TRY_CAST(x AS DOUBLE)``, computed once: a macro repeats its
# arguments, so anything costly is made a column first. ``txt`` trims (spaces, as DuckDB's trim
# does) only text that has them: most values have none, and trimming copies every one.
MACROS = r"""
SET TimeZone = 'Africa/Nairobi';
CREATE OR REPLACE TEMP MACRO txt(x) AS CASE WHEN x = '' THEN NULL
    WHEN starts_with(x, ' ') OR ends_with(x, ' ') THEN nullif(trim(x), '') ELSE x END;
CREATE OR REPLACE TEMP MACRO code(x, v) AS CASE
    WHEN v IS NOT NULL AND v = trunc(v) AND abs(v) < 1e15 AND NOT contains(lower(x), 'e')
        THEN CAST(CAST(v AS BIGINT) AS VARCHAR)
    ELSE txt(x) END;
CREATE OR REPLACE TEMP MACRO num(x) AS
    coalesce(TRY_CAST(x AS DOUBLE), TRY_CAST(replace(trim(x), ',', '') AS DOUBLE));
CREATE OR REPLACE TEMP MACRO when_ts(x, v) AS CASE
    WHEN v IS NULL THEN epoch(TRY_CAST(x AS TIMESTAMPTZ))
    WHEN v >= 1e13 AND v < 1e14 THEN epoch(TRY_STRPTIME(left(trim(x), 14), '%Y%m%d%H%M%S')) - 10800
    WHEN v >= 1e11 AND v < 1e13 THEN v / 1000
    ELSE v END;
"""

# --------------------------------------------------------------------------------------------
# EXTRACT: one JSON parse per line (table ``lines``: n, line) into a struct (DuckDB matches keys
# case-insensitively); the rare wrapped record (the callback under "body", "callback" or
# "payload", as an object or as text) is parsed again from there. ResultCode and the items come
# as text whatever JSON type they had.

_LINE = json_structure({"Body": {"stkCallback": _STK_LOOSE}, "stkCallback": _STK_LOOSE, **_TIMES})
_BODY = json_structure({"Body": {"stkCallback": _STK_LOOSE}, "stkCallback": _STK_LOOSE})
_ITEMS = json_structure([ITEM])

EXTRACT = f"""
WITH parsed AS (
    SELECT n, line, TRY(from_json(line, '{_LINE}')) AS r
    FROM lines WHERE line <> '' AND NOT (length(line) < 8 AND trim(line) = '')
),
unwrapped AS (
    SELECT n, r,
        coalesce(r.Body.stkCallback, r.stkCallback) AS s0,
        CASE WHEN r IS NOT NULL AND r.Body.stkCallback IS NULL AND r.stkCallback IS NULL
             THEN coalesce(json_extract(line, '$.body'), json_extract(line, '$.callback'),
                           json_extract(line, '$.payload')) END AS inner_json,
        {_received("r.")} AS received_raw,
        CASE WHEN r IS NULL THEN json_valid(line) END AS valid
    FROM parsed
),
inner_parsed AS (
    SELECT n, r, valid, received_raw, s0,
        CASE WHEN inner_json IS NOT NULL THEN TRY(from_json(
            CASE WHEN json_type(inner_json) = 'VARCHAR' THEN inner_json ->> '$'
                 ELSE CAST(inner_json AS VARCHAR) END, '{_BODY}')) END AS b
    FROM unwrapped
),
stk AS (
    SELECT n, r, valid, received_raw, coalesce(s0, b.Body.stkCallback, b.stkCallback) AS s
    FROM inner_parsed
),
fields AS (
    SELECT n, r, s, valid, received_raw,
        CASE WHEN s.CallbackMetadata.Item IS NOT NULL THEN TRY(from_json(
            CASE WHEN json_type(s.CallbackMetadata.Item) = 'OBJECT'
                 THEN '[' || CAST(s.CallbackMetadata.Item AS VARCHAR) || ']'
                 ELSE CAST(s.CallbackMetadata.Item AS VARCHAR) END, '{_ITEMS}')) END AS kv
    FROM stk
),
raw AS MATERIALIZED (
    -- Plain columns first: a macro repeats its argument, and a repeated lookup is slow.
    SELECT n, r IS NULL AS no_json, s IS NULL AS no_stk, valid, received_raw,
        TRY_CAST(received_raw AS DOUBLE) AS received_num,
        {_raw_stk_columns()}
        {_item_columns()}
    FROM (SELECT *, list_transform(kv, lambda x: x.Name) AS names FROM fields)
)
SELECT n,
    CASE
        WHEN no_json THEN CASE WHEN valid THEN 'a JSON value that is not a callback'
                               ELSE 'not valid JSON (a truncated or broken line?)' END
        WHEN no_stk THEN 'no Body.stkCallback (nor a wrapper with one under "body")'
        WHEN txt(cid_raw) IS NULL THEN 'no CheckoutRequestID'
        WHEN code(code_raw, code_num) IS NULL THEN 'no ResultCode'
    END AS problem,
    {_record_columns()}
FROM raw
ORDER BY n
"""

# --------------------------------------------------------------------------------------------
# FAST: for the lines almost every log is made of: a bare ``{"Body": {"stkCallback": ...}}`` or
# one wrapped as ``{"received_at": ..., "body": {...}}``, parsed straight into typed structs
# (the items as a list of Name/Value, no second parse). Keys are matched exactly, so the wrapper
# is a second typed parse of only the lines the first found no callback in. Every line it
# cannot vouch for (not JSON, not a callback, another wrapper, the callback as text, Item
# collapsed to an object, blank) is flagged ``slow`` and goes through ``EXTRACT``, which knows
# every variant and words the problems; line numbers come from ``n`` either way.

_TYPED_BARE = json_structure({"Body": {"stkCallback": _STK_TYPED}, **_TIMES})
_TYPED_WRAPPED = json_structure({"body": {"Body": {"stkCallback": _STK_TYPED}}})

FAST = f"""
WITH bare AS (
    SELECT n, line, TRY(from_json(line, '{_TYPED_BARE}')) AS r FROM lines
),
wrapped AS (
    SELECT n, line, r, CASE WHEN r IS NOT NULL AND r.Body.stkCallback IS NULL
        THEN TRY(from_json(line, '{_TYPED_WRAPPED}')).body.Body.stkCallback END AS w
    FROM bare
),
stk AS (
    SELECT n, line, coalesce(r.Body.stkCallback, w) AS s,
        {_received("r.")} AS received_raw
    FROM wrapped
),
raw AS MATERIALIZED (
    SELECT n, received_raw, TRY_CAST(received_raw AS DOUBLE) AS received_num,
        CASE WHEN s IS NULL THEN true  -- (a CASE: the text is searched only when it must be)
             WHEN s.CallbackMetadata IS NOT NULL THEN s.CallbackMetadata.Item IS NULL
             ELSE contains(lower(line), '"item"') END AS slow,
        {_raw_stk_columns()}
        {_item_columns()}
    FROM (SELECT *, s.CallbackMetadata.Item AS kv,
        list_transform(s.CallbackMetadata.Item, lambda x: x.Name) AS names FROM stk)
)
SELECT n, slow,
    CASE WHEN txt(cid_raw) IS NULL THEN 'no CheckoutRequestID'
         WHEN code(code_raw, code_num) IS NULL THEN 'no ResultCode' END AS problem,
    {_record_columns()}
FROM raw
"""

# --------------------------------------------------------------------------------------------
# DIRECT: a whole JSON lines file (parameter ``$path``) read by DuckDB's own reader into typed
# structs (keys matched case-insensitively, so "body" and "Body" are one column and the wrapper
# is just one more level). No line numbers: ``json_scan`` uses it only when it can vouch for
# every line.

_DIRECT_COLUMNS = (
    "{"
    + ", ".join(
        f"'{key}': '{sql_type(shape)}'"
        for key, shape in {"Body": {"stkCallback": _STK_TYPED, "Body": {"stkCallback": _STK_TYPED}}, **_TIMES}.items()
    )
    + "}"
)

DIRECT = f"""
WITH stk AS (
    SELECT coalesce(Body.stkCallback, Body.Body.stkCallback) AS s,
        {_received()} AS received_raw
    FROM read_json($path, format = 'newline_delimited', columns = {_DIRECT_COLUMNS},
                   case_insensitive_keys = true, ignore_errors = false)
),
raw AS (
    SELECT received_raw, TRY_CAST(received_raw AS DOUBLE) AS received_num,
        s IS NULL OR (s.CallbackMetadata IS NOT NULL AND s.CallbackMetadata.Item IS NULL) AS slow,
        {_raw_stk_columns()}
        {_item_columns()}
    FROM (SELECT *, s.CallbackMetadata.Item AS kv,
        list_transform(s.CallbackMetadata.Item, lambda x: x.Name) AS names FROM stk)
)
SELECT slow, {_record_columns()}
FROM raw
"""


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the macros, handing back large_string text."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET arrow_large_buffer_size = true")  # large_string out: pandas' str, no copy
    con.execute(MACROS)
    return con
