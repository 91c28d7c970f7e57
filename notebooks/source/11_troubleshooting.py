# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 11-troubleshooting
#     title: Troubleshooting by symptom
#     minutes: 30
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 11 · Troubleshooting by symptom
#
# Real integrations fail with a handful of symptoms, and each symptom has a few usual causes.
# Here you reproduce each one on the emulator with **one call**, read what Daraja (or the
# client) says, and fix it. The emulator plays the real shapes behind each symptom (an HTML page
# from a wrong host, an app without the M-Pesa Express product, ...; docs/emulator.md lists their
# sources), so what you see here is what you will see for real.
#
# **You will be able to**
# - tell why a callback never arrives, from the emulator's record of the POST;
# - name the cause of "Invalid Access Token", "Wrong credentials", "Invalid PhoneNumber" and
#   "Invalid BusinessShortCode" from the answer alone;
# - recognise the live sandbox's 1037 as the sandbox, not your code;
# - check your own configuration with `mpesa-lab doctor`.
#
# **Prerequisites:** notebooks 02 to 05 (token, password, push, callbacks).
#
# **Time:** about 30 minutes, on the local emulator.

# %%
import httpx

from mpesa_lab.constants import OAUTH_PATH, STK_PUSH_PATH
from mpesa_lab.course import check, lesson_store
from mpesa_lab.course.trouble import push_body, your_app
from mpesa_lab.lab import Lab

lab = Lab.start(store=lesson_store("11-troubleshooting"))
emu = lab.emulator
app = your_app()  # "your app": one good callback route and the classic broken ones
TEST_PHONE = "254708374149"


def symptom(call):
    """Run one call and show what comes back, or the error as a learner reads it."""
    try:
        return call()
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}")


http = httpx.Client(base_url=lab.settings.base_url, trust_env=False)


def fresh_token():
    """A new access token, fetched the way your own code does (client-credentials OAuth)."""
    key, secret = lab.settings.consumer_key, lab.settings.consumer_secret.reveal()
    return http.get(OAUTH_PATH, params={"grant_type": "client_credentials"}, auth=(key, secret)).json()["access_token"]


def raw_push(body, authorization=None, **options):
    """POST a push body by hand, as your own code does (not through the lab's client)."""
    headers = {"Authorization": authorization or "Bearer " + fresh_token()}
    return http.post(STK_PUSH_PATH, headers=headers, **(options or {"json": body})).json()


app.ROUTES

# %% [markdown]
# ## "My callback never arrives"
#
# Daraja POSTs the callback once, from the internet. It does not retry, does not follow
# redirects, and does not tell you it failed. The emulator records every attempt, so the reason
# is there: `emu.callback_attempts(checkout_request_id)`.
#
# **A private address.** `callback_network="internet"` makes the emulator reach only what
# Daraja could: no `localhost`, no `192.168.x.x`, no `.local` name.

# %%
emu.configure(callback_network="internet")
push = lab.push(TEST_PHONE, 1, "INV-11", "Lesson 11", callback_url="http://192.168.1.20:8000/mpesa/callback")
print(emu.wait_for_callbacks(push.checkout_request_id)[0]["error"])
_ = emu.configure(callback_network="local")

# %% [markdown]
# **A route for browsers, CSRF, a redirect.** Your app has them all. Push once to each route and
# read what the POST got:

# %%
for amount, route in enumerate(("get_only", "csrf", "redirect"), start=2):
    push = lab.push(TEST_PHONE, amount, "INV-11", "Lesson 11", callback_url=app.url(route))
    print(f"{route:9}", emu.wait_for_callbacks(push.checkout_request_id)[0]["error"])

# %% [markdown]
# 405: the route answers only GET. 403: a framework's CSRF protection refused the POST (Django does
# by default). 301: Daraja does not follow redirects. The fixes: accept POST, exempt the route from
# CSRF, give the final URL exactly. And when nothing answers at all (a stopped server, a firewall,
# a free ngrok URL that changed when the tunnel restarted), the record says so too. In every case
# the payment itself is not lost: an STK query tells you how it ended.

# %%
push = lab.push(TEST_PHONE, 9, "INV-11", "Lesson 11", callback_url="http://127.0.0.1:9/mpesa/callback")
print(emu.wait_for_callbacks(push.checkout_request_id)[0]["error"])
print("STK query says:", lab.query(push.checkout_request_id).result_code)

