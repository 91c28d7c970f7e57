# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 08-real-sandbox
#     title: The real sandbox
#     minutes: 30
#     requires: ["02", "03", "04", "05", "06"]
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 08 · The real sandbox
#
# Everything so far ran against the local emulator. Safaricom's **sandbox**
# (`https://sandbox.safaricom.co.ke`) is the same API with real servers: your own app's
# credentials, a public URL for callbacks, and some behaviour of its own. The code you wrote
# does not change; one setting does.
#
# **You will be able to**
# - keep sandbox credentials in a `.env` file, out of code and notebooks;
# - explain why callbacks need a public URL and what the ngrok tunnel does;
# - switch the lab to the sandbox with one setting;
# - say what differs live (as reported in 2026: the test number never completes, real numbers
#   are refused);
# - walk through going live: Go Live, production keys and passkey, a first real KES 1.
#
# **Prerequisites:** notebooks 02 to 06. To go live for real (optional): a Daraja account with
# an app (developer.safaricom.co.ke, *My Apps*) and an ngrok account for its authtoken.
#
# **Time:** about 30 minutes. As committed, this notebook runs entirely on the local emulator
# and says at each step what the live sandbox would do.

# %% [markdown]
# ## What changes
#
# | | local (so far) | sandbox |
# | --- | --- | --- |
# | base URL | the emulator on this machine | `https://sandbox.safaricom.co.ke` |
# | consumer key and secret | the lab app's public values | your app's, from the Daraja portal |
# | shortcode and passkey | 174379 and its public passkey | the same test paybill and passkey |
# | CallBackURL | the listener on this machine | a **public https** URL that reaches the listener |
# | the customer | the emulator's virtual phone | Safaricom's test number, or nobody |

# %%
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, lesson_store

# %% [markdown]
# ## Credentials in `.env`
#
# Your app's consumer key and secret give anyone who has them the right to act as your app.
# They go in a file named `.env` next to this notebook (the kernel's working folder), never
# in a notebook (notebooks get shared, committed and projected on walls). The project's
# `.gitignore` already lists `.env`. The lab reads it without putting anything in
# `os.environ`.
#
# ### Exercise 1: write the `.env`
#
# Write, as a string, the `.env` for the sandbox: the environment, your key and secret (use
# placeholders here, such as `paste-your-consumer-key`), and what the lab needs to open the
# tunnel. The variable names are in the README's settings list.

# %% tags=["exercise"]
env_text = ...

# %% tags=["solution"]
env_text = """
MPESA_ENV=sandbox
MPESA_CONSUMER_KEY=paste-your-consumer-key
MPESA_CONSUMER_SECRET=paste-your-consumer-secret
NGROK_AUTHTOKEN=paste-your-ngrok-authtoken
"""

# %%
check.env_file(env_text)

# %% [markdown]
# Now read it the way the lab does. The next cell writes your text (or a template) to a
# scratch folder and loads it with `Settings.from_env`: the secret shows only as a mask.

# %%
import tempfile
from pathlib import Path

from mpesa_lab.config import Settings
from mpesa_lab.daraja.errors import ConfigError

TEMPLATE = "MPESA_ENV=sandbox\nMPESA_CONSUMER_KEY=paste-your-consumer-key\nMPESA_CONSUMER_SECRET=paste-your-consumer-secret\n"
scratch = Path(tempfile.mkdtemp()) / ".env"
scratch.write_text(env_text if isinstance(env_text, str) else TEMPLATE)
try:
    sandbox_settings = Settings.from_env(env_file=scratch, environ={})
except ConfigError as exc:  # what the lab says about an incomplete .env
    print("ConfigError:", exc)
    scratch.write_text(TEMPLATE)
    sandbox_settings = Settings.from_env(env_file=scratch, environ={})
sandbox_settings

# %% [markdown]
# ## The same code, one setting
#
# `LIVE = True` (with a real `.env` next to this notebook, holding your app's values) sends
# everything below to the real sandbox: `Lab.start(environment="sandbox")` reads `.env`,
# starts the listener and opens an ngrok tunnel to it. With `LIVE = False`, the default, the
# lab runs on the emulator, set up to behave the way the live sandbox does today.

# %%
LIVE = False  # True: the real sandbox, with your .env (needs internet and an ngrok authtoken)

# %%
from mpesa_lab.constants import SANDBOX_TEST_MSISDN

if LIVE:
    lab = Lab.start(environment="sandbox", store=lesson_store("08-real-sandbox-live"))
else:
    lab = Lab.start(store=lesson_store("08-real-sandbox"))
    # Like the live sandbox today: the test number never answers its prompt.
    lab.emulator.register_subscriber(SANDBOX_TEST_MSISDN, profile="ignores")
print(lab.settings.environment, lab.settings.base_url)

# %% [markdown]
# ## Why a tunnel?
#
# Safaricom's servers POST the callback to your `CallBackURL`. `http://127.0.0.1:...` means
# "this machine" to whoever reads it, so from Safaricom it points nowhere. **ngrok** runs an
# agent on your laptop that keeps a connection open to ngrok's servers, which give you a
# public `https://....ngrok-free.app` address and forward every request on it to your local
# port. The CallBackURL is then that public address plus the listener's secret path.
#
# In sandbox mode the lab does this for you (`lab.listener.expose()`, with `NGROK_AUTHTOKEN`).
# Headless here, there is no tunnel; the listener's own path is real:

# %%
PUBLIC_URL = lab.listener.public_url or "https://example-tunnel.ngrok-free.app"  # made up when no tunnel is open
callback_path = lab.listener.app.callback_path
print("tunnel:", lab.listener.public_url or "none (local mode)")
print("path:  ", callback_path)

