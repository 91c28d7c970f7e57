"""Generate data/week: a seeded week of simulated production traffic (not the sandbox).

    python data/make_week.py                 # writes data/week/ (a few seconds)
    python data/make_week.py --transactions 300 --out /tmp/week --store /tmp/week.sqlite

What it models, on a virtual clock from Monday 2026-06-01 00:00 to Sunday 24:00 in Nairobi, for
three merchants (the paybill 174379, the till 174381 of store 174380, a second paybill 600100):

- Traffic by hour of day (``HOURLY``) and day of week (``DAILY``), as Kenyan retail sees it: a
  morning peak, a bigger lunch peak, the biggest in the evening after work, quiet nights;
  Friday and Saturday busiest, Sunday quietest.
- Outcomes whose mix moves with the hour (``mix``): more no-answers (1037) at night and on the
  commute (the phone is in a bag, or its owner asleep), more cancels (1032) in the lunch and
  evening rush (a queue, a wrong amount), more insufficient funds late in the day; every
  documented result code at a believable rate, and two seen live beyond the doc table (1036,
  E3008).
- Latencies from the emulator's timing model (``delay``, ``mpesa_lab.emulator.timing``): a customer's think time before a PIN
  or a cancel, a no-answer ending about 30 s after the push, fast failures.
- Retries: after a 1032, 1037, 1019 or 1036 some customers are asked again (same phone, same
  amount, same shortcode) a few minutes later, and many of those pay; a retry pushed while the
  last prompt is still open is refused with Daraja's subscriber lock.
- Faults: some callbacks are duplicated, some never arrive (most of those are then settled by an
  STK query a few minutes later, a few queried too early get "still under processing"), a few
  paid callbacks carry another Amount than the push asked for, and a few pushes are refused
  (system busy, an invalid phone).

Everything is drawn from one ``random.Random(seed)``, identifiers included: the same command gives
the same week, value for value (tests/analytics/test_week_data.py regenerates it and compares).
Callback bodies are built by the emulator's own ``callback_payload`` (Daraja's shape, byte for
byte), parsed by the merchant side's ``parse_callback`` and written with their simulated times
into a real ``CallbackStore``, which ``mpesa_lab.analytics.export`` writes as Parquet partitioned
by day. No server runs: a week of 30-second no-answers would take a week. This script lives
outside ``mpesa_lab/analytics`` because it imports the emulator: analytics never does.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mpesa_lab.clock import NAIROBI

WEEK_START = datetime(2026, 6, 1, tzinfo=NAIROBI)  # a Monday
#: pushes per hour of day, relative (0 = midnight to 1 am)
HOURLY = (
    0.12, 0.06, 0.04, 0.04, 0.06, 0.2, 0.5, 1.1, 1.4, 1.1, 1.0, 1.1,
    1.7, 1.8, 1.1, 0.9, 1.0, 1.4, 1.9, 2.0, 1.6, 1.0, 0.5, 0.2,
)  # fmt: skip
#: pushes per day, relative: Monday .. Sunday
DAILY = (1.0, 0.95, 1.0, 1.0, 1.15, 1.3, 0.75)
#: outcome shares of a first attempt at a quiet daytime hour; ``mix`` moves them with the hour
BASE_MIX = {
    "0": 0.745,
    "1032": 0.075,
    "1037": 0.06,
    "1": 0.045,
    "2001": 0.025,
    "1019": 0.008,
    "1036": 0.004,
    "8006": 0.002,
    "17": 0.004,
    "2": 0.002,
    "3": 0.002,
    "4": 0.002,
    "8": 0.002,
    "1025": 0.003,
    "2028": 0.003,
    "SFC_IC0003": 0.004,
    "E3008": 0.002,
}
NIGHT, COMMUTE, RUSH = {22, 23, 0, 1, 2, 3, 4, 5}, {6, 7, 17}, {12, 13, 18, 19}
#: after which codes a customer may be asked again: (chance of a retry, chance the retry pays)
RETRY = {"1032": (0.30, 0.55), "1037": (0.45, 0.65), "1019": (0.40, 0.60), "1036": (0.40, 0.60)}
MAX_ATTEMPTS = 3
MERCHANTS = {  # shortcode: (share of pushes, PartyB, TransactionType, amounts customers pay)
    "174379": (0.45, "174379", "CustomerPayBillOnline", (100, 200, 250, 500, 500, 1000, 1500, 2000, 3500, 5000)),
    "174380": (0.35, "174381", "CustomerBuyGoodsOnline", (20, 50, 50, 80, 100, 120, 150, 200, 300, 450, 800, 1200)),
    "600100": (0.20, "600100", "CustomerPayBillOnline", (30, 50, 100, 100, 150, 200, 250, 350, 500)),
}
P_DUPLICATE, P_DROP, P_QUERY, P_EARLY_QUERY, P_MISMATCH = 0.012, 0.018, 0.75, 0.12, 0.003
P_BUSY, P_BAD_PHONE = 0.004, 0.002
BUSY = ("500.003.02", "System is busy. Please try again in few minutes.")
BAD_PHONE = ("400.002.02", "Bad Request - Invalid PhoneNumber")
ABOUT = (
    "Simulated production traffic, not the Daraja sandbox: a seeded week (Monday 1 to Sunday 7 June "
    "2026, Nairobi) of customers paying a paybill (174379), a till (174381, store 174380) and a "
    "second paybill (600100) by M-Pesa Express, made by data/make_week.py (seed {seed}) with the "
    "emulator's timing model. No real customer, phone number or payment is in it."
)
LOCKED = ("500.001.1001", "Unable to lock subscriber, a transaction is already in process for the current subscriber")


def delay(code: str, rng: random.Random) -> float:
    """Real-world seconds from the push to the result of ``code``: Daraja's acknowledgement
    (0.3-1.2 s, an assumption of this script), then the emulator's timing model
    (``mpesa_lab.emulator.timing.draw_delay``, teaching profile: a customer's think time before a
    PIN or a cancel, a no-answer 1037 about 30 s, fast refusals; each distribution with its
    source there)."""
    from mpesa_lab.emulator.timing import draw_delay

    return rng.uniform(0.3, 1.2) + draw_delay(code, rng)


def mix(hour: int) -> dict[str, float]:
    """The outcome shares of a first attempt pushed at ``hour`` (0-23)."""
    shares = dict(BASE_MIX)
    if hour in NIGHT:
        shares["1037"] *= 2.6
        shares["1032"] *= 1.2
        shares["1019"] *= 2.0
    if hour in COMMUTE:
        shares["1037"] *= 1.6
    if hour in RUSH:
        shares["1032"] *= 1.7
    if hour >= 17:
        shares["1"] *= 1.3
    return shares


@dataclass
class Ids:
    """Daraja-shaped identifiers drawn from the week's generator (the emulator's IdFactory draws
    from the OS on purpose, so that runs never repeat; a dataset must)."""

    rng: random.Random
    counter: int = 4_100_000
    receipts: set[str] = field(default_factory=set)

    def merchant_request_id(self) -> str:
        self.counter += 1
        h = f"{self.rng.getrandbits(96):024x}"
        return f"{h[:4]}-{h[4:8]}-{h[8:12]}-{h[12:24]}{self.counter}"

    def receipt(self, moment: datetime) -> str:
        from mpesa_lab.emulator.ids import day_char, month_letter, year_letter

        while True:
            tail = "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(7))
            receipt = f"{year_letter(moment.year)}{month_letter(moment.month)}{day_char(moment.day)}{tail}"
            if receipt not in self.receipts:
                self.receipts.add(receipt)
                return receipt


@dataclass
class Push:
    at: datetime
    shortcode: str
    phone: str
    amount: int
    reference: str
    attempt: int = 1
    after: str | None = None  # the code of the attempt this one retries


@dataclass
class Week:
    """Everything the store will hold, each with its simulated time."""

    pushes: list[tuple[datetime, dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]] = field(
        default_factory=list
    )
    deliveries: list[tuple[datetime, int, bytes]] = field(default_factory=list)
    queries: list[tuple[datetime, dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def _first_pushes(rng: random.Random, transactions: int, phones: list[str], weights: list[float]) -> list[Push]:
    """First attempts: a time drawn from the hourly and daily profile, a merchant, a customer."""
    slots = [(day, hour) for day in range(7) for hour in range(24)]
    slot_weights = [DAILY[day] * HOURLY[hour] for day, hour in slots]
    shortcodes = list(MERCHANTS)
    out = []
    for _ in range(transactions):
        day, hour = rng.choices(slots, slot_weights)[0]
        at = WEEK_START + timedelta(days=day, hours=hour, seconds=rng.uniform(0, 3600))
        shortcode = rng.choices(shortcodes, [m[0] for m in MERCHANTS.values()])[0]
        amount = rng.choice(MERCHANTS[shortcode][3])
        phone = rng.choices(phones, weights)[0]
        out.append(Push(at.replace(microsecond=at.microsecond // 1000 * 1000), shortcode, phone, amount, ""))
    out.sort(key=lambda p: p.at)
    for p in out:
        p.reference = f"INV{rng.randrange(10**5):05d}" if p.shortcode != "174380" else "TILL"
    return out


def _code_for(push: Push, rng: random.Random) -> str:
    """A retry pays at its own rate (``RETRY``), else fails as the hour's failures do; a first
    attempt ends as the hour's mix decides."""
    shares = mix(push.at.hour)
    if push.after is not None:
        if rng.random() < RETRY[push.after][1]:
            return "0"
        del shares["0"]
    return rng.choices(list(shares), list(shares.values()))[0]


