# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 02-access-token
#     title: The access token
#     minutes: 25
#     requires: []
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 02 · The access token
#
# Every call to Daraja carries an **access token**. Before you can ask a customer to pay, your
# code trades its app's consumer key and secret for a token that lives about an hour. This
# notebook takes that first step of the journey apart.
#
# **You will be able to**
# - build the HTTP Basic header that `/oauth/v1/generate` expects, by hand;
# - read Daraja's answer (`access_token`, `expires_in` as a *string*) and decide when to refresh;
# - explain why one token serves many pushes, and what `404.001.03 Invalid Access Token` means.
#
# **Prerequisites:** Python basics; the lab installed (`pip install -e .`). Notebook 01 (the
# journey) helps but is not required.
#
# **Time:** about 25 minutes. Everything runs on the local emulator: no credentials, no internet.

# %% [markdown]
# ## Start the lab
#
# `Lab.start()` brings up the local Daraja emulator, a callback listener and a client wired to
# both. `lesson_store(...)` names this lesson's SQLite store, so re-running the cell continues
# the same store instead of starting an empty one.

# %%
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, lesson_store

lab = Lab.start(store=lesson_store("02-access-token"))
lab

# %% [markdown]
# ## Step 1 of the journey: ask for a token
#
# The merchant sends `GET /oauth/v1/generate?grant_type=client_credentials` with an HTTP
# **Basic** `Authorization` header: the word `Basic`, a space, then base64 of
# `consumer_key:consumer_secret`.
#
# The emulator's lab app has public credentials, valid only against the emulator. On the real
# sandbox you copy yours from the Daraja portal (notebook 08).

# %%
import base64

from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET

LAB_CONSUMER_KEY

# %% [markdown]
# ### Exercise 1: build the Basic header by hand
#
# Put `"Basic "` in front of the base64 of `"<key>:<secret>"`. `base64.b64encode` takes bytes
# and returns bytes: encode the text first and decode the result.

# %% tags=["exercise"]
header = ...  # "Basic " + base64 of f"{LAB_CONSUMER_KEY}:{LAB_CONSUMER_SECRET}"

# %% tags=["solution"]
pair = f"{LAB_CONSUMER_KEY}:{LAB_CONSUMER_SECRET}"
header = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

# %%
check.basic_auth(header, consumer_key=LAB_CONSUMER_KEY, consumer_secret=LAB_CONSUMER_SECRET)

# %% [markdown]
# ## Send it
#
# The next cell sends your header with `httpx` (the library's, if yours is not ready yet).
# It prints the answer's shape but not the token itself: a token is as good as a password
# for the next hour, so it never belongs in a log or a saved notebook.

# %%
import httpx

from mpesa_lab.constants import OAUTH_PATH
from mpesa_lab.daraja.auth import basic_auth_header

def get_token(authorization):
    return httpx.get(lab.settings.base_url + OAUTH_PATH,
                     params={"grant_type": "client_credentials"},
                     headers={"Authorization": authorization})


authorization = header if isinstance(header, str) else basic_auth_header(LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET).reveal()
response = get_token(authorization)
if response.status_code != 200:
    print(f"Your header was refused (HTTP {response.status_code}): see Exercise 1. Using the library's for now.")
    authorization = basic_auth_header(LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET).reveal()
    response = get_token(authorization)
answer = response.json()
print("HTTP", response.status_code)
print("keys:", sorted(answer))
print("expires_in:", repr(answer["expires_in"]), "| access_token:", len(answer["access_token"]), "characters")

# %% [markdown]
# Note the quotes around `'3599'`: Daraja sends `expires_in` as a **string** (newer pages of
# its documentation show a number; robust code accepts both).
#
# ## When OAuth says no
#
# Three mistakes. Two have a code: a header that is not Basic is `400.008.01` "Invalid
# authentication type passed", a missing `grant_type` is `400.008.02`. A wrong key or secret has
# no code of its own: live Daraja answers HTTP **400** (not 401), often with an **empty body**.
# The emulator can answer either way; here it answers as live Daraja often does, so tell a wrong
# secret by the status, never by a code.

