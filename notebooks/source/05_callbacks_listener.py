# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 05-callbacks-listener
#     title: Callbacks and the listener
#     minutes: 35
#     requires: ["04"]
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 05 · Callbacks and the listener
#
# Daraja's answer to a push only says *"accepted for processing"*. The outcome (paid,
# cancelled, no answer...) comes later, when M-PESA **POSTs a callback** to your
# `CallBackURL`. Whatever receives it is the most important piece of your integration: a lost
# callback is a customer who paid for an order you never shipped.
#
# **You will be able to**
# - read a raw `stkCallback` body, on success and on failure;
# - handle duplicate callbacks (count a payment once);
# - recover from a callback that never comes with an STK query, without pushing again;
# - explain why a callback must be stored before it is acknowledged.
#
# **Prerequisites:** notebook 04 (your first push) or the README's quick start; JSON and
# dictionaries in Python.
#
# **Time:** about 35 minutes, on the local emulator.

# %% [markdown]
# ## The listener
#
# The lab's listener is a small web server on this machine. It receives each callback on a
# hard-to-guess path (the path is the only thing keeping strangers from posting fake
# "payments"), writes the raw body to SQLite, and only then answers
# `{"ResultCode": 0, "ResultDesc": "Accepted"}`.

# %%
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, lesson_store

lab = Lab.start(store=lesson_store("05-callbacks-listener"))
lab.listener

# %% [markdown]
# ## A callback, raw
#
# Push to the magic phone `254708000000` (it always pays) and wait for the callback. `wait`
# returns as soon as the callback is *stored*, already parsed; `raw` keeps the body exactly as
# it arrived.

# %%
import json

paid = lab.push("254708000000", 10, "INV-05", "Lesson 05").wait(timeout=10)
body = json.loads(paid.raw)
print(json.dumps(body, indent=2))

# %% [markdown]
# Things to notice: `ResultCode` is a **number** here (the STK query sends it as a string);
# `CallbackMetadata.Item` is a list of `{"Name", "Value"}` pairs, not a dictionary; `Balance`
# may come with no `Value` at all; `TransactionDate` and `PhoneNumber` are numbers.
#
# ### Exercise 1: the receipt, from the raw body
#
# Get the `MpesaReceiptNumber` out of `body` with plain Python (no library). It is the
# customer's proof of payment: the one value to keep with the order.

# %% tags=["exercise"]
receipt = ...

# %% tags=["solution"]
items = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
receipt = next(item["Value"] for item in items if item["Name"] == "MpesaReceiptNumber")

# %%
check.receipt(receipt, body=body)

# %% [markdown]
# ## A failed payment
#
# When the customer presses *Cancel*, the callback has a non-zero `ResultCode` and **no**
# `CallbackMetadata`. The magic phone `254708001032` always cancels.

# %%
cancelled = lab.push("254708001032", 10, "INV-05", "Lesson 05").wait(timeout=10)
failed_body = json.loads(cancelled.raw)
print(json.dumps(failed_body, indent=2))

# %% [markdown]
# ### Exercise 2: the result code, as text
#
# Read the `ResultCode` of `failed_body` and keep it as **text**. Some codes are alphanumeric
# (`SFC_IC0003`), and the same code arrives as a number in callbacks but as a string from the
# STK query: text compares the same everywhere.

# %% tags=["exercise"]
code = ...

# %% tags=["solution"]
code = str(failed_body["Body"]["stkCallback"]["ResultCode"])

# %%
check.result_code(code, body=failed_body)

# %% [markdown]
# The parsed callback already carries the catalogue's explanation and the fix:

# %%
print(cancelled.result_code, cancelled.result_desc)
print("Why:", cancelled.explanation)
print("Fix:", cancelled.mitigation)

# %% [markdown]
# ## Duplicates
#
# Safaricom's documentation says callbacks are not retried, yet integrators do see the same
# callback twice. The emulator can do it on purpose: here every callback to one phone comes
# twice.

# %%
DOUBLE = "254711000005"
lab.emulator.register_subscriber(DOUBLE)  # a customer who pays (rule 17 and limits still apply)
lab.emulator.inject_callback_fault("duplicate", phone=DOUBLE, count=2, copies=2)

# %% [markdown]
# Two payments from that phone and one from another, each waited for:

# %%
pushes = []
for phone, amount in [(DOUBLE, 20), (DOUBLE, 21), ("254708000000", 22)]:
    push = lab.push(phone, amount, "INV-05", "Lesson 05")
    push.wait(timeout=10)
    pushes.append(push)
for push in pushes[:2]:
    lab.emulator.wait_for_callbacks(push.checkout_request_id, count=2, timeout=10)

# %% [markdown]
# What reached the listener, from the store's deliveries table:

