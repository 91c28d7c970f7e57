"""A participant's link to a workshop server: callbacks reach the listener's store either way.

``WorkshopLink.start()`` says hello to the workshop server, offering the listener's URL for
direct delivery (the server probes it), and learns the CallBackURL to use (the participant's inbox
on the server). It then keeps a relay running: an outbound long poll that pulls the callbacks the
server could not post directly (venue Wi-Fi often blocks incoming connections), stores each one
durably through the same store as a direct POST, and only then acknowledges it, so the server
deletes nothing the store does not hold. Whichever way a callback comes, it lands in the same
store; the participant need not know which way is in use.

Merchant side: speaks HTTP only, never imports the emulator or the workshop server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import socket
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from mpesa_lab.clock import nairobi_now
from mpesa_lab.daraja.callbacks import CallbackError, parse_callback
from mpesa_lab.daraja.errors import MpesaLabError
from mpesa_lab.store.records import DeliveryIn, StoredDelivery

if TYPE_CHECKING:
    from mpesa_lab.listener.server import Listener

log = logging.getLogger(__name__)

PULL_WAIT = 20.0  # seconds the server may hold a pull open when nothing is waiting
PULL_MAX = 200
MAX_ACKS_PER_PULL = 500
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class WorkshopError(MpesaLabError):
    """The workshop server could not be joined; the message says what to check."""


def _address_towards(host: str) -> str:
    """This laptop's address on the route to ``host`` (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((host, 9))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class WorkshopLink:
    """Hello + relay for one listener. ``lab.workshop`` in workshop mode."""

    def __init__(
        self,
        listener: Listener,
        base_url: str,
        consumer_key: str,
        consumer_secret: Any,
        *,
        listen_host: str = "127.0.0.1",
        direct: bool | None = None,
        pull_wait: float = PULL_WAIT,
    ) -> None:
        self.listener = listener
        self.base_url = base_url.rstrip("/")
        self._auth = (
            consumer_key,
            consumer_secret.reveal() if hasattr(consumer_secret, "reveal") else str(consumer_secret),
        )
        self.listen_host = listen_host
        self.direct = direct
        self.pull_wait = pull_wait
        self.participant: str | None = None
        self.delivery: str | None = None  # direct | relay
        self.reason: str | None = None
        self.callback_url: str | None = None
        self.relayed = 0
        self.last_error: str | None = None
        self._recent: OrderedDict[tuple[int, str], None] = OrderedDict()
        self._pending_acks: list[int] = []  # stored, to be acknowledged with the next pull
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._pulling = False  # only a waiting pull is cancelled by stop(); a store+ack finishes

    # ---- hello ------------------------------------------------------------------------------

    def _direct_offer(self) -> dict[str, str]:
        """The listener's URLs as the server would reach them, or nothing if it cannot."""
        if self.direct is False or not self.listener.running:
            return {}
        server_host = urlsplit(self.base_url).hostname or ""
        server_local = server_host in _LOOPBACK
        if self.listen_host in _LOOPBACK and not server_local and self.direct is not True:
            return {}  # a loopback listener cannot be reached from another machine
        host = "127.0.0.1" if server_local else _address_towards(server_host)
        port = self.listener.port
        app = self.listener.app
        return {
            "direct_url": f"http://{host}:{port}{app.callback_path}",
            "health_url": f"http://{host}:{port}{app.health_path}",
        }

    def start(self, timeout: float = 10.0) -> WorkshopLink:
        """Join the room (hello) and start the relay; raises WorkshopError with what to check."""
        try:
            response = httpx.post(
                f"{self.base_url}/_workshop/relay/hello",
                auth=self._auth,
                json=self._direct_offer(),
                timeout=timeout,
                trust_env=False,
            )
        except httpx.HTTPError as exc:
            raise WorkshopError(
                f"cannot reach the workshop server at {self.base_url} ({type(exc).__name__}): check "
                "MPESA_BASE_URL on your card and that you are on the room's network"
            ) from None
        if response.status_code != 200:
            try:
                detail = response.json().get("errorMessage", response.text)
            except ValueError:
                detail = response.text[:200]
            raise WorkshopError(
                f"the workshop server at {self.base_url} refused to join (HTTP {response.status_code}: {detail}): "
                "check MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET against your card"
            )
        self._joined(response.json())
        self._start_relay()
        return self

    def _joined(self, data: dict[str, Any]) -> None:
        self.participant = data["participant"]
        self.delivery = data["delivery"]
        self.reason = data.get("reason")
        self.callback_url = f"{self.base_url}{data['inbox_path']}"

    async def _rejoin(self, client: httpx.AsyncClient) -> None:
        """Say hello again after the connection came back (the server may have restarted and
        forgotten that it can post to us directly)."""
        response = await client.post("/_workshop/relay/hello", json=self._direct_offer())
        if response.status_code != 200:
            raise WorkshopError(f"hello answered HTTP {response.status_code}: {response.text[:200]}")
        self._joined(response.json())

    # ---- the relay --------------------------------------------------------------------------

    def _start_relay(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), daemon=True, name=f"mpesa-lab-relay-{self.participant}"
        )
        self._thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._pull_forever())
            loop.call_soon(ready.set)
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _pull_forever(self) -> None:
        async with httpx.AsyncClient(
            base_url=self.base_url,
            auth=self._auth,
            trust_env=False,
            timeout=httpx.Timeout(self.pull_wait + 15, connect=5),
        ) as client:
            try:
                await self._relay(client)
            finally:
                # Stopped or cancelled: the stored ones are acknowledged before we go.
                await self._flush_acks(client)

    async def _relay(self, client: httpx.AsyncClient) -> None:
        backoff = 0.2
        rejoin = False
        while not self._stopping.is_set():
            try:
                if rejoin:
                    await self._rejoin(client)
                    rejoin = False
                    self.last_error = None  # back in touch (the pull below may wait a while)
                self._pulling = True
                asked = time.monotonic()
                acks = self._pending_acks[:MAX_ACKS_PER_PULL]
                params: dict[str, Any] = {"wait": self.pull_wait, "max": PULL_MAX}
                if acks:
                    params["ack"] = ",".join(map(str, acks))
                try:
                    response = await client.get("/_workshop/relay/pull", params=params)
                finally:
                    self._pulling = False
                if response.status_code != 200:
                    raise WorkshopError(f"pull answered HTTP {response.status_code}: {response.text[:200]}")
                del self._pending_acks[: len(acks)]  # the server has them
                letters = response.json().get("letters", [])
                if letters:
                    stored = await self._store_all(letters)
                    if stored:
                        await self._ack(client, stored)
                elif time.monotonic() - asked < 0.5:
                    await asyncio.sleep(0.5)  # an empty answer at once: do not spin
                backoff = 0.2
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the network comes and goes: keep trying, loudly once
                if self.last_error is None:
                    log.warning("workshop relay for %s: %s; retrying", self.participant, exc)
                self.last_error = f"{type(exc).__name__}: {exc}"
                rejoin = True
                await asyncio.sleep(backoff)
                backoff = min(5.0, backoff * 2)

    async def _store_all(self, letters: list[dict[str, Any]]) -> list[int]:
        """Store every letter (one group commit); the ids that are now durably stored."""

        async def one(letter: dict[str, Any]) -> int | None:
            body = base64.b64decode(letter["body"])
            key = (int(letter["id"]), hashlib.sha256(body).hexdigest())
            if key in self._recent:  # stored before, the ack got lost: acknowledge again only
                return key[0]
            try:
                stored = await self._store(body, letter)
            except Exception as exc:  # not stored: not acknowledged, the server offers it again
                log.error("relayed callback not stored (%s); it will be offered again", exc)
                return None
            self._remember(key)
            self.relayed += 1
            hook = self.listener.app.on_delivery
            if hook is not None:
                try:
                    hook(stored)
                except Exception:
                    log.exception("on_delivery hook failed")
            return key[0]

        results = await asyncio.gather(*(one(letter) for letter in letters))
        return [i for i in results if i is not None]

    async def _store(self, body: bytes, letter: dict[str, Any]) -> StoredDelivery:
        server = urlsplit(self.base_url).hostname
        headers = {
            "content-type": "application/json",
            "content-length": str(len(body)),
            "via": "mpesa-lab workshop relay",
            "x-mpesa-lab-relay-letter": str(letter["id"]),
        }
        common: dict[str, Any] = dict(
            received_at=nairobi_now(), remote_addr=server, client_addr=server, headers=headers, body=body
        )
        try:
            parsed = parse_callback(body)
        except CallbackError as exc:
            delivery = DeliveryIn(**common, outcome="quarantined", http_status=400, reason=str(exc))
        else:
            delivery = DeliveryIn(**common, outcome="accepted", http_status=200, callback=parsed)
        return await self.listener.store.store_delivery_async(delivery, expected_ids=self.listener.app.expected_ids)

    async def _ack(self, client: httpx.AsyncClient, ids: list[int]) -> None:
        """Acknowledge stored letters: they ride on the next pull (see _pull_forever)."""
        self._pending_acks.extend(ids)

    async def _flush_acks(self, client: httpx.AsyncClient) -> None:
        """On the way out: acknowledge what is stored but not yet acknowledged (else the server
        would offer it again to the next session, which would store it a second time)."""
        while self._pending_acks:
            ids = self._pending_acks[:MAX_ACKS_PER_PULL]
            try:
                response = await client.post("/_workshop/relay/ack", json={"ids": ids}, timeout=3)
            except httpx.HTTPError:
                response = None
            if response is None or response.status_code != 200:
                log.warning(
                    "could not acknowledge %d relayed callbacks (they are stored); the server will offer them again",
                    len(self._pending_acks),
                )
                return
            del self._pending_acks[: len(ids)]

    def _remember(self, key: tuple[int, str]) -> None:
        self._recent[key] = None
        while len(self._recent) > 50_000:
            self._recent.popitem(last=False)

    # ---- the room's phone and progress ---------------------------------------------------

    def answer(
        self, checkout_request_id: str, pin: str | None = None, cancel: bool = False, ignore: bool = False
    ) -> dict[str, Any]:
        """Answer the prompt of one of your own pushes on the room's virtual phone."""
        body: dict[str, Any] = {"cancel": True} if cancel else {"ignore": True} if ignore else {}
        if pin is not None:
            body["pin"] = str(pin)
        response = httpx.post(
            f"{self.base_url}/_lab/transactions/{checkout_request_id}/answer",
            auth=self._auth,
            json=body,
            timeout=10,
            trust_env=False,
        )
        if response.status_code != 200:
            raise WorkshopError(
                f"the phone did not take the answer (HTTP {response.status_code}: {response.text[:300]})"
            )
        return response.json()

    def report_progress(self, exercise: str) -> None:
        """Tell the facilitator's page which exercise this notebook has reached."""
        response = httpx.post(
            f"{self.base_url}/_workshop/progress",
            auth=self._auth,
            json={"exercise": str(exercise)},
            timeout=5,
            trust_env=False,
        )
        if response.status_code != 200:
            raise WorkshopError(f"progress not recorded (HTTP {response.status_code}: {response.text[:200]})")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the relay (a pull in flight is abandoned; what it held is offered again later)."""
        self._stopping.set()
        loop, task = self._loop, self._task

        def cancel_if_pulling() -> None:
            if self._pulling and task is not None:
                task.cancel()

        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(cancel_if_pulling)
            except RuntimeError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    def __repr__(self) -> str:
        state = "relay running" if self.running else "stopped"
        return (
            f"<WorkshopLink {self.participant or '?'} at {self.base_url} delivery={self.delivery} "
            f"{state}, {self.relayed} relayed>"
        )
