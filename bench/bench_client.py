"""How much does DarajaClient cost over a bare httpx.Client, and how many OAuth calls does it make?

A local Starlette endpoint (served by BackgroundServer) answers OAuth and the STK push route with
Daraja's documented success bodies. In the same run, pushes/second are measured for:

- bare: a reused ``httpx.Client`` posting the same, pre-built JSON body with a fixed token;
- client: ``DarajaClient.stk_push`` (validation, phone normalisation, Nairobi timestamp,
  password, token cache, answer parsing into a typed result).

The server shares this process (and the GIL), so single rounds are noisy: short rounds alternate
bare/client, in swapped order every other round, and the median of each is reported.
Targets: ratio client/bare >= 0.8, OAuth requests per 1,000 pushes = 1.

    python bench/bench_client.py            # 400 pushes x 6 rounds, sync and async (about 25 s)
    python bench/bench_client.py --quick    # 200 pushes x 2 rounds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mpesa_lab.background import BackgroundServer  # noqa: E402
from mpesa_lab.config import Settings  # noqa: E402
from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH  # noqa: E402
from mpesa_lab.daraja.client import AsyncDarajaClient, DarajaClient  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "bench_client.json"
PUSH_OK = {
    "MerchantRequestID": "2654-4b64-97ff-b827b542881d3130",
    "CheckoutRequestID": "ws_CO_1007202409152617172396192",
    "ResponseCode": "0",
    "ResponseDescription": "Success. Request accepted for processing",
    "CustomerMessage": "Success. Request accepted for processing",
}
PHONE, AMOUNT, REFERENCE, DESCRIPTION = "0722 000 000", 10, "INV001", "Payment"


class Counters:
    oauth = 0
    pushes = 0


def endpoint(counters: Counters) -> Starlette:
    token = {"access_token": "c9SQxWWhmdVRlyh0zh8gZDTkubVF", "expires_in": "3599"}

    async def oauth(request: Request) -> Response:
        counters.oauth += 1
        return JSONResponse(token)

    async def push(request: Request) -> Response:
        counters.pushes += 1
        await request.body()
        return JSONResponse(PUSH_OK)

    return Starlette(routes=[Route(OAUTH_PATH, oauth, methods=["GET"]), Route(STK_PUSH_PATH, push, methods=["POST"])])


def bare_round(url: str, body: bytes, n: int) -> float:
    headers = {"Authorization": "Bearer c9SQxWWhmdVRlyh0zh8gZDTkubVF", "Content-Type": "application/json"}
    with httpx.Client(timeout=30) as client:
        client.post(url, content=body, headers=headers).json()  # warm the connection
        start = time.perf_counter()
        for _ in range(n):
            response = client.post(url, content=body, headers=headers)
            response.raise_for_status()
            response.json()
        return n / (time.perf_counter() - start)


def client_round(settings: Settings, n: int) -> float:
    with DarajaClient(settings) as client:
        client.stk_push(PHONE, AMOUNT, REFERENCE, DESCRIPTION)  # warm: token + connection
        start = time.perf_counter()
        for _ in range(n):
            client.stk_push(PHONE, AMOUNT, REFERENCE, DESCRIPTION)
        return n / (time.perf_counter() - start)


async def async_bare_round(url: str, body: bytes, n: int) -> float:
    headers = {"Authorization": "Bearer c9SQxWWhmdVRlyh0zh8gZDTkubVF", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=30) as client:
        (await client.post(url, content=body, headers=headers)).json()
        start = time.perf_counter()
        for _ in range(n):
            response = await client.post(url, content=body, headers=headers)
            response.raise_for_status()
            response.json()
        return n / (time.perf_counter() - start)


async def async_client_round(settings: Settings, n: int) -> float:
    async with AsyncDarajaClient(settings) as client:
        await client.stk_push(PHONE, AMOUNT, REFERENCE, DESCRIPTION)
        start = time.perf_counter()
        for _ in range(n):
            await client.stk_push(PHONE, AMOUNT, REFERENCE, DESCRIPTION)
        return n / (time.perf_counter() - start)


def client_cpu_per_push(settings: Settings, n: int = 2000) -> dict[str, float]:
    """Microseconds of client-side work per push, no network: the steady part of the overhead."""
    from mpesa_lab.daraja.results import read_push_answer

    answer = json.dumps(PUSH_OK).encode()
    with DarajaClient(settings) as client:
        start = time.perf_counter()
        for _ in range(n):
            request = client.build_push(PHONE, AMOUNT, REFERENCE, DESCRIPTION)
        validate = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(n):
            call = client._prepare_push(request)
        prepare = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(n):
            read_push_answer(200, answer, request=call.masked, timestamp=call.timestamp)
        read = time.perf_counter() - start
    return {
        "validate_us": round(validate / n * 1e6, 1),
        "timestamp_password_json_us": round(prepare / n * 1e6, 1),
        "read_answer_us": round(read / n * 1e6, 1),
        "total_us": round((validate + prepare + read) / n * 1e6, 1),
    }


def oauth_per_thousand(settings: Settings, counters: Counters, n: int) -> float:
    """OAuth requests made by one client over ``n`` pushes, per 1,000 pushes."""
    before_oauth, before_push = counters.oauth, counters.pushes
    with DarajaClient(settings) as client:
        for _ in range(n):
            client.stk_push(PHONE, AMOUNT, REFERENCE, DESCRIPTION)
    oauth, pushes = counters.oauth - before_oauth, counters.pushes - before_push
    return oauth * 1000 / pushes


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=400, help="pushes per round (default 400)")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds (default 6)")
    parser.add_argument("--quick", action="store_true", help="200 pushes x 2 rounds")
    parser.add_argument("--no-async", action="store_true", help="skip the async comparison")
    args = parser.parse_args(argv)
    n, rounds = (200, 2) if args.quick else (args.pushes, args.rounds)

    counters = Counters()
    with BackgroundServer(endpoint(counters), name="bench-client-endpoint") as server:
        settings = Settings.local(base_url=server.url, callback_url="https://shop.co.ke/mpesa/cb")
        # The bare client posts exactly what DarajaClient sends (same size, same fields).
        with DarajaClient(settings) as probe:
            request = probe.build_push(PHONE, AMOUNT, REFERENCE, DESCRIPTION)
            body = probe._prepare_push(request).content
        url = server.url + STK_PUSH_PATH

        bare, client, abare, aclient = [], [], [], []
        for i in range(rounds):
            pair = [lambda: bare.append(bare_round(url, body, n)), lambda: client.append(client_round(settings, n))]
            if not args.no_async:
                pair += [
                    lambda: abare.append(asyncio.run(async_bare_round(url, body, n))),
                    lambda: aclient.append(asyncio.run(async_client_round(settings, n))),
                ]
            for step in pair if i % 2 == 0 else pair[::-1]:
                step()
        oauth_rate = oauth_per_thousand(settings, counters, 1000)
        cpu = client_cpu_per_push(settings)

    result = {
        "pushes_per_round": n,
        "rounds": rounds,
        "sync": {
            "bare_httpx_pushes_per_s": round(statistics.median(bare), 1),
            "daraja_client_pushes_per_s": round(statistics.median(client), 1),
            "ratio": round(statistics.median(client) / statistics.median(bare), 3),
        },
        "oauth_requests_per_1000_pushes": round(oauth_rate, 3),
        "client_cpu_per_push": cpu,
        "targets": {"ratio": 0.8, "oauth_requests_per_1000_pushes": 1},
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "rounds_raw": {
            "bare": [round(x, 1) for x in bare],
            "client": [round(x, 1) for x in client],
            "async_bare": [round(x, 1) for x in abare],
            "async_client": [round(x, 1) for x in aclient],
        },
    }
    if aclient:
        result["async"] = {
            "bare_httpx_pushes_per_s": round(statistics.median(abare), 1),
            "daraja_client_pushes_per_s": round(statistics.median(aclient), 1),
            "ratio": round(statistics.median(aclient) / statistics.median(abare), 3),
        }

    print(f"{'':28}{'pushes/s':>12}{'ratio':>10}")
    print(f"{'bare httpx.Client':28}{result['sync']['bare_httpx_pushes_per_s']:>12.1f}{'':>10}")
    print(
        f"{'DarajaClient':28}{result['sync']['daraja_client_pushes_per_s']:>12.1f}"
        f"{result['sync']['ratio']:>10.3f}  (target >= 0.8)"
    )
    if aclient:
        print(f"{'bare httpx.AsyncClient':28}{result['async']['bare_httpx_pushes_per_s']:>12.1f}")
        print(
            f"{'AsyncDarajaClient':28}{result['async']['daraja_client_pushes_per_s']:>12.1f}"
            f"{result['async']['ratio']:>10.3f}"
        )
    print(f"OAuth requests per 1,000 pushes: {result['oauth_requests_per_1000_pushes']:g} (target 1)")
    print(
        f"client-side work per push: {cpu['total_us']:.0f} us (validate {cpu['validate_us']:.0f}, "
        f"timestamp+password+JSON {cpu['timestamp_password_json_us']:.0f}, read answer {cpu['read_answer_us']:.0f})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main()
