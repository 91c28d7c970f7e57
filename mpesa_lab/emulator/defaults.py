"""What a fresh emulator knows: the lab app, the sandbox paybill, a lab till and the test number.

All of these are public lab values (printed at start, written in docs/emulator.md), valid only
against the emulator.
"""

from __future__ import annotations

from mpesa_lab.constants import (
    LAB_CONSUMER_KEY,
    LAB_CONSUMER_SECRET,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
    SANDBOX_TEST_MSISDN,
)

LAB_APP_NAME = "mpesa-lab default app"

PAYBILL_SHORTCODE = SANDBOX_SHORTCODE  # 174379, as in the public sandbox
PAYBILL_PASSKEY = SANDBOX_PASSKEY
PAYBILL_NAME = "MPESA LAB PAYBILL"

# A Buy Goods merchant: BusinessShortCode is the store number, PartyB the till number.
TILL_SHORTCODE = "174380"
TILL_NUMBER = "174381"
TILL_PASSKEY = "5ed26e70e15a9948cbd97a639ed8d59a68acdbe0f8d609297f2559db0579ae25"
TILL_NAME = "MPESA LAB SHOP"

TEST_MSISDN = SANDBOX_TEST_MSISDN  # pays by default here (unlike the real sandbox)
TEST_PIN = "1234"
TEST_BALANCE = 100_000.0

__all__ = [
    "LAB_APP_NAME",
    "LAB_CONSUMER_KEY",
    "LAB_CONSUMER_SECRET",
    "PAYBILL_NAME",
    "PAYBILL_PASSKEY",
    "PAYBILL_SHORTCODE",
    "TEST_BALANCE",
    "TEST_MSISDN",
    "TEST_PIN",
    "TILL_NAME",
    "TILL_NUMBER",
    "TILL_PASSKEY",
    "TILL_SHORTCODE",
]