# %% [markdown]
# ### Exercise 2: the CallBackURL
#
# Build the `CallBackURL` Safaricom should POST to, from `PUBLIC_URL` and `callback_path`.

# %% tags=["exercise"]
url = ...

# %% tags=["solution"]
url = PUBLIC_URL.rstrip("/") + callback_path

# %%
check.callback_url(url, public_url=PUBLIC_URL, path=callback_path)

# %% [markdown]
# ## The test number
#
# The sandbox's test MSISDN is `254708374149`. As teams reported it in 2026, its push is
# **accepted**, but the prompt is never answered: the callback (if one comes) and the STK query
# end in `1037` ("No response from user."). If those reports still hold, nobody sees a
# successful payment in the live sandbox today (from 2018 to 2022 it did complete test
# payments); the emulator shows the happy path either way. Locally, it plays the 2026 reports:

# %%
push = lab.push(SANDBOX_TEST_MSISDN, 1, "INV-08", "Lesson 08")
print("accepted:", push.result.response_description)
try:
    callback = push.wait(timeout=20 if LIVE else 5)
    print("callback:", callback.result_code, callback.result_desc)
except TimeoutError:
    print("no callback yet: the query is the fallback")
print("query:   ", push.query().explain())

# %% [markdown]
# ## A real number
#
# One 2026 report: a real Kenyan number pushed in the sandbox ended in `E3008`, "Error, the user
# has a bad debt contract", a code in no documented table and never reported from production. Your handler from notebook 06 copes. Here the
# emulator plays the sandbox's answer for a made-up number; live, the cell pushes only to a
# number you set yourself (your own phone: a push prompts a real person).

# %%
MY_NUMBER = None  # live: your own phone ("2547XXXXXXXX"), never a stranger's
if not LIVE:
    MY_NUMBER = "254712345678"  # made up; the emulator plays the sandbox's answer
    lab.emulator.set_next_result("E3008", phone=MY_NUMBER)
if MY_NUMBER:
    refused = lab.push(MY_NUMBER, 1, "INV-08", "Lesson 08").wait(timeout=20 if LIVE else 5)
    print(refused.result_code, "| known to the catalogue:", refused.entry.known)
    print("Fix:", refused.mitigation)
else:
    print("Set MY_NUMBER to your own phone to try this live.")

# %% [markdown]
# ## What else differs live
#
# - **Time and the network.** OAuth, push and query take hundreds of milliseconds; callbacks
#   come seconds later, sometimes never.
# - **Wrong credentials** at OAuth answer HTTP 400, sometimes with an empty body.
# - **Lengths.** The doc says AccountReference ≤ 12 and TransactionDesc ≤ 13 characters; the
#   live sandbox has accepted longer. Keep to the documented limits anyway.
# - **Production** (`environment="production"`) needs your own shortcode and passkey from Go
#   Live, and https everywhere. The passkey then *is* a secret: `.env`, never code.
#
# ## Going live, end to end
#
# The steps, with Safaricom's words (`docs/going-live.md` has the details and sources):
#
# 1. **A live paybill or till** with a Business Administrator or Manager on the M-PESA org
#    portal: Go Live asks for that operator's username and sends an OTP to their phone.
# 2. **The Go Live tab** of your Daraja app: the organisation's short code ("Pay bill number,
#    Store Number for a Till, HO number"), its name, the operator's username.
# 3. **Production keys and passkey by email**: "the test sandbox app will be moved to production
#    with production consumer key and secrets"; the passkey "will be send on developer email
#    after go-live".
# 4. **Enable the product**: "ensure the Lipa na M-PESA production product is enabled on your
#    Daraja application".
# 5. **A till**: BusinessShortCode is the store (HO) number you went live with, PartyB the till
#    number, TransactionType `CustomerBuyGoodsOnline` (notebook 06).
# 6. **The callback URL**: public https on your own server. Allow-listing Safaricom's addresses
#    is a caveat, not a guarantee: the lists are third-party and a real callback has come from
#    outside one. Confirm payments by STK query (notebook 05).
# 7. **A first real test of KES 1**, to your own phone: check the callback, a query, the SMS and
#    the org portal.
#
# All of it goes in a production `.env`, git-ignored, never in a notebook. The lab reads it and
# shows every secret masked: here with made-up values, for a till.

# %%
PRODUCTION_ENV = """
MPESA_ENV=production
MPESA_CONSUMER_KEY=made-up-production-key
MPESA_CONSUMER_SECRET=made-up-production-secret
MPESA_SHORTCODE=7000001
MPESA_PASSKEY=made-up-passkey-from-the-go-live-email
MPESA_TRANSACTION_TYPE=CustomerBuyGoodsOnline
MPESA_PARTY_B=7000002
MPESA_CALLBACK_URL=https://shop.example/mpesa/callback/long-random-path
"""
scratch.write_text(PRODUCTION_ENV)
production = Settings.from_env(env_file=scratch, environ={})
production.describe()

# %% [markdown]
# ## Summary
#
# - Credentials live in `.env` (git-ignored), read by `Settings.from_env`; secrets print
#   masked.
# - Callbacks need a public https URL: the lab opens an ngrok tunnel and appends its secret
#   path.
# - `Lab.start(environment="sandbox")` is the one change; every other line stays.
# - Live sandbox, as reported in 2026: the test number ends in `1037`, real numbers in
#   `E3008`.
# - Going live: Go Live form, keys and passkey by email, the product enabled, a till's store
#   number, a public https callback, KES 1 to your own phone first.
#
# **Next:** 09, running a workshop on these notebooks.

# %%
lab.stop()
