"""How long things take for real: a delay distribution per outcome, each with its source.

Every number here is **real-world seconds** (wall-clock time on a real phone network), measured
from the moment Daraja acknowledges the STK push (``ResponseCode "0"``) to the moment the outcome
is final and its callback leaves Safaricom. The emulator multiplies them by its ``time_scale``
(``EmulatorConfig.time_scale``: 1 is real time, 0.05 is the course's 1/20); this module knows
nothing about scales, so the same draws also serve data generators (``data/make_week.py``).

Sources: ``observed`` rows cite shared/daraja/observed-behaviour.md (section "Timing" unless
said otherwise) with the date and how much evidence stands behind them; ``assumption`` rows are
modelling assumptions of this lab, chosen to look plausible and said to be so. The public API
(``draw_delay``, ``draw_prompt_delay``, ``DISTRIBUTIONS``, ``PROFILES``, ``distribution``,
``table``) is stable: other parts of the lab and its data generators depend on it.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

from mpesa_lab.clock import duration_words

SHAPES = ("lognormal", "triangular", "uniform")


@dataclass(frozen=True)
class Delay:
    """One delay distribution, in real-world seconds from the push's acknowledgement.

    ``median``: half the draws are shorter; ``low``/``high``: no draw falls outside (the
    lognormal is truncated, redrawn rather than clipped); ``spread``: the lognormal's sigma
    (ln-space standard deviation; 0.35 puts the middle half within x0.79-x1.27 of the median),
    unused by the other shapes; ``triangular``'s peak is its median (it is kept symmetric).
    """

    what: str  # what the time is spent on, in words
    shape: str  # one of SHAPES
    median: float
    low: float
    high: float
    spread: float = 0.0
    evidence: str = "assumption"  # "observed" (cited below) or "assumption" (this lab's choice)
    source: str = ""  # where the numbers come from, with the date and the weight of the evidence

    def draw(self, rng: random.Random) -> float:
        """One delay in real-world seconds, within [low, high]."""
        if self.shape == "uniform":
            return rng.uniform(self.low, self.high)
        if self.shape == "triangular":
            return rng.triangular(self.low, self.high, self.median)
        for _ in range(32):  # truncated lognormal: redraw the rare value outside the bounds
            value = self.median * math.exp(self.spread * rng.gauss(0.0, 1.0))
            if self.low <= value <= self.high:
                return value
        return min(self.high, max(self.low, self.median))


_OBS = "shared/daraja/observed-behaviour.md"

THINK_PIN = Delay(
    "the customer finds the phone, reads the prompt and types the PIN",
    "lognormal",
    median=12.0,
    low=5.0,
    high=40.0,
    spread=0.35,
    evidence="observed",
    source=f"{_OBS}, Timing: in captured paid callbacks TransactionDate is 9-16 s after the "
    "timestamp inside the CheckoutRequestID (a few captured payments, undated). The median 12 s and "
    "the middle half 9.5-15 s follow them; the 5-40 s bounds are a modelling assumption.",
)
THINK_CANCEL = Delay(
    "the customer reads the prompt and presses Cancel (no PIN to type)",
    "lognormal",
    median=8.0,
    low=3.0,
    high=40.0,
    spread=0.45,
    source="modelling assumption: shorter than a PIN entry (one key press after reading the prompt); "
    "no capture of a cancel's timing is known.",
)
NO_ANSWER_2026 = Delay(
    "nobody answers: the sandbox gives up on the test number's prompt (1037)",
    "triangular",
    median=30.0,
    low=28.0,
    high=32.0,
    evidence="observed",
    source=f"{_OBS}, Timing and 'The live sandbox today': in 2026 the sandbox ended an unanswered "
    "test push with a 1037 callback about 30 s after the push (two 2026 reports). The +-2 s "
    "spread is a modelling assumption.",
)
NO_ANSWER_OLDER = Delay(
    "nobody answers: the handset prompt times out (older wordings 1019 'Transaction has expired', "
    "2022, and 1036 'SMSC ACK timeout', 2019)",
    "triangular",
    median=90.0,
    low=80.0,
    high=100.0,
    source=f"modelling assumption built on {_OBS}, Timing: the handset prompt is said to time out "
    "after 'usually 1 min 30 secs' (one integrator's README, undated); that 1019 and 1036 come at "
    "that timeout is not evidenced.",
)
AFTER_PIN = Delay(
    "the customer types the PIN, then the core declines at once (balance or limits)",
    "lognormal",
    median=13.0,
    low=5.5,
    high=41.0,
    spread=0.35,
    source="modelling assumption: the paid think time (observed, above) plus about a second for "
    "the core's check; no capture of a decline's timing is known.",
)
PROMPT_FAILED = Delay(
    "the network fails to deliver the prompt (SMSC/USSD): a quick failure, no customer involved",
    "uniform",
    median=2.5,
    low=1.0,
    high=4.0,
    source="modelling assumption: a delivery failure is reported within seconds; not measured.",
)
REJECTED = Delay(
    "the core refuses before any prompt (limits, rule 17, product assignment, operator, bad debt)",
    "uniform",
    median=1.25,
    low=0.5,
    high=2.0,
    source="modelling assumption: the core's checks take about a second; not measured.",
)
UNKNOWN = Delay(
    "an outcome this model has no figure for",
    "uniform",
    median=10.5,
    low=1.0,
    high=20.0,
    source="modelling assumption: a wide guess so a code outside the table still takes some time.",
)
PROMPT = Delay(
    "the prompt travels to the handset and appears on its screen",
    "uniform",
    median=2.0,
    low=1.0,
    high=3.0,
    source="modelling assumption: a USSD push reaches a phone in a second or few; not measured.",
)

# Outcome code -> distribution, for the lab's default world (every outcome can be seen).
TEACHING: dict[str, Delay] = {
    "0": THINK_PIN,
    "2001": THINK_PIN,  # a wrong PIN takes as long to type as the right one
    "8006": THINK_PIN,
    "1": AFTER_PIN,
    "4": AFTER_PIN,
    "8": AFTER_PIN,
    "1032": THINK_CANCEL,
    "1031": THINK_CANCEL,  # the older wording of a cancel
    "1037": NO_ANSWER_2026,
    "1019": NO_ANSWER_OLDER,
    "1036": NO_ANSWER_OLDER,
    "1025": PROMPT_FAILED,
    "1001": PROMPT_FAILED,
    "2": REJECTED,
    "3": REJECTED,
    "17": REJECTED,
    "2028": REJECTED,
    "SFC_IC0003": REJECTED,
    "E3008": REJECTED,
}
# The live sandbox as reported in 2026: only 1037 (test number) and E3008 (other numbers) occur,
# with the same figures; kept as its own profile so its sources can differ later.
LIVE_SANDBOX_2026: dict[str, Delay] = dict(TEACHING)

PROFILES: dict[str, dict[str, Delay]] = {"teaching": TEACHING, "live_sandbox_2026": LIVE_SANDBOX_2026}
DISTRIBUTIONS = TEACHING  # the default profile's table, for docs and reports


def _code(outcome_code: int | str) -> str:
    if isinstance(outcome_code, bool) or not isinstance(outcome_code, (int, str)):
        raise ValueError(f"outcome_code must be a ResultCode such as 0, 1032 or 'SFC_IC0003'; got {outcome_code!r}")
    text = str(outcome_code).strip()
    return text.upper() if text.upper().startswith(("SFC_IC", "E")) else text


def distribution(outcome_code: int | str, *, profile: str = "teaching") -> Delay:
    """The distribution ``draw_delay`` uses for ``outcome_code`` (UNKNOWN for codes not in the table)."""
    if profile not in PROFILES:
        raise ValueError(f"timing profile must be one of {', '.join(map(repr, PROFILES))}; got {profile!r}")
    return PROFILES[profile].get(_code(outcome_code), UNKNOWN)


def draw_delay(outcome_code: int | str, rng: random.Random, *, profile: str = "teaching") -> float:
    """Real-world seconds from the push's acknowledgement to the callback of ``outcome_code``.

    Deterministic for a seeded ``rng``; never outside the distribution's [low, high]. Multiply
    by a time scale to run faster than real time (the emulator does).
    """
    return distribution(outcome_code, profile=profile).draw(rng)


def draw_prompt_delay(rng: random.Random) -> float:
    """Real-world seconds from the push's acknowledgement to the prompt on the handset."""
    return PROMPT.draw(rng)


# What a customer action (scenarios.Plan.action) ends in, for the draw; "wait" (interactive) has
# no outcome yet: the customer decides.
ACTION_CODES = {
    "pay": "0",
    "wrong_pin": "2001",
    "cancel": "1032",
    "ignore": "1037",
    "unreachable": "1037",
    "late": "1019",
}


def outcome_of(action: str, code: str | None = None) -> str | None:
    """The ResultCode a plan's ``action`` (or scripted ``code``) is expected to end in; None for "wait"."""
    if action == "script":
        return code or "0"
    return ACTION_CODES.get(action)


def table(profile: str = "teaching") -> list[dict[str, Any]]:
    """The profile's distributions as rows (one per outcome code), for docs and reports."""
    if profile not in PROFILES:
        raise ValueError(f"timing profile must be one of {', '.join(map(repr, PROFILES))}; got {profile!r}")
    return [{"code": code, **asdict(delay)} for code, delay in PROFILES[profile].items()]


def describe(seconds: float) -> str:
    """A duration in words a reader takes in at a glance: '0.6 s', '27 s', '1 min 30 s', '2 h 5 min'."""
    return duration_words(seconds)
