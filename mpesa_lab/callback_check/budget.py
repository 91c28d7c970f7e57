"""How long check-callback lets an endpoint take (a module of its own: the command's parser reads
these without loading httpx)."""

from __future__ import annotations

# How long an endpoint may take to answer a callback. Safaricom does not document how long Daraja
# waits for the answer (nor that it retries: it is not known to). 5 s is a lab choice: half the
# emulator's callback_timeout (10 s), leaving room for the internet between Daraja and you. A
# careful endpoint answers in milliseconds (store, answer, work after); change it with budget_s.
DEFAULT_BUDGET_S = 5.0
# One POST's limit: past this the answer counts as never given.
DEFAULT_TIMEOUT_S = 10.0
