"""Loaders: every input form gives the same schema; messy records parse; bad ones are counted
with where they were, never fatal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mpesa_lab import analytics
from mpesa_lab.analytics.load import LoadError, export, load, scan
from mpesa_lab.clock import nairobi_now
from mpesa_lab.daraja.callbacks import parse_callback
from mpesa_lab.listener import CallbackStore
from mpesa_lab.store import DeliveryIn, frames

ROOT = Path(__file__).resolve().parents[2]
MESSY = ROOT / "data" / "messy_callbacks.jsonl"
WEEK = ROOT / "data" / "week"


def body(cid: str, code, desc: str = "d", items: list | None = None) -> dict:
    stk = {"MerchantRequestID": "m", "CheckoutRequestID": cid, "ResultCode": code, "ResultDesc": desc}
    if items is not None:
        stk["CallbackMetadata"] = {"Item": items}
    return {"Body": {"stkCallback": stk}}


PAID = [{"Name": "Amount", "Value": 1.0}, {"Name": "MpesaReceiptNumber", "Value": "TG1A2B3C4D"},
        {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20260601090005},
        {"Name": "PhoneNumber", "Value": 254708374149}]


def schema_ok(out) -> None:
    for frame, schema in ((out.transactions, frames.TRANSACTIONS), (out.callbacks, frames.CALLBACKS)):
        assert list(frame.columns) == [c.name for c in schema]
        assert {c: str(t) for c, t in frame.dtypes.items()} == {c.name: c.dtype for c in schema}


def test_messy_sample_parses_every_observed_variant():
    out = load(MESSY)
    schema_ok(out)
    tx = out.transactions.set_index("checkout_request_id")
    assert len(out.callbacks) == 18 and len(tx) == 17  # one duplicate counted once
    assert out.callbacks["duplicate"].sum() == 1
    # string and number codes, 2001.0, alphanumeric codes: text, spelled as the catalogue does
    assert tx.loc["ws_CO_01072026101005111708374149", "result_code"] == "1032"
    assert tx.loc["ws_CO_01072026102412888733444555", "result_code"] == "2001"
    assert tx.loc["ws_CO_01072026102008444711222333", "result_name"] == "operator_does_not_exist"
    # amounts 1, "1.00", 250.0; Balance with no Value is NaN; a Balance value is read
    assert tx.loc["ws_CO_01072026100102456712345678", "amount"] == 1.0
    assert pd.isna(tx.loc["ws_CO_01072026100001123708374149", "balance"])
    assert tx.loc["ws_CO_01072026100203789722000111", "balance"] == 32009.9
    # legacy prefix kept as worded, still mapped by its code
    assert tx.loc["ws_CO_191220191020363925", "result_desc"].startswith("[STK_CB - ]")
    assert tx.loc["ws_CO_191220191020363925", "result_name"] == "cancelled"
    # wrapped with a received time (ISO with offset, and epoch seconds; body as text)
    assert tx.loc["ws_CO_01072026103001100710111222", "callback_at"] == pd.Timestamp(
        "2026-07-01 10:30:05.120", tz="Africa/Nairobi")
    assert tx.loc["ws_CO_01072026103059200710222333", "result_code"] == "1019"
    # TransactionDate is Nairobi time; PhoneNumber as text
    assert tx.loc["ws_CO_01072026100001123708374149", "transaction_date"] == pd.Timestamp(
        "2026-07-01 10:00:05", tz="Africa/Nairobi")
    assert tx.loc["ws_CO_01072026100001123708374149", "phone"] == "254708374149"
    # the metadata items kept as a JSON object, Values as Daraja typed them
    assert json.loads(out.callbacks.loc[0, "items_json"]) == {
        "Amount": 1, "MpesaReceiptNumber": "TG1A2B3C4D", "Balance": None,
        "TransactionDate": 20260701100005, "PhoneNumber": 254708374149}
    # an Item array collapsed to one object
    assert tx.loc["ws_CO_01072026103200300711999000", "amount"] == 5.0
    # codes seen on live Daraja but not in its doc table are catalogued as observed ...
    assert tx.loc["ws_CO_01072026102109555799888777", "result_name"] == "bad_debt_contract"
    assert tx.loc["ws_CO_01072026102311777722333444", "result_name"] == "smsc_ack_timeout"
    # ... and a code nobody catalogued is kept, categorised "unknown", reported with its line
    assert out.unknown_codes == {"4242": 1}
    unknown = [p for p in out.problems if p.kind == "unknown_code"]
    assert [p.location for p in unknown] == ["messy_callbacks.jsonl:14"] and "4242" in unknown[0].detail
    assert tx.loc["ws_CO_01072026102614101755666777", "category"] == "unknown"


def test_messy_sample_reports_malformed_lines_with_their_line_numbers():
    out = load(MESSY)
    bad = {p.location: p.detail for p in out.problems if p.kind == "malformed"}
    assert bad == {
        "messy_callbacks.jsonl:20": "not valid JSON (a truncated or broken line?)",
        "messy_callbacks.jsonl:21": "no CheckoutRequestID",
        "messy_callbacks.jsonl:22": "no ResultCode",
        "messy_callbacks.jsonl:23": 'no Body.stkCallback (nor a wrapper with one under "body")',
        "messy_callbacks.jsonl:24": "not valid JSON (a truncated or broken line?)",  # truncated last line
    }
    assert out.malformed == 5


def test_json_array_and_a_truncated_array(tmp_path):
    records = [body(f"ws_CO_A{i}", code) for i, code in enumerate([0, "1032", 1037])]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(records, indent=2))
    out = load(good)
    schema_ok(out)
    assert out.transactions["result_code"].tolist() == ["0", "1032", "1037"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(records, indent=2)[:-40])
    out = load(broken)
    assert len(out.transactions) == 2 and out.malformed == 1
    assert out.problems[0].location.startswith("broken.json[2]")


def test_folder_of_json_files_with_a_stranger(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(body("ws_CO_F1", 0, items=PAID)))
    (folder / "b.json").write_text(json.dumps([body("ws_CO_F2", 1032), body("ws_CO_F3", "SFC_IC0003")]))
    (folder / "c.json").write_text("{not json")
    (folder / "notes.txt").write_text(json.dumps(body("ws_CO_F4", 1)) + "\n")  # lines too
    (folder / "README.md").write_text("# not data")
    out = load(folder)
    schema_ok(out)
    assert sorted(out.transactions["checkout_request_id"]) == ["ws_CO_F1", "ws_CO_F2", "ws_CO_F3", "ws_CO_F4"]
    kinds = {(p.location, p.kind) for p in out.problems}
    assert ("c.json", "malformed") in kinds and ("README.md", "skipped_file") in kinds


def test_empty_file_and_empty_folder_are_reported_not_fatal(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = load(empty)
    schema_ok(out)
    assert out.transactions.empty and out.problems[0].detail == "empty file"
    (tmp_path / "nothing").mkdir()
    assert load(tmp_path / "nothing").transactions.empty
    with pytest.raises(LoadError, match="no such file"):
        load(tmp_path / "missing.jsonl")


def test_csv_export_with_daraja_column_names(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "CheckoutRequestID,ResultCode,ResultDesc,Amount,MpesaReceiptNumber,PhoneNumber,TransactionDate,received_at\n"
        "ws_CO_C1,0,ok,\"1,000.00\",TG1,254708374149,20260601090005,2026-06-01 09:00:06\n"
        "ws_CO_C2,1032.0,cancelled,,,,,2026-06-01T09:01:00+03:00\n"
        ",1032,no id,,,,,\n"
        "ws_CO_C4,4242,new,,,,,\n")
    out = load(path)
    schema_ok(out)
    tx = out.transactions
    assert tx["result_code"].tolist() == ["0", "1032", "4242"]
    assert tx.loc[0, "amount"] == 1000.0
    assert tx.loc[0, "callback_at"] == pd.Timestamp("2026-06-01 09:00:06", tz="Africa/Nairobi")
    assert [p.location for p in out.problems if p.kind == "malformed"] == ["export.csv row 4"]
    assert out.unknown_codes == {"4242": 1}


def test_csv_without_the_needed_columns_says_which(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(LoadError, match="CheckoutRequestID / ResultCode"):
        load(path)


def _store(tmp_path: Path) -> CallbackStore:
    store = CallbackStore(tmp_path / "s.sqlite")
    for i, code in enumerate([0, 1032, 0]):
        cid = f"ws_CO_S{i}"
        store.record_push({"PhoneNumber": "254708374149", "Amount": 1, "BusinessShortCode": "174379"},
                          {"CheckoutRequestID": cid, "ResponseCode": "0"})
        raw = json.dumps(body(cid, code, items=PAID if code == 0 else None)).encode()
        store.store_delivery(DeliveryIn(received_at=nairobi_now(), remote_addr="x", body=raw,
                                        outcome="accepted", http_status=200, callback=parse_callback(raw)))
    store.store_delivery(DeliveryIn(received_at=nairobi_now(), remote_addr="x", body=b"{oops",
                                    outcome="quarantined", http_status=400, reason="not JSON"))
    return store


def test_store_file_and_store_object_give_the_store_views(tmp_path):
    store = _store(tmp_path)
    by_object, by_file = load(store), load(store.path)
    pd.testing.assert_frame_equal(by_object.transactions, store.transactions())
    pd.testing.assert_frame_equal(by_file.callbacks, store.callbacks())
    assert by_file.malformed == 1 and by_file.problems[0].kind == "quarantined"
    assert analytics.transactions(store.path)["status"].astype(str).tolist() == ["paid", "failed", "paid"]


def test_export_by_day_and_load_back_lazily(tmp_path):
    store = _store(tmp_path)
    folder = export(store.path, tmp_path / "export")
    days = sorted(p.name for p in (folder / "transactions").iterdir())
    assert days and all(d.startswith("day=") for d in days)
    back = load(folder)
    original = load(store.path)
    pd.testing.assert_frame_equal(back.transactions, original.transactions)
    pd.testing.assert_frame_equal(back.callbacks, original.callbacks)
    # DuckDB reads it as is, without loading it: filter and count in the engine
    relation = scan(folder).filter("status = 'paid'").aggregate("count(*) AS n")
    assert relation.fetchall()[0][0] == 2


def test_parquet_file_of_raw_callback_columns(tmp_path):
    path = tmp_path / "raw.parquet"
    pd.DataFrame({"CheckoutRequestID": ["ws_CO_P1", "ws_CO_P2"], "ResultCode": [0, 2001],
                  "ResultDesc": ["ok", "wrong pin"], "Amount": [10.0, None]}).to_parquet(path)
    out = load(path)
    schema_ok(out)
    assert out.transactions["result_code"].tolist() == ["0", "2001"]
    assert out.transactions["status"].astype(str).tolist() == ["paid", "failed"]


def test_the_week_dataset_loads_with_every_documented_code():
    out = load(WEEK)
    schema_ok(out)
    tx = out.transactions
    assert len(tx) >= 2000 and tx["shortcode"].nunique() >= 3 and tx["phone"].nunique() >= 100
    from mpesa_lab.codes import result_codes

    final = {e.code for e in result_codes() if e.final and e.documented}
    assert final <= set(tx["result_code"].dropna())
    assert (out.callbacks["duplicate"]).any() and (tx["callbacks"] == 0).any()
    assert tx["query_result_code"].notna().any()  # some missing callbacks were queried
    assert str(tx["pushed_at"].dt.tz) == "Africa/Nairobi"


def test_a_lab_is_a_source(tmp_path):
    """Anything with a ``store`` (a Lab, a Listener) loads its store."""
    store = _store(tmp_path)

    class FakeLab:  # the attribute the loader uses; a real Lab is checked in tests/e2e
        def __init__(self, store: CallbackStore) -> None:
            self.store = store

    pd.testing.assert_frame_equal(load(FakeLab(store)).transactions, store.transactions())


def test_copying_the_messy_sample_keeps_results(tmp_path):
    copy = tmp_path / "m.jsonl"
    shutil.copy(MESSY, copy)
    assert repr(load(copy)).startswith("<Outcomes from")


def test_a_callbacks_only_export_and_a_frame_in_our_schema(tmp_path):
    out = load(MESSY)
    folder = tmp_path / "only-callbacks"
    export(out, folder)
    shutil.rmtree(folder / "transactions")
    back = load(folder)
    schema_ok(back)
    assert back.transactions["checkout_request_id"].tolist() == out.transactions["checkout_request_id"].tolist()
    assert back.transactions["result_code"].tolist() == out.transactions["result_code"].tolist()
    pd.testing.assert_frame_equal(load(out.transactions).transactions, out.transactions)


@pytest.mark.parametrize("few_rows", [256, 0], ids=["sliced", "filtered"])
def test_fast_path_and_tolerant_path_agree_with_the_right_line_numbers(tmp_path, monkeypatch, few_rows):
    """Ordinary lines take the typed fast path, odd ones (blank, broken, wrapped as text, Item
    collapsed to an object...) the tolerant one; together they give exactly what the tolerant
    path alone gives, and malformed lines keep their own line numbers (whether the odd rows are
    dropped and merged back by slicing, as when they are few, or by a filter and a sort)."""
    import mpesa_lab.analytics.load as load_module

    monkeypatch.setattr(load_module, "_FEW_ROWS", few_rows)

    messy = MESSY.read_text().splitlines()
    lines = []
    for i, raw in enumerate(messy):  # each messy line between ordinary ones, and blank lines
        lines.append(json.dumps(body(f"ws_CO_PLAIN{i}", i % 3, items=PAID if i % 3 == 0 else None)))
        lines.append(json.dumps({"received_at": "2026-07-01T10:00:00+03:00",
                                 "body": body(f"ws_CO_WRAP{i}", "1032")}))
        lines.append("")
        lines.append(raw)
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines))  # no newline after the last (truncated) line
    fast = load(path)
    monkeypatch.setattr(load_module, "_FAST", load_module._FAST.replace("WHEN s IS NULL THEN true", "WHEN true THEN true"))
    tolerant = load(path)
    pd.testing.assert_frame_equal(fast.transactions, tolerant.transactions)
    pd.testing.assert_frame_equal(fast.callbacks, tolerant.callbacks)
    assert fast.problems == tolerant.problems and fast.counts == tolerant.counts
    bad = {p.location for p in fast.problems if p.kind == "malformed"}
    assert bad == {f"mixed.jsonl:{4 * (n - 1) + 4}" for n in (20, 21, 22, 23, 24)}
    assert len(fast.callbacks) == 18 + 2 * len(messy)


# --------------------------------------------------------------------------------------------
# The whole-file path: a clean JSON lines file is read by DuckDB in one scan; any line it cannot
# vouch for sends the file to the line-by-line path, which gives the same frames.


def _clean_lines() -> list[str]:
    """Every messy-sample line that is an ordinary callback (bare or wrapped under "body"),
    each also wrapped with a received time in epoch seconds, ms, ISO text and Daraja's form."""
    out = []
    for raw in MESSY.read_text().splitlines():
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            continue
        stk = record.get("Body", {}).get("stkCallback") if isinstance(record.get("Body"), dict) else None
        item = ((stk or {}).get("CallbackMetadata") or {}).get("Item")
        if not stk or not stk.get("CheckoutRequestID") or stk.get("ResultCode") is None or isinstance(item, dict):
            continue
        out.append(raw)
        for when in (1782892260.5, 1782892260500, "2026-07-01T10:30:05+03:00", "20260701103005"):
            copy = json.loads(raw)
            copy["Body"]["stkCallback"]["CheckoutRequestID"] += f"-{when}"
            out.append(json.dumps({"received_at": when, "body": copy}))
    return out


