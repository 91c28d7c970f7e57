# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 07-result-code-analytics
#     title: Result-code analytics
#     minutes: 45
#     requires: ["04", "06"]
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 07 · Result-code analytics
#
# One callback tells you about one customer. A week of them tells you about your checkout:
# how many customers pay, why the others do not, and what to fix first. Here you analyse a
# week of simulated production traffic from three shops, then this session's own pushes, with
# the same code.
#
# **You will be able to**
# - load outcomes from a folder, a store or a running lab into one transactions frame;
# - avoid the `result_code == 0` trap (codes are **text**);
# - rank failures by result code and read what to do about each;
# - plot the result codes and the daily success rate;
# - answer what a real week asks: when prompts go unanswered, how long each outcome takes, what
#   the STK query settled, who paid on a retry, which payments carried another amount, and how
#   the till does beside the paybill.
#
# **Prerequisites:** notebooks 04 and 06 (what the codes mean); a little pandas (filtering,
# `value_counts`).
#
# **Time:** about 45 minutes.

# %% [markdown]
# ## A week of outcomes
#
# `data/week` holds a seeded week (1 to 7 June 2026) of **simulated production traffic**, not
# the sandbox (today's sandbox completes no payment): about 2,500 pushes to a paybill (174379),
# a till (174381, store 174380) and a second paybill, with the rush hours, think times,
# retries and lost callbacks of a real checkout. `data/make_week.py` makes it. `analytics.load`
# reads it (or a store, a lab, JSON lines, CSV, Parquet) into frames with one schema;
# `course.dataset` finds the folder wherever this notebook runs.

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
# ## When prompts go unanswered
#
# A rate over the whole week hides the hours. `analytics.by_hour` counts each hour's
# transactions (one per push) by outcome: paid, cancelled (1032), no answer (1037, and the
# older 1019 and 1036), other failures, pending, refused; with the paid, cancel and no-answer
# rates of that hour.

# %%
hours = analytics.by_hour(tx)
hours[["hour", "transactions", "success_rate", "cancel_rate", "no_answer_rate"]].T.round(2)

# %%
fig = plots.by_hour(tx)

# %% [markdown]
# The heatmap shows the same week by day: lunch and the evening are busy, nights are quiet.

# %%
fig = plots.hour_heatmap(tx)

# %% [markdown]
# ### Exercise 3: the hour prompts go unanswered
#
# Which hour of the day (0-23) has the highest `no_answer_rate`? Count only hours with at
# least 50 transactions: a rate of five pushes is noise.

# %% tags=["exercise"]
worst_hour = ...

# %% tags=["solution"]
busy = hours[hours.transactions >= 50]
worst_hour = int(busy.loc[busy.no_answer_rate.idxmax(), "hour"])

# %%
check.no_answer_hour(worst_hour, tx)

# %% [markdown]
# ## How long each outcome takes
#
# `latency_s` is the seconds from the push to the first callback. Each code has its own
# clock: a payment waits for a customer to find the phone and type a PIN, a cancel is quicker,
# an unanswered prompt ends after about 30 s, and a refusal by M-PESA comes back at once.

# %%
analytics.latency_by_code(tx).round(1)

# %% [markdown]
# (`plots.latency_by_code(tx)` draws it; the report shows that picture.)

# %% [markdown]
# ### Exercise 4: how long a no-answer takes
#
# The median seconds from the push to a 1037 callback: how long your checkout must wait before
# an STK query can tell anything.

# %% tags=["exercise"]
no_answer_s = ...

# %% tags=["solution"]
no_answer_s = tx[tx.result_code == "1037"].latency_s.median()

# %%
check.no_answer_latency(no_answer_s, tx)

# %% [markdown]
# ## Callbacks that never came
#
# Daraja accepted some pushes whose callback never arrived. The merchant asked with an STK
# query: some queries settled them, some came too early ("still under processing"), some
# pushes were never asked about. `callback_funnel` counts transactions at each step:

