# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 06-errors-result-codes
#     title: Errors and result codes
#     minutes: 40
#     requires: ["03", "05"]
#     expects_rule_17: 2
# ---

# %% [markdown]
# # 06 · Errors and result codes
#
# A payment can fail in two places. Daraja can **refuse the push** at once (an HTTP error with
# an `errorCode` such as `500.001.1001`), or accept it and **the payment fails later** (a
# callback whose `ResultCode` is not `0`, such as `1032`, cancelled). This notebook produces
# each kind on purpose, reads what it means, and builds a handler that survives codes nobody
# documented.
#
# **You will be able to**
# - tell an error (refused now) from a result (failed later), and catch each;
# - look up any code's meaning and mitigation in the catalogue;
# - produce a result code by its real condition;
# - push to a till (Buy Goods), and recognise 2028 and SFC_IC0003 when its numbers are mixed up;
# - handle an unknown code without crashing, and recognise the 2-minute duplicate rule (17).
#
# **Prerequisites:** notebooks 03 and 05.
#
# **Time:** about 40 minutes, on the local emulator.

# %%
from mpesa_lab import codes
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, lesson_store, readable

lab = Lab.start(store=lesson_store("06-errors-result-codes"))
lab

# %% [markdown]
# ## Refused before sending
#
# Some mistakes never leave your machine: the client validates a push first and raises
# `ValidationError`, naming the field, the rule and the fix.

# %%
from mpesa_lab.daraja.errors import DarajaError, ValidationError

try:
    lab.push("254708000000", "ten", "INV-06", "Lesson 06")
except ValidationError as exc:
    print(exc.field, "|", exc.rule)
    print("Fix:", exc.fix)

# %% [markdown]
# ## Refused by Daraja
#
# Everything else Daraja refuses comes back as `{requestId, errorCode, errorMessage}`, which
# the client raises as a `DarajaError` subclass carrying the catalogue's mitigation. The
# emulator refuses on purpose for some phone numbers. (Errors marked `retryable` are retried
# a few times by the client with a growing pause; we switch that off for this demo to keep it
# fast.)

# %%
from mpesa_lab.emulator import ERROR_PHONES

lab.client.max_retries = 0
for phone in ERROR_PHONES:
    try:
        lab.push(phone, 1, "INV-06", "Lesson 06")
    except DarajaError as exc:
        print(f"{type(exc).__name__:20} {exc.error_code:13} retryable={exc.retryable!s:5} {exc.error_message}")
lab.client.max_retries = 3

# %% [markdown]
# `500.001.1001` is four different errors told apart only by the message (Wrong credentials,
# Merchant does not exist, Unable to lock subscriber, The transaction is being processed), so
# the catalogue looks codes up with their message:

# %%
for message in ["Wrong credentials", "Unable to lock subscriber, a transaction is already in process for the current subscriber"]:
    entry = codes.lookup("500.001.1001", message)
    print(entry.name, "->", entry.mitigation)

# %% [markdown]
# ## Failed later: result codes
#
# Here is the catalogue of result codes, the table the callback parser and the lab use:

# %%
catalogue = codes.catalogue_frame()
catalogue[catalogue["kind"] == "result"][["code", "name", "category"]]

# %% [markdown]
# Each has a trigger in the emulator. The quickest is a *magic number*: `254708` followed by
# the code on six digits always gets that code (`docs/emulator.md` lists the real conditions
# too). Push once per trigger and read what came back:

# %%
import pandas as pd

from mpesa_lab.emulator import TRIGGERS

rows = []
for trigger in TRIGGERS:
    callback = lab.push(trigger.phone, 5, "INV-06", "Lesson 06").wait(timeout=10)
    rows.append({"result_code": callback.result_code, "result_desc": callback.result_desc,
                 "name": callback.entry.name, "fix": callback.mitigation})
readable(pd.DataFrame(rows))  # every word of each fix (pandas alone cuts cells at 50 characters)

# %% [markdown]
# Read the `fix` column: some failures are the customer's to solve (`1`, `1032`, `2001`),
# some are yours (`2028`, `SFC_IC0003`: the request does not fit the shortcode), and `17` is
# M-PESA protecting the customer (more on it below). `1037` and `1019` (with the observed
# `1036`) are one family, *no answer*: live Daraja has ended unanswered prompts with each, so a
# handler treats them alike (`codes.is_no_answer(code)`, `codes.no_answer_codes()`).

# %% [markdown]
# ## The code explorer
#
# Every documented and observed code in one place: search it (`1032`, `PIN`, `credentials`),
# filter error codes from result codes, read what each means and what to do, and press
# **Trigger it now** to produce it against the emulator, outcome shown under the button.

# %%
from mpesa_lab.widgets import CodeExplorer

explorer = CodeExplorer(lab)
explorer

# %% [markdown]
# The button, from code: select a code, trigger it and wait (`block=True`), then read what came
# back.

# %%
explorer.select("1032")
explorer.fire(block=True)
print(explorer.how(explorer.selected))
explorer.last_result

# %% [markdown]
# ### Exercise 1: a code by its real condition
#
# Magic numbers are a shortcut. Produce ResultCode **1** (insufficient balance) the way it
# happens to a real customer: register a subscriber with a small balance and ask for more.
# Keep the callback from `push.wait()` in `callback`.
#
# *Hint:* `lab.emulator.register_subscriber(phone, balance=...)`, with a phone such as
# `"254711000061"`.

# %% tags=["exercise"]
callback = ...

# %% tags=["solution"]
lab.emulator.register_subscriber("254711000061", balance=50)
callback = lab.push("254711000061", 51, "INV-06", "Lesson 06").wait(timeout=10)

# %%
check.triggered(callback, code="1", lab=lab)

