"""Generate data/week: a seeded week of sandbox outcomes, by driving the real local emulator.

    python data/make_week.py                 # writes data/week/ (about 3 minutes)
    python data/make_week.py --transactions 300 --out /tmp/week --store /tmp/week.sqlite

What happens: the emulator (the Safaricom side, with its seeded ``realistic`` mix) runs on a
virtual clock that starts on Monday 2026-06-01 in Nairobi. The week is played as "waves" of
pushes at business hours; within a wave the clock runs six times faster than real time (so a
callback that takes 1 s here is 6 s in the data, like a customer typing a PIN), and between
waves it jumps ahead. Three merchants (the sandbox paybill, the lab till, a second paybill) push
to ~150 phones through the real ``DarajaClient``; the emulator's callbacks are POSTed over HTTP
to a small receiver that stores them in a real ``CallbackStore`` stamped with the virtual time.

Rates: the emulator's mix decides most outcomes (pay, 1032, 1037, 1, 2001, 1019). The rarer
documented codes (2, 3, 4, 8, 17, 1025, 2028, 8006, SFC_IC0003) and two undocumented ones
(1036, E3008) are asked for at believable rates with the control API's ``set_next_result``;
callback faults (``delay`` for the latency spread, ``duplicate``, ``drop``) and a few Daraja
errors (``fail_next``, the subscriber lock) come from the control API too. Half the dropped
callbacks are followed by an STK query, as a merchant would. Everything is seeded: the same
command gives the same outcomes (times differ by a few virtual seconds, since waves run in real
time).

The store is exported with ``mpesa_lab.analytics.export`` as Parquet partitioned by day
(a few hundred KB). This script lives outside ``mpesa_lab/analytics`` because it imports the
emulator: analytics never does.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from mpesa_lab.clock import NAIROBI

WEEK_START = datetime(2026, 6, 1, tzinfo=NAIROBI)  # a Monday
SPEED = 6.0  # virtual seconds per real second inside a wave
RARE_CODES = {
    "2": 0.003,
    "3": 0.002,
    "4": 0.002,
    "8": 0.002,
    "17": 0.004,
    "1025": 0.003,
    "2028": 0.004,
    "8006": 0.002,
    "SFC_IC0003": 0.004,
    "1036": 0.002,
    "E3008": 0.002,
}
P_DUPLICATE, P_DROP, P_BUSY, P_SAME_PHONE, P_NOT_SAFARICOM = 0.012, 0.018, 0.006, 0.015, 0.004


class VirtualClock:
    """Nairobi time that runs SPEED times faster than real time from the last ``jump``."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._base, self._real = start, time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=(time.monotonic() - self._real) * SPEED)

    def jump(self, to: datetime) -> None:
        with self._lock:
            self._base, self._real = to, time.monotonic()


