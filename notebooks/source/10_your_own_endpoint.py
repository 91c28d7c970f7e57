# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 10-your-own-endpoint
#     title: Your own callback endpoint
#     minutes: 40
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 10 · Your own callback endpoint
#
# So far the lab's listener received every callback. In your app, **you** write that endpoint,
# in your own web framework, and it is the part every real integration gets wrong. Here you
# write one in FastAPI, run it from this notebook, point a real push at it, and make
# `mpesa-lab check-callback` pass, fixing one classic bug at a time.
#
# **You will be able to**
# - read a callback the way Daraja really sends it (a code as a number or text, `Balance`
#   without a value, new fields);
# - settle an order once, and only when the amount and the phone match;
# - store before acknowledging, answer fast, and refuse to fulfil a forged "payment";
# - test any endpoint with `check-callback`, and recover a lost callback by polling.
#
# **Prerequisites:** notebook 05 (callbacks and the listener); a little FastAPI, Flask or Django;
# the course's extra installed (`pip install -e ".[course]"`: FastAPI, Flask, Django).
#
# **Time:** about 40 minutes, on the local emulator.

# %% [markdown]
# ## What Daraja will post to you
#
# First the lab as before: one push to the phone that always pays, its callback received by the
# lab's listener. This exact body is what your endpoint will get.

# %%
import json
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, lesson_store

lab = Lab.start(store=lesson_store("10-your-own-endpoint"))
paid = lab.push("254708000000", 10, "INV-10", "Lesson 10").wait(timeout=10)
print(json.dumps(json.loads(paid.raw), indent=2))

# %% [markdown]
# ## The shop
#
# Your endpoint belongs to a shop that keeps **orders**. When its push is accepted, the shop
# saves the order under the push's `CheckoutRequestID`, with the amount and phone it asked for.
# `OrderBook` is that database here (a table in your real app); `fail_writes` makes every write
# fail, as a full disk would.

# %%
from mpesa_lab.course.endpoints import ACK, OrderBook

book = OrderBook()
ACK

# %% [markdown]
# ### Exercise 1: read a callback
#
# Write `read(body)` for a parsed callback body. Return a dict with `checkout_request_id`,
# `result_code` **as text** (it comes as `0` or `"0"`), and from `CallbackMetadata.Item`:
# `amount`, `phone` (as text) and `receipt` (`MpesaReceiptNumber`). Find items **by Name**, read
# each with `.get("Value")` (`Balance` often has no value), and remember that a failed callback
# has no `CallbackMetadata` at all.

# %% tags=["exercise"]
read = ...  # def read(body): ... return {"checkout_request_id": ..., "result_code": ..., ...}

# %% tags=["solution"]
def read(body):
    callback = body["Body"]["stkCallback"]
    items = (callback.get("CallbackMetadata") or {}).get("Item") or []
    values = {item.get("Name"): item.get("Value") for item in items}
    phone = values.get("PhoneNumber")
    return {
        "checkout_request_id": callback.get("CheckoutRequestID"),
        "result_code": str(callback.get("ResultCode")).strip(),
        "amount": values.get("Amount"),
        "phone": None if phone is None else str(phone),
        "receipt": values.get("MpesaReceiptNumber"),
    }

# %%
check.callback_reader(read)

# %% [markdown]
# ### Exercise 2: settle an order, once
#
# Daraja may deliver the same callback twice, and anyone can post a "payment" (callbacks are
# not signed). Write `settle_order(order, fields)`: it changes an order only while its
# `status` is `"pending"`. `result_code` `"0"` with the order's `amount` (compare as numbers)
# and `phone` sets `status` to `"paid"` and adds 1 to `fulfilled`; a payment that does not
# match sets `"needs_review"` (money came, but not what was ordered); any other code, known
# or not, sets `"failed"`.

# %% tags=["exercise"]
settle_order = ...  # def settle_order(order, fields): ...

# %% tags=["solution"]
def settle_order(order, fields):
    if order["status"] != "pending":
        return  # already settled: a duplicate changes nothing
    if fields["result_code"] != "0":
        order["status"] = "failed"
    elif float(fields["amount"]) == float(order["amount"]) and fields["phone"] == order["phone"]:
        order["status"] = "paid"
        order["fulfilled"] += 1
    else:
        order["status"] = "needs_review"

