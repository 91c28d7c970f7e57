"""Callbacks: the stkCallback body, its POST to CallBackURL, injected faults, recorded attempts.

Safaricom does not retry a failed callback, so neither does the emulator: one POST per callback
(two or more when a ``duplicate`` fault asks for it). Faults let learners practise recovering
with the STK query: ``drop`` (never sent), ``delay`` (sent late), ``duplicate`` (sent twice) and
``out_of_order`` (held back until a later callback has gone out, or ``out_of_order_hold`` s).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from mpesa_lab.clock import NAIROBI, nairobi_now, to_nairobi
from mpesa_lab.emulator.config import FAULT_KINDS
from mpesa_lab.emulator.engine import Engine
from mpesa_lab.emulator.models import Transaction
from mpesa_lab.emulator.poster import KeepAlivePoster, PostError, supports

if TYPE_CHECKING:
    from mpesa_lab.emulator.config import EmulatorConfig

_NUMERIC_CODE = re.compile(r"-?\d+")
# Callbacks in flight to one origin (scheme, host, port), and to all of them: a slow or dead
# CallBackURL holds only its own origin's slots, so it delays only its own callbacks.
# 64 per origin, as the one global bound was before: with 32, callbacks to a single busy listener
# fell behind a load test's pushes (bench_soak), and the backlog of tasks waiting on the gate
# made every further acquire slower (asyncio.Semaphore scans its waiters).
MAX_IN_FLIGHT_PER_ORIGIN = 64
MAX_IN_FLIGHT = 1024
MAX_FAULT_SECONDS = 3600
MAX_COPIES = 100


def _origin(url: str) -> str:
    """scheme://host:port of a URL, cheaply (it runs once per callback)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url[:200]
    return scheme.lower() + "://" + rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].lower()


def unreachable_from_internet(url: str) -> str | None:
    """Why Daraja, calling from the internet, could not reach ``url``; None if it could.

    Names only (no DNS lookup, the lab is offline): localhost, ``.local``/``.localhost`` names, a
    name without a dot (an intranet name), and private, loopback, link-local or unspecified
    addresses.
    """
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        return "the CallBackURL has no host"
    if host in ("localhost", "ip6-localhost") or host.endswith((".localhost", ".local")):
        return f"{host} is this machine's own name: from the internet it is nobody"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if "." not in host:
            return f"{host} is an intranet name, unknown on the internet"
        return None
    if address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified:
        return f"{host} is a loopback, private or link-local address: the internet cannot reach it"
    return None


def wire_result_code(code: str) -> int | str:
    """Numeric codes travel as JSON numbers in callbacks; alphanumeric ones (SFC_IC0003) as strings."""
    return int(code) if _NUMERIC_CODE.fullmatch(code) else code


def _timestamp_number(moment: Any) -> int:
    """YYYYMMDDHHmmss in Nairobi time, as the number Daraja sends (plain arithmetic: strftime is
    the slow part of a callback body)."""
    t = nairobi_now() if moment is None else moment if moment.tzinfo is NAIROBI else to_nairobi(moment)
    return ((((t.year * 100 + t.month) * 100 + t.day) * 100 + t.hour) * 100 + t.minute) * 100 + t.second


def _scalar(value: Any) -> str:
    """One JSON scalar exactly as ``json.dumps`` writes it (ASCII-escaped strings, NaN allowed)."""
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    return json.dumps(value)


def callback_payload(tx: Transaction, config: EmulatorConfig, merchant_balance: float | None) -> bytes:
    """The stkCallback as Daraja shapes it (CallbackMetadata only on success), encoded as
    ``json.dumps`` would encode the dict, byte for byte, without building the dicts: the callback
    is encoded once per transaction, on the hot path."""
    assert tx.result_code is not None
    head = (
        f'{{"Body": {{"stkCallback": {{"MerchantRequestID": {_scalar(tx.merchant_request_id)}, '
        f'"CheckoutRequestID": {_scalar(tx.checkout_request_id)}, '
        f'"ResultCode": {_scalar(wire_result_code(tx.result_code))}, "ResultDesc": {_scalar(tx.result_desc)}'
    )
    if tx.result_code != "0":
        return (head + "}}}").encode("ascii")
    amount: float | int = float(tx.amount) if config.callback_amount == "float" else tx.amount
    items = [
        f'{{"Name": "Amount", "Value": {_scalar(amount)}}}',
        f'{{"Name": "MpesaReceiptNumber", "Value": {_scalar(tx.receipt)}}}',
    ]
    if config.callback_balance == "empty":
        items.append('{"Name": "Balance"}')
    elif config.callback_balance == "value" and merchant_balance is not None:
        items.append(f'{{"Name": "Balance", "Value": {_scalar(round(float(merchant_balance), 2))}}}')
    items.append(f'{{"Name": "TransactionDate", "Value": {_scalar(_timestamp_number(tx.transaction_date))}}}')
    items.append(f'{{"Name": "PhoneNumber", "Value": {_scalar(int(tx.phone))}}}')
    return (head + ', "CallbackMetadata": {"Item": [' + ", ".join(items) + "]}}}}").encode("ascii")