def _simulate(rng: random.Random, transactions: int) -> Week:
    from mpesa_lab.codes import result_entry
    from mpesa_lab.emulator.config import EmulatorConfig
    from mpesa_lab.emulator.delivery import callback_payload
    from mpesa_lab.emulator.models import Transaction

    config = EmulatorConfig()
    ids = Ids(random.Random(rng.getrandbits(64)))
    # Safaricom lines (07xx and 011x); a few regulars, many occasional customers.
    phones = [
        f"254{rng.choice(['7' + rng.choice('0129') + str(rng.randrange(10)), '11' + rng.choice('0125')])}"
        f"{rng.randrange(10**6):06d}"
        for _ in range(420)
    ]
    weights = [rng.paretovariate(1.4) for _ in phones]
    queue = _first_pushes(rng, transactions, phones, weights)
    week = Week()
    busy_until: dict[str, datetime] = {}  # phone -> when its open prompt ends
    balance = {shortcode: 250_000.0 for shortcode in MERCHANTS}
    index = 0
    while index < len(queue):
        push = queue[index]
        index += 1
        _, party_b, kind, _ = MERCHANTS[push.shortcode]
        request = {
            "BusinessShortCode": push.shortcode,
            "Timestamp": push.at.strftime("%Y%m%d%H%M%S"),
            "TransactionType": kind,
            "Amount": push.amount,
            "PartyA": push.phone,
            "PartyB": party_b,
            "PhoneNumber": push.phone,
            "CallBackURL": "https://shop.example.co.ke/mpesa/callback",
            "AccountReference": push.reference,
            "TransactionDesc": "Payment",
        }
        refusal = None
        if busy_until.get(push.phone, push.at) > push.at:
            refusal = LOCKED
        elif rng.random() < P_BUSY:
            refusal = BUSY
        elif rng.random() < P_BAD_PHONE:
            refusal = BAD_PHONE
            request = {**request, "PhoneNumber": "0" + push.phone[3:] + "0"}
        if refusal is not None:
            code, message = refusal
            error = {"type": "DarajaError", "message": message, "errorCode": code, "errorMessage": message}
            error["requestId"] = ids.merchant_request_id()
            week.pushes.append((push.at, request, None, error))
            continue
        merchant_request_id = ids.merchant_request_id()
        checkout = f"ws_CO_{push.at:%d%m%Y%H%M%S}{push.at.microsecond // 1000}{push.phone[-9:]}"
        ack = {
            "MerchantRequestID": merchant_request_id,
            "CheckoutRequestID": checkout,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        }
        week.pushes.append((push.at, request, ack, None))
        code = _code_for(push, rng)
        amount = push.amount
        done = push.at + timedelta(seconds=delay(code, rng))
        busy_until[push.phone] = done
        tx = Transaction(
            checkout_request_id=checkout,
            merchant_request_id=merchant_request_id,
            business_short_code=push.shortcode,
            transaction_type=kind,
            amount=amount,
            party_a=push.phone,
            party_b=party_b,
            phone=push.phone,
            callback_url=request["CallBackURL"],
            account_reference=push.reference,
            transaction_desc="Payment",
            prompt="",
            created_at=push.at,
            plan_source="week",
            plan_action="",
            result_code=code,
            result_desc=result_entry(code).message,  # as the emulator words a result
        )
        if code == "0":
            if rng.random() < P_MISMATCH and push.amount >= 100:  # e.g. an order edited after the push
                tx.amount = push.amount - rng.choice([1, 10, push.amount // 2])
            tx.receipt = ids.receipt(done)
            tx.transaction_date = done
            balance[push.shortcode] += tx.amount
        body = callback_payload(tx, config, balance[push.shortcode])
        arrives = done + timedelta(seconds=rng.uniform(0.2, 1.5))
        fault = rng.random()
        if fault < P_DROP:
            if rng.random() < P_QUERY:
                early = rng.random() < P_EARLY_QUERY
                asked = push.at + timedelta(seconds=rng.uniform(8, 20) if early else rng.uniform(90, 600))
                if early and asked < done:
                    answer = {
                        "ResponseCode": "0",
                        "ResultCode": "4999",
                        "ResultDesc": "The transaction is still under processing",
                    }
                else:
                    answer = {"ResponseCode": "0", "ResultCode": code, "ResultDesc": tx.result_desc}
                answer = {
                    "ResponseDescription": "The service request has been accepted successsfully",
                    "MerchantRequestID": merchant_request_id,
                    "CheckoutRequestID": checkout,
                    **answer,
                }
                week.queries.append(
                    (asked, {"BusinessShortCode": push.shortcode, "CheckoutRequestID": checkout}, answer)
                )
        else:
            week.deliveries.append((arrives, len(week.deliveries), body))
            if fault < P_DROP + P_DUPLICATE:
                week.deliveries.append((arrives + timedelta(seconds=rng.uniform(1, 20)), len(week.deliveries), body))
        # The customer asked again: same phone, amount and merchant, minutes later.
        if code in RETRY and push.attempt < MAX_ATTEMPTS and rng.random() < RETRY[code][0]:
            gap = min(25 * 60.0, max(20.0, rng.lognormvariate(math.log(150), 0.8)))
            at = push.at + timedelta(seconds=gap)
            at = at.replace(microsecond=at.microsecond // 1000 * 1000)
            retry = Push(at, push.shortcode, push.phone, push.amount, push.reference, push.attempt + 1, code)
            position = index
            while position < len(queue) and queue[position].at <= retry.at:
                position += 1
            queue.insert(position, retry)
    return week


def generate(
    out: Path, *, transactions: int = 2400, seed: int = 254, store_path: Path | None = None, quiet: bool = False
) -> Path:
    """Simulate the week and write it to ``out`` (Parquet by day); keep the store at ``store_path``."""
    from mpesa_lab.analytics import export
    from mpesa_lab.daraja.callbacks import parse_callback
    from mpesa_lab.listener import CallbackStore
    from mpesa_lab.store import DeliveryIn

    week = _simulate(random.Random(seed), transactions)
    folder = Path(tempfile.mkdtemp(prefix="mpesa-lab-week-"))
    path = store_path or folder / "week.sqlite"
    if path.exists():
        path.unlink()
    store = CallbackStore(path, synchronous="OFF")
    try:
        for at, request, ack, error in sorted(week.pushes, key=lambda p: p[0]):
            store.record_push(request, ack, error=error, at=at, environment="production", time_scale=1.0)
        futures = [
            store.submit_delivery(
                DeliveryIn(
                    received_at=at,
                    remote_addr="196.201.214.200",  # one of Safaricom's callback addresses
                    body=body,
                    outcome="accepted",
                    http_status=200,
                    callback=parse_callback(body),
                    headers={"content-type": "application/json"},
                )
            )
            for at, _, body in sorted(week.deliveries)
        ]
        for future in futures:
            future.result(60)
        for at, request, answer in sorted(week.queries, key=lambda q: q[0]):
            store.record_query(request, answer, at=at)
        if not quiet:
            print(
                f"{store.count_pushes():,} pushes, {store.count_callbacks():,} callbacks, {len(week.queries)} queries",
                file=sys.stderr,
            )
        store.close()
        if out.exists():
            shutil.rmtree(out)
        export(store.path, out)
        (out / "ABOUT.md").write_text(ABOUT.format(seed=seed) + "\n", encoding="utf-8")
        return out
    finally:
        store.close()
        if store_path is None:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "week")
    parser.add_argument("--transactions", type=int, default=2400, help="first attempts (retries come on top)")
    parser.add_argument("--seed", type=int, default=254)
    parser.add_argument("--store", type=Path, default=None, help="also keep the SQLite store here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    out = generate(args.out, transactions=args.transactions, seed=args.seed, store_path=args.store)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1024:.0f} KiB) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
