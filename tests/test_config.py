import logging
import os

import pytest

from mpesa_lab.config import ENV_VARS, Settings
from mpesa_lab.constants import (
    LAB_CONSUMER_KEY,
    LAB_CONSUMER_SECRET,
    PRODUCTION_BASE_URL,
    SANDBOX_BASE_URL,
    SANDBOX_PASSKEY,
)
from mpesa_lab.daraja.errors import ConfigError
from mpesa_lab.secret import Secret

SECRET = "cs-TOPSECRET-8f2a7c1e9b"
PASSKEY = "cd" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No MPESA_* from the developer's shell, and a working directory without a .env."""
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_local_needs_no_input():
    settings = Settings.local()
    assert settings.environment == "local"
    assert settings.consumer_key == LAB_CONSUMER_KEY
    assert settings.consumer_secret.reveal() == LAB_CONSUMER_SECRET
    assert (settings.shortcode, settings.party_b) == ("174379", "174379")
    assert settings.passkey.reveal() == SANDBOX_PASSKEY
    assert settings.transaction_type == "CustomerPayBillOnline"
    assert settings.callback_url is None and settings.timeout > 0
    assert Settings.from_env().environment == "local"


def test_local_takes_a_base_url_and_overrides():
    settings = Settings.local(base_url="http://127.0.0.1:5123/", callback_url="http://127.0.0.1:9/cb", timeout=5)
    assert settings.base_url == "http://127.0.0.1:5123"  # trailing slash dropped
    assert settings.callback_url == "http://127.0.0.1:9/cb" and settings.timeout == 5.0


def test_sandbox_defaults_and_missing_credentials_named(monkeypatch):
    with pytest.raises(ConfigError) as info:
        Settings.from_env("sandbox")
    assert "MPESA_CONSUMER_KEY" in str(info.value) and "MPESA_CONSUMER_SECRET" in str(info.value)
    monkeypatch.setenv("MPESA_CONSUMER_KEY", "key-1")
    with pytest.raises(ConfigError) as info:
        Settings.from_env("sandbox")
    assert "MPESA_CONSUMER_SECRET" in str(info.value) and "MPESA_CONSUMER_KEY" not in str(info.value)
    monkeypatch.setenv("MPESA_CONSUMER_SECRET", SECRET)
    settings = Settings.from_env("sandbox")
    assert settings.base_url == SANDBOX_BASE_URL
    assert settings.shortcode == "174379" and settings.passkey.reveal() == SANDBOX_PASSKEY
    assert isinstance(settings.consumer_secret, Secret) and settings.consumer_secret.reveal() == SECRET


def test_production_needs_key_secret_shortcode_and_passkey(monkeypatch):
    monkeypatch.setenv("MPESA_ENV", "production")
    with pytest.raises(ConfigError) as info:
        Settings.from_env()
    for var in ("MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_SHORTCODE", "MPESA_PASSKEY"):
        assert var in str(info.value)
    monkeypatch.setenv("MPESA_CONSUMER_KEY", "k")
    monkeypatch.setenv("MPESA_CONSUMER_SECRET", SECRET)
    monkeypatch.setenv("MPESA_SHORTCODE", "600100")
    monkeypatch.setenv("MPESA_PASSKEY", PASSKEY)
    settings = Settings.from_env()
    assert settings.environment == "production" and settings.base_url == PRODUCTION_BASE_URL
    assert settings.shortcode == "600100" and settings.party_b == "600100"


def test_precedence_arguments_then_environment_then_dotenv_then_defaults(monkeypatch, clean_env):
    (clean_env / ".env").write_text(
        "MPESA_ENV=sandbox\n"
        "MPESA_CONSUMER_KEY=from-file\n"
        f"MPESA_CONSUMER_SECRET={SECRET}\n"
        "MPESA_CALLBACK_URL=https://file.example.net/cb\n"
        "MPESA_SHORTCODE=600111\n"
        "MPESA_PASSKEY=filepasskey\n"
        "MPESA_TRANSACTION_TYPE=CustomerBuyGoodsOnline\n"
        "MPESA_PARTY_B=123456\n"
    )
    from_file = Settings.from_env()
    assert from_file.environment == "sandbox" and from_file.consumer_key == "from-file"
    assert from_file.callback_url == "https://file.example.net/cb"
    assert (from_file.shortcode, from_file.transaction_type, from_file.party_b) == (
        "600111",
        "CustomerBuyGoodsOnline",
        "123456",
    )
    assert from_file.passkey.reveal() == "filepasskey"
    assert "MPESA_CONSUMER_KEY" not in os.environ  # .env is read, never loaded into os.environ

    monkeypatch.setenv("MPESA_CONSUMER_KEY", "from-env")
    monkeypatch.setenv("MPESA_BASE_URL", "https://proxy.shop.co.ke/daraja")
    from_env = Settings.from_env()
    assert from_env.consumer_key == "from-env" and from_env.base_url == "https://proxy.shop.co.ke/daraja"
    assert from_env.consumer_secret.reveal() == SECRET  # still from the file

    from_args = Settings.from_env(consumer_key="from-arg", timeout=7)
    assert from_args.consumer_key == "from-arg" and from_args.timeout == 7.0