def _receiver(store, clock: VirtualClock):  # noqa: ANN001, ANN202 - a Starlette app
    """The merchant's callback endpoint: parse, store durably (stamped with virtual time), ack."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from mpesa_lab.daraja.callbacks import CallbackError, parse_callback
    from mpesa_lab.store import DeliveryIn

    async def callback(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            parsed, outcome, reason = parse_callback(body), "accepted", None
        except CallbackError as exc:
            parsed, outcome, reason = None, "quarantined", str(exc)
        await store.store_delivery_async(
            DeliveryIn(
                received_at=clock.now(),
                remote_addr=request.client.host if request.client else None,
                body=body,
                outcome=outcome,
                http_status=200,
                reason=reason,
                callback=parsed,
                headers={"content-type": request.headers.get("content-type", "")},
            )
        )
        return JSONResponse({"ResultCode": 0, "ResultDesc": "Accepted"})

    return Starlette(routes=[Route("/callback", callback, methods=["POST"])])


def _waves(rng: random.Random, transactions: int) -> list[tuple[datetime, int]]:
    """(virtual start, pushes) for each wave: more at lunch and in the evening, fewer on Sunday."""
    hours = [8, 10, 12, 13, 15, 17, 19, 21]
    weight = {8: 0.7, 10: 1.0, 12: 1.5, 13: 1.3, 15: 1.0, 17: 1.2, 19: 1.4, 21: 0.8}
    slots = []
    for day in range(7):
        for hour in hours:
            w = weight[hour] * (0.6 if day == 6 else 1.0) * rng.uniform(0.8, 1.2)
            start = WEEK_START + timedelta(days=day, hours=hour, minutes=rng.randrange(50))
            slots.append((start, w))
    total = sum(w for _, w in slots)
    return [(start, max(1, round(transactions * w / total))) for start, w in slots]


def generate(
    out: Path, *, transactions: int = 2500, seed: int = 254, store_path: Path | None = None, quiet: bool = False
) -> Path:
    from mpesa_lab.analytics import export
    from mpesa_lab.background import BackgroundServer
    from mpesa_lab.config import Settings
    from mpesa_lab.daraja.client import DarajaClient
    from mpesa_lab.daraja.errors import MpesaLabError
    from mpesa_lab.emulator import Emulator, EmulatorConfig
    from mpesa_lab.lab import _error_fields
    from mpesa_lab.listener import CallbackStore

    rng = random.Random(seed)
    clock = VirtualClock(WEEK_START)
    folder = Path(tempfile.mkdtemp(prefix="mpesa-lab-week-"))
    store = CallbackStore(store_path or folder / "week.sqlite", synchronous="NORMAL")
    receiver = BackgroundServer(_receiver(store, clock), name="week-receiver").start()
    config = EmulatorConfig(
        seed=seed,
        clock=clock.now,
        token_ttl=10**7,
        prompt_delay=0.05,
        answer_delay=0.1,
        enforce_duplicate_rule=False,
        pending_style="error",
    )
    emu = Emulator(config, name="week-emulator").start()
    try:
        emu.register_merchant("600100", "f00dfacecafe" * 4, name="MAMA MBOGA PAYBILL")
        callback_url = f"{receiver.url}/callback"
        merchants = {
            "174379": DarajaClient(Settings.local(base_url=emu.url, callback_url=callback_url)),
            "174380": DarajaClient(
                Settings.local(
                    base_url=emu.url,
                    callback_url=callback_url,
                    shortcode="174380",
                    passkey="5ed26e70e15a9948cbd97a639ed8d59a68acdbe0f8d609297f2559db0579ae25",
                    transaction_type="CustomerBuyGoodsOnline",
                    party_b="174381",
                )
            ),
            "600100": DarajaClient(
                Settings.local(
                    base_url=emu.url, callback_url=callback_url, shortcode="600100", passkey="f00dfacecafe" * 4
                )
            ),
        }
        merchant_weights = {"174379": 0.5, "174380": 0.3, "600100": 0.2}
        # Safaricom lines only (the client refuses Airtel and Telkom numbers, as it should).
        phones = [f"2547{rng.choice('0129')}{rng.randrange(10**7):07d}" for _ in range(150)]
        phone_weights = [rng.paretovariate(1.5) for _ in phones]  # a few regulars, many occasional
        amounts = [10, 20, 50, 100, 100, 150, 200, 250, 500, 1000, 1500, 2500]
        waves = _waves(rng, transactions)
        for number, (start, size) in enumerate(waves, start=1):
            clock.jump(start)
            pushed: list[tuple[str, str]] = []  # (checkout id, fault)
            in_flight: set[str] = set()
            for _ in range(size):
                phone = rng.choices(phones, phone_weights)[0]
                if rng.random() < P_NOT_SAFARICOM:  # a learner's Airtel number: refused before sending
                    phone = f"25473{rng.randrange(10**7):07d}"
                if phone in in_flight and rng.random() > P_SAME_PHONE:
                    phone = rng.choice([p for p in phones if p not in in_flight] or phones)
                shortcode = rng.choices(list(merchant_weights), list(merchant_weights.values()))[0]
                roll = rng.random()
                for code, p in RARE_CODES.items():
                    if roll < p:
                        emu.set_next_result(code, phone=phone)
                        break
                    roll -= p
                fault = rng.random()
                if fault < P_DROP:
                    emu.inject_callback_fault("drop", phone=phone)
                    kind = "drop"
                elif fault < P_DROP + P_DUPLICATE:
                    emu.inject_callback_fault("duplicate", phone=phone, copies=2)
                    kind = "duplicate"
                else:
                    # A customer takes a few seconds to answer: the spread of latencies.
                    emu.inject_callback_fault("delay", phone=phone, seconds=min(2.2, rng.lognormvariate(-0.8, 0.6)))
                    kind = "delay"
                if rng.random() < P_BUSY:
                    emu.fail_next("500.003.02", route="push")
                client = merchants[shortcode]
                at, amount, reference = clock.now(), rng.choice(amounts), f"INV{rng.randrange(10**5):05d}"
                try:
                    result = client.stk_push(phone, amount, reference, "Payment")
                except MpesaLabError as exc:
                    emu.clear_callback_faults()
                    store.record_push(
                        {
                            "PhoneNumber": phone,
                            "Amount": amount,
                            "BusinessShortCode": shortcode,
                            "AccountReference": reference,
                        },
                        None,
                        at=at,
                        environment="local",
                        error={"type": type(exc).__name__, "message": str(exc), **_error_fields(exc)},
                    )
                    continue
                store.record_push(result.request, result.raw, at=at, environment="local")
                pushed.append((result.checkout_request_id, kind))
                in_flight.add(phone)
            # Let the wave finish: every result final, every callback that will come, come.
            expected = store.count_callbacks() + sum(
                2 if k == "duplicate" else 0 if k == "drop" else 1 for _, k in pushed
            )
            for cid, _ in pushed:
                emu.wait_until_final(cid, timeout=30)
            deadline = time.monotonic() + 15
            while store.count_callbacks() < expected and time.monotonic() < deadline:
                time.sleep(0.05)
            for cid, kind in pushed:
                if kind == "drop" and rng.random() < 0.5:
                    for candidate in merchants.values():  # the query must come from the pushing merchant
                        try:
                            answer = candidate.stk_query(cid)
                        except MpesaLabError:
                            continue
                        store.record_query({"CheckoutRequestID": cid}, answer.raw, at=clock.now())
                        break
            emu.clear_callback_faults()
            if not quiet:
                print(
                    f"\rwave {number}/{len(waves)}: {store.count_pushes():,} pushes, "
                    f"{store.count_callbacks():,} callbacks",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
        if not quiet:
            print(file=sys.stderr)
        store.close()
        if out.exists():
            shutil.rmtree(out)
        export(store.path, out)
        return out
    finally:
        emu.stop()
        receiver.stop()
        for client in locals().get("merchants", {}).values():
            client.close()
        if store_path is None:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "week")
    parser.add_argument("--transactions", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=254)
    parser.add_argument("--store", type=Path, default=None, help="also keep the SQLite store here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    out = generate(args.out, transactions=args.transactions, seed=args.seed, store_path=args.store)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1024:.0f} KiB) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