# %%
url = lab.settings.base_url + OAUTH_PATH
attempts = {
    "wrong secret": dict(params={"grant_type": "client_credentials"},
                         headers={"Authorization": basic_auth_header(LAB_CONSUMER_KEY, "not-the-secret").reveal()}),
    "no grant_type": dict(headers={"Authorization": authorization}),
    "not Basic": dict(params={"grant_type": "client_credentials"}, headers={"Authorization": "Token abc"}),
}
lab.emulator.configure(oauth_wrong_credentials_body="empty")  # as live Daraja often answers
for label, request in attempts.items():
    reply = httpx.get(url, **request)
    body = reply.json() if reply.content else {}
    print(f"{label:14} HTTP {reply.status_code}", body.get("errorCode", "(empty body)"), body.get("errorMessage", ""))
lab.emulator.configure(oauth_wrong_credentials_body="envelope")  # the lab's default again

# %% [markdown]
# ## How long to keep it
#
# A token fetched now dies `expires_in` seconds later. A push sent in its last second can
# arrive after it died, so clients refresh a little **before** expiry: a safety margin.
#
# ### Exercise 2: when to refresh
#
# With a margin of 60 seconds, how many seconds after fetching should the client fetch a new
# token? Use `answer["expires_in"]` (mind its type).

# %%
MARGIN = 60

# %% tags=["exercise"]
refresh_after = ...  # seconds after fetching

# %% tags=["solution"]
refresh_after = float(answer["expires_in"]) - MARGIN

# %%
check.token_refresh(refresh_after, expires_in=answer["expires_in"], margin=MARGIN)

# %% [markdown]
# ## One token, many pushes
#
# The lab's client keeps its token in a `TokenProvider` that caches it until the refresh
# moment. Count the OAuth requests while pushing three times. (The phone `254708000000` is
# one of the emulator's *magic numbers*: it always pays, at once. Each push waits for its
# callback before the next one, since a phone takes one prompt at a time.)

# %%
tokens = lab.client.tokens
before = tokens.fetch_count
for amount in (1, 2, 3):
    lab.push("254708000000", amount, "TOKEN", "Token demo").wait(timeout=10)
print(f"{tokens.fetch_count - before} OAuth request(s) for 3 pushes")
tokens

# %% [markdown]
# The provider's repr shows a *fingerprint* of the token (a short one-way digest), never the
# token: enough to tell two tokens apart in a log.
#
# ## 404.001.03 Invalid Access Token
#
# Daraja answers `404.001.03` when the `Bearer` token on a push or query is missing, unknown or
# expired. Here is a push with a made-up token, sent by hand:

# %%
from mpesa_lab.constants import STK_PUSH_PATH

reply = httpx.post(lab.settings.base_url + STK_PUSH_PATH, json={},
                   headers={"Authorization": "Bearer made-up-token"})
print("HTTP", reply.status_code, reply.json()["errorCode"], reply.json()["errorMessage"])

from mpesa_lab import codes
print("Fix:", codes.lookup("404.001.03").mitigation)

# %% [markdown]
# What should a client do? Drop the refused token, fetch a new one and send the request
# **once** more. The lab's client does exactly that. Make the emulator forget every token it
# issued (as if they had all expired) and push again: the push still succeeds, at the cost of
# one extra OAuth request.

# %%
lab.emulator.reset(keep_tokens=False)
before = tokens.fetch_count
callback = lab.push("254708000000", 4, "TOKEN", "After reset").wait(timeout=10)
print("ResultCode", callback.result_code, "| OAuth requests:", tokens.fetch_count - before)

# %% [markdown]
# ## Summary
#
# - The token comes from `GET /oauth/v1/generate?grant_type=client_credentials` with
#   `Authorization: Basic base64(key:secret)`; a wrong key or secret answers HTTP 400, often
#   with an empty body (`400.008.01` means a header that is not Basic).
# - `expires_in` is a string of seconds (`"3599"`); refresh a margin before it runs out.
# - Cache the token: one OAuth request serves every call of its hour.
# - `404.001.03 Invalid Access Token`: fetch a new token and retry once; never log the token.
#
# **Next:** 03, the password and timestamp, the other half of every push's credentials.

# %%
lab.stop()
