# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 03-password-timestamp
#     title: Password and timestamp
#     minutes: 30
#     requires: ["02"]
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 03 · Password and timestamp
#
# Every STK push (and every STK query) carries two fields that prove the merchant may charge
# through this shortcode: a `Timestamp` and a `Password` built from it. Most "it works on my
# machine" failures with M-Pesa Express live here.
#
# **You will be able to**
# - write a Daraja `Timestamp` in Nairobi time (the convention), whatever your laptop's clock says;
# - build a `Password` by hand and decode one;
# - diagnose `500.001.1001 Wrong credentials` by naming the part that disagrees.
#
# **Prerequisites:** notebook 02 (the access token); `datetime` basics.
#
# **Time:** about 30 minutes, on the local emulator.

# %%
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, lesson_store

lab = Lab.start(store=lesson_store("03-password-timestamp"))
lab

# %% [markdown]
# ## The recipe
#
# ```
# Password = base64( BusinessShortCode + Passkey + Timestamp )
# ```
#
# - **BusinessShortCode**: the paybill (or store number) being paid; `174379` in the sandbox.
# - **Passkey**: a 64-character key Safaricom issues per shortcode. The sandbox's is public
#   (Daraja's test-data page); a production passkey is a secret, kept like a password.
# - **Timestamp**: `YYYYMMDDHHmmss`, and it must be the *same* value you send in the
#   `Timestamp` field.

# %%
from mpesa_lab.constants import SANDBOX_PASSKEY, SANDBOX_SHORTCODE

SHORTCODE = SANDBOX_SHORTCODE
PASSKEY = SANDBOX_PASSKEY  # public sandbox value; never paste a production passkey in a notebook
SHORTCODE, len(PASSKEY)

# %% [markdown]
# ## The timestamp: Nairobi time, by convention
#
# Daraja's doc gives the `Timestamp` only a format, `YYYYMMDDHHmmss`. Integrators write it in
# Nairobi local time (UTC+3, all year), as Daraja writes its own TransactionDate: a convention,
# and the one this course follows. Daraja does not check that it is *now* (more below). A laptop
# or a cloud server set to UTC formats a time three hours behind. Compare the two clocks:

# %%
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

NAIROBI = ZoneInfo("Africa/Nairobi")
FORMAT = "%Y%m%d%H%M%S"

now = datetime.now(timezone.utc)
print("UTC clock:    ", now.strftime(FORMAT))
print("Nairobi clock:", now.astimezone(NAIROBI).strftime(FORMAT))

# %% [markdown]
# ### Exercise 1: a timestamp for a late-night order
#
# A customer in Nairobi pays at the moment below, recorded by a server that keeps UTC. Write
# its Daraja `Timestamp`. (Look at the date as well as the hour.)

# %%
moment = datetime(2026, 3, 14, 21, 30, 5, tzinfo=timezone.utc)

# %% tags=["exercise"]
ts = ...  # 14 digits, Nairobi time

# %% tags=["solution"]
ts = moment.astimezone(NAIROBI).strftime(FORMAT)

# %%
check.timestamp(ts, moment=moment)

# %% [markdown]
# The library's `daraja_timestamp()` does the same for "now" (or any moment), so production
# code never formats this by hand.
#
# ## Build a password
#
# ### Exercise 2: the password by hand
#
# Use `SHORTCODE`, `PASSKEY` and the fixed `TIMESTAMP` below. Join the three texts, encode
# them to bytes, base64 them, and decode the result back to text.

# %%
import base64

TIMESTAMP = "20260315003005"

# %% tags=["exercise"]
password = ...  # base64 of SHORTCODE + PASSKEY + TIMESTAMP, as a str

# %% tags=["solution"]
password = base64.b64encode((SHORTCODE + PASSKEY + TIMESTAMP).encode("utf-8")).decode("ascii")

# %%
check.password(password, shortcode=SHORTCODE, passkey=PASSKEY, timestamp=TIMESTAMP)

# %% [markdown]
# ## Send it, and see it refused
#
# `push_by_hand` sends an STK push the way Daraja's documentation shows it: a bearer token
# from step 1 and a JSON body with every field. It uses your password (or the library's, until
# Exercise 2 passes) and the magic phone `254708000000`, which always pays.

# %%
import httpx

from mpesa_lab.constants import STK_PUSH_PATH
from mpesa_lab.daraja.password import build_password