# %%
ids = [push.checkout_request_id for push in pushes]
deliveries = lab.store.deliveries()
mine = deliveries[deliveries["checkout_request_id"].isin(ids)]
mine[["delivery_id", "checkout_request_id", "duplicate", "outcome"]]

# %% [markdown]
# Every delivery is kept (it happened, and its raw body is evidence), with `duplicate` marking
# the repeats.
#
# ### Exercise 3: how many payments?
#
# `bodies` holds the raw bodies of the deliveries above. How many distinct payments do they
# describe? Compute it from `bodies` (hint: what identifies one push?).

# %%
bodies = [json.loads(raw) for raw in mine["body"]]
len(bodies)

# %% tags=["exercise"]
payments = ...

# %% tags=["solution"]
payments = len({b["Body"]["stkCallback"]["CheckoutRequestID"] for b in bodies})

# %%
check.distinct_payments(payments, deliveries=bodies)

# %% [markdown]
# So a shop must make "mark order paid" idempotent: a second callback for the same
# `CheckoutRequestID` changes nothing. The lab's `transactions()` view counts each push once.
#
# ## A callback that never comes
#
# In the sandbox, callbacks are sometimes late or missing, and a public URL can be down. Make
# the emulator drop the next callback to a phone, and wait for it briefly:

# %%
LOST = "254711000006"
lab.emulator.register_subscriber(LOST)
lab.emulator.inject_callback_fault("drop", phone=LOST)
lost = lab.push(LOST, 30, "INV-05", "Lesson 05")
try:
    lost.wait(timeout=2)
except TimeoutError as exc:
    print("TimeoutError:", exc)

# %% [markdown]
# Do **not** push again to find out: the customer would be asked to pay twice, and might.
# Ask Daraja instead, with the **STK query** for this `CheckoutRequestID`.
#
# ### Exercise 4: the fallback
#
# Query the lost push's status and keep the result in `result`.

# %% tags=["exercise"]
result = ...

# %% tags=["solution"]
result = lost.query()

# %%
check.query_fallback(result, checkout_request_id=lost.checkout_request_id)

# %% [markdown]
# The query says whether the customer paid, but not the receipt number: that only comes in the
# callback. A real system records the query's answer and reconciles later.
#
# ## Why store before acknowledging?
#
# The listener answers M-PESA only after the callback is committed to disk. If it answered
# first and crashed before writing, M-PESA would consider the callback delivered and (since
# it does not retry) your system would never hear of the payment by itself: the customer paid,
# the order stays unpaid until someone looks it up, by STK query for its CheckoutRequestID, the
# Transaction Status API, or the M-PESA org portal.
#
# Replay the first callback by hand, and post something that is not a callback at all:

# %%
import httpx

again = httpx.post(lab.callback_url, content=paid.raw, headers={"Content-Type": "application/json"})
junk = httpx.post(lab.callback_url, content=b"<html>not a callback</html>",
                  headers={"Content-Type": "application/json"})
print("replay:", again.status_code, again.json()["ResultDesc"])
print("junk:  ", junk.status_code, junk.json()["ResultDesc"][:60])
print("quarantined bodies kept:", len(lab.listener.quarantine()))

# %% [markdown]
# The replay is stored as a duplicate; the junk is refused but kept, raw, in quarantine, so
# nothing that reached the listener is ever lost. The transactions view still shows one row
# per push:

# %%
tx = lab.transactions()
tx[tx["checkout_request_id"].isin(ids + [lost.checkout_request_id])][["status", "result_code", "phone", "amount_requested", "receipt"]]

# %% [markdown]
# ## Anyone can post a callback
#
# You just posted a callback by hand, and the listener stored it. Daraja's callbacks are **not
# signed**: nothing in them proves they came from Safaricom, so anyone who finds your
# CallBackURL can post a "paid" one. Before handing over goods, a careful handler:
#
# - fulfils only CheckoutRequestIDs it pushed itself, with the `Amount` and `PhoneNumber` of
#   that order;
# - confirms the outcome with an **STK query** (its own authenticated request to Daraja);
# - may also check the sender's address against the addresses Safaricom's callbacks are known
#   to come from: a defence, not proof, since the lists in circulation are third-party and a
#   real 2026 callback came from outside one of them (`docs/daraja.md`, "Callbacks are not
#   signed").
#
# Lesson 10, "Your own callback endpoint", builds such a handler.
#
# ## Summary
#
# - The outcome of a push arrives as a callback: `Body.stkCallback` with `ResultCode` (a
#   number, keep it as text), `ResultDesc`, and `CallbackMetadata.Item` only on success.
# - Store the raw body first, acknowledge second; quarantine what you cannot parse.
# - Duplicates happen: one payment per `CheckoutRequestID`.
# - No callback? Query the status; never push again.
# - Callbacks are unsigned: confirm with a query (and the order's amount and phone) before
#   fulfilling.
#
# **Next:** 06, every error and result code, on purpose.

# %%
lab.stop()
