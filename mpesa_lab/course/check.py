"""Exercise checks for the course notebooks: ``check.<exercise>(answer, ...) -> Verdict``.

Each check compares a learner's answer with what Daraja (or the lab) expects and names the part
that is wrong and how to fix it, never just "incorrect". Answers left as ``...`` (the notebooks'
placeholder) get a "not answered yet" verdict with a hint. Messages never quote a secret: a
passkey or consumer secret is named by its fingerprint at most.

The checks live by lesson in :mod:`mpesa_lab.course.checks` (``l02_access_token``, ...); this
module gathers them under the one name the notebooks use: ``from mpesa_lab.course import check``.
"""

from __future__ import annotations

from mpesa_lab.course.checks.l00_start import callback_target, msisdn
from mpesa_lab.course.checks.l01_journey import JOURNEY as JOURNEY  # the seven steps, for the tests
from mpesa_lab.course.checks.l01_journey import real_delay, sequence_order, step_delay
from mpesa_lab.course.checks.l02_access_token import basic_auth, token_refresh
from mpesa_lab.course.checks.l03_password import password, timestamp, wrong_part
from mpesa_lab.course.checks.l04_first_push import customer_answer
from mpesa_lab.course.checks.l05_callbacks import distinct_payments, query_fallback, receipt, result_code
from mpesa_lab.course.checks.l06_result_codes import advice_function, till_push, triggered
from mpesa_lab.course.checks.l07_analytics import (
    mismatched,
    no_answer_hour,
    no_answer_latency,
    paid_rows,
    retry_conversion,
    settled_by_query,
    till_success_rate,
    top_failure,
)
from mpesa_lab.course.checks.l08_sandbox import callback_url, env_file
from mpesa_lab.course.checks.l09_workshop import room_fault, room_rehearsal, struggling_participant
from mpesa_lab.course.checks.l10_endpoint import callback_reader, order_settler, polling_loop, your_endpoint
from mpesa_lab.course.checks.l11_troubleshooting import callback_delivered, one_timestamp

__all__ = [
    # l00_start
    "msisdn",
    "callback_target",
    # l01_journey
    "sequence_order",
    "step_delay",
    "real_delay",
    # l02_access_token
    "basic_auth",
    "token_refresh",
    # l03_password
    "password",
    "timestamp",
    "wrong_part",
    # l04_first_push
    "customer_answer",
    # l05_callbacks
    "receipt",
    "result_code",
    "distinct_payments",
    "query_fallback",
    # l06_result_codes
    "triggered",
    "advice_function",
    "till_push",
    # l07_analytics
    "paid_rows",
    "top_failure",
    "no_answer_hour",
    "no_answer_latency",
    "settled_by_query",
    "retry_conversion",
    "mismatched",
    "till_success_rate",
    # l08_sandbox
    "env_file",
    "callback_url",
    # l09_workshop
    "room_rehearsal",
    "struggling_participant",
    "room_fault",
    # l10_endpoint
    "callback_reader",
    "order_settler",
    "your_endpoint",
    "polling_loop",
    # l11_troubleshooting
    "one_timestamp",
    "callback_delivered",
]
