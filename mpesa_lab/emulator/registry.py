"""The registries: Daraja apps and their access tokens, merchants (paybills, tills), subscribers.

Part of ``EmulatorState`` (see core.py). Subscribers made on the fly by a push are remembered in
``transient`` (least recently pushed first), the ones retention may forget.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from mpesa_lab.constants import DAILY_LIMIT, MAX_AMOUNT
from mpesa_lab.emulator import defaults
from mpesa_lab.emulator.config import ENVIRONMENTS
from mpesa_lab.emulator.core import StateCore
from mpesa_lab.emulator.errors import EmulatorError, EnvelopeError, no_product_error
from mpesa_lab.emulator.models import App, Merchant, Subscriber, Token
from mpesa_lab.emulator.scenarios import PROFILES
from mpesa_lab.emulator.validation import msisdn, shortcode
from mpesa_lab.secret import Secret


def _money(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise EmulatorError(f"{name} must be a number >= 0; got {value!r}")
    return float(value)


class Registry(StateCore):
    """Who may call (apps, tokens), who may be paid (merchants) and who pays (subscribers)."""

    _default_pin: Secret | None = None
    # Filled by Intake (phone -> ((time, amount), ...), for rule 17); forgotten here together
    # with the subscriber it belongs to.
    recent_pushes: dict[str, tuple[tuple[datetime, int], ...]]

    def _fresh_registry(self, *, keep_tokens: bool) -> None:
        """Empty registries with the lab's defaults; apps and tokens kept if ``keep_tokens``."""
        if not keep_tokens:
            self.apps: dict[str, App] = {}
            self.tokens: dict[str, Token] = {}
            self.register_app(defaults.LAB_CONSUMER_KEY, defaults.LAB_CONSUMER_SECRET, name=defaults.LAB_APP_NAME)
        self.merchants: dict[str, Merchant] = {}
        self.subscribers: dict[str, Subscriber] = {}
        # Subscribers made on the fly by a push, least recently pushed first (an ordered set):
        # the ones retention may forget. Registered subscribers are never in here.
        self.transient: dict[str, None] = {}
        self.forgotten_subscribers = 0
        self.register_merchant(defaults.PAYBILL_SHORTCODE, defaults.PAYBILL_PASSKEY, name=defaults.PAYBILL_NAME)
        self.register_merchant(
            defaults.TILL_SHORTCODE,
            defaults.TILL_PASSKEY,
            kind="till",
            till_number=defaults.TILL_NUMBER,
            name=defaults.TILL_NAME,
        )
        self.register_subscriber(defaults.TEST_MSISDN, pin=defaults.TEST_PIN, balance=defaults.TEST_BALANCE)

    # ------------------------------------------------------------------ apps, merchants, subscribers

    def register_app(
        self,
        key: str,
        secret: str | Secret,
        *,
        name: str = "",
        environment: str = "sandbox",
        express: bool = True,
    ) -> dict[str, Any]:
        if not isinstance(key, str) or not key or ":" in key:
            raise EmulatorError("a consumer key must be a non-empty string without ':'")
        secret_value = secret.reveal() if isinstance(secret, Secret) else secret
        if not isinstance(secret_value, str) or not secret_value:
            raise EmulatorError("a consumer secret must be a non-empty string")
        if environment not in ENVIRONMENTS:
            raise EmulatorError(f"an app's environment is 'sandbox' or 'production'; got {environment!r}")
        if not isinstance(express, bool):
            raise EmulatorError(f"express must be true or false (is M-Pesa Express enabled?); got {express!r}")
        with self.lock:
            app = App(key=key, secret=Secret(secret_value), name=name or key, environment=environment, express=express)
            self.apps[key] = app
            return app.to_dict()

    def register_merchant(
        self,
        shortcode_: str | int,
        passkey: str | Secret,
        *,
        kind: str = "paybill",
        till_number: str | int | None = None,
        name: str | None = None,
        balance: float = 0.0,
        max_balance: float | None = None,
    ) -> dict[str, Any]:
        code = shortcode(str(shortcode_))
        if code is None:
            raise EmulatorError(f"shortcode must be 5 to 7 digits (e.g. '600000'); got {shortcode_!r}")
        if kind not in ("paybill", "till"):
            raise EmulatorError(f"kind must be 'paybill' or 'till'; got {kind!r}")
        till: str | None = None
        if kind == "till":
            till = shortcode(str(till_number)) if till_number is not None else code
            if till is None:
                raise EmulatorError(f"till_number must be 5 to 7 digits; got {till_number!r}")
        elif till_number is not None:
            raise EmulatorError("till_number is only for kind='till' (a paybill's PartyB is its shortcode)")
        key = passkey.reveal() if isinstance(passkey, Secret) else passkey
        if not isinstance(key, str) or not key:
            raise EmulatorError("passkey must be a non-empty string")
        merchant = Merchant(
            shortcode=code,
            passkey=Secret(key),
            kind=kind,
            till_number=till,
            name=name or f"LAB {kind.upper()} {code}",
            balance=_money(balance, "balance"),
            max_balance=None if max_balance is None else _money(max_balance, "max_balance"),
        )
        with self.lock:
            self.merchants[code] = merchant
            return merchant.to_dict()

    def register_subscriber(
        self,
        phone: str | int,
        *,
        pin: str = "1234",
        balance: float = 10_000.0,
        profile: str = "pays",
        daily_limit: float = float(DAILY_LIMIT),
        max_transaction: float = float(MAX_AMOUNT),
        daily_total: float = 0.0,
        locked: bool = False,
    ) -> dict[str, Any]:
        number = msisdn(str(phone))
        if number is None:
            raise EmulatorError(f"phone must be a Safaricom number like 2547XXXXXXXX; got {phone!r}")
        if profile not in PROFILES:
            raise EmulatorError(f"unknown profile {profile!r}; profiles are: {', '.join(PROFILES)}")
        if not isinstance(pin, (str, int)) or isinstance(pin, bool) or not str(pin):
            raise EmulatorError("pin must be a non-empty string such as '1234'")
        sub = Subscriber(
            phone=number,
            pin=Secret(str(pin)),
            balance=_money(balance, "balance"),
            profile=profile,
            daily_limit=_money(daily_limit, "daily_limit"),
            max_transaction=_money(max_transaction, "max_transaction"),
            daily_total=_money(daily_total, "daily_total"),
            locked=bool(locked),
        )
        with self.lock:
            previous = self.subscribers.get(number)
            if previous is not None:
                sub.pushes = previous.pushes
                sub.open = previous.open
            self.transient.pop(number, None)
            sub.daily_date = self.config.clock().date()
            self.subscribers[number] = sub
            return sub.to_dict()

    def unlock_subscriber(self, phone: str) -> dict[str, Any]:
        with self.lock:
            sub = self._known_subscriber(phone)
            sub.locked = False
            sub.failed_pins = 0
            return sub.to_dict()

    def set_profile(self, phone: str | int, profile: str) -> dict[str, Any]:
        """Change only how a subscriber behaves (PIN, balance and limits are kept); the number
        becomes a subscriber if it was not one. Returns the subscriber, PIN masked."""
        number = msisdn(str(phone))
        if number is None:
            raise EmulatorError(f"phone must be a Safaricom number like 2547XXXXXXXX; got {phone!r}")
        if profile not in PROFILES:
            raise EmulatorError(f"unknown profile {profile!r}; profiles are: {', '.join(PROFILES)}")
        with self.lock:
            sub = self._subscriber(number)
            previous, sub.profile = sub.profile, profile
            return {**sub.to_dict(), "previous_profile": previous}

    def _known_subscriber(self, phone: str) -> Subscriber:
        sub = self.subscribers.get(str(phone))
        if sub is None:
            raise EmulatorError(f"no subscriber {phone!r}; register_subscriber() it first")
        return sub

    def _subscriber(self, phone: str, now: datetime | None = None) -> Subscriber:
        sub = self.subscribers.get(phone)
        if sub is None:
            cfg = self.config
            pin = self._default_pin
            if pin is None or pin.reveal() != cfg.default_pin:
                # One Secret shared by every subscriber made on the fly (they are many).
                pin = self._default_pin = Secret(cfg.default_pin)
            sub = Subscriber(
                phone=phone,
                pin=pin,
                balance=float(cfg.default_balance),
                profile="mix",
                registered=False,
                daily_date=(now or cfg.clock()).date(),
            )
            self.subscribers[phone] = sub
            self.transient[phone] = None
        return sub

    # ------------------------------------------------------------------ OAuth

    def issue_token(self, authorization: str | None, grant_type: str | None) -> dict[str, Any]:
        """GET /oauth/v1/generate: HTTP Basic -> a token shaped like Daraja's."""
        scheme, _, payload = (authorization or "").strip().partition(" ")
        if scheme.lower() != "basic" or not payload.strip():
            raise EnvelopeError.named("invalid_authentication_type")
        if grant_type != "client_credentials":
            raise EnvelopeError.named("invalid_grant_type")
        try:
            key, sep, secret = base64.b64decode(payload.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            key, sep, secret = "", "", ""
        cfg = self.config
        with self.lock:
            app = self.apps.get(key) if sep else None
            if (
                app is None
                or not hmac.compare_digest(app.secret.reveal().encode(), secret.encode())
                # Each Daraja knows only its own apps: sandbox keys are wrong keys on production.
                or app.environment != cfg.environment
            ):
                raise EnvelopeError.named(
                    "invalid_client_credentials", empty_body=cfg.oauth_wrong_credentials_body == "empty"
                )
            now = cfg.clock()
            value = self.ids.access_token()
            expires = now + timedelta(seconds=cfg.token_ttl)
            self.tokens[value] = Token(app_key=app.key, issued_at=now, expires_at=expires)
            if len(self.tokens) > 1000:
                self._prune_tokens(now)
        # Live OAuth sends expires_in as text; the doc's example shows a number.
        expires_in: Any = cfg.token_ttl if cfg.expires_in_style == "number" else str(cfg.token_ttl)
        return {"access_token": value, "expires_in": expires_in}

    def _prune_tokens(self, now: datetime) -> None:
        for value in [v for v, t in self.tokens.items() if t.expires_at <= now]:
            del self.tokens[value]

    def authenticate(self, authorization: str | None) -> App:
        """The app behind ``Authorization: Bearer <token>``; 404.001.03 when missing, unknown or expired."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            raise EnvelopeError.named("invalid_access_token")
        with self.lock:
            token = self.tokens.get(value.strip())
            if token is None:
                raise EnvelopeError.named("invalid_access_token")
            if self.config.clock() >= token.expires_at:
                del self.tokens[value.strip()]
                raise EnvelopeError.named("invalid_access_token")
            app = self.apps.get(token.app_key)
            # A token is its host's: a sandbox token means nothing to production (and a token
            # issued before the emulator was switched to the other host is the other host's).
            if app is None or app.environment != self.config.environment:
                raise EnvelopeError.named("invalid_access_token")
            if not app.express:
                raise no_product_error()
            return app

    def expire_tokens(self) -> dict[str, Any]:
        """Every access token issued so far expires now (as if its hour had passed)."""
        with self.lock:
            now = self.config.clock()
            live = [value for value, token in self.tokens.items() if token.expires_at > now]
            for value in live:
                self.tokens[value] = replace(self.tokens[value], expires_at=now)
        return {"expired": len(live)}

    # ------------------------------------------------------------------ retention

    def _forget_subscribers(self, limit: int) -> None:
        """Forget the least recently pushed subscribers made on the fly, down to 90 % of
        ``limit``; one with a transaction still open is kept. Registered ones are never forgotten."""
        target = max(1, int(limit * 0.9))
        excess = len(self.transient) - target
        if excess <= 0:
            return
        doomed: list[str] = []
        for phone in self.transient:
            if len(doomed) >= excess:
                break
            sub = self.subscribers.get(phone)
            if sub is None or sub.open <= 0:
                doomed.append(phone)
        for phone in doomed:
            del self.transient[phone]
            self.subscribers.pop(phone, None)
            self.recent_pushes.pop(phone, None)
        self.forgotten_subscribers += len(doomed)
