"""Every exercise check, given a plausible shortcut that reaches the right value by a way the
exercise forbids (or that would not work in a real integration), must not say "correct".

The lab-bound shortcuts run against a real lab (emulator + listener): a magic number, a scripted
result, a callback written by hand, a peek at Safaricom's side. Where a shortcut gives exactly the
value the right way gives (a literal copied from an output, say), no check that sees only the value
can tell; those are listed in SAME_VALUE below rather than tested as if they could be caught.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pandas as pd

from mpesa_lab import codes
from mpesa_lab.constants import LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET, SANDBOX_PASSKEY
from mpesa_lab.course import check
from tests.course.checks.test_l01_journey import CARDS, RIGHT
from tests.course.helpers import TEST_PHONE, callback_body, ok, wrong

# Shortcuts no value-only check can tell apart from the right answer (the same bytes), per check.
SAME_VALUE = {
    "callback_target": "the URL copied from lab's output as a literal",
    "msisdn": "the literal '254708374149'",
    "receipt": "parse_callback(body).receipt instead of walking the dict (the same string)",
    "result_code": "the code copied from the printed body, as a literal",
    "timestamp": "(moment + timedelta(hours=3)).strftime(FORMAT) on an aware UTC moment",
    "password": "build_password(...) from the library instead of by hand",
    "distinct_payments": "len(pushes): in 05 every push called back, so the pushes made are the payments",
    "top_failure": "the commonest non-zero code overall: in data/week it is also the commonest failure",
    "token_refresh": "the literal 3539 (3599 - 60 worked out by hand)",
    "callback_reader": "mpesa_lab.course.endpoints.read_callback (the reference) instead of one's own",
    "your_endpoint": "serving the reference app (course.endpoints.fastapi_app) around one's own handle",
    "one_timestamp": "the doc's sample Password with its own sample Timestamp (Daraja does not check freshness)",
}


# -- 00, 01, 02, 03: value checks, each shortcut that yields another value ------------------------


def test_00_shortcuts(lab):
    # The listener's URL built by hand from its host and port, without the secret path.
    root = lab.callback_url.rsplit("/", 2)[0]
    wrong(check.callback_target(root + "/callback", lab), "not this lab's CallBackURL")
    wrong(check.callback_target(lab.settings.base_url, lab), "emulator")
    # A phone number from int arithmetic (loses nothing here, but is not text).
    wrong(check.msisdn(int("0708374149") + 254_000_000_000, TEST_PHONE), "as text")


def test_01_shortcuts(lab):
    from mpesa_lab.widgets import transaction_steps

    wrong(check.sequence_order(sorted(RIGHT), CARDS), "step")
    push = lab.push(TEST_PHONE, 37, "CHK", "Shortcut")
    push.wait(timeout=15)
    steps = transaction_steps(lab, push.checkout_request_id)
    delta = steps[5].at - steps[2].at
    # timedelta.seconds drops the fraction (and is 0 under a second): not the gap.
    wrong(check.step_delay(delta.seconds, steps, 3, 6))
    # Whole-journey time from the push (step 1), not from the acknowledgement.
    wrong(check.step_delay((steps[5].at - steps[0].at).total_seconds(), steps, 3, 6), "from step 1")
    # Real-world seconds from the lab's: multiplied by the scale instead of divided; rounded.
    wrong(check.real_delay(0.6 * 0.05, 0.6, 0.05), "divide by time_scale")
    wrong(check.real_delay(12, 0.6123, 0.05), "0.612 s of lab time")
    ok(check.real_delay(0.6123 / 0.05, 0.6123, 0.05))


def test_02_shortcuts():
    # The secret alone, or httpx's Basic of the key with an empty secret.
    wrong(
        check.basic_auth(
            "Basic " + base64.b64encode(LAB_CONSUMER_SECRET.encode()).decode(), LAB_CONSUMER_KEY, LAB_CONSUMER_SECRET
        )
    )
    # Daraja's expires_in used as it comes (text), or the lifetime without the margin.
    wrong(check.token_refresh("3599", expires_in="3599", margin=60), "as a string")
    wrong(check.token_refresh(3599, expires_in="3599", margin=60), "404.001.03")


def test_03_shortcuts():
    moment = datetime(2026, 3, 14, 21, 30, 5, tzinfo=UTC)
    wrong(check.timestamp(moment.strftime("%Y%m%d%H%M%S"), moment), "UTC time")  # the server's clock
    wrong(check.timestamp(datetime.now().strftime("%Y%m%d%H%M%S"), moment))  # now, not the moment
    ts = "20260315003005"
    wrong(
        check.password(base64.b64encode(("174379" + SANDBOX_PASSKEY).encode()).decode(), "174379", SANDBOX_PASSKEY, ts)
    )  # no timestamp
    from mpesa_lab.daraja.password import build_password

    theirs = build_password("174379", SANDBOX_PASSKEY, "20260314213005")
    wrong(check.wrong_part("none", theirs, "174379", SANDBOX_PASSKEY, ts), "does not match")


# -- 04: the customer's answer, not a scripted code -----------------------------------------------


def test_04_a_magic_number_is_not_a_wrong_pin(lab):
    callback = lab.push("254708002001", 12, "INV-04", "Lesson 04").wait(timeout=15)
    assert callback.result_code == "2001"
    wrong(check.customer_answer(callback, "wrong_pin", lab=lab), "254708002001 is a magic number", "enter a wrong PIN")


def test_04_set_next_result_is_not_an_ignored_prompt(lab):
    lab.emulator.set_next_result("1037", phone=TEST_PHONE)
    callback = lab.push(TEST_PHONE, 13, "INV-04", "Lesson 04").wait(timeout=15)
    assert callback.result_code == "1037"
    wrong(check.customer_answer(callback, "ignored", lab=lab), "set_next_result", "ignore the prompt")


def test_04_a_callback_written_by_hand_is_not_a_push(lab):
    wrong(
        check.customer_answer(callback_body("ws_CO_made_up", 2001), "wrong_pin", lab=lab),
        "no push of this lab",
        "not one written by hand",
    )


def test_04_the_real_answers_still_pass(lab):
    push = lab.push(TEST_PHONE, 14, "INV-04", "Lesson 04")
    push.answer(pin="0000")
    ok(check.customer_answer(push.wait(timeout=15), "wrong_pin", lab=lab))


# -- 05 -----------------------------------------------------------------------------------------


def test_05_shortcuts(lab):
    push = lab.push(TEST_PHONE, 38, "INV-05", "Lesson 05")
    callback = push.wait(timeout=15)
    body = callback.raw
    # The receipt read off Safaricom's side (the emulator), or the CheckoutRequestID instead.
    wrong(check.receipt(push.checkout_request_id, body), "CheckoutRequestID")
    # Peeking at Safaricom's side instead of asking with the STK query (impossible live).
    wrong(
        check.query_fallback(lab.emulator.transaction(push.checkout_request_id), push.checkout_request_id),
        "StkQueryResult",
    )
    # Pushing again to find out, then querying that new push.
    again = lab.push(TEST_PHONE, 39, "INV-05", "Lesson 05")
    again.wait(timeout=15)
    wrong(check.query_fallback(again.query(), push.checkout_request_id), "another push")
    # Waiting for the callback again is no fallback.
    wrong(check.query_fallback(callback, push.checkout_request_id), "this is a callback")
    deliveries = [
        callback_body("a"),
        callback_body("a"),
        callback_body("b", 1032),
        callback_body("b", 1032),
        callback_body("c"),
    ]
    # The code read through a float column (a frame with NaN), then made text: '1032.0'.
    failed = callback_body("ws_CO_f", 1032)
    wrong(check.result_code(str(float(1032)), failed), "not this callback's ResultCode")
    # Counting deliveries, or only receipts (paid ones).
    wrong(check.distinct_payments(len(deliveries), deliveries), "counts every delivery")
    wrong(
        check.distinct_payments(
            len({d["Body"]["stkCallback"].get("CallbackMetadata") is not None for d in deliveries}), deliveries
        )
    )


# -- 06 -----------------------------------------------------------------------------------------


def test_06_the_magic_number_the_exercise_forbids_is_not_correct(lab):
    """Issue 18, item 3: ResultCode 1 from 254708000001 used to be 'correct'."""
    callback = lab.push("254708000001", 7, "INV-06", "Lesson 06").wait(timeout=10)
    assert callback.result_code == "1"
    verdict = check.triggered(callback, code="1", lab=lab)
    wrong(verdict, "254708000001 is a magic number", "real condition", "register_subscriber", "balance")
    assert "trigger table" not in str(verdict)


def test_06_set_next_result_and_the_explorer_are_not_the_real_condition(lab):
    lab.emulator.set_next_result("1", phone="254711000064")
    callback = lab.push("254711000064", 5, "INV-06", "Lesson 06").wait(timeout=10)
    wrong(check.triggered(callback, code="1", lab=lab), "set_next_result", "register_subscriber")
    from mpesa_lab.widgets import CodeExplorer

    explorer = CodeExplorer(lab)
    try:
        explorer.select("1")
        explorer.fire(block=True)
        fired = explorer.last_result
    finally:
        explorer.close()
    assert fired.result_code == "1", fired  # the explorer's button pushes the magic number
    wrong(check.triggered(fired, code="1", lab=lab), "magic number")


def test_06_a_wrong_code_points_at_the_real_condition_not_the_magic_numbers(lab):
    lab.emulator.register_subscriber("254711000063", balance=50)
    callback = lab.push("254711000063", 50, "INV-06", "Lesson 06").wait(timeout=10)  # exactly the balance
    verdict = check.triggered(callback, code="1", lab=lab)
    wrong(verdict, "not 1", "push more than that balance")
    assert "trigger table" not in str(verdict)
    wrong(check.triggered(callback_body("ws_CO_made_up", 1), code="1", lab=lab), "no push of this lab")


def test_06_the_real_condition_passes(lab):
    lab.emulator.register_subscriber("254711000065", balance=50)
    ok(check.triggered(lab.push("254711000065", 51, "INV-06", "Lesson 06").wait(timeout=10), code="1", lab=lab))


def test_06_advice_shortcuts():
    # Unknown codes turned into an exception-free but useless answer; str() everything first.
    wrong(
        check.advice_function(
            lambda code: codes.lookup(str(code)).mitigation if codes.lookup(str(code)).known else "Unknown code."
        )
    )
    # The explanation (what it means) instead of the mitigation (what to do).
    wrong(check.advice_function(lambda code: codes.lookup(code).explanation))
    # One text for every code, holding every mitigation: never wrong, never advice.
    everything = " ".join(
        codes.lookup(c).mitigation for c in ("1032", "2001", "SFC_IC0003", "500.001.1001", "4242", "E3008")
    )
    wrong(check.advice_function(lambda code: everything), "return the same text")


def test_06_till_shortcuts(lab):
    from mpesa_lab.daraja.client import DarajaClient

    # The paybill's own push (lab.push): paid, but to 174379, not to a till.
    paybill = lab.push(TEST_PHONE, 71, "SHOP-06", "Till sale").wait(timeout=10)
    wrong(check.till_push(paybill, lab=lab), "not a till")
    # The till's settings, but a magic number that always pays: scripted, no customer paid the till.
    shop = lab.emulator.credentials
    till = DarajaClient(
        lab.settings.replace(
            shortcode=shop["till_shortcode"],
            passkey=shop["till_passkey"],
            transaction_type="CustomerBuyGoodsOnline",
            party_b=shop["till_number"],
        )
    )
    ack = till.stk_push("254708000000", 72, "SHOP-06", "Till sale")
    wrong(check.till_push(lab.listener.wait_for(ack.checkout_request_id, timeout=10), lab=lab), "magic number")


# -- 07 -----------------------------------------------------------------------------------------


def test_07_shortcuts(week):
    tx = week
    wrong(check.paid_rows(tx[tx.status == "paid"], tx))
    wrong(check.paid_rows(tx[tx.result_code == 0], tx), "result_code is text")
    # The commonest code overall, or overall without 0, instead of among the failed rows.
    counts = tx.result_code.value_counts()
    failed_top = tx[tx.status == "failed"].result_code.value_counts().index[0]
    wrong(check.top_failure(counts.index[0], tx))
    non_zero = [c for c in counts.index if c != "0"]
    if non_zero[0] != failed_top:
        wrong(check.top_failure(non_zero[0], tx))


def test_07_week_question_shortcuts(week):
    from mpesa_lab import analytics

    tx = week
    # The top no-answer rate of any hour, however few pushes it had.
    hours = analytics.by_hour(tx)
    wrong(check.no_answer_hour(int(hours.loc[hours.no_answer_rate.idxmax(), "hour"]), tx), "noise")
    # The no-answer family's median (1019 and 1036 too), not 1037's.
    family = tx[tx.result_code.isin(["1037", "1019", "1036"])].latency_s.median()
    wrong(check.no_answer_latency(family, tx))
    # Every pushes whose query said something, pending answers included.
    wrong(check.settled_by_query(int(tx.query_result_code.notna().sum()), tx), "pending")
    # The share of all 1037 chains that paid (recovered), read off the table's other column.
    row = analytics.retry_conversion(tx).set_index("first_code").loc["1037"]
    wrong(check.retry_conversion(row.recovered, tx), "retried ones")
    # Every row whose amount differs, unpaid (NaN) ones included.
    wrong(check.mismatched(tx[tx.amount != tx.amount_requested], tx), "not paid")
    # The till number 174381 instead of the BusinessShortCode it pushes with.
    wrong(check.till_success_rate((tx[tx.shortcode == "174381"].status == "paid").mean(), tx), "174380")


# -- 08 -----------------------------------------------------------------------------------------


def test_08_shortcuts(lab):
    # The real credentials pasted into the notebook (which gets shared) instead of placeholders.
    real = (
        "MPESA_ENV=sandbox\nMPESA_CONSUMER_KEY=Gq4XwzLk0pVb9T2nRsYd\n"
        "MPESA_CONSUMER_SECRET=Zq8wE3rT6yU1iO4pA7sD\nNGROK_AUTHTOKEN=2abcDEFghiJKLmnoPQRstu_3vwXYZ\n"
    )
    verdict = check.env_file(real)
    wrong(verdict, "MPESA_CONSUMER_SECRET holds a value, not a placeholder", "paste-your-consumer-secret")
    assert "Zq8wE3rT6yU1iO4pA7sD" not in str(verdict)
    # The lab's own (local) CallBackURL instead of the tunnel's public one.
    public, path = "https://example-tunnel.ngrok-free.app", lab.listener.app.callback_path
    wrong(check.callback_url(lab.callback_url, public, path), "only reachable from this machine")


# -- 09 -----------------------------------------------------------------------------------------


def test_09_shortcuts():
    room = ["254711009001", "254711009002"]
    # The whole transactions frame: an earlier run's paid rows hide a phone that failed now.
    whole = pd.DataFrame(
        [
            ("paid", "0", room[0], "old-1"),
            ("paid", "0", room[1], "old-2"),
            ("paid", "0", room[0], "new-1"),
            ("failed", "1037", room[1], "new-2"),
            ("paid", "0", "254708374149", "lesson"),
        ],
        columns=["status", "result_code", "phone", "checkout_request_id"],
    )
    wrong(check.room_rehearsal(whole, room), "2 rows, but the rehearsal pushed once", "outside the room")
    ok(check.room_rehearsal(whole[whole.checkout_request_id.str.startswith("new")].assign(status="paid"), room))
    session = pd.DataFrame(
        [
            ("paid", "0", "254711009001"),
            ("failed", "2001", "254711009004"),
            ("paid", "0", "254711009001"),
            ("failed", "2001", "254711009004"),
            ("failed", "8006", "254711009004"),
            ("paid", "0", "254711009002"),
        ],
        columns=["status", "result_code", "phone"],
    )
    # The commonest code of the whole session, not of the stuck phone.
    wrong(check.struggling_participant(("254711009004", session.result_code.mode()[0]), session))
    data = {
        "participants": [{"id": "p01"}, {"id": "p02"}],
        "errors": [{"code": "500.003.02", "count": 6}],
        "results": [{"code": "0", "count": 2}],
    }
    # The number of participants (one failure each) instead of the pushes the server answered.
    wrong(check.room_fault(("500.003.02", 2), data), "the number of participants")


def test_10_shortcuts():
    from mpesa_lab.course.endpoints import ACK, OrderBook, fastapi_app, serve_asgi

    # The fields copied from a printed body: right for that callback only.
    printed = {
        "checkout_request_id": "ws_CO_191220191020363925",
        "result_code": "0",
        "amount": 10,
        "phone": "254708374149",
        "receipt": "NLJ7RT61SV",
    }
    wrong(check.callback_reader(lambda body: dict(printed)), "checkout_request_id should be the callback's")
    # Every order marked paid and fulfilled once, whatever the callback says.
    wrong(check.order_settler(lambda order, fields: order.update(status="paid", fulfilled=1)), "ResultCode 1032")
    # "Never fail Daraja": a handler that always acknowledges, in front of the reference route.
    book = OrderBook()
    endpoint = serve_asgi(fastapi_app(book), name="test-shortcut-l10")
    try:
        wrong(check.your_endpoint(lambda raw: ACK, endpoint, book), "database down handle(raw) still returned")
    finally:
        endpoint.stop()
    # One query, its answer returned whatever it is.
    wrong(check.polling_loop(lambda query, cid, tries=8, sleep=None: query(cid)), "500.001.1001")


# -- 11 -----------------------------------------------------------------------------------------


def test_11_shortcuts(lab):
    from types import SimpleNamespace

    from mpesa_lab.course.trouble import push_body, your_app

    # "Fixing" the two timestamps by leaving the Timestamp out: Daraja answers Invalid Timestamp.
    body = push_body(timestamp="20260701120001", password_timestamp="20260701120000")
    del body["Timestamp"]
    wrong(check.one_timestamp(body, passkey=SANDBOX_PASSKEY), "no Timestamp", "Invalid Timestamp")
    # The passkey swapped for the consumer secret, the timestamps made equal.
    wrong(check.one_timestamp(push_body(passkey=LAB_CONSUMER_SECRET), passkey=SANDBOX_PASSKEY), "passkey")
    app = your_app()
    try:
        # The callback delivered to the lab's own listener (it works), not to your app.
        push = lab.push(TEST_PHONE, 41, "CHK", "Shortcut")
        wrong(check.callback_delivered(push, lab, app), "the lab's own listener", "not to your app")
        # A made-up push: no push of this lab.
        fake = SimpleNamespace(checkout_request_id="ws_CO_01012026000000000708374149")
        wrong(check.callback_delivered(fake, lab, app), "no push of this lab")
        good = lab.push(TEST_PHONE, 42, "CHK", "Shortcut", callback_url=app.url("good"))
        ok(check.callback_delivered(good, lab, app))
    finally:
        app.stop()


def test_every_check_is_run_with_a_shortcut_here():
    """The rule of issue 18's scope, kept: a new check gets its shortcut test in this file."""
    from pathlib import Path

    here = Path(__file__).read_text(encoding="utf-8").split("def test_every_check_is_run")[0]
    missing = [name for name in check.__all__ if f"check.{name}(" not in here]
    assert not missing, f"checks with no shortcut test: {missing}"
