# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 04-first-push
#     title: "Your first STK push, answered on the virtual phone"
#     minutes: 30
#     requires: ["00"]
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 04 · Your first STK push, answered on the virtual phone
#
# Now you play both parts: the **shop** sends a push from the form, and the **customer**
# answers it on a virtual phone. Each way the customer can answer (pay, cancel, a wrong PIN,
# no answer at all) comes back to the shop as a different callback.
#
# **You will be able to**
# - send an STK push from a form and from code;
# - answer it as the customer in four ways, and predict the `ResultCode` of each;
# - follow callbacks as they arrive in the live table.
#
# **Prerequisites:** notebook 00 (the dashboard); 01 (the journey) helps.
#
# **Time:** about 30 minutes, on the local emulator.

# %%
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, lesson_store
from mpesa_lab.widgets import LiveCallbacks, PushForm, VirtualPhone

lab = Lab.start(store=lesson_store("04-first-push"))
TEST_PHONE = "254708374149"  # the test phone; its PIN is 1234

# %% [markdown]
# ## 1. The shop: the push form
#
# The form checks each field as you type, with the same rules as the client (a phone in
# `2547XXXXXXXX` or `07XX` form, a whole amount from 1 to 250,000, a short account reference).
# Press **Send**: Daraja's answer (the acknowledgement) appears under the button. (The form
# asks for KES 5; the cells further down push 10 to 13, so nothing here meets rule 17.)

# %%
form = PushForm(lab, phone="0708374149", amount=5)
form

# %% [markdown]
# ## 2. The customer: the virtual phone
#
# This is the handset of the test number. When a push arrives it shows the real prompt text;
# type the PIN **1234** on the keypad and press **OK**. *Cancel* refuses; *Ignore* puts the
# phone away (the prompt times out).

# %%
phone = VirtualPhone(lab, TEST_PHONE)
phone

# %% [markdown]
# ## 3. What the shop receives: live callbacks
#
# Every callback the listener stores, newest first, updating by itself: status, `ResultCode`,
# `ResultDesc`, receipt, and how long it took.

# %%
live = LiveCallbacks(lab)
live

# %% [markdown]
# In JupyterLab, try it now: *Send* on the form, *1234* and *OK* on the phone, and watch the
# live table. The cells below do the same from code, so the notebook also runs on its own;
# the widgets above show every push they make.
#
# ## Pay
#
# `push.answer(pin=...)` is the customer typing a PIN and pressing OK.

# %%
push = lab.push(TEST_PHONE, 10, "INV-04", "Lesson 04")
push.answer(pin="1234")
paid = push.wait(timeout=15)
print(paid.result_code, paid.result_desc, "| receipt:", paid.receipt)

# %% [markdown]
# `ResultCode` 0 and a `MpesaReceiptNumber`: the only proof that the customer paid. Note the
# amounts below all differ: the same amount to the same phone within two minutes is refused
# with ResultCode 17 (notebook 06).
#
# ## Cancel
#
# `push.cancel()` is the customer pressing *Cancel* on the prompt:

# %%
push = lab.push(TEST_PHONE, 11, "INV-04", "Lesson 04")
push.cancel()
cancelled = push.wait(timeout=15)
print(cancelled.result_code, cancelled.result_desc)
print("Fix:", cancelled.mitigation)

# %% [markdown]
# ### Exercise 1: a wrong PIN
#
# Send a push of **KES 12** to the test phone and answer it with a **wrong PIN** (anything but
# 1234), from code or on the phone. Keep the callback from `push.wait()` in `wrong`.

# %% tags=["exercise"]
wrong = ...

# %% tags=["solution"]
push = lab.push(TEST_PHONE, 12, "INV-04", "Lesson 04")
push.answer(pin="0000")
wrong = push.wait(timeout=15)

# %%
check.customer_answer(wrong, "wrong_pin", lab=lab)

# %% [markdown]
# In the emulator, three wrong PINs in a row lock the customer's PIN (ResultCode 8006). That is
# the lab's model: Daraja documents 8006 only as "The security credential is locked.", not after
# how many tries. Either way, a shop that keeps pushing after a 2001 can lock its customer out.
#
# ## No answer at all
#
# A customer who puts the phone away never answers, and M-PESA eventually ends the push
# without them. Real captures differ: in 2026 the sandbox sent ResultCode **1037** about 30 s
# after the push; in 2022 it sent **1019** "Transaction has expired"; older ones, 1036. Treat all
# three as "no answer" (`codes.is_no_answer(code)`). The lab lets you skip the wait: ignoring
# the prompt ends it now, as 1037.

# %% [markdown]
# ### Exercise 2: ignore the prompt
#
# Push **KES 13** to the test phone and ignore the prompt: press *Ignore* on the phone, or
# `lab.emulator.answer(push.checkout_request_id, ignore=True)`. Keep the callback in
# `ignored`.

# %% tags=["exercise"]
ignored = ...

# %% tags=["solution"]
push = lab.push(TEST_PHONE, 13, "INV-04", "Lesson 04")
lab.emulator.answer(push.checkout_request_id, ignore=True)
ignored = push.wait(timeout=15)

# %%
check.customer_answer(ignored, "ignored", lab=lab)

# %% [markdown]
# ## What the shop saw
#
# The four answers, one row each, as the shop's transactions view records them; the live
# table above shows the same callbacks. (An exercise not done yet says so in its row.)
# `amount_requested` is what the push asked for, on every row; the frame's `amount` is what
# the callback says was paid, so it is empty (NaN) unless the customer paid.

# %%
import pandas as pd

live.refresh()
tx = lab.transactions().set_index("checkout_request_id")
columns = ["status", "result_code", "result_desc", "amount_requested", "receipt", "latency_s"]
answers = {"pay": paid, "cancel": cancelled, "wrong PIN (exercise 1)": wrong, "no answer (exercise 2)": ignored}


def row(callback):
    checkout_request_id = getattr(callback, "checkout_request_id", None)
    if checkout_request_id in tx.index:
        return tx.loc[checkout_request_id, columns]
    return pd.Series({"status": "do the exercise above first"}, index=columns)


pd.DataFrame({answer: row(callback) for answer, callback in answers.items()}).T

# %% [markdown]
# ## Summary
#
# - The shop sends the push; the customer answers on the phone; the outcome comes back as a
#   callback with a `ResultCode`.
# - Pay: 0 with a receipt. Cancel: 1032. Wrong PIN: 2001 (8006: the PIN is locked; in the
#   emulator after three in a row). No answer: 1037 (or 1019, 1036). Only 0 means paid.
# - Vary the amount between pushes to the same phone, or meet ResultCode 17.
#
# **Next:** 05, callbacks and the listener: the raw body, duplicates and lost callbacks.

# %%
# The lab keeps running, so the widgets above still answer after Run All. When you are done:
# lab.stop()   (closing this notebook's kernel stops it too)