# %% [markdown]
# ### Exercise 1: make the callback arrive
#
# Push once more, with the CallBackURL of the route of your app that works (`app.ROUTES` lists
# them; `app.url(name)` gives a route's URL). The check reads the emulator's record of the POST.

# %% tags=["exercise"]
push = ...  # lab.push(TEST_PHONE, 21, "INV-11", "Lesson 11", callback_url=...)

# %% tags=["solution"]
push = lab.push(TEST_PHONE, 21, "INV-11", "Lesson 11", callback_url=app.url("good"))

# %%
check.callback_delivered(push, lab, app)

# %% [markdown]
# ## "Invalid Access Token"
#
# `404.001.03` on a push: the Bearer token was not accepted. Three causes, one call each.
#
# **It expired.** A token lives an hour; code that keeps the first one fails an hour later.
# `expire_tokens()` makes the hour pass:

# %%
stale = "Bearer " + fresh_token()
emu.expire_tokens()
symptom(lambda: raw_push(push_body(callback_url=app.url("good")), authorization=stale))

# %% [markdown]
# **A malformed header.** `Bearer <token>`: one space, no quotes. (The lab's client refreshes an
# expired token by itself, so from here on its pushes work again.)

# %%
symptom(lambda: raw_push(push_body(callback_url=app.url("good")), authorization="Bearer" + stale[7:]))

# %% [markdown]
# **The app lacks the M-Pesa Express product.** The keys are right and a token comes back, but
# every push answers HTTP 401 "no apiproduct match". The client names the fix and does not
# retry: a fresh token would be refused too.

# %%
from mpesa_lab.daraja.client import DarajaClient

NO_EXPRESS = ("no-express-app", "no-express-app-pass")  # an app registered without the product
emu.register_app(*NO_EXPRESS, express=False)
key, secret = NO_EXPRESS
no_product = DarajaClient(lab.settings.replace(consumer_key=key, consumer_secret=secret))
symptom(lambda: no_product.stk_push(TEST_PHONE, 1, "INV-11", "Lesson 11"))

# %% [markdown]
# ## No token at all: an HTML page
#
# A typo in the host, or a path after it, reaches a web page: HTTP 200 with HTML, and code that
# calls `.json()` dies with a JSON decode error. The client names the base URL instead.

# %%
emu.configure(wrong_path_answer="html")
wrong_base = DarajaClient(lab.settings.replace(base_url=lab.settings.base_url + "/mpesa"))
symptom(lambda: wrong_base.stk_push(TEST_PHONE, 1, "INV-11", "Lesson 11"))
_ = emu.configure(wrong_path_answer="envelope")

# %% [markdown]
# ## "Wrong credentials"
#
# `500.001.1001 Wrong credentials`: the Password is not base64(BusinessShortCode + Passkey +
# Timestamp) **of this request**. Daraja does not check that the Timestamp is fresh, so the time
# zone is rarely the cause. These are: a wrong passkey, a shortcode and passkey from different
# places, and the timestamp computed twice.

# %%
from mpesa_lab.constants import SANDBOX_PASSKEY

print(symptom(lambda: raw_push(push_body(passkey="0" * 64, callback_url=app.url("good")))))
print(symptom(lambda: raw_push(push_body(shortcode="174380", callback_url=app.url("good")))))

# %% [markdown]
# The third is the sneakiest. This is how it looks in real code: one call to the clock for the
# Password, another for the Timestamp field. Whenever a second ticks in between, the two differ.
# Here the clock is made to tick on purpose:

# %%
from mpesa_lab.daraja.password import build_password

ticks = iter(["20260701120000", "20260701120001", "20260701120002", "20260701120003"])


def now_stamp():
    return next(ticks)  # your clock: a new value on every call


def my_push_body():
    body = push_body(callback_url=app.url("good"))
    body["Password"] = build_password("174379", SANDBOX_PASSKEY, now_stamp())
    body["Timestamp"] = now_stamp()  # the bug: the clock is read a second time
    return body


symptom(lambda: raw_push(my_push_body()))

# %% [markdown]
# ### Exercise 2: one timestamp per request
#
# Write `fixed_body`: a push body like `my_push_body()`'s, whose Password and Timestamp agree.
# Read the clock (`now_stamp()`) once.