# %%
check.order_settler(settle_order)

# %% [markdown]
# ## The endpoint, in FastAPI
#
# The route is small on purpose: a `POST` route (Daraja only POSTs), no CSRF token (Daraja
# sends none: in Django put `@csrf_exempt` on the view), and the work in `handle`, which you
# write next. Two more routes are the **read-back protocol**: `check-callback` tells the shop
# about an order (`POST /orders`) and reads back what it recorded (`GET /orders/<id>`), which is
# how it can prove "fulfilled once". In your app they belong behind a test-only switch.

# %%
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/mpesa/callback")
async def callback(request: Request):
    raw = await request.body()
    try:
        return handle(raw)
    except Exception as exc:  # StorageError above all: never acknowledge what was not stored
        return JSONResponse({"ResultCode": 1, "ResultDesc": f"Not stored: {type(exc).__name__}"}, status_code=500)


@app.post("/orders")
async def add_order(request: Request):
    book.add_order(await request.json())
    return {"ok": True}


@app.get("/orders/{checkout_request_id}")
async def read_order(checkout_request_id: str):
    order = book.order(checkout_request_id)
    return JSONResponse({"error": "no such order"}, status_code=404) if order is None else order

# %% [markdown]
# Run it in the background on a free port (uvicorn in a thread; re-running the cell replaces it):

# %%
from mpesa_lab.course.endpoints import serve_asgi

endpoint = serve_asgi(app)
endpoint.callback_url

# %% [markdown]
# ### Exercise 3: the handler
#
# Write `handle(raw)` for the raw bytes of one callback, in this order:
#
# 1. **store first**: `book.store_raw(raw)`. If it raises `StorageError`, let it: the route
#    answers 500. An acknowledged callback is never sent again, so never say "Accepted" for
#    one you did not keep (the polling fallback below recovers it);
# 2. read it (`read(json.loads(raw))`) and find the order:
#    `book.orders.get(fields["checkout_request_id"])`. No order means a push this shop never
#    made: keep the raw body, fulfil nothing;
# 3. settle it under `book.lock` (the server answers callbacks on several threads);
# 4. return `ACK` at once. Slow work (emails, the warehouse) goes after the answer, in a
#    background task or a queue.

# %% tags=["exercise"]
handle = ...  # def handle(raw): ...

# %% tags=["solution"]
def handle(raw):
    book.store_raw(raw)
    fields = read(json.loads(raw))
    with book.lock:
        order = book.orders.get(fields["checkout_request_id"])
        if order is not None:
            order["callbacks"] += 1
            settle_order(order, fields)
    return ACK

# %%
check.your_endpoint(handle, endpoint, book)

# %% [markdown]
# The check ran `check-callback` on your endpoint, every scenario, then posted one more callback
# with the database down. Here is the same run, as a table; it works on any endpoint, yours at
# work included: `mpesa-lab check-callback URL --readback URL` in a terminal or in CI (exit
# code 1 when a scenario fails).

# %%
from mpesa_lab.callback_check import check_callback

check_callback(endpoint.callback_url, readback_url=endpoint.readback_url)

# %% [markdown]
# Without `--readback`, `check-callback` still checks every answer, and says "not verified"
# for what it cannot see (a duplicate fulfilled twice, a forged payment fulfilled). The
# widget does the same run from a form:

# %%
from mpesa_lab.widgets import CallbackCheckWidget

CallbackCheckWidget(url=endpoint.callback_url, readback_url=endpoint.readback_url)

# %% [markdown]
# ## A real push at your endpoint
#
# Now push through the lab with `CallBackURL` = your endpoint. Save the order as soon as
# Daraja accepts the push, then let the customer type the PIN:

# %%
TEST_PHONE = "254708374149"
push = lab.push(TEST_PHONE, 25, "ORDER-10", "Lesson 10", callback_url=endpoint.callback_url)
book.add_order({"CheckoutRequestID": push.checkout_request_id, "Amount": 25, "PhoneNumber": TEST_PHONE})
push.answer()
lab.emulator.wait_for_callbacks(push.checkout_request_id, timeout=10)
book.order(push.checkout_request_id)