@dataclass
class Fault:
    """An injected callback fault: for one transaction, one phone, or the next ``remaining`` callbacks."""

    id: int
    kind: str
    checkout_request_id: str | None = None
    phone: str | None = None
    remaining: int | None = 1  # None: until cleared
    seconds: float | None = None
    copies: int = 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "checkout_request_id": self.checkout_request_id,
            "phone": self.phone,
            "remaining": self.remaining,
            "seconds": self.seconds,
            "copies": self.copies,
        }


class FaultBook:
    """The faults waiting to be applied."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(
        self,
        kind: str,
        *,
        checkout_request_id: str | None = None,
        phone: str | None = None,
        count: int | None = 1,
        seconds: float | None = None,
        copies: int = 2,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown callback fault {kind!r}: use one of {', '.join(FAULT_KINDS)}")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError(f"count must be a whole number >= 1 (or None for 'until cleared'); got {count!r}")
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= MAX_FAULT_SECONDS
        ):
            raise ValueError(f"seconds must be a number from 0 to {MAX_FAULT_SECONDS}; got {seconds!r}")
        if isinstance(copies, bool) or not isinstance(copies, int) or not 2 <= copies <= MAX_COPIES:
            raise ValueError(f"copies (for a duplicate) must be a whole number from 2 to {MAX_COPIES}; got {copies!r}")
        fault = Fault(
            next(self._ids), kind, checkout_request_id, phone, None if checkout_request_id else count, seconds, copies
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, tx: Transaction) -> list[Fault]:
        """The faults that apply to this transaction's callback (consuming counted ones)."""
        taken: list[Fault] = []
        with self._lock:
            keep: list[Fault] = []
            for fault in self._faults:
                if fault.checkout_request_id is not None:
                    hit = fault.checkout_request_id == tx.checkout_request_id
                    if hit:
                        taken.append(fault)
                        continue  # a per-transaction fault is used up
                elif fault.phone is None or fault.phone == tx.phone:
                    taken.append(fault)
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            continue
                keep.append(fault)
            self._faults = keep
        return taken

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> int:
        with self._lock:
            n = len(self._faults)
            self._faults = []
            return n


Recorder = Callable[..., None]


@dataclass
class _Job:
    tx: Transaction
    url: str
    payload: bytes
    copies: int
    fault_names: tuple[str, ...]
    held: bool = False
    released: bool = field(default=False)


