"""Each exercise's typical mistake, beside the tests that run them.

By lesson, in the order of the lesson's exercises: the check the mistake must trip, and the code a
learner typically writes instead of the solution. tests/notebooks/test_execute.py puts each in its
exercise's cell and runs the notebook: the check cell after it must name what is wrong, and
nothing may stop. A source whose exercises moved fails there (the check named here is not the one
after the exercise) rather than testing the wrong cell.
"""

from __future__ import annotations

import textwrap


def _code(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


MISTAKES: dict[str, list[tuple[str, str]]] = {
    "00-start-here": [
        ("callback_target", "where = lab.settings.base_url  # the emulator's address"),
        ("msisdn", 'phone = "0708374149"'),
    ],
    "01-the-journey": [
        (
            "sequence_order",
            'order = ["D", "G", "F", "A", "C", "B", "E"]  # waits for the payment before the acknowledgement',
        ),
        (
            "step_delay",
            _code("""
            steps = stepper.steps
            seconds = (steps[2].at - steps[5].at).total_seconds()  # the wrong way round
        """),
        ),
        ("real_delay", "real_seconds = seconds * lab.time_scale  # the real world is slower, not faster"),
    ],
    "02-access-token": [
        ("basic_auth", 'header = f"Basic {LAB_CONSUMER_KEY}:{LAB_CONSUMER_SECRET}"  # not encoded'),
        ("token_refresh", 'refresh_after = answer["expires_in"]  # still text, and no margin'),
    ],
    "03-password-timestamp": [
        ("timestamp", "ts = moment.strftime(FORMAT)  # the server's UTC clock"),
        ("password", 'password = base64.b64encode((PASSKEY + SHORTCODE + TIMESTAMP).encode("utf-8")).decode("ascii")'),
        ("wrong_part", 'wrong = "passkey"'),
    ],
    "04-first-push": [
        (
            "customer_answer",
            _code("""
            push = lab.push(TEST_PHONE, 12, "INV-04", "Lesson 04")
            push.cancel()
            wrong = push.wait(timeout=15)
        """),
        ),
        (
            "customer_answer",
            _code("""
            push = lab.push(TEST_PHONE, 13, "INV-04", "Lesson 04")
            push.cancel()
            ignored = push.wait(timeout=15)
        """),
        ),
    ],
    "05-callbacks-listener": [
        ("receipt", 'receipt = body["Body"]["stkCallback"]["CallbackMetadata"]["Item"]'),
        ("result_code", 'code = failed_body["Body"]["stkCallback"]["ResultCode"]'),
        ("distinct_payments", "payments = len(bodies)"),
        ("query_fallback", "result = pushes[0].query()  # the wrong push"),
    ],
    "06-errors-result-codes": [
        (
            "triggered",
            'callback = lab.push("254711000061", 50, "INV-06", "Lesson 06").wait(timeout=10)  # exactly the balance',
        ),
        (
            "advice_function",
            _code("""
            def advice(code):
                entry = codes.lookup(str(code))
                return entry.mitigation if entry.known else "Unknown code."
        """),
        ),
        (
            "till_push",
            _code("""
            till = DarajaClient(lab.settings.replace(shortcode=SHOP["till_shortcode"], passkey=SHOP["till_passkey"]))
            ack = till.stk_push("254708374149", 7, "SHOP-06", "Till sale")  # still CustomerPayBillOnline
            sale = lab.listener.wait_for(ack.checkout_request_id, timeout=10)
        """),
        ),
    ],
    "07-result-code-analytics": [
        ("paid_rows", "paid = tx[tx.result_code == 0]"),
        ("top_failure", "top = tx.result_code.value_counts().index[0]  # the commonest code overall"),
        ("no_answer_hour", "worst_hour = int(hours.loc[hours.no_answer_rate.idxmax(), 'hour'])  # quiet hours too"),
        ("no_answer_latency", "no_answer_s = tx.latency_s.median()  # every code"),
        ("settled_by_query", "settled = int((tx.callbacks == 0).sum())"),
        (
            "retry_conversion",
            "retry_paid = analytics.retry_conversion(tx).set_index('first_code').loc['1037', 'recovered']",
        ),
        ("mismatched", "short = tx[tx.amount != tx.amount_requested]"),
        ("till_success_rate", "till_rate = (tx[tx.shortcode == '174381'].status == 'paid').mean()  # the till number"),
    ],
    "08-real-sandbox": [
        ("env_file", 'env_text = "MPESA_CONSUMER_KEY=paste-your-consumer-key\\n"'),
        ("callback_url", "url = lab.listener.local_callback_url  # this machine only"),
    ],
    "09-running-a-workshop": [
        (
            "room_rehearsal",
            _code("""
            ids = [lab.push(phone, 10, "ROOM", "Rehearsal").checkout_request_id for phone in ROOM[:3]]
            for cid in ids:
                lab.listener.wait_for(cid, timeout=10)
            tx = lab.transactions()
            room = tx[tx["checkout_request_id"].isin(ids)]
        """),
        ),
        ("struggling_participant", 'stuck = (ROOM[0], "0")'),
        (
            "room_fault",
            _code("""
            room_data = httpx.get(f"{room.server.url}/_workshop/api/room", trust_env=False,
                                  headers={"Authorization": f"Bearer {room.server.facilitator_token}"}).json()
            top = room_data["results"][0]
            saw = (top["code"], top["count"])
        """),
        ),
    ],
    "10-your-own-endpoint": [
        (
            "callback_reader",
            _code("""
            def read(body):
                callback = body["Body"]["stkCallback"]
                items = {item["Name"]: item["Value"] for item in callback.get("CallbackMetadata", {}).get("Item", [])}
                return {"checkout_request_id": callback["CheckoutRequestID"], "result_code": callback["ResultCode"],
                        "amount": items.get("Amount"), "phone": str(items.get("PhoneNumber")),
                        "receipt": items.get("MpesaReceiptNumber")}
        """),
        ),
        (
            "order_settler",
            _code("""
            def settle_order(order, fields):
                if fields["result_code"] == "0":  # paid: ship it (twice on a duplicate, whatever the amount)
                    order["status"] = "paid"
                    order["fulfilled"] += 1
                else:
                    order["status"] = "failed"
        """),
        ),
        (
            "your_endpoint",
            _code("""
            from mpesa_lab.course.endpoints import StorageError

            def handle(raw):
                try:
                    book.store_raw(raw)
                except StorageError:
                    pass  # "never fail Daraja": answers Accepted for a callback it did not keep
                fields = read(json.loads(raw))
                with book.lock:
                    order = book.orders.get(fields["checkout_request_id"])
                    if order is not None:
                        settle_order(order, fields)
                return ACK
        """),
        ),
        (
            "polling_loop",
            _code("""
            import time

            def poll(query, checkout_request_id, tries=8, sleep=time.sleep):
                for attempt in range(tries):
                    result = query(checkout_request_id)
                    if result.result_code is not None:  # 4999 has a code, and is still pending
                        return result
                    sleep(2)
                return result
        """),
        ),
    ],
    "11-troubleshooting": [
        (
            "callback_delivered",
            'push = lab.push(TEST_PHONE, 21, "INV-11", "Lesson 11", callback_url=app.url("redirect"))',
        ),
        ("one_timestamp", "fixed_body = my_push_body()  # still reads the clock twice"),
    ],
}
