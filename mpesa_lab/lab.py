"""The Lab: the whole journey as one object, the same code locally and on the real sandbox.

``Lab.start()`` brings up the local Daraja emulator, the callback listener and a client wired to
both, with no configuration. ``Lab.start(environment="sandbox")`` takes credentials from the
environment (or .env), keeps the listener, and exposes it through an ngrok tunnel as CallBackURL.
Everything else (push, wait, query, the DataFrames) is the same code in both worlds.
"""

from __future__ import annotations

import signal
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpesa_lab import _startup, display
from mpesa_lab.config import Settings
from mpesa_lab.daraja.errors import MpesaLabError, ValidationError
from mpesa_lab.daraja.requests import stored_phone
from mpesa_lab.daraja.results import StkPushResult, StkQueryResult
from mpesa_lab.listener import CallbackStore, Listener
from mpesa_lab.paths import folder_store_path

# The lab is an entry point (a notebook's first import): it opts in to deferring httpx's own
# command-line module before the client imports httpx, next (measured in mpesa_lab._startup).
_startup.defer_httpx_cli()

from mpesa_lab.daraja.client import DarajaClient  # noqa: E402  (after the opt-in above)

if TYPE_CHECKING:
    import pandas as pd

    from mpesa_lab.daraja.callbacks import ParsedCallback
    from mpesa_lab.emulator import Emulator, EmulatorConfig
    from mpesa_lab.listener.relay import WorkshopLink
    from mpesa_lab.listener.room_report import RoomReporter

_active: Lab | None = None
_active_lock = threading.Lock()


class LabError(MpesaLabError):
    """The lab cannot do this here: it was stopped, or the phone is a real one."""


class LabWarning(UserWarning):
    """Something a learner should know before the result arrives (e.g. a push that will be 17)."""


# Daraja's rule 17: the same amount to the same phone within about two minutes is refused.
DUPLICATE_WINDOW = 120.0


# The names of the servers a Lab owns (so cleanup after an interrupted start can find them).
_LISTENER_NAME = "lab-listener"
_EMULATOR_NAME = "lab-emulator"


class Push:
    """One STK push made through the lab: its acknowledgement, and ways to follow it up."""

    def __init__(self, lab: Lab, result: StkPushResult) -> None:
        self.lab = lab
        self.result = result

    @property
    def checkout_request_id(self) -> str:
        return self.result.checkout_request_id

    @property
    def merchant_request_id(self) -> str:
        return self.result.merchant_request_id

    def wait(self, timeout: float | None = None) -> ParsedCallback:
        """Block until this push's callback is stored; TimeoutError says what to try next.

        ``timeout`` (seconds) defaults to 30, or longer on a timed lab whose slowest outcome (the
        older no-answer timeouts, ~100 s of real time) would take longer at its time scale.
        On a stopped lab: the callback if it was stored before the stop, else a LabError.
        """
        lab = self.lab
        if not lab.running:
            stored = lab.listener.callback(self.checkout_request_id)
            if stored is not None:
                return stored
            raise lab._stopped_error(f"wait for the callback of {self.checkout_request_id}", push=self)
        if timeout is None:
            scale = lab.time_scale
            timeout = 30.0 if scale is None else max(30.0, 110.0 * scale)
        deadline = time.monotonic() + timeout
        while True:
            # In slices, so that a lab stopped meanwhile (another thread) ends the wait at once.
            remaining = deadline - time.monotonic()
            try:
                return lab.listener.wait_for(self.checkout_request_id, max(0.0, min(remaining, 1.0)))
            except TimeoutError:
                if not lab.running:
                    raise lab._stopped_error(
                        f"wait for the callback of {self.checkout_request_id}", push=self
                    ) from None
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"no callback for {self.checkout_request_id} within {timeout:g} s. Callbacks "
                        "can be late or lost: ask Daraja with push.query() (STK query) instead of "
                        "pushing again."
                    ) from None

    def query(self) -> StkQueryResult:
        """STK query for this push (recorded in the store)."""
        self.lab._require_running("query", push=self)
        return self.lab.query(self.checkout_request_id)

    def answer(self, pin: str | None = None) -> None:
        """Local mode: the customer enters a PIN on the virtual phone (default: the right one)."""
        self.lab._require_running("answer the prompt", push=self)
        self.lab._emulator_or_fail("answer the prompt").answer(self.checkout_request_id, pin=pin)

    def cancel(self) -> None:
        """Local mode: the customer presses Cancel on the virtual phone."""
        self.lab._require_running("cancel the prompt", push=self)
        self.lab._emulator_or_fail("cancel the prompt").answer(self.checkout_request_id, cancel=True)

    def __repr__(self) -> str:
        state = "" if self.lab.running else " (its lab is stopped)"
        return f"<Push {self.checkout_request_id} accepted: {self.result.response_description!r}{state}>"