class Deliverer:
    """Sends callbacks from the engine loop with one shared httpx.AsyncClient."""

    def __init__(self, engine: Engine, record: Recorder, settings: Callable[[], EmulatorConfig]) -> None:
        self.engine = engine
        self._record = record
        self._settings = settings
        self._client: httpx.AsyncClient | None = None
        self._poster: KeepAlivePoster | None = None
        self._gate: asyncio.Semaphore | None = None
        self._origin_gates: dict[str, asyncio.Semaphore] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held: list[_Job] = []
        engine.on_stop(self.aclose)

    def _resources(self) -> tuple[KeepAlivePoster, asyncio.Semaphore]:
        # Connections and the semaphore belong to one event loop; the engine may move to another.
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._poster is None or self._gate is None:
            self._loop = loop
            self._poster = KeepAlivePoster()
            self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)
            self._origin_gates = {}
            self._client = None
        return self._poster, self._gate

    def _origin_gate(self, url: str) -> asyncio.Semaphore:
        origin = _origin(url)
        gate = self._origin_gates.get(origin)
        if gate is None:
            if len(self._origin_gates) > 4096:
                # Forget idle origins (a gate nobody holds is as good as a new one).
                self._origin_gates = {
                    k: g for k, g in self._origin_gates.items() if g._value < MAX_IN_FLIGHT_PER_ORIGIN
                }
            gate = self._origin_gates[origin] = asyncio.Semaphore(MAX_IN_FLIGHT_PER_ORIGIN)
        return gate

    async def _https_client(self) -> httpx.AsyncClient:
        if self._client is None:
            # Building it loads CA certificates (~0.1 s): off the loop. trust_env=False: a proxy
            # from the environment must not swallow callbacks meant for this machine.
            loop = asyncio.get_running_loop()
            # No pool limit of httpx's own (100 by default): the origin gates bound connections,
            # and a shared pool would let one slow https origin queue everybody else's callbacks.
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
            client = await loop.run_in_executor(None, lambda: httpx.AsyncClient(trust_env=False, limits=limits))
            if self._client is None:
                self._client = client
            else:
                await client.aclose()
        return self._client

    def deliver(self, tx: Transaction, payload: bytes, faults: list[Fault]) -> None:
        """Schedule the callback (returns at once; safe from any thread); ``payload`` is the
        encoded stkCallback (``callback_payload``)."""
        config = self._settings()
        if not faults and not config.callback_faults:
            # The usual case: one POST, now.
            job = _Job(tx=tx, url=tx.callback_url, payload=payload, copies=1, fault_names=())
            tx.callbacks_due = 1
            self.engine.spawn(lambda: self._send(job))
            return
        kinds = [f.kind for f in faults] + list(config.callback_faults)
        if "drop" in kinds:
            self._record(
                tx,
                tx.callback_url,
                status=None,
                error="dropped by an injected fault: no POST was made",
                elapsed_ms=None,
                fault="drop",
            )
            return
        delays = [f.seconds for f in faults if f.kind == "delay" and f.seconds is not None]
        delay = max(delays) if delays else (config.callback_delay if "delay" in kinds else 0.0)
        copies = max([f.copies for f in faults if f.kind == "duplicate"] or [2 if "duplicate" in kinds else 1])
        job = _Job(
            tx=tx,
            url=tx.callback_url,
            payload=payload,
            copies=copies,
            fault_names=tuple(dict.fromkeys(kinds)),
            held="out_of_order" in kinds,
        )
        tx.callbacks_due = copies
        if delay > 0 or job.held:
            self.engine.call_later(delay, self._launch, job)
        else:
            self.engine.spawn(lambda: self._send(job))

    def _launch(self, job: _Job) -> None:
        if job.held:
            self._held.append(job)
            self.engine.call_later(self._settings().out_of_order_hold, self._release, job)
        else:
            self.engine.spawn(lambda: self._send(job))

    def _release(self, job: _Job) -> None:
        if job in self._held:
            self._held.remove(job)
            self.engine.spawn(lambda: self._send(job))

    async def _send(self, job: _Job) -> None:
        for copy in range(job.copies):
            await self._post(job, copy)
        if self._held and not job.held:
            # A later callback has gone out: now the held ones follow, out of order.
            held, self._held = self._held, []
            for other in held:
                self.engine.spawn(partial(self._send, other))

    async def _post(self, job: _Job, copy: int) -> None:
        config = self._settings()
        poster, gate = self._resources()
        fault = ",".join(job.fault_names) or None
        if copy > 0:
            fault = f"{fault} (copy {copy + 1})"
        status: int | None = None
        error: str | None = None
        unreachable = unreachable_from_internet(job.url) if config.callback_network == "internet" else None
        if unreachable is not None:
            # callback_network="internet": Daraja never gets a connection to such a host.
            self._record(
                job.tx,
                job.url,
                status=None,
                error=f"not reachable from the internet: {unreachable}",
                elapsed_ms=0.0,
                fault=fault,
            )
            return
        # Bounded connections whatever the burst; a slow origin only queues its own callbacks.
        async with self._origin_gate(job.url), gate:
            started = time.perf_counter()
            try:
                if supports(job.url):
                    status = await poster.post(job.url, job.payload, config.callback_timeout)
                else:
                    client = await self._https_client()
                    response = await client.post(
                        job.url,
                        content=job.payload,
                        timeout=config.callback_timeout,
                        headers={"Content-Type": "application/json", "User-Agent": "mpesa-lab-emulator"},
                    )
                    status = response.status_code
            except PostError as exc:
                error = str(exc)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except Exception as exc:  # an odd URL must be recorded, never crash the engine
                error = f"{type(exc).__name__}: {exc}"
            elapsed = round((time.perf_counter() - started) * 1000, 2)
        if status is not None and not 200 <= status < 300:
            error = f"CallBackURL answered HTTP {status}"
        self._record(job.tx, job.url, status=status, error=error, elapsed_ms=elapsed, fault=fault)

    async def aclose(self) -> None:
        """Close this loop's connections (called on the loop that owns them)."""
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            return
        client, self._client = self._client, None
        poster, self._poster = self._poster, None
        self._held = []
        if poster is not None:
            await poster.aclose()
        if client is not None:
            await client.aclose()
