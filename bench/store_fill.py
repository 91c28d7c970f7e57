"""Fill a CallbackStore file with N pushes and their callbacks, fast (bulk SQL, not the API).

The rows are what the store's own writers put there (the same columns, the same text forms);
only the path is bulk ``executemany`` in one transaction, so a 1M-row store takes seconds to
build instead of the ~12 minutes the Python API needs. Used by bench_views.py.
"""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

CODES = [
    ("0", "The service request is processed successfully.", 80),
    ("1032", "Request cancelled by user", 8),
    ("1037", "DS timeout user cannot be reached", 5),
    ("1", "The balance is insufficient for the transaction.", 3),
    ("2001", "The initiator information is invalid.", 2.5),
    ("1019", "Transaction has expired.", 1.5),
    ("SFC_IC0003", "The operator does not exist", 0.3),
    ("4242", "Something new", 0.2),
]
START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def fill(path: str | Path, n: int, *, seed: int = 7, batch: int = 50_000) -> Path:
    """Create (or extend) a store at ``path`` with ``n`` pushes, ~97 % answered by a callback."""
    from mpesa_lab.store import CallbackStore

    path = Path(path)
    CallbackStore(path).close()  # the schema, exactly as the listener creates it
    rng = random.Random(seed)
    weights = [w for *_, w in CODES]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    pushes, deliveries, callbacks, queries = [], [], [], []
    delivery_id = callback_id = 0
    for i in range(n):
        at = START + timedelta(seconds=i * 0.6)
        cid = f"ws_CO_{i:012d}{rng.randrange(10**9):09d}"
        phone = f"2547{rng.randrange(10**8):08d}"
        amount = str(rng.choice((1, 10, 50, 100, 250, 1000)))
        request = json.dumps(
            {
                "BusinessShortCode": "174379",
                "Password": "<masked>",
                "Amount": amount,
                "PhoneNumber": phone,
                "AccountReference": f"INV{i}",
            }
        )
        response = json.dumps({"MerchantRequestID": f"m-{i}", "CheckoutRequestID": cid, "ResponseCode": "0"})
        pushes.append(
            (
                at.isoformat(),
                at.timestamp(),
                "local",
                cid,
                f"m-{i}",
                phone,
                amount,
                f"INV{i}",
                "CustomerPayBillOnline",
                "174379",
                "0",
                "Success. Request accepted for processing",
                "Success",
                None,
                None,
                None,
                request,
                response,
                None,
            )
        )
        copies = 0 if rng.random() < 0.03 else (2 if rng.random() < 0.01 else 1)
        code, desc, _ = rng.choices(CODES, weights)[0]
        for copy in range(copies):
            delivery_id += 1
            callback_id += 1
            got = at + timedelta(seconds=rng.lognormvariate(1.5, 0.6) + copy)
            paid = code == "0"
            receipt = f"TK{i:08d}"[:10] if paid else None
            items = (
                {
                    "Amount": float(amount),
                    "MpesaReceiptNumber": receipt,
                    "Balance": None,
                    "TransactionDate": int(got.strftime("%Y%m%d%H%M%S")),
                    "PhoneNumber": int(phone),
                }
                if paid
                else {}
            )
            stk = {
                "MerchantRequestID": f"m-{i}",
                "CheckoutRequestID": cid,
                "ResultCode": int(code) if code.isdigit() else code,
                "ResultDesc": desc,
            }
            if paid:
                stk["CallbackMetadata"] = {
                    "Item": [{"Name": k, "Value": v} if v is not None else {"Name": k} for k, v in items.items()]
                }
            body = json.dumps({"Body": {"stkCallback": stk}})
            deliveries.append(
                (
                    got.isoformat(),
                    got.timestamp(),
                    "127.0.0.1",
                    None,
                    "POST",
                    "{}",
                    body.encode(),
                    len(body),
                    "accepted",
                    200,
                    None,
                    cid,
                    int(copy > 0),
                    0,
                )
            )
            callbacks.append(
                (
                    delivery_id,
                    got.isoformat(),
                    got.timestamp(),
                    cid,
                    f"m-{i}",
                    code,
                    desc,
                    f"{amount}.0" if paid else None,
                    receipt,
                    None,
                    got.replace(microsecond=0).isoformat() if paid else None,
                    phone if paid else None,
                    json.dumps(items),
                    int(copy > 0),
                    0,
                )
            )
        if copies == 0 and rng.random() < 0.5:
            queries.append(
                (
                    at.isoformat(),
                    at.timestamp() + 60,
                    cid,
                    "0",
                    "1037",
                    "DS timeout user cannot be reached",
                    None,
                    None,
                    None,
                    "{}",
                    "{}",
                    None,
                )
            )
        if len(pushes) >= batch or i == n - 1:
            _flush(conn, pushes, deliveries, callbacks, queries)
    conn.execute("COMMIT")
    conn.close()
    return path


def _flush(conn, pushes, deliveries, callbacks, queries) -> None:  # noqa: ANN001
    conn.executemany(
        "INSERT INTO pushes (at, at_ts, environment, checkout_request_id, merchant_request_id, phone, "
        "amount, account_reference, transaction_type, shortcode, response_code, response_description, "
        "customer_message, error_code, error_message, request_id, request, response, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        pushes,
    )
    conn.executemany(
        "INSERT INTO deliveries (received_at, received_ts, remote_addr, client_addr, method, headers, "
        "body, body_size, outcome, http_status, reason, checkout_request_id, duplicate, unknown) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        deliveries,
    )
    conn.executemany(
        "INSERT INTO callbacks (delivery_id, received_at, received_ts, checkout_request_id, "
        "merchant_request_id, result_code, result_desc, amount, receipt, balance, transaction_date, "
        "phone, items, duplicate, unknown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        callbacks,
    )
    conn.executemany(
        "INSERT INTO queries (at, at_ts, checkout_request_id, response_code, result_code, result_desc, "
        "error_code, error_message, request_id, request, response, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        queries,
    )
    for rows in (pushes, deliveries, callbacks, queries):
        rows.clear()


if __name__ == "__main__":
    import sys

    fill(sys.argv[1], int(sys.argv[2]))
