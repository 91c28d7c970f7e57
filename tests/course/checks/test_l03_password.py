"""Checks of notebook 03, password and timestamp: right answers pass, wrong ones are named."""

from __future__ import annotations

from datetime import UTC, datetime

from mpesa_lab.constants import SANDBOX_PASSKEY
from mpesa_lab.course import check
from mpesa_lab.daraja.password import build_password
from tests.course.helpers import b64, ok, todo, wrong

SHORTCODE, TS = "174379", "20260315003005"
MOMENT = datetime(2026, 3, 14, 21, 30, 5, tzinfo=UTC)


def test_password():
    good = build_password(SHORTCODE, SANDBOX_PASSKEY, TS)
    ok(check.password(good, SHORTCODE, SANDBOX_PASSKEY, TS))
    todo(check.password(..., SHORTCODE, SANDBOX_PASSKEY, TS))
    wrong(check.password(good.encode(), SHORTCODE, SANDBOX_PASSKEY, TS), "bytes", ".decode()")
    wrong(check.password(SHORTCODE + SANDBOX_PASSKEY + TS, SHORTCODE, SANDBOX_PASSKEY, TS), "did not base64-encode")
    wrong(
        check.password(b64(SANDBOX_PASSKEY + SHORTCODE + TS), SHORTCODE, SANDBOX_PASSKEY, TS),
        "passkey + shortcode + timestamp",
        "shortcode + passkey + timestamp",
    )
    wrong(check.password(b64(f"{SHORTCODE}:{SANDBOX_PASSKEY}:{TS}"), SHORTCODE, SANDBOX_PASSKEY, TS), "separators")
    wrong(
        check.password(build_password(SHORTCODE, SANDBOX_PASSKEY, "20260314213005"), SHORTCODE, SANDBOX_PASSKEY, TS),
        "timestamp inside the Password is '20260314213005'",
    )
    wrong(
        check.password(build_password("600000", SANDBOX_PASSKEY, TS), SHORTCODE, SANDBOX_PASSKEY, TS),
        "shortcode inside",
    )
    other = "f" * 64
    verdict = check.password(build_password(SHORTCODE, other, TS), SHORTCODE, SANDBOX_PASSKEY, TS)
    wrong(verdict, "passkey inside the Password is not the passkey given")
    assert other not in str(verdict) and SANDBOX_PASSKEY not in str(verdict), "a check must never print a passkey"
    wrong(check.password("not base64!", SHORTCODE, SANDBOX_PASSKEY, TS), "not valid base64")


def test_timestamp():
    ok(check.timestamp("20260315003005", MOMENT))
    todo(check.timestamp(..., MOMENT))
    wrong(check.timestamp("20260314213005", MOMENT), "UTC time", "3 hours")
    wrong(check.timestamp(20260315003005, MOMENT), "as a number")
    wrong(check.timestamp("2026-03-15 00:30:05", MOMENT), "separators")
    wrong(check.timestamp("2026-03-14 21:30:05", MOMENT), "UTC time")
    wrong(check.timestamp("20261503003005", MOMENT), "day and month are swapped")
    wrong(check.timestamp("20260315003005"[:-4] + "0530", MOMENT), "minutes and seconds are swapped")
    wrong(check.timestamp("20260314223005", MOMENT), "2 hour(s) behind")
    wrong(check.timestamp("2026031500", MOMENT), "not 14 digits")
    wrong(check.timestamp("20261399003005", MOMENT), "not a real date")
    afternoon = datetime(2026, 3, 14, 11, 30, 5, tzinfo=UTC)  # 14:30 in Nairobi
    wrong(check.timestamp("20260314023005", afternoon), "12-hour clock")
    wrong(check.timestamp("20260314143007", afternoon), "0:00:02")


def test_wrong_part():
    theirs = build_password(SHORTCODE, SANDBOX_PASSKEY, "20260314213005")
    ok(check.wrong_part("timestamp", theirs, SHORTCODE, SANDBOX_PASSKEY, TS))
    ok(check.wrong_part(" Timestamp ", theirs, SHORTCODE, SANDBOX_PASSKEY, TS))
    todo(check.wrong_part(..., theirs, SHORTCODE, SANDBOX_PASSKEY, TS))
    wrong(check.wrong_part("passkey", theirs, SHORTCODE, SANDBOX_PASSKEY, TS), "passkey inside the password matches")
    wrong(check.wrong_part("none", theirs, SHORTCODE, SANDBOX_PASSKEY, TS), "does not match the request")
    wrong(check.wrong_part("the clock", theirs, SHORTCODE, SANDBOX_PASSKEY, TS), "answer one of")
    fine = build_password(SHORTCODE, SANDBOX_PASSKEY, TS)
    ok(check.wrong_part("none", fine, SHORTCODE, SANDBOX_PASSKEY, TS))
    wrong(check.wrong_part("shortcode", fine, SHORTCODE, SANDBOX_PASSKEY, TS), "this password is right")
    other_key = build_password(SHORTCODE, "a" * 64, TS)
    ok(check.wrong_part("passkey", other_key, SHORTCODE, SANDBOX_PASSKEY, TS))
