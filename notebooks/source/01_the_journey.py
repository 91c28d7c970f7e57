# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 01-the-journey
#     title: The journey
#     minutes: 20
#     requires: ["00"]
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 01 · The journey
#
# An STK push is a conversation between three parties: **your code** (the merchant),
# **Daraja / M-PESA** (Safaricom) and the **customer's phone**. It takes seven steps, and
# most integration bugs come from expecting one of them at the wrong moment. Here you make one
# real push and walk through its steps, message by message.
#
# **You will be able to**
# - name the seven steps of M-Pesa Express in order, and who sends each message;
# - tell the *acknowledgement* (step 3: "accepted for processing") from the *callback*
#   (step 6: the outcome);
# - read the time each step took, from a real transaction.
#
# **Prerequisites:** notebook 00 (the lab starts).
#
# **Time:** about 20 minutes, on the local emulator.

# %% [markdown]
# This lesson's lab runs the emulator's **timing model** at 1/20 of real time
# (`time_scale=0.05`): a customer who takes 12 s to find the phone and type the PIN takes
# 0.6 s here. The durations come from what real payments take (docs/emulator.md, "Timing"), and
# the views show each one both ways. (`MPESA_LAB_TIME_SCALE=1` runs the lesson in real time.)

# %%
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, course_time_scale, lesson_store

lab = Lab.start(store=lesson_store("01-the-journey"), time_scale=course_time_scale())
lab.time_scale

# %% [markdown]
# ## One real push
#
# Push KES 12 to the test phone. The emulator's test phone pays by itself after a moment, as a
# customer typing their PIN would: a real customer takes 5 to 40 s (about 12 s typically, in
# captured payments), which this lab plays twenty times faster.

# %%
push = lab.push("254708374149", 12, "INV-01", "Lesson 01")
push

# %% [markdown]
# What came back at once is only the **acknowledgement**: Daraja accepted the request and gave
# it a `CheckoutRequestID`. Nobody has paid yet. The outcome comes later, as a callback:

# %%
callback = push.wait(timeout=15)
print(callback.result_code, callback.result_desc)

# %% [markdown]
# After the callback, the shop can still ask Daraja for the status (step 7, the STK query):
# it is the fallback when a callback never comes (notebook 05).

# %%
status = push.query()
print(status.result_code, status.result_desc)

# %% [markdown]
# ## The stepper
#
# The sequence stepper draws the lab's seven-step diagram of one push, adapted from Safaricom's
# "How It Works" list (which also has seven steps, but ends with the customer's SMS, where the lab
# shows the optional STK query). The OAuth token comes before step 1 and is not drawn (notebook
# 02; `docs/daraja.md` numbers the business's view in five steps, token included). For each step
# the stepper shows the real HTTP message of this push (secrets masked) and when it happened. Use *Next* and *Previous*,
# or the slider; the *Push* list holds every push of this lesson's store.

# %%
from mpesa_lab.widgets import SequenceStepper

stepper = SequenceStepper(lab, push.checkout_request_id)
stepper

# %% [markdown]
# Step to 6, the callback: it is a POST from M-PESA to *your* listener, with the outcome and,
# on success, the `MpesaReceiptNumber`. The same step in code:

# %%
stepper.go(6)
step = stepper.steps[5]
print(step.number, step.title)
print(step.excerpt(400))  # cut at a word, saying how many characters follow

# %% [markdown]
# ### Exercise 1: put the journey in order
#
# The cards below are the seven steps, shuffled. List their letters in the order they happen.

# %%
CARDS = {
    "A": "the customer enters the PIN",
    "B": "the merchant gets the acknowledgement (CheckoutRequestID)",
    "C": "M-PESA POSTs the callback to the merchant",
    "D": "the merchant sends the STK push",
    "E": "the merchant queries the status (if no callback came)",
    "F": "the prompt appears on the customer's phone",
    "G": "Daraja checks and accepts it",
}

# %% tags=["exercise"]
order = ...

# %% tags=["solution"]
order = ["D", "G", "B", "F", "A", "C", "E"]

# %%
check.sequence_order(order, CARDS)

# %% [markdown]
# ## How long did each step take?
#
# `stepper.steps` holds the seven steps of the push shown, each with `at`, the moment it
# happened (a `datetime`, Nairobi time), or `None` when it did not happen.

# %%
for s in stepper.steps:
    print(s.number, s.at and s.at.strftime("%H:%M:%S.%f")[:-3], s.title)

# %% [markdown]
# ### Exercise 2: from acknowledgement to callback
#
# How many **seconds** passed between the acknowledgement (step 3) and the callback (step 6)?
# Compute it from `stepper.steps` as a number (a `float`). That gap is the customer's time
# with the phone in hand, at the lab's pace.

# %% tags=["exercise"]
seconds = ...

# %% tags=["solution"]
steps = stepper.steps
seconds = (steps[5].at - steps[2].at).total_seconds()

# %%
check.step_delay(seconds, stepper.steps, 3, 6)

# %% [markdown]
# The lab ran at `lab.time_scale` of real time. How many **real-world seconds** does that gap
# stand for? That is how long your checkout page must wait for a real customer, and more: the
# stepper shows it beside each step's gap.

# %% tags=["exercise"]
real_seconds = ...

# %% tags=["solution"]
real_seconds = seconds / lab.time_scale

# %%
check.real_delay(real_seconds, seconds, lab.time_scale)

# %% [markdown]
# ## Summary
#
# - Seven steps: push, Daraja accepts, acknowledgement, prompt, PIN, callback, query.
# - The acknowledgement only means "accepted for processing"; the callback carries the
#   outcome, seconds (or never) later: 5 to 40 s for a real customer who pays, about 30 s for
#   a prompt nobody answers (the 2026 sandbox).
# - The stepper shows each real message; `stepper.steps` gives the same data to code.
#
# **Next:** 02, the access token behind step 1.

# %%
lab.stop()
