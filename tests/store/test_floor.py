"""The store is floor 2 (../shared/DESIGN.md): it works on its own, with the ground floor only.

It used to live in the listener and import analytics (which imports the listener: a circle) and
the Daraja parser; now the listener hands it parsed callbacks and parses what it reads back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from mpesa_lab.store import CallbackStore, DeliveryIn

@dataclass(frozen=True)
class Callback:  # any dataclass of the CallbackFields shape: the store never parses
    checkout_request_id: str
    merchant_request_id: str | None = "m-1"
    result_code: str = "0"
    result_desc: str | None = "ok"
    amount: Decimal | None = Decimal("10")
    receipt: str | None = "TF1"
    balance: Decimal | None = None
    transaction_date: datetime | None = None
    phone: str | None = "254708374149"
    items: dict = field(default_factory=dict)
    delivery_id: int | None = None
    received_at: datetime | None = None
    duplicate: bool = False
    unknown: bool = False

store = CallbackStore(sys.argv[1])
store.record_push({"Amount": 10, "PhoneNumber": "254708374149"},
                  {"CheckoutRequestID": "ws_CO_F1", "ResponseCode": "0"})
stored = store.store_delivery(DeliveryIn(received_at=datetime.now(timezone.utc), remote_addr="x",
                                         body=b"{}", outcome="accepted", http_status=200,
                                         callback=Callback("ws_CO_F1")))
assert stored.callback.delivery_id == stored.delivery_id and not stored.unknown
assert store.first_callback("ws_CO_F1").body == b"{}"
assert store.transactions().loc[0, "status"] == "paid"
assert store.callbacks().loc[0, "amount"] == 10.0
assert store.queries().empty and len(store.deliveries()) == 1
store.close()
above = sorted(m for m in sys.modules if m.startswith(("mpesa_lab.daraja", "mpesa_lab.listener",
                                                       "mpesa_lab.analytics", "mpesa_lab.emulator")))
print(above)
"""


def test_the_store_stands_on_the_ground_floor_alone(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "alone.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"MPESA_LAB_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