class Lab:
    """Emulator (local mode only) + listener + client, started together and stopped together."""

    # Workshop mode only: the link to the room's server (relay, progress, the shared phone).
    workshop: WorkshopLink | None = None
    # In a workshop room (MPESA_LAB_ROOM names a card): the reports to the facilitator's page.
    room: RoomReporter | None = None

    def __init__(
        self,
        settings: Settings,
        client: DarajaClient,
        listener: Listener,
        emulator: Emulator | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.listener = listener
        self.emulator = emulator
        self._stopped_by: str | None = None  # why the lab stopped; None while it runs
        self._recent: dict[tuple[str, str], float] = {}  # (phone, amount) -> when pushed (rule 17)

    # -- life cycle ----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        environment: str = "local",
        *,
        store: str | Path | None = None,
        fresh: bool = False,
        host: str = "127.0.0.1",
        env_file: str | Path | None = ".env",
        strict_lengths: bool = False,
        emulator_config: EmulatorConfig | None = None,
        time_scale: float | None = None,
        expose: bool | None = None,
        tunnel_options: dict[str, Any] | None = None,
        workshop_url: str | None = None,
        workshop_direct: bool | None = None,
        **settings_overrides: Any,
    ) -> Lab:
        """Start a lab. Running it again (a re-run notebook cell) first stops the previous lab.

        ``environment``:

        - ``"local"`` (the default) needs nothing: a local emulator on loopback
          (``emulator_config`` tunes it). ``expose=True`` also opens a tunnel to the listener.
          ``time_scale`` runs its timing model (docs/emulator.md): 1 is real time (a customer
          takes ~12 s to pay, an unanswered prompt ends ~30 s after the push), 0.05 is 1/20;
          None (default) is $MPESA_LAB_TIME_SCALE or the quick lab (callbacks in ~0.2 s).
        - ``"workshop"``: a room's shared emulator, from the card's settings in ``.env`` (or
          ``workshop_url`` and the card's ``consumer_key``, ``consumer_secret``, ...);
          ``workshop_direct`` forces (True) or forbids (False) direct callbacks to this machine
          instead of the relay (default: whichever works).
        - ``"sandbox"`` / ``"production"`` read MPESA_CONSUMER_KEY, MPESA_CONSUMER_SECRET (and
          MPESA_SHORTCODE, MPESA_PASSKEY outside the sandbox) from arguments, the environment or
          ``env_file``, and expose the listener through ngrok (NGROK_AUTHTOKEN) unless
          MPESA_CALLBACK_URL is set or ``expose=False``. ``tunnel_options`` go to
          ``Listener.expose`` (authtoken, ngrok_path, timeout).

        Any other keyword (``shortcode=``, ``callback_url=``, ...) is a setting (see
        :class:`mpesa_lab.config.Settings`).

        The store: ``store=`` names a SQLite file. Without it, a lab started in the same folder
        (or notebook) and environment continues the same store under ``~/.mpesa-lab/stores/`` (or
        ``$MPESA_LAB_HOME``), so a re-run start cell keeps the earlier rows; ``fresh=True``
        starts a new throwaway store instead (only the newest 20 of those are kept).

        ``strict_lengths=True`` refuses AccountReference/TransactionDesc over Daraja's documented
        12/13 characters, in the client and (local mode) in the emulator alike; by default both
        accept them, the client with a warning, as the live sandbox does.

        Ctrl-C at any moment of the start leaves no server running.
        """
        if fresh and store is not None:
            raise ValueError(
                "pass either store='some.sqlite' (that file) or fresh=True (a new throwaway store), not both"
            )
        environment = str(environment).strip().lower()
        global _active
        store_arg: str | Path | None = (
            store if (store is not None or fresh) else folder_store_path(environment=environment)
        )
        parts = _Starting()
        lab: Lab | None = None
        try:
            with _active_lock:
                previous, _active = _active, None
            if previous is not None:
                with _interrupts_deferred():
                    previous._stop("Lab.start() ran again and replaced it")

            # Own server names: a Lab never stops a Listener or Emulator the user started by hand.
            # Each server is recorded in `parts` before it starts: cleanup can always reach it.
            parts.listener = Listener(store_arg, name=_LISTENER_NAME)
            parts.listener.start(host=host)
            if environment == "local":
                settings = _start_local(
                    parts,
                    host=host,
                    emulator_config=emulator_config,
                    time_scale=time_scale,
                    strict_lengths=strict_lengths,
                    expose=expose,
                    tunnel_options=tunnel_options,
                    overrides=settings_overrides,
                )
            elif environment == "workshop":
                settings = _start_workshop(
                    parts,
                    host=host,
                    env_file=env_file,
                    workshop_url=workshop_url,
                    direct=workshop_direct,
                    overrides=settings_overrides,
                )
            else:
                settings = _start_real(
                    parts,
                    environment,
                    env_file=env_file,
                    expose=expose,
                    tunnel_options=tunnel_options,
                    overrides=settings_overrides,
                )
            lab = cls(settings, DarajaClient(settings, strict_lengths=strict_lengths), parts.listener, parts.emulator)
            lab.workshop = parts.workshop
            lab.room = _join_room(lab, store)
            with _active_lock:
                _active = lab
            display.register()  # in a notebook, the lab and what it returns show as cards
            return lab
        except BaseException:
            # Includes KeyboardInterrupt at any point above: stop whatever already runs, with
            # further Ctrl-C held back until the cleanup is done.
            with _interrupts_deferred():
                if parts.workshop is not None:
                    parts.workshop.stop()
                _cleanup_failed_start(lab, parts.listener, parts.emulator)
            raise

    def stop(self) -> None:
        """Stop the client, the listener (and its tunnel) and the emulator. Safe to call twice.

        The store stays on disk and readable (``transactions()`` and friends); pushing, waiting
        and querying need a new ``Lab.start()``.
        """
        self._stop("lab.stop() was called")

    def _stop(self, reason: str) -> None:
        global _active
        if self._stopped_by is None:
            self._stopped_by = reason
        self.client.close()
        if self.workshop is not None:
            self.workshop.stop()  # the relay first: what it holds is stored before the listener closes
        self.listener.stop()
        if self.emulator is not None:
            self.emulator.stop()
        with _active_lock:
            if _active is self:
                _active = None

    @property
    def time_scale(self) -> float | None:
        """How fast the lab's world runs: a local emulator's time scale (None: the quick lab,
        no timing model), 1.0 on the real sandbox or production; None when unknown (workshop)."""
        if self.emulator is not None:
            from mpesa_lab.emulator.config import effective_time_scale

            return effective_time_scale(self.emulator.config)
        return 1.0 if self.settings.environment in ("sandbox", "production") else None

    def real_world_delay(self, result_code: str | int) -> Any:
        """The timing model's ``Delay`` for ``result_code`` (``mpesa_lab.emulator.timing``: real-world
        seconds from the acknowledgement to the callback), in this lab's emulator's profile."""
        from mpesa_lab.emulator.timing import distribution

        live = self.emulator is not None and self.emulator.config.behaviour == "live_sandbox_2026"
        return distribution(result_code, profile="live_sandbox_2026" if live else "teaching")

    @property
    def running(self) -> bool:
        """True from ``Lab.start()`` until ``stop()`` (or a newer ``Lab.start()``)."""
        return self._stopped_by is None and self.listener.running and (self.emulator is None or self.emulator.running)

    def _stopped_error(self, what: str, push: Push | None = None) -> LabError:
        """The one error every call on a stopped lab (or on its pushes) raises."""
        why = self._stopped_by or "one of its servers is no longer running"
        newer = active_lab()
        if newer is not None and newer is not self:
            todo = (
                "A newer lab is running: use the `lab` from your latest `Lab.start()` "
                "(`mpesa_lab.lab.active_lab()` returns it)"
            )
        else:
            todo = "Start a lab with `lab = Lab.start()` and use the new `lab`"
        message = f"cannot {what}: this lab is stopped ({why}). {todo}; old Lab and Push objects stay stopped."
        if push is not None:
            if self.emulator is not None:
                message += (
                    " This push was made on a local emulator that stopped with its lab, so nothing "
                    "can answer for it any more; what was stored about it is still in "
                    "`lab.transactions()`."
                )
            else:
                message += f" Then ask Daraja about this push with `lab.query({push.checkout_request_id!r})`."
        message += f" The store is kept: {self.store.path}"
        return LabError(message)

    def _require_running(self, what: str, push: Push | None = None) -> None:
        if not self.running:
            raise self._stopped_error(what, push)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the journey ---------------------------------------------------------------------------

    def push(
        self,
        phone: str | int,
        amount: int | str,
        account_reference: str = "mpesa-lab",
        description: str = "Payment",
        **options: Any,
    ) -> Push:
        """Send an STK push; the request (without secrets) and answer are recorded in the store."""
        self._require_running(f"push to {phone}")
        try:
            result = self.client.stk_push(phone, amount, account_reference, description, **options)
        except MpesaLabError as exc:  # validation, Daraja errors, ambiguous or unsent pushes
            self.store.record_push(
                {
                    "PhoneNumber": str(phone),
                    "Amount": str(amount),
                    "AccountReference": account_reference,
                    "TransactionDesc": description,
                },
                None,
                error={"type": type(exc).__name__, "message": str(exc), **_error_fields(exc)},
                environment=self.settings.environment,
                phone=stored_phone(phone),  # one customer, one phone: 254... whatever was typed
            )
            if self.room is not None and self.emulator is not None:
                fields = _error_fields(exc)
                self.room.note("push", ok=False, code=fields.get("errorCode", ""), message=str(exc)[:200])
            raise
        self.store.record_push(
            result.request,
            result.raw,
            environment=self.settings.environment,
            phone=stored_phone(result.request.get("PhoneNumber")),
            time_scale=self.time_scale,
        )
        self._warn_if_rule_17(result.request)
        if self.room is not None and self.emulator is not None:
            self.room.note("push", ok=True)
        return Push(self, result)

    def _warn_if_rule_17(self, request: dict[str, Any]) -> None:
        """Warn when this push repeats the amount and phone of one made moments ago (ResultCode 17)."""
        if self.emulator is not None:
            config = self.emulator.config
            from mpesa_lab.emulator.config import duplicate_rule_applies

            window = config.duplicate_window if duplicate_rule_applies(config) else 0.0
        else:
            window = DUPLICATE_WINDOW
        phone, amount = str(request.get("PhoneNumber")), str(request.get("Amount"))
        now = time.monotonic()
        last = self._recent.get((phone, amount))
        self._recent[(phone, amount)] = now
        if len(self._recent) > 1024:  # only the last window matters
            self._recent = {k: t for k, t in self._recent.items() if now - t < max(window, 1.0)}
        if window and last is not None and now - last < window:
            warnings.warn(
                f"KES {amount} to {phone} was already pushed {now - last:.0f} s ago: Daraja answers the "
                f"same amount to the same phone within {window:.0f} s with ResultCode 17 (rule "
                "limited), so expect 17. Change the amount, wait, or re-run Lab.start() for a new emulator.",
                LabWarning,
                stacklevel=3,
            )

    def query(self, checkout_request_id: str) -> StkQueryResult:
        """STK query; recorded in the store. Pending is an answer, not an error."""
        self._require_running(f"query {checkout_request_id}")
        request = {"CheckoutRequestID": checkout_request_id, "BusinessShortCode": self.settings.shortcode}
        try:
            result = self.client.stk_query(checkout_request_id)
        except MpesaLabError as exc:
            self.store.record_query(
                request, None, error={"type": type(exc).__name__, "message": str(exc), **_error_fields(exc)}
            )
            raise
        self.store.record_query(request, result.raw)
        return result

    # -- what happened -------------------------------------------------------------------------

    @property
    def store(self) -> CallbackStore:
        """The lab's SQLite store: pushes, queries and every callback delivery, raw."""
        return self.listener.store

    @property
    def callback_url(self) -> str | None:
        return self.settings.callback_url

    def transactions(self) -> pd.DataFrame:
        """One row per push with its first callback (see CallbackStore.transactions)."""
        return self.store.transactions()

    def callbacks(self) -> pd.DataFrame:
        return self.store.callbacks()

    def pushes(self) -> pd.DataFrame:
        return self.store.pushes()

    # -- local only ----------------------------------------------------------------------------

    def _emulator_or_fail(self, what: str) -> Emulator | WorkshopLink:
        if self.emulator is None and self.workshop is not None:
            return self.workshop  # the room's phone answers the same way
        if self.emulator is None:
            raise LabError(
                f"cannot {what} in the {self.settings.environment} environment: the phone is real; "
                "answer it on the handset"
            )
        return self.emulator

    def __repr__(self) -> str:
        state = "running" if self.running else f"stopped ({self._stopped_by or 'a server stopped'})"
        parts = [f"environment={self.settings.environment!r}", state]
        if self.running:
            parts += [f"daraja={self.settings.base_url!r}", f"callbacks={self.settings.callback_url!r}"]
        else:
            parts.append("start a new one with Lab.start()")
        parts.append(f"store={str(self.store.path)!r}")
        return f"<Lab {' '.join(parts)}>"


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) while the block runs, then raise it: cleanup is never cut short.

    Only the main thread receives signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


