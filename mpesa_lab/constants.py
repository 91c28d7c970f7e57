"""Public facts both sides agree on: Daraja's base URLs, the public sandbox test data, and the
credentials of the local emulator's built-in lab app. None of these are secrets."""

from __future__ import annotations

SANDBOX_BASE_URL = "https://sandbox.safaricom.co.ke"
PRODUCTION_BASE_URL = "https://api.safaricom.co.ke"

OAUTH_PATH = "/oauth/v1/generate"
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"

# The public sandbox test paybill and its passkey, published on Daraja's test-data page.
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
SANDBOX_TEST_MSISDN = "254708374149"

# The emulator's default app: documented, printed at start, only valid against the emulator.
LAB_CONSUMER_KEY = "mpesa-lab-consumer-key"
LAB_CONSUMER_SECRET = "mpesa-lab-consumer-secret"

# Daraja's limits for M-Pesa Express (doc FAQ).
MIN_AMOUNT = 1
MAX_AMOUNT = 250_000
DAILY_LIMIT = 500_000
MAX_ACCOUNT_BALANCE = 500_000
ACCOUNT_REFERENCE_MAX = 12
TRANSACTION_DESC_MAX = 13

# The listener's default cap on a callback body (a real stkCallback is under 1 KB). Here, not in
# listener/app.py, so that building the CLI's `listen` options does not load the listener.
LISTENER_MAX_BODY_BYTES = 64 * 1024