from mpesa_lab.daraja.password import check_password

if isinstance(password, str) and check_password(password, SHORTCODE, PASSKEY, TIMESTAMP).ok:
    my_password = password
else:
    print("Using the library's password until Exercise 2 passes.")
    my_password = build_password(SHORTCODE, PASSKEY, TIMESTAMP)
bearer = {"Authorization": "Bearer " + lab.client.tokens.token().reveal()}


def push_by_hand(password, timestamp, phone="254708000000", amount=1):
    body = {
        "BusinessShortCode": SHORTCODE, "Password": password, "Timestamp": timestamp,
        "TransactionType": "CustomerPayBillOnline", "Amount": amount,
        "PartyA": phone, "PartyB": SHORTCODE, "PhoneNumber": phone,
        "CallBackURL": lab.callback_url, "AccountReference": "INV-03", "TransactionDesc": "Lesson 03",
    }
    return httpx.post(lab.settings.base_url + STK_PUSH_PATH, json=body, headers=bearer)

# %% [markdown]
# First with the timestamp the password was built from, then one second later:

# %%
ok = push_by_hand(my_password, TIMESTAMP)
print("same timestamp:     HTTP", ok.status_code, ok.json().get("ResponseDescription"))
lab.listener.wait_for(ok.json()["CheckoutRequestID"], timeout=10)  # the phone is free again

refused = push_by_hand(my_password, "20260315003006")
print("timestamp + 1 s:    HTTP", refused.status_code, refused.json()["errorCode"], refused.json()["errorMessage"])

# %% [markdown]
# One second apart is enough. Daraja does not check that the timestamp is *fresh*; it checks
# that the password was built from *this* request's shortcode, passkey and timestamp. That is
# why code that calls "now" twice (once for the field, once for the password) fails now and
# then, when the second ticks over between the calls.
#
# ## Decode a password
#
# A password is not encrypted, only encoded: anyone can decode it (and read the passkey, so
# never log one). `decode_password` splits it; its repr masks the passkey.

# %%
from mpesa_lab.daraja.password import decode_password

decode_password(my_password)

# %% [markdown]
# ### Exercise 3: "Wrong credentials", diagnosed
#
# A colleague's push is refused with `500.001.1001 Wrong credentials`. Their request sent
# `Timestamp = "20260315003005"` and this password. Which part inside it is wrong? Answer
# `"shortcode"`, `"passkey"`, `"timestamp"` or `"none"`.

# %%
their_timestamp = "20260315003005"
their_password = build_password(SHORTCODE, PASSKEY, "20260314213005")

# %% tags=["exercise"]
# decode_password(their_password) shows what is inside
wrong = ...

# %% tags=["solution"]
inside = decode_password(their_password)
print(inside.shortcode == SHORTCODE, inside.timestamp, their_timestamp)
wrong = "timestamp"

# %%
check.wrong_part(wrong, password=their_password, shortcode=SHORTCODE, passkey=PASSKEY, timestamp=their_timestamp)

# %% [markdown]
# The password was built from another timestamp than the field (here three hours apart: one
# came from a UTC clock, the other from Nairobi time). A UTC clock alone is not the fault: one
# timestamp in both places is accepted. The causes of "Wrong credentials" are a wrong passkey
# (a production passkey with the sandbox shortcode, or the reverse), a shortcode/passkey
# mismatch (a till number where the store number belongs), and the timestamp computed twice.
# The client checks any password against its own settings and the request's `Timestamp`, and
# says which part disagrees (the CLI does the same: `mpesa-lab password check`):

# %%
print(lab.client.check_password(their_password, their_timestamp))

# %% [markdown]
# ## Summary
#
# - `Password = base64(BusinessShortCode + Passkey + Timestamp)`, as text.
# - The `Timestamp` is `YYYYMMDDHHmmss`, written in **Nairobi time** by convention; a UTC clock
#   is 3 hours off (near midnight, a day off), which only matters if the two copies differ.
# - Build the password and the field from **one** timestamp value.
# - `500.001.1001 Wrong credentials` means the password does not decode to this request's
#   shortcode, passkey and timestamp (wrong passkey, shortcode/passkey mismatch, timestamp
#   computed twice): decode it and compare each part.
#
# **Next:** 04, your first STK push answered on the virtual phone; then 05, callbacks.

# %%
lab.stop()