@dataclass
class _Starting:
    """What a ``Lab.start()`` in progress has made so far (so a failure can stop exactly that)."""

    listener: Listener | None = None
    emulator: Emulator | None = None
    workshop: WorkshopLink | None = None


def _start_local(
    parts: _Starting,
    *,
    host: str,
    emulator_config: EmulatorConfig | None,
    time_scale: float | None,
    strict_lengths: bool,
    expose: bool | None,
    tunnel_options: dict[str, Any] | None,
    overrides: dict[str, Any],
) -> Settings:
    """The local lab: an emulator on loopback, its lab-app credentials, this listener as CallBackURL."""
    from mpesa_lab.emulator import Emulator, EmulatorConfig

    assert parts.listener is not None
    if strict_lengths:
        emulator_config = replace(emulator_config or EmulatorConfig(), strict_lengths=True)
    if time_scale is not None:
        emulator_config = replace(emulator_config or EmulatorConfig(), time_scale=time_scale)
    parts.emulator = Emulator(emulator_config, name=_EMULATOR_NAME)
    parts.emulator.start(host=host)
    callback_url = overrides.pop("callback_url", None) or parts.listener.callback_url
    settings = Settings.local(base_url=parts.emulator.url, callback_url=callback_url, **overrides)
    if expose:
        settings = replace(settings, callback_url=parts.listener.expose(**(tunnel_options or {})))
    return settings