# %%
analytics.callback_funnel(tx)

# %% [markdown]
# ### Exercise 5: settled by a query
#
# How many accepted pushes (`response_code == "0"`) without a callback (`callbacks == 0`) did
# an STK query settle (status paid or failed)?

# %% tags=["exercise"]
settled = ...

# %% tags=["solution"]
silent = tx[(tx.response_code == "0") & (tx.callbacks == 0)]
settled = int(silent.status.isin(["paid", "failed"]).sum())

# %%
check.settled_by_query(settled, tx)

# %% [markdown]
# ## Did they pay on a retry?
#
# After a cancel or a no-answer, a shop often asks again. `retry_chains` strings a customer's
# attempts together: pushes from the same shortcode to the same phone for the same amount,
# each within 30 minutes of the last, ending at the first payment.

# %%
chains = analytics.retry_chains(tx)
chains[chains.attempts > 1].head()

# %%
analytics.retry_conversion(tx).round(2)

# %% [markdown]
# ### Exercise 6: paid on a retry after 1037
#
# Of the chains that began with a 1037 and were retried, what share paid on a retry? (A share
# between 0 and 1.)

# %% tags=["exercise"]
retry_paid = ...

# %% tags=["solution"]
row = analytics.retry_conversion(tx).set_index("first_code").loc["1037"]
retry_paid = row.paid_on_retry / row.retried

# %%
check.retry_conversion(retry_paid, tx)

# %% [markdown]
# ## Reconciliation: was the right amount paid?
#
# A paid callback carries the `Amount` M-PESA debited. Reconcile it with `amount_requested`
# before you ship an order: a few differ. `reconciliation` counts the paid transactions that
# match, differ, or cannot be compared (paid by a query, which carries no amount).

# %%
analytics.reconciliation(tx)

# %% [markdown]
# ### Exercise 7: paid another amount
#
# Keep in `short` the paid rows whose `amount` differs from `amount_requested`. (Careful: an
# unpaid row's amount is NaN, and NaN != 100 is True.)

# %% tags=["exercise"]
short = ...

# %% tags=["solution"]
paid_rows = tx[tx.status == "paid"]
short = paid_rows[paid_rows.amount != paid_rows.amount_requested].dropna(subset=["amount"])

# %%
check.mismatched(short, tx)

# %% [markdown]
# ## The till beside the paybill
#
# `by_shortcode` gives every count above per shortcode. A till (Buy Goods) push carries the
# store number as `BusinessShortCode` (174380) and the till (174381) as `PartyB`, so the till
# shows up as 174380.

# %%
shops = analytics.by_shortcode(tx)
shops[["shortcode", "kind", "transactions", "paid", "success_rate", "no_answer_rate", "amount_paid"]]

# %% [markdown]
# ### Exercise 8: the till's success rate
#
# Paid / transactions for the till's pushes.

# %% tags=["exercise"]
till_rate = ...

# %% tags=["solution"]
till_rate = (tx[tx.shortcode == "174380"].status == "paid").mean()

# %%
check.till_success_rate(till_rate, tx)

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
# The week's questions work here too; where the store cannot know (no retries yet, say), the
# table is empty and its note says why.

# %%
analytics.latency_by_code(mine).round(1)

# %% [markdown]
# ## Summary
#
# - `analytics.load(source)` gives one transactions frame from a folder, store or lab.
# - `result_code` is text: `tx.result_code == 0` finds nothing; compare with `"0"`, or use
#   `status == "paid"`.
# - `summary` ranks codes with their meaning and mitigation; `success_rate` and the plots show
#   the trend.
# - `by_hour`, `latency_by_code`, `callback_funnel`, `retry_conversion`, `reconciliation` and
#   `by_shortcode` answer what a real week asks; each table says what it counts.
#   `mpesa-lab report data/week --out report/` writes it all as HTML.
#
# **Next:** 08, the real sandbox.

# %%
lab.stop()
