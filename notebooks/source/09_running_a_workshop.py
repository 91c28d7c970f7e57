# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   mpesa_lab:
#     lesson: 09-running-a-workshop
#     title: Running a workshop
#     minutes: 45
#     requires: ["02", "03", "04", "05", "06", "07", "08"]
#     audience: facilitator
#     expects_rule_17: 0
# ---

# %% [markdown]
# # 09 · Running a workshop
#
# A guide for whoever runs this course for a room: what to prepare, how long each notebook
# takes, what goes wrong and how to spot it early. It ends with a rehearsal you can run the
# day before.
#
# **You will be able to**
# - prepare the room's machines and check them in one command;
# - plan a full-day or half-day session from the timing table;
# - recognise the usual trouble from what a participant's screen shows;
# - rehearse a room of phones with the lab, and find the participant who needs help;
# - run the workshop mode on this machine with simulated participants: their cards, their
#   pushes (callbacks posted directly or relayed), your view of the room, a room-wide fault.
#
# **Prerequisites:** you have worked through notebooks 02 to 08 yourself.
#
# **Time:** about 45 minutes to read and rehearse.

# %% [markdown]
# ## Before the day
#
# - **Machines.** Python 3.11 or newer. From a clone: `python -m venv .venv`, then
#   `.venv/bin/pip install -e ".[test]"` (or `conda env create -f environment.yml`). Ask
#   participants to do it beforehand; on the day, an offline install saves the Wi-Fi:
#   `mpesa-lab workshop wheelhouse DIR` builds it (a USB stick, or served from your laptop by
#   `mpesa-lab workshop serve --wheelhouse DIR`), and `mpesa-lab workshop check .env` tells each
#   participant whether they reach the room (docs/workshop.md).
# - **Smoke test.** `mpesa-lab demo` runs the whole journey on the emulator in a few seconds.
#   If it prints a table of outcomes, the machine is ready for notebooks 00 to 07.
# - **Kernel.** Jupyter must use the project's Python. If `import mpesa_lab` fails in a
#   notebook, install the kernel: `.venv/bin/python -m ipykernel install --user --name mpesa-lab`
#   and pick *mpesa-lab* in Jupyter's kernel menu.
# - **No internet needed** until notebook 08. For 08 live (optional), participants need a
#   Daraja account with an app and an ngrok authtoken: ask them to create both a few days
#   before, since sign-ups can take time. Without them, 08 runs on the emulator.
#
# ## Room setup
#
# Each participant runs their own lab on their own laptop: every `Lab.start()` picks free
# ports, so nothing clashes, and each keeps its lesson stores under `~/.mpesa-lab/`. Project
# the notebooks from your machine and keep the solutions (below) on yours only.
#
# A shared emulator for the whole room, with a facilitator's page showing everyone's pushes,
# is the workshop mode: `mpesa-lab workshop serve` on your machine (see `docs/workshop.md`).
# The last part of this guide runs it here, on loopback, with simulated participants.

# %% [markdown]
# {{ timing }}
#
# {{ talking_points }}
#
# ## What to watch
#
# | on the screen | what it is | what to say |
# | --- | --- | --- |
# | `ModuleNotFoundError: mpesa_lab` | the notebook runs on another Python | pick the *mpesa-lab* kernel (see above) |
# | `500.001.1001 Wrong credentials` | the password does not match: wrong passkey, shortcode/passkey mismatch, or the timestamp computed twice | notebook 03: decode the password |
# | ResultCode `17` after re-running a cell | same amount, same phone, within 2 minutes | change the amount, or re-run the lab's start cell |
# | `Unable to lock subscriber` | a push to that phone is still pending | wait for its callback, or answer it |
# | `TimeoutError` waiting for a callback | the callback is late or lost | `push.query()`; never push again |
# | a key or secret typed into a cell | it will end up in a saved notebook | move it to `.env` now |
#
# Walk the room during exercises: a check cell's message says exactly what is wrong, so a
# participant stuck on the same message twice is the one to visit.

# %% [markdown]
# ## Rehearse the room
#
# The day before, play the room with the lab: one phone per participant, one push each.

# %%
from mpesa_lab.lab import Lab
from mpesa_lab.course import check, lesson_store

lab = Lab.start(store=lesson_store("09-running-a-workshop"))
ROOM = [f"2547110090{seat:02d}" for seat in range(1, 6)]  # five participants' phones
for phone in ROOM:
    lab.emulator.register_subscriber(phone)  # each one pays
ROOM