def _start_workshop(
    parts: _Starting,
    *,
    host: str,
    env_file: str | Path | None,
    workshop_url: str | None,
    direct: bool | None,
    overrides: dict[str, Any],
) -> Settings:
    """A room's shared emulator: credentials from the card; callbacks come to this listener
    directly or through the relay (see :mod:`mpesa_lab.listener.relay`)."""
    from mpesa_lab.listener.relay import WorkshopLink

    assert parts.listener is not None
    if workshop_url is not None:
        overrides["base_url"] = workshop_url
    settings = Settings.from_env(environment="workshop", env_file=env_file, **overrides)
    parts.workshop = WorkshopLink(
        parts.listener,
        settings.base_url,
        settings.consumer_key,
        settings.consumer_secret,
        listen_host=host,
        direct=direct,
    )
    parts.workshop.start()
    return replace(settings, callback_url=parts.workshop.callback_url)


def _start_real(
    parts: _Starting,
    environment: str,
    *,
    env_file: str | Path | None,
    expose: bool | None,
    tunnel_options: dict[str, Any] | None,
    overrides: dict[str, Any],
) -> Settings:
    """The real sandbox or production: settings from the environment, a tunnel unless a
    CallBackURL is set (or ``expose=False``)."""
    assert parts.listener is not None
    settings = Settings.from_env(environment=environment, env_file=env_file, **overrides)
    if expose or (expose is None and not settings.callback_url):
        settings = replace(settings, callback_url=parts.listener.expose(**(tunnel_options or {})))
    return settings