# %% [markdown]
# ## Callbacks are not signed
#
# Anyone who finds your URL can post a "paid" callback. What stops a forgery here: an unknown
# `CheckoutRequestID` fulfils nothing, and the amount and phone must match the order. What does
# not: a forger who copies a real pending order's ID, amount and phone. So before you ship
# something of value, **confirm with an STK query** (Daraja's own answer for that
# `CheckoutRequestID`). Allowing only Safaricom's published callback addresses helps too, but
# treat it as a hedge: the list changes, and a proxy in front of you can hide the source.
#
# ## When no callback comes: polling
#
# Your endpoint was down, or the callback was lost: Daraja does not resend. Ask with the STK
# query, repeatedly but politely. While it is not final, Daraja says so in **two styles**: HTTP
# 500 with `errorCode` `500.001.1001` "The transaction is being processed", or HTTP 200 with
# `ResultCode` `4999` "still under processing". Both are `result.pending` in the lab's client.
#
# ### Exercise 4: the polling loop
#
# Write `poll(query, checkout_request_id, tries=8, sleep=time.sleep)`: call
# `query(checkout_request_id)`; return the result as soon as it is final (`not
# result.pending`); otherwise `sleep` and try again, waiting longer each time (1 s, 2 s, 4 s...,
# at most 15 s). After `tries` queries, return the last (pending) answer: never push again.

# %% tags=["exercise"]
import time

poll = ...  # def poll(query, checkout_request_id, tries=8, sleep=time.sleep): ...

# %% tags=["solution"]
import time


def poll(query, checkout_request_id, tries=8, sleep=time.sleep):
    delay = 1.0
    for attempt in range(tries):
        result = query(checkout_request_id)
        if not result.pending or attempt == tries - 1:
            return result
        sleep(delay)
        delay = min(delay * 2, 15)

# %%
check.polling_loop(poll)

# %% [markdown]
# The lab's client has the same loop, `wait_for_result`, with a time limit instead of a count.
# Lose a callback on purpose and recover it:

# %%
from mpesa_lab.daraja import wait_for_result

LOST = "254711000010"
lab.emulator.register_subscriber(LOST)
lab.emulator.inject_callback_fault("drop", phone=LOST)
lost = lab.push(LOST, 30, "ORDER-11", "Lesson 10", callback_url=endpoint.callback_url)
result = wait_for_result(lab.client, lost.checkout_request_id, timeout=15, first_delay=0.5)
result

# %% [markdown]
# ## The same endpoint in Flask and Django
#
# The handler is plain Python; only the route changes. The reference versions are in
# `mpesa_lab.course.endpoints` (`fastapi_app.py`, `flask_app.py`, `django_app.py`; in Django
# the one line that matters is `@csrf_exempt`). `check-callback` passes on each:

# %%
from mpesa_lab.course.endpoints import django_app, flask_app, serve_wsgi

for name, make in (("Flask", flask_app), ("Django", django_app)):
    served = serve_wsgi(make(OrderBook()))
    print(name, check_callback(served.callback_url, readback_url=served.readback_url).summary())
    served.stop()

# %% [markdown]
# ## Summary
#
# - A `POST` route, no CSRF, and an answer in milliseconds: store, answer, then work.
# - Store before acknowledging; if you cannot store, answer 500.
# - One order per `CheckoutRequestID`, settled once; only `ResultCode` `"0"` (as text) with
#   the order's amount and phone is fulfilled; every other code is "not paid".
# - Read items by Name with `.get`: `Balance` may have no value, new fields appear.
# - Callbacks are unsigned: confirm with an STK query before fulfilling something of value.
# - No callback? Poll the STK query with backoff; both pending styles are pending.
# - `mpesa-lab check-callback URL --readback URL` tests any endpoint, in CI too.
#
# **Next:** your own app, with the same tests in its CI.

# %%
endpoint.stop()
lab.stop()