# %% tags=["exercise"]
fixed_body = ...  # push_body(...) with a Password built from the same timestamp as its Timestamp

# %% tags=["solution"]
stamp = now_stamp()
fixed_body = push_body(callback_url=app.url("good"), Amount=22)
fixed_body["Password"] = build_password("174379", SANDBOX_PASSKEY, stamp)
fixed_body["Timestamp"] = stamp

# %%
check.one_timestamp(fixed_body, passkey=SANDBOX_PASSKEY)

# %% [markdown]
# ## "Invalid PhoneNumber" and "Invalid BusinessShortCode"
#
# Daraja wants the phone as `2547XXXXXXXX` (or `2541…`): digits only. And it says "Invalid
# BusinessShortCode" not only for a bad shortcode but also (its FAQ) for a body that is not JSON or
# a request without `Content-Type: application/json`: here, a form-encoded body.

# %%
print(symptom(lambda: raw_push(push_body(PhoneNumber="+254 708 374 149", callback_url=app.url("good")))))
print(symptom(lambda: raw_push(None, data=push_body(callback_url=app.url("good")))))

# %% [markdown]
# Fixes: normalise the phone before sending (the lab's client accepts `0708 374 149` and
# `+254708374149` and sends `254708374149`), and send JSON (`json=body`).
#
# ## "1037 on every push in the sandbox"
#
# As teams reported it in 2026, the live sandbox ends every push to the test number with 1037 "No
# response from user.", about 30 s after the push: nothing completes there, and it is not your
# code. The emulator's `live_sandbox_2026` behaviour plays it (here at 1/20 of real time, so the
# 30 s take 1.5 s; meanwhile `push.query()` answers *pending*, ResultCode 4999):

# %%
emu.configure(behaviour="live_sandbox_2026", time_scale=0.05)
push = lab.push(TEST_PHONE, 31, "INV-11", "Lesson 11")
final = emu.wait_until_final(push.checkout_request_id, timeout=60)
emu.configure(behaviour="teaching", time_scale=None)
print(final["result_code"], final["result_desc"])

# %% [markdown]
# Handle 1037 (with 1019 and 1036, the same "no answer") as a final, unpaid outcome; learn the happy
# path here on the emulator; test the real flow in production with KES 1.
#
# ## Your own configuration: `mpesa-lab doctor`
#
# In a terminal, in your project's folder: `mpesa-lab doctor`. It reads your `.env`, fetches a
# token for real, checks that the shortcode and passkey belong together, compares your clock with
# the server's, and checks that the CallBackURL can work from Daraja (https, a public host, and a
# test callback answered in time). It never prints a secret. Here it is on a made-up `.env`,
# offline:

# %%
import tempfile
from pathlib import Path

from mpesa_lab.doctor import run_doctor

folder = Path(tempfile.mkdtemp())
(folder / ".env").write_text(
    "MPESA_ENV=sandbox\nMPESA_CONSUMER_KEY=my-key\nMPESA_CONSUMER_SECRET=my-secret\n"
    "MPESA_CALLBACK_URL=http://localhost:8000/mpesa/callback\n"
)
print(run_doctor(str(folder / ".env"), environ={}, online=False).text())

# %% [markdown]
# ## Summary
#
# - **Callback never arrives:** a private or local host, plain http in production, a GET-only or
#   CSRF-protected route, a redirect, a URL that changed, a firewall. The STK query still tells
#   how the payment ended.
# - **Invalid Access Token:** expired, from the other environment, an app without M-Pesa
#   Express, a malformed `Bearer` header.
# - **Wrong credentials:** wrong passkey, shortcode and passkey that do not belong together, the
#   timestamp computed twice (rarely the time zone).
# - **Invalid PhoneNumber / BusinessShortCode:** the phone's format; JSON and its Content-Type.
# - **1037 in the live sandbox:** the sandbox, as reported in 2026.
# - docs/troubleshooting.md has every symptom with its one call; `mpesa-lab doctor` checks your
#   setup.
#
# **Next:** your own project: run `mpesa-lab doctor` on its `.env`, and `mpesa-lab check-callback`
# on its callback endpoint.

# %%
http.close()
app.stop()
lab.stop()