def _cleanup_failed_start(lab: Lab | None, listener: Listener | None, emulator: Emulator | None) -> None:
    """Stop what a failed or interrupted ``Lab.start()`` had started (and only that)."""
    global _active
    from mpesa_lab.background import running_servers

    with _active_lock:
        if lab is not None and _active is lab:
            _active = None
    for server in (emulator, listener):
        if server is not None:
            try:
                server.stop()
            except Exception:  # cleanup must go on; the original error is what the caller sees
                pass
    # A server interrupted half-way through its own start() may not be attached to its owner
    # yet; it is registered under the lab's server names, which only a Lab uses.
    for name in (_LISTENER_NAME, _EMULATOR_NAME):
        registered = running_servers().get(name)
        if registered is not None:
            try:
                registered.stop()
            except Exception:
                pass
    if emulator is not None:
        try:
            emulator.engine.stop()
        except Exception:
            pass


def _join_room(lab: Lab, store: str | Path | None) -> RoomReporter | None:
    """In a workshop room (``MPESA_LAB_ROOM`` names a card), the reporter this lab uses."""
    from mpesa_lab.listener.room_report import join_room

    return join_room(lab, store)


def _error_fields(exc: BaseException) -> dict[str, Any]:
    """Daraja's envelope keys (and our extras) for the store, from a typed exception."""
    fields = {}
    for attribute, key in (
        ("error_code", "errorCode"),
        ("error_message", "errorMessage"),
        ("request_id", "requestId"),
        ("http_status", "httpStatus"),
        ("field", "field"),
    ):
        value = getattr(exc, attribute, None)
        if value is not None and not callable(value):
            fields[key] = value
    if isinstance(exc, ValidationError) and "errorCode" not in fields:
        # Refused here, before sending. Daraja answers a request with this field wrong with
        # 400.002.02 "Bad Request - Invalid <Field>": the store gets that code so that every
        # refused push has one (the error's type, ValidationError, says it never left).
        fields["errorCode"] = "400.002.02"
        fields["errorMessage"] = f"Bad Request - Invalid {exc.field}"
    return fields


def active_lab() -> Lab | None:
    """The lab started last in this process and not yet stopped."""
    return _active