def test_env_file_can_be_elsewhere_or_skipped(monkeypatch, clean_env):
    path = clean_env / "conf" / "daraja.env"
    path.parent.mkdir()
    path.write_text(f"MPESA_CONSUMER_KEY=k\nMPESA_CONSUMER_SECRET={SECRET}\n")
    assert Settings.from_env("sandbox", env_file=path).consumer_key == "k"
    with pytest.raises(ConfigError):
        Settings.from_env("sandbox", env_file=None)


def test_local_mode_ignores_real_app_credentials_from_the_environment(monkeypatch):
    # A sandbox .env must not break `mpesa-lab demo`: the emulator only knows the lab app.
    monkeypatch.setenv("MPESA_CONSUMER_KEY", "real-sandbox-key")
    monkeypatch.setenv("MPESA_CONSUMER_SECRET", SECRET)
    monkeypatch.setenv("MPESA_PASSKEY", PASSKEY)
    monkeypatch.setenv("MPESA_CALLBACK_URL", "http://127.0.0.1:9/cb")
    settings = Settings.from_env("local")
    assert settings.consumer_key == LAB_CONSUMER_KEY and settings.passkey.reveal() == SANDBOX_PASSKEY
    assert settings.callback_url == "http://127.0.0.1:9/cb"
    assert Settings.from_env("local", consumer_key="explicit").consumer_key == "explicit"


@pytest.mark.parametrize("alias,expected", [("SANDBOX", "sandbox"), ("prod", "production"), ("emulator", "local")])
def test_environment_names_are_forgiving(alias, expected, monkeypatch):
    monkeypatch.setenv("MPESA_CONSUMER_KEY", "k")
    monkeypatch.setenv("MPESA_CONSUMER_SECRET", SECRET)
    monkeypatch.setenv("MPESA_SHORTCODE", "600100")
    monkeypatch.setenv("MPESA_PASSKEY", PASSKEY)
    assert Settings.from_env(alias).environment == expected


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"environment": "staging"}, "MPESA_ENV"),
        ({"base_url": "sandbox.safaricom.co.ke"}, "absolute http(s) URL"),
        ({"shortcode": "17a379"}, "5 to 7 digits"),
        ({"transaction_type": "PayBill"}, "CustomerPayBillOnline"),
        ({"timeout": 0}, "positive"),
        ({"timeout": "soon"}, "number of seconds"),
        ({"consumer_key": ""}, "MPESA_CONSUMER_KEY"),
    ],
)
def test_bad_values_are_refused_clearly(kwargs, words):
    with pytest.raises(ConfigError) as info:
        Settings.local(**kwargs) if "environment" not in kwargs else Settings(
            base_url="http://x", consumer_key="k", consumer_secret="s", shortcode="174379", passkey="p", **kwargs
        )
    assert words in str(info.value)


def test_unknown_override_is_named():
    with pytest.raises(ConfigError, match="passkee"):
        Settings.from_env(passkee="x")


def test_secrets_are_masked_everywhere(caplog):
    with caplog.at_level(logging.DEBUG):
        settings = Settings.sandbox("key-1", SECRET, passkey=PASSKEY)
        Settings.from_env("sandbox", consumer_key="key-1", consumer_secret=SECRET, passkey=PASSKEY)
    shown = [repr(settings), str(settings), f"{settings}", str(settings.describe()), caplog.text]
    for text in shown:
        assert SECRET not in text and PASSKEY not in text
    assert "key-1" in repr(settings)  # the consumer key is not a secret
    assert settings.consumer_secret.reveal() == SECRET and settings.passkey.reveal() == PASSKEY
    with pytest.raises(ConfigError) as info:
        settings.replace(shortcode="bad")
    assert SECRET not in str(info.value) and PASSKEY not in str(info.value)


def test_settings_are_frozen_and_replace_revalidates():
    settings = Settings.local()
    with pytest.raises(AttributeError):
        settings.shortcode = "600000"  # type: ignore[misc]
    changed = settings.replace(shortcode="600000")
    assert changed.shortcode == "600000" and changed.party_b == "600000"  # the default follows
    till = Settings.local(shortcode="7654321", transaction_type="CustomerBuyGoodsOnline", party_b="123456")
    assert till.replace(timeout=3).party_b == "123456"
    assert till.replace(shortcode="7654322").party_b == "123456"  # an explicit PartyB stays


def test_workshop_takes_everything_from_the_card(monkeypatch, clean_env):
    with pytest.raises(ConfigError) as info:
        Settings.from_env("workshop")
    for var in ("MPESA_BASE_URL", "MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET", "MPESA_SHORTCODE", "MPESA_PASSKEY"):
        assert var in str(info.value)
    assert "card" in str(info.value)
    (clean_env / ".env").write_text(
        "MPESA_ENV=workshop\nMPESA_BASE_URL=http://10.0.0.5:8000\nMPESA_CONSUMER_KEY=ws-p01-abc\n"
        f"MPESA_CONSUMER_SECRET={SECRET}\nMPESA_SHORTCODE=600001\nMPESA_PASSKEY={PASSKEY}\n"
    )
    settings = Settings.from_env()
    assert settings.environment == "workshop" and settings.base_url == "http://10.0.0.5:8000"
    assert settings.shortcode == "600001" and not settings.is_local
    assert SECRET not in str(settings) and PASSKEY not in repr(settings)
