# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 00-start-here
#     title: Start here
#     minutes: 10
#     requires: []
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 00 · Start here
#
# This course teaches **M-Pesa Express** (Daraja's "STK push"): your code asks Safaricom to
# show a payment prompt on a customer's phone, the customer enters their M-PESA PIN, and
# Safaricom tells your server the outcome. You will do all of it on this laptop, with a local
# emulator standing in for Safaricom, then (notebook 08) on the real sandbox.
#
# **You will be able to**
# - check that your setup works;
# - start the lab: the emulator, the callback listener and the client, in one call;
# - find your way around the dashboard: push form, virtual phone and live callbacks.
#
# **Prerequisites:** Python basics; the project installed (`pip install -e .`) and JupyterLab
# opened with `mpesa-lab lab`.
#
# **Time:** about 10 minutes. No credentials, no internet.

# %% [markdown]
# ## Check the setup
#
# The kernel must be the project's Python (the one where you installed it). This cell says
# which Python runs and which version of the lab it sees:

# %%
import sys

import mpesa_lab

print("Python:", sys.version.split()[0], "at", sys.executable)
print("mpesa-lab:", mpesa_lab.__version__)

# %% [markdown]
# If that cell failed with `ModuleNotFoundError`, the notebook runs on another Python: close
# JupyterLab and open it with `mpesa-lab lab` from the project's venv.
#
# ## Start the lab
#
# `Lab.start()` starts three things on this machine: the **emulator** (Safaricom's side:
# Daraja's API and a pretend M-PESA), the **listener** (your side: the web server that
# receives callbacks and stores them in SQLite) and a **client** wired to both.
# `lesson_store(...)` names this lesson's store, so re-running the cell continues it.

# %%
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, lesson_store

lab = Lab.start(store=lesson_store("00-start-here"))
lab

# %% [markdown]
# Running that cell again is safe: it stops the previous lab first (no "port already in use").
#
# ### Exercise 1: where do callbacks go?
#
# Daraja needs a `CallBackURL` to POST the outcome to. Which URL does this lab give it? Keep
# it in `where` (it is an attribute of `lab`).

# %% tags=["exercise"]
where = ...

# %% tags=["solution"]
where = lab.callback_url

# %%
check.callback_target(where, lab)

# %% [markdown]
# ## The dashboard
#
# Three widgets, together: the **push form** (your shop's checkout), the **virtual phone** (the
# customer's handset for the test number `254708374149`, PIN `1234`) and the **live
# callbacks** table (what the listener stored, newest first).
#
# In JupyterLab: press *Send* on the form, type `1234` on the phone, press *OK*, and watch the
# callback appear below. (Run headless, the cells further down do the same in code.)

# %%
from mpesa_lab.widgets import dashboard

board = dashboard(lab)
board

# %% [markdown]
# The same payment in code: push, answer as the customer, wait for the callback. The live
# table above shows it within a second.

# %%
push = lab.push("254708374149", 11, "INV-00", "Lesson 00")
push.answer(pin="1234")
callback = push.wait(timeout=15)
print(callback.result_code, callback.result_desc, callback.receipt)

# %% [markdown]
# ### Exercise 2: the phone number, Daraja's way
#
# Customers write `0708 374 149` or `+254708374149`; Daraja wants **12 digits**: the country
# code `254`, then the number without its leading 0 (`2547XXXXXXXX`, or `2541XXXXXXXX` for the
# newer 011x numbers). Daraja's doc types the field "Numeric", yet its own sample request sends
# `"254722000000"` as a string; keep it as text in your code, so no digit is ever lost. Write the
# test phone that way.

# %% tags=["exercise"]
phone = ...

# %% tags=["solution"]
phone = "254708374149"

# %%
check.msisdn(phone, expected="254708374149")

# %% [markdown]
# ## Summary
#
# - The kernel is the project's Python; `Lab.start()` gives you emulator, listener and client.
# - Callbacks go to the listener's `lab.callback_url`; pushes go to Daraja (here the emulator).
# - The dashboard is form + phone + live callbacks; the same steps work in code.
# - Phone numbers go to Daraja as 12 digits, `2547XXXXXXXX` or `2541XXXXXXXX`; keep them as text
#   in your code (the doc types the field "Numeric"; its own sample sends a string).
#
# **Next:** 01, the journey step by step.

# %%
# The lab keeps running, so the widgets above still answer after Run All. When you are done:
# lab.stop()   (closing this notebook's kernel stops it too)
