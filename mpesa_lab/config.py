"""Settings: which Daraja to talk to, as whom, and where callbacks go.

Three environments share one shape:

- ``local``: the emulator on this machine; needs no input (the lab app's public credentials and
  the sandbox test paybill 174379 with its public passkey).
- ``sandbox``: https://sandbox.safaricom.co.ke with your app's consumer key and secret; the test
  paybill 174379 and its public passkey are the defaults.
- ``production``: https://api.safaricom.co.ke; key, secret, shortcode and passkey are all yours.
- ``workshop``: a room's shared emulator (``mpesa-lab workshop serve``) at MPESA_BASE_URL, with the
  key, secret, shortcode and passkey from your participant's card.

Values come from, in order: arguments, environment variables (``MPESA_*``), a ``.env`` file (read
without touching ``os.environ``), then defaults. Secrets are :class:`~mpesa_lab.secret.Secret`
values: masked in every repr, str and log line.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from mpesa_lab.constants import (
    LAB_CONSUMER_KEY,
    LAB_CONSUMER_SECRET,
    PRODUCTION_BASE_URL,
    SANDBOX_BASE_URL,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
)
from mpesa_lab.errors import ConfigError
from mpesa_lab.secret import Secret

log = logging.getLogger("mpesa_lab.config")

Environment = Literal["local", "sandbox", "production", "workshop"]
ENVIRONMENTS: tuple[str, ...] = ("local", "sandbox", "production", "workshop")

PAYBILL = "CustomerPayBillOnline"
BUY_GOODS = "CustomerBuyGoodsOnline"
TRANSACTION_TYPES: tuple[str, ...] = (PAYBILL, BUY_GOODS)

# Where the emulator listens when nobody says otherwise (the Lab passes its real, free port).
DEFAULT_LOCAL_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0

BASE_URLS: dict[str, str] = {
    "local": DEFAULT_LOCAL_BASE_URL,
    "sandbox": SANDBOX_BASE_URL,
    "production": PRODUCTION_BASE_URL,
}

# field name -> environment variable
ENV_VARS: dict[str, str] = {
    "environment": "MPESA_ENV",
    "consumer_key": "MPESA_CONSUMER_KEY",
    "consumer_secret": "MPESA_CONSUMER_SECRET",
    "shortcode": "MPESA_SHORTCODE",
    "passkey": "MPESA_PASSKEY",
    "callback_url": "MPESA_CALLBACK_URL",
    "base_url": "MPESA_BASE_URL",
    "transaction_type": "MPESA_TRANSACTION_TYPE",
    "party_b": "MPESA_PARTY_B",
    "timeout": "MPESA_TIMEOUT",
}

# A real Daraja app's credentials do not work against the emulator, so local mode does not pick
# them up from the environment or .env (where a sandbox setup usually keeps them). Pass them as
# arguments to override.
_NOT_READ_IN_LOCAL = ("consumer_key", "consumer_secret", "shortcode", "passkey")

_ENV_ALIASES = {"dev": "local", "emulator": "local", "test": "sandbox", "live": "production", "prod": "production"}


def _normalize_environment(value: object) -> str:
    text = str(value).strip().lower()
    text = _ENV_ALIASES.get(text, text)
    if text not in ENVIRONMENTS:
        raise ConfigError(
            f"environment {value!r} is not one of {', '.join(ENVIRONMENTS)}: set MPESA_ENV "
            "(or pass environment=) to one of them"
        )
    return text


def _normalize_base_url(value: str) -> str:
    text = str(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise ConfigError(
            f"base_url {value!r} is not an absolute http(s) URL: use e.g. {SANDBOX_BASE_URL!r} "
            "or the emulator's URL such as 'http://127.0.0.1:8000'"
        )
    return text.rstrip("/")


def _normalize_shortcode(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "invalid"
    text = str(value).strip()
    if not re.fullmatch(r"\d{5,7}", text):
        raise ConfigError(
            f"{name} {value!r} is not a shortcode (5 to 7 digits): use your paybill or store "
            f"number from Go Live (sandbox: {SANDBOX_SHORTCODE})"
        )
    return text


def _normalize_transaction_type(value: object) -> str:
    text = str(value).strip()
    for known in TRANSACTION_TYPES:
        if text.lower() == known.lower():
            return known
    raise ConfigError(
        f"transaction_type {value!r} is not one of {', '.join(TRANSACTION_TYPES)}: use "
        f"{PAYBILL} for a paybill, {BUY_GOODS} for a till"
    )


@dataclass(frozen=True)
class Settings:
    """Everything the client needs to reach one Daraja. Secrets are masked when shown."""

    environment: Environment
    base_url: str
    consumer_key: str
    consumer_secret: Secret
    shortcode: str
    passkey: Secret
    callback_url: str | None = None
    transaction_type: str = PAYBILL
    party_b: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "environment", _normalize_environment(self.environment))
        setattr_(self, "base_url", _normalize_base_url(self.base_url))
        setattr_(self, "consumer_key", str(self.consumer_key or "").strip())
        setattr_(self, "consumer_secret", Secret(self.consumer_secret or ""))
        setattr_(self, "passkey", Secret(self.passkey or ""))
        setattr_(self, "shortcode", _normalize_shortcode("shortcode", self.shortcode))
        setattr_(self, "transaction_type", _normalize_transaction_type(self.transaction_type))
        party_b = self.party_b if self.party_b not in (None, "") else self.shortcode
        setattr_(self, "party_b", _normalize_shortcode("party_b", party_b))
        callback = self.callback_url
        setattr_(self, "callback_url", None if callback in (None, "") else str(callback))
        try:
            timeout = float(self.timeout)
        except (TypeError, ValueError):
            raise ConfigError(f"timeout {self.timeout!r} is not a number of seconds (e.g. 30)") from None
        if not timeout > 0:
            raise ConfigError(f"timeout {self.timeout!r} must be a positive number of seconds (e.g. 30)")
        setattr_(self, "timeout", timeout)
        missing = [ENV_VARS[name] for name in ("consumer_key", "consumer_secret") if not getattr(self, name)]
        if missing:
            raise ConfigError(
                f"{self.environment} settings need {' and '.join(missing)}: copy the Consumer Key "
                "and Consumer Secret of your app from the Daraja portal (My Apps) into the "
                "environment or .env"
            )
        if not self.passkey:
            raise ConfigError(
                f"{self.environment} settings need {ENV_VARS['passkey']}: the passkey issued for "
                f"shortcode {self.shortcode} (sandbox: the public test-data passkey for {SANDBOX_SHORTCODE})"
            )

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def local(cls, base_url: str = DEFAULT_LOCAL_BASE_URL, **overrides: Any) -> Settings:
        """Settings for the local emulator: no input needed, every value overridable."""
        return cls._test_paybill("local", base_url, LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, overrides)

    @classmethod
    def sandbox(cls, consumer_key: str, consumer_secret: str | Secret, **overrides: Any) -> Settings:
        """Settings for Safaricom's public sandbox with the test paybill 174379 by default."""
        return cls._test_paybill("sandbox", SANDBOX_BASE_URL, consumer_key, consumer_secret, overrides)

    @classmethod
    def _test_paybill(
        cls,
        environment: str,
        base_url: str,
        consumer_key: str,
        consumer_secret: str | Secret,
        overrides: Mapping[str, Any],
    ) -> Settings:
        # Both start from the public test paybill 174379 and its passkey; None means "default".
        values: dict[str, Any] = {
            "environment": environment,
            "base_url": base_url,
            "consumer_key": consumer_key,
            "consumer_secret": consumer_secret,
            "shortcode": SANDBOX_SHORTCODE,
            "passkey": SANDBOX_PASSKEY,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def from_env(
        cls,
        environment: str | None = None,
        env_file: str | os.PathLike[str] | None = ".env",
        *,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Read settings: arguments > environment variables > ``env_file`` > defaults.

        ``env_file`` (default ``.env`` in the working directory; ``None`` to skip) is read with
        python-dotenv without changing ``os.environ``. Sandbox and production need
        MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET; production also MPESA_SHORTCODE and
        MPESA_PASSKEY. A missing one raises :class:`ConfigError` naming the variables.
        """
        unknown = set(overrides) - set(ENV_VARS)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))}: use {', '.join(ENV_VARS)}")
        environ = os.environ if environ is None else environ
        file_values = _read_env_file(env_file)

        def pick(name: str) -> tuple[Any, str]:
            if overrides.get(name) not in (None, ""):
                return overrides[name], "argument"
            var = ENV_VARS[name]
            if environ.get(var, "").strip():
                return environ[var].strip(), f"environment variable {var}"
            if (file_values.get(var) or "").strip():
                return str(file_values[var]).strip(), f"{var} in {env_file}"
            return None, "default"

        env_value = environment if environment not in (None, "") else pick("environment")[0]
        env_name = _normalize_environment(env_value or "local")

        values: dict[str, Any] = {"environment": env_name}
        sources: dict[str, str] = {}
        for name in ENV_VARS:
            if name == "environment":
                continue
            if env_name == "local" and name in _NOT_READ_IN_LOCAL:
                value, source = (
                    (overrides.get(name), "argument") if overrides.get(name) not in (None, "") else (None, "default")
                )
            else:
                value, source = pick(name)
            if value is not None:
                values[name] = value
                sources[name] = source
        log.debug(
            "settings for %s from: %s",
            env_name,
            ", ".join(f"{k}={v}" for k, v in sorted(sources.items())) or "defaults only",
        )

        if env_name == "local":
            return cls.local(**values)

        if env_name == "workshop":
            return cls._workshop(values, env_file)
        defaults: dict[str, Any] = {"base_url": BASE_URLS[env_name]}
        if env_name == "sandbox":
            defaults.update(shortcode=SANDBOX_SHORTCODE, passkey=SANDBOX_PASSKEY)
        required = ["consumer_key", "consumer_secret"]
        if env_name == "production":
            required += ["shortcode", "passkey"]
        missing = [ENV_VARS[name] for name in required if not values.get(name)]
        if missing:
            where = f" or in {env_file}" if env_file else ""
            raise ConfigError(
                f"{env_name} mode needs {', '.join(missing)}: set them in the environment{where}. "
                "The consumer key and secret are on your app's page in the Daraja portal (My Apps)"
                + ("; the production shortcode and passkey come with Go Live." if env_name == "production" else ".")
            )
        return cls(**{**defaults, **values})

    @classmethod
    def _workshop(cls, values: dict[str, Any], env_file: Any) -> Settings:
        """Workshop mode: everything comes from the participant's card."""
        required = ["base_url", "consumer_key", "consumer_secret", "shortcode", "passkey"]
        missing = [ENV_VARS[name] for name in required if not values.get(name)]
        if missing:
            where = f" or in {env_file}" if env_file else ""
            raise ConfigError(
                f"workshop mode needs {', '.join(missing)}: copy the lines from your participant's card "
                f"(the facilitator hands them out) into the environment{where}; MPESA_BASE_URL is the "
                "workshop server's URL"
            )
        return cls(**values)

    # -- helpers --------------------------------------------------------------------------------

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (validated again).

        A PartyB that only defaulted to the shortcode follows a new shortcode.
        """
        if "shortcode" in changes and "party_b" not in changes and self.party_b == self.shortcode:
            changes["party_b"] = None
        return dataclasses.replace(self, **changes)

    @property
    def is_local(self) -> bool:
        return self.environment == "local"

    def describe(self) -> dict[str, Any]:
        """A display-safe dict of the settings (secrets masked)."""
        return {
            "environment": self.environment,
            "base_url": self.base_url,
            "consumer_key": self.consumer_key,
            "consumer_secret": str(self.consumer_secret),
            "shortcode": self.shortcode,
            "passkey": str(self.passkey),
            "callback_url": self.callback_url,
            "transaction_type": self.transaction_type,
            "party_b": self.party_b,
            "timeout": self.timeout,
        }

    def __str__(self) -> str:
        return "Settings(" + ", ".join(f"{k}={v}" for k, v in self.describe().items()) + ")"


def _read_env_file(env_file: str | os.PathLike[str] | None) -> dict[str, str | None]:
    if not env_file:
        return {}
    path = Path(env_file)
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return dict(dotenv_values(path))