# %% [markdown]
# ## Codes nobody documented
#
# Live Daraja has sent codes that are in no table (`1001`, `1031`, `1036`, `E3008`...), as numbers or
# text. A handler that looks codes up in a dictionary crashes on the first one. The emulator
# can send any code: here is `4242`.

# %%
lab.emulator.set_next_result("4242", phone="254711000062")
odd = lab.push("254711000062", 5, "INV-06", "Lesson 06").wait(timeout=10)
print(odd.result_code, odd.result_desc, "| known to the catalogue:", odd.entry.known)
print("Fix:", odd.mitigation)

# %% [markdown]
# ### Exercise 2: a handler that never crashes
#
# Below is a shop's first handler. Make `advice(code)` return the catalogue's mitigation for
# any code: numbers or text, result codes or error codes, documented or not. Run the check to
# see exactly which inputs it fails on.

# %% tags=["exercise"]
ADVICE = {
    "0": "Nothing to fix: fulfil the order and keep the MpesaReceiptNumber.",
    "1032": "Ask the customer whether they meant to cancel; push again only if they want to pay.",
}


def advice(code):
    return ADVICE[code]

# %% tags=["solution"]
def advice(code):
    return codes.lookup(code).mitigation

# %%
check.advice_function(advice)

# %% [markdown]
# ## A till (Buy Goods) as well as a paybill
#
# A shop with a **till** goes live under its **store (HO) number**, and the till is a number
# under it. Daraja's FAQ 10 says how a till push is filled in: `BusinessShortCode` = "Short code
# used on Go Live (HO/store number)", `PartyB` = "Till Number", `TransactionType` =
# `CustomerBuyGoodsOnline`. The Password is built from the store number and its passkey. Mix
# them up and the push is accepted, then fails: **2028** (the TransactionType does not fit the
# shortcode) or **SFC_IC0003** (PartyB is not that store's till). The emulator has a till shop:

# %%
from mpesa_lab.daraja.client import DarajaClient

SHOP = lab.emulator.credentials  # the lab's public values; a real passkey lives in .env
print("store (HO) number:", SHOP["till_shortcode"], "| till number:", SHOP["till_number"])

# %% [markdown]
# A client is one merchant's settings, so the till gets its own client, on the same emulator
# and listener. Here is a classic mix-up, the store number as PartyB (the client only warns):

# %%
mixed = DarajaClient(lab.settings.replace(
    shortcode=SHOP["till_shortcode"], passkey=SHOP["till_passkey"],
    transaction_type="CustomerBuyGoodsOnline", party_b=SHOP["till_shortcode"]))
ack = mixed.stk_push("254708374149", 6, "SHOP-06", "Till sale")
refused = lab.listener.wait_for(ack.checkout_request_id, timeout=10)
print(refused.result_code, refused.result_desc, "| Fix:", refused.mitigation)

# %% [markdown]
# ### Exercise 3: a till push the customer pays
#
# Build `till`, a client on the till's settings (`lab.settings.replace(shortcode=...,
# passkey=..., transaction_type=..., party_b=...)`, values from `SHOP`), push **KES 7** to the
# test phone `254708374149` with `till.stk_push(...)`, and keep its callback
# (`lab.listener.wait_for(ack.checkout_request_id)`) in `sale`.

# %% tags=["exercise"]
sale = ...

# %% tags=["solution"]
till = DarajaClient(lab.settings.replace(
    shortcode=SHOP["till_shortcode"], passkey=SHOP["till_passkey"],
    transaction_type="CustomerBuyGoodsOnline", party_b=SHOP["till_number"]))
ack = till.stk_push("254708374149", 7, "SHOP-06", "Till sale")
sale = lab.listener.wait_for(ack.checkout_request_id, timeout=10)

# %%
check.till_push(sale, lab=lab)

# %% [markdown]
# ## Rule 17: the same payment twice in two minutes
#
# M-PESA refuses a push with the **same amount to the same phone within about two minutes**:
# ResultCode `17`, "Rule limited". It protects customers from double charges, and it is what
# a learner meets when re-running a push cell. Push 10 shillings to the test number, then run
# the same push again:

# %%
TEST_PHONE = "254708374149"
first = lab.push(TEST_PHONE, 10, "INV-06", "Lesson 06").wait(timeout=10)
again = lab.push(TEST_PHONE, 10, "INV-06", "Lesson 06").wait(timeout=10)
print("first:", first.result_code, first.result_desc)
print("again:", again.result_code, again.result_desc)
print("Fix:", again.mitigation)

# %% [markdown]
# The lab saw it coming and said so (a `LabWarning` under the cell) before Daraja answered;
# production code gets no such warning. To run a push cell twice on purpose, change the
# amount or wait two minutes. In the lab you
# can also shorten the window, `lab.emulator.configure(duplicate_window=10)`, or switch the
# rule off (`enforce_duplicate_rule=False`); the real Daraja has no such switch. (Restarting
# the lab also starts a fresh emulator, which has no memory of earlier pushes.)
#
# ## Summary
#
# - Refused now: `ValidationError` (before sending) or a `DarajaError` with `errorCode`,
#   message and mitigation; `500.001.1001` needs its message to be understood.
# - Failed later: the callback's `ResultCode`; the catalogue explains each and says what to do.
# - Handlers look codes up, never index a dictionary: unknown codes are a fact of life.
# - `17` means the same amount to the same phone within two minutes.
# - A till push: BusinessShortCode = the store number, PartyB = the till, TransactionType =
#   `CustomerBuyGoodsOnline`; mixed up, it ends in 2028 or SFC_IC0003.
#
# **Next:** 07, analysing a week of result codes; 08, the real sandbox.

# %%
# The lab keeps running, so the widgets above still answer after Run All. When you are done:
# lab.stop()   (closing this notebook's kernel stops it too)