def _line_by_line(monkeypatch, path):
    import mpesa_lab.analytics.load as load_module

    with monkeypatch.context() as m:
        m.setattr(load_module, "_read_whole_file", lambda *a, **k: None)
        return load_module.load(path)


def test_a_clean_file_takes_the_whole_file_path_and_gives_the_same_frames(tmp_path, monkeypatch):
    import mpesa_lab.analytics.load as load_module

    path = tmp_path / "clean.jsonl"
    lines = _clean_lines()
    path.write_text("\n".join(lines) + "\n\n")  # blank lines at the very end change nothing
    assert load_module._read_whole_file(path, None) is not None
    whole, slow = load(path), _line_by_line(monkeypatch, path)
    assert len(whole.callbacks) == len(lines) > 60
    pd.testing.assert_frame_equal(whole.transactions, slow.transactions)
    pd.testing.assert_frame_equal(whole.callbacks, slow.callbacks)
    assert whole.problems == slow.problems and whole.counts == slow.counts
    assert any(p.kind == "unknown_code" and "clean.jsonl:" in p.location for p in whole.problems)
    assert whole.callbacks["received_at"].notna().sum() >= 4 * 15


@pytest.mark.parametrize("odd", [
    "",                                                   # a blank line: the numbering would shift
    "   ",                                                # a line of spaces
    '{"Body": {"stkCallback": {"CheckoutRequestID": "x"',  # truncated
    "not JSON",
    '{"Body": {"somethingElse": {}}}',                    # JSON, not a callback
    '{"Body": {"stkCallback": {"ResultCode": 0}}}',       # no CheckoutRequestID
    '{"Body": {"stkCallback": {"CheckoutRequestID": "c"}}}',  # no ResultCode
    '{"received_at": 1, "body": "{\\"Body\\": {\\"stkCallback\\": {}}}"}',  # the callback as text
    json.dumps(body("ws_CO_OBJ", 0, items={"Name": "Amount", "Value": 1})),  # Item collapsed
    '[1, 2]',
])
def test_any_line_it_cannot_vouch_for_sends_the_file_line_by_line(tmp_path, monkeypatch, odd):
    import mpesa_lab.analytics.load as load_module

    lines = [json.dumps(body(f"ws_CO_{i}", i % 2, items=PAID if i % 2 == 0 else None)) for i in range(40)]
    lines.insert(17, odd)
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert load_module._read_whole_file(path, None) is None
    out, slow = load(path), _line_by_line(monkeypatch, path)
    pd.testing.assert_frame_equal(out.callbacks, slow.callbacks)
    assert out.problems == slow.problems
    assert out.callbacks["callback_id"].tolist()[17:19] == ([18, 19] if odd.strip() and "ws_CO_OBJ" in odd
                                                           else [19, 20])
    if odd.strip() and "ws_CO_OBJ" not in odd:
        assert [p.location for p in out.problems if p.kind == "malformed"] == ["odd.jsonl:18"]


def test_the_whole_file_path_reports_progress_in_bytes(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(body(f"ws_CO_{i}", 0, items=PAID)) + "\n" for i in range(5000)))
    seen: list[tuple[int, int]] = []
    out = load(path, progress=lambda done, total: seen.append((done, total)))
    assert len(out.transactions) == 5000
    size = path.stat().st_size
    assert seen and seen[-1] == (size, size) and all(t == size and 0 <= d <= size for d, t in seen)
