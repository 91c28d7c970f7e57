# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 07-result-code-analytics
#     title: Result-code analytics
#     minutes: 30
#     requires: ["04", "06"]
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 07 · Result-code analytics
#
# One callback tells you about one customer. A week of them tells you about your checkout:
# how many customers pay, why the others do not, and what to fix first. Here you analyse a
# week of outcomes from three shops, then this session's own pushes, with the same code.
#
# **You will be able to**
# - load outcomes from a folder, a store or a running lab into one transactions frame;
# - avoid the `result_code == 0` trap (codes are **text**);
# - rank failures by result code and read what to do about each;
# - plot the result codes and the daily success rate.
#
# **Prerequisites:** notebooks 04 and 06 (what the codes mean); a little pandas (filtering,
# `value_counts`).
#
# **Time:** about 30 minutes.

# %% [markdown]
# ## A week of outcomes
#
# `data/week` holds a seeded week (1 to 7 June 2026) of 2,500 pushes from three merchants,
# made with the emulator. `analytics.load` reads it (or a store, a lab, JSON lines, CSV,
# Parquet) into frames with one schema; `course.dataset` finds the folder wherever this
# notebook runs.

# %%
from mpesa_lab import analytics
from mpesa_lab.analytics import plots
from mpesa_lab.course import check, dataset, lesson_store, readable

week = analytics.load(dataset("week"))
tx = week.transactions
print(len(tx), "transactions;", len(week.callbacks), "callback deliveries;", len(week.problems), "problems")
print(len(tx.columns), "columns:", ", ".join(tx.columns))
FIRST = ["status", "result_code", "result_desc", "phone", "amount_requested", "amount", "receipt", "latency_s"]
readable(tx.head(), FIRST)

# %% [markdown]
# One row per push, and many columns: above are the ones you read first, `status` (paid,
# failed, pending, rejected), `result_code`, `result_desc`, `phone`, `amount_requested` (what
# the push asked for), `amount` (what the callback says was paid: empty unless paid),
# `receipt`, `latency_s`. `docs/analytics.md` lists them all; `tx[[...]]` picks others.
#
# ## The `result_code == 0` trap
#
# Daraja sends `ResultCode` as a number in callbacks (`0`, `1032`), as a string from the STK
# query (`"0"`), and some codes are not numbers at all (`SFC_IC0003`). So the frame keeps
# codes as **text**. Watch what the obvious filter finds:

# %%
print("result_code == 0   ->", len(tx[tx.result_code == 0]), "rows")
print("result_code == '0' ->", len(tx[tx.result_code == "0"]), "rows")
print("dtype:", tx.result_code.dtype, "| values look like:", tx.result_code.unique()[:6].tolist())

# %% [markdown]
# No error, no warning: just zero rows, and a report that says nobody paid. A number never
# equals a text.
#
# ### Exercise 1: the paid transactions
#
# Keep in `paid` the rows of `tx` whose callback said paid (ResultCode 0).

# %% tags=["exercise"]
paid = ...

# %% tags=["solution"]
paid = tx[tx.result_code == "0"]

# %%
check.paid_rows(paid, tx)

# %% [markdown]
# `status == "paid"` counts a few more: pushes whose callback never came but whose STK query
# said 0. For "did the customer pay?", use `status`.

# %%
print("callback said 0:", (tx.result_code == "0").sum(), "| status paid:", (tx.status == "paid").sum())

# %% [markdown]
# ## Why customers did not pay
#
# `analytics.summary` counts each result code with its share, what it means and what to do:

# %%
summary = analytics.summary(tx)
readable(summary, ["result_code", "result_name", "category", "count", "share", "mitigation"])

# %%
fig = plots.result_codes(tx)

# %% [markdown]
# ### Exercise 2: the commonest failure
#
# Among the **failed** transactions (`status == "failed"`), which result code comes up most?
# Answer with the code as text. It is the first thing to fix in this checkout.

# %% tags=["exercise"]
top = ...

# %% tags=["solution"]
top = tx[tx.status == "failed"].result_code.value_counts().index[0]

# %%
check.top_failure(top, tx)

# %% [markdown]
# ## Day by day
#
# `success_rate` gives paid / all and paid / settled (pending left out), overall, per column,
# or per time bin:

# %%
daily = analytics.success_rate(tx, freq="1D")
daily

# %%
fig = plots.success_rate(tx, freq="1D")

# %% [markdown]
# ## This session's own pushes
#
# The same functions work on a running lab. Start one, push to a few of the emulator's magic
# numbers (each always gets its code) and to the test phone, and analyse what came back.

# %%
from mpesa_lab.emulator import TRIGGERS
from mpesa_lab.lab import Lab

lab = Lab.start(store=lesson_store("07-result-code-analytics"))
phones = ["254708374149"] * 3 + [t.phone for t in TRIGGERS if t.code in ("1", "1032", "1037", "2001")]
for amount, phone in enumerate(phones, start=20):
    lab.push(phone, amount, "INV-07", "Lesson 07").wait(timeout=15)

# %%
mine = analytics.load(lab).transactions
analytics.summary(mine)[["result_code", "result_name", "count", "share"]]

# %% [markdown]
# Re-running this notebook continues the lesson's store, so the counts grow with each run:
# the frame is the whole history of this lesson, as a shop's would be.

# %%
fig = plots.result_codes(mine)

# %% [markdown]
# ## Summary
#
# - `analytics.load(source)` gives one transactions frame from a folder, store or lab.
# - `result_code` is text: `tx.result_code == 0` finds nothing; compare with `"0"`, or use
#   `status == "paid"`.
# - `summary` ranks codes with their meaning and mitigation; `success_rate` and the plots show
#   the trend. `mpesa-lab report data/week --out report/` writes it all as HTML.
#
# **Next:** 08, the real sandbox.

# %%
lab.stop()