# %% [markdown]
# ### Exercise 1: a push for every seat
#
# Push 10 shillings to every phone in `ROOM`, wait for each callback, then keep this
# rehearsal's rows of `lab.transactions()` in `room` (one row per push; filter on the
# pushes' `checkout_request_id`).

# %% tags=["exercise"]
room = ...

# %% tags=["solution"]
ids = [lab.push(phone, 10, "ROOM", "Rehearsal").checkout_request_id for phone in ROOM]
for cid in ids:
    lab.listener.wait_for(cid, timeout=10)
tx = lab.transactions()
room = tx[tx["checkout_request_id"].isin(ids)]

# %%
check.room_rehearsal(room, phones=ROOM)

# %% [markdown]
# ## Who needs help?
#
# Now a room where one participant keeps typing the wrong PIN (their phone's profile is
# `wrong_pin`). Everyone pushes three times, with different amounts so rule 17 stays out of
# the way.

# %%
lab.emulator.register_subscriber(ROOM[3], profile="wrong_pin")
rounds = []
for amount in (11, 12, 13):
    for phone in ROOM:
        rounds.append(lab.push(phone, amount, "ROOM", "Rehearsal"))
    for push in rounds[-len(ROOM):]:
        push.wait(timeout=10)
tx = lab.transactions()
session = tx[tx["checkout_request_id"].isin([p.checkout_request_id for p in rounds])]
session[["status", "result_code", "phone", "amount_requested"]]

# %% [markdown]
# ### Exercise 2: find them
#
# From `session`, find the phone with no paid push and the result code it gets most often.
# Answer a pair `(phone, result_code)`.

# %% tags=["exercise"]
stuck = ...

# %% tags=["solution"]
paid_per_phone = session.groupby("phone")["status"].apply(lambda s: (s == "paid").sum())
phone = paid_per_phone[paid_per_phone == 0].index[0]
stuck = (phone, session[session["phone"] == phone]["result_code"].mode()[0])

# %%
check.struggling_participant(stuck, frame=session)

# %% [markdown]
# Two wrong PINs (`2001`) and then `8006`: in the emulator the third wrong PIN in a row locks
# the M-PESA PIN, and every later push to that phone fails until it is unlocked. (That is the
# emulator's model: Daraja documents 8006 only as "The security credential is locked.", not
# after how many wrong PINs.) In the room that is the
# moment to walk over. In the lab: `lab.emulator.unlock_subscriber(phone)`.

# %% [markdown]
# ## A shared room: the workshop mode
#
# In workshop mode one server on your machine is Daraja for the whole room. Each participant
# gets their own Daraja app and paybill on it, and you get a live view of everyone. On the day
# you run `mpesa-lab workshop serve --host 0.0.0.0 --participants 30` (see `docs/workshop.md`).
#
# Here the room is simulated: one workshop server on loopback and four participants, each a
# real `Lab` with its own listener and store, in this kernel. They join with
# `mpesa_lab.workshop.simulation.join`, so they sit beside this notebook's `lab` (a second
# `Lab.start()` would replace it). Running the cell again replaces the room.

# %%
from mpesa_lab.paths import lab_home
from mpesa_lab.workshop import simulate

room = simulate(participants=4, folder=lab_home() / "course" / "09-workshop-room", title="Rehearsal room")
room

# %% [markdown]
# ## The participants' cards
#
# The server wrote one card per participant (`cards.html`, printable) and the same as a CSV.
# A card holds the `.env` lines to paste: the workshop URL, a consumer key and secret, a
# paybill and its passkey. Secrets stay on the cards, so this table shows only the public part.

# %%
import pandas as pd

cards = pd.DataFrame([
    {"participant": p.id, "name": p.name, "paybill (MPESA_SHORTCODE)": p.shortcode,
     "MPESA_BASE_URL": room.server.url}
    for p in room.server.participants
])
print("cards to print:", room.server.files["cards"].name, "and", room.server.files["csv"].name)
cards

# %% [markdown]
# ## Two ways a callback reaches a laptop
#
# A participant's callbacks land in their mailbox on the server. When the server can reach
# the laptop's listener, it posts them there (**direct**). When venue Wi-Fi blocks incoming
# connections, the laptop pulls them over its own connection (**relay**). The simulation
# relays every second participant. Each participant pushes once and reports the exercise
# they reached (a notebook does it with `lab.workshop.report_progress("09.1")`).

# %%
pushes = room.push_all(1)  # concurrently; waits for every callback
for number, participant_lab in enumerate(room.labs.values(), start=1):
    participant_lab.workshop.report_progress(f"09.{number}")
{pid: (participant_lab.workshop.delivery, push.wait().result_code)  # from the participant's own store
 for (pid, participant_lab), push in zip(room.labs.items(), pushes, strict=True)}

