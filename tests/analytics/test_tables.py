"""Tables: CSV exports, Parquet files, exports that kept one frame, DataFrames."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from mpesa_lab.analytics.limits import LoadError
from mpesa_lab.analytics.sources import export, load
from tests.analytics.samples import MESSY, schema_ok


def test_csv_export_with_daraja_column_names(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "CheckoutRequestID,ResultCode,ResultDesc,Amount,MpesaReceiptNumber,PhoneNumber,TransactionDate,received_at\n"
        'ws_CO_C1,0,ok,"1,000.00",TG1,254708374149,20260601090005,2026-06-01 09:00:06\n'
        "ws_CO_C2,1032.0,cancelled,,,,,2026-06-01T09:01:00+03:00\n"
        ",1032,no id,,,,,\n"
        "ws_CO_C4,4242,new,,,,,\n"
    )
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


def test_parquet_file_of_raw_callback_columns(tmp_path):
    path = tmp_path / "raw.parquet"
    pd.DataFrame(
        {
            "CheckoutRequestID": ["ws_CO_P1", "ws_CO_P2"],
            "ResultCode": [0, 2001],
            "ResultDesc": ["ok", "wrong pin"],
            "Amount": [10.0, None],
        }
    ).to_parquet(path)
    out = load(path)
    schema_ok(out)
    assert out.transactions["result_code"].tolist() == ["0", "2001"]
    assert out.transactions["status"].astype(str).tolist() == ["paid", "failed"]


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