# %% [markdown]
# Each participant's callback (ResultCode `0`) is in their own store, whichever way it came.
# Nobody had to know how their callbacks travel.
#
# ## Your view of the room
#
# The facilitator's page (`room.server.facilitator_url`) polls `GET /_workshop/api/room`
# once a second. The same data as a table here. Its URL holds the room's token, so it is
# never printed: the token travels in a header.

# %%
import httpx


def facilitator_view(server):
    """The facilitator page's data, one row per participant (no token on screen)."""
    data = httpx.get(f"{server.url}/_workshop/api/room", trust_env=False,
                     headers={"Authorization": f"Bearer {server.facilitator_token}"}).json()
    return pd.DataFrame([
        {"participant": p["id"], "delivery": p["delivery"], "exercise": p["exercise"],
         "pushes": p["pushes"], "accepted": p["accepted"],
         "results": ", ".join(f"{code}: {n}" for code, n in p["results"].items()),
         "last error": (p["last_error"] or {}).get("code", ""),
         "what to say": (p["last_error"] or {}).get("mitigation", "")}
        for p in data["participants"]
    ]).set_index("participant")


facilitator_view(room.server)

# %% [markdown]
# ## A fault for the whole room
#
# To teach resilience, make Daraja misbehave for everyone at once: here `busy` (every push
# answered `500.003.02 System is busy`) for 60 seconds. The page has the same buttons. Each
# lab retries a busy answer a few times with backoff, then gives up: that takes a few seconds.

# %%
room.server.start_fault("busy", seconds=60)
during = room.push_all(1)
print(sorted({type(answer).__name__ for answer in during}))
print(during[0])  # what participant p01's notebook showed

# %% [markdown]
# Every participant saw `SystemBusy`, with Daraja's words and what to do, and a `rejected`
# row in their own transactions. Your view shows the same error against each of them, with
# its mitigation, and how many pushes the server refused (each lab's retries included).

# %%
facilitator_view(room.server)

# %% [markdown]
# Turn it off before the minute is up, and the room pushes again normally.

# %%
room.server.stop_fault()
after = room.push_all(1)
[type(answer).__name__ for answer in after]

# %% [markdown]
# ### Exercise 3: what did the room see?
#
# The room's data (`GET /_workshop/api/room`) has an `errors` chart: each Daraja error code
# answered to the room's pushes, with how many pushes got it (each lab's retries count: the
# server answered every one). Answer a pair `(error_code, pushes)` for the error the fault
# caused.

# %% tags=["exercise"]
room_data = httpx.get(f"{room.server.url}/_workshop/api/room", trust_env=False,
                      headers={"Authorization": f"Bearer {room.server.facilitator_token}"}).json()
saw = ...

# %% tags=["solution"]
room_data = httpx.get(f"{room.server.url}/_workshop/api/room", trust_env=False,
                      headers={"Authorization": f"Bearer {room.server.facilitator_token}"}).json()
top = room_data["errors"][0]
saw = (top["code"], top["count"])

# %%
check.room_fault(saw, room=room_data)

# %% [markdown]
# The fault never reached anyone's store as a payment: a busy answer means Daraja did not
# process the push, so retrying it is safe. In the room, that is the moment to say so.
#
# ## Solutions and checks
#
# - Every exercise has a check cell that says precisely what is wrong. Checks never stop a
#   notebook, so a participant can always run to the end.
# - The solutions are in `notebooks/solutions/`, one notebook per lesson with every exercise
#   solved. Keep them for yourself; they are built from the same sources as the notebooks
#   (`python notebooks/build.py`, see `notebooks/README.md`).
# - `MPESA_LAB_STRICT_CHECKS=1` makes a failed check raise: that is how the solutions are
#   tested, and a quick way to confirm a participant's finished notebook.
#
# ## Summary
#
# - Prepare: install, `mpesa-lab demo`, the right kernel; accounts for 08 days ahead.
# - Plan about {{ full_course }} for the full course, {{ half_day }} for the half-day cut.
# - Watch for the same check message twice, `17` on re-runs, `Wrong credentials`, lost
#   callbacks.
# - Rehearse with the lab: a push per seat, and a room with one participant in trouble.
# - In workshop mode: hand out the cards, let callbacks travel directly or by relay, watch
#   the room's view (never project its URL), and turn a fault on and off to teach resilience.
#
# **Next:** run it: `mpesa-lab workshop serve`, and `docs/workshop.md` for every option.

# %%
room.stop()
lab.stop()
