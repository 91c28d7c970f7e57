import csv
import re
from pathlib import Path

import pytest

from mpesa_lab import codes

API_DOC = Path(__file__).resolve().parents[2] / "shared" / "daraja" / "mpesa-express-api.md"

DOC_RESULT_CODES = [
    "0",
    "1",
    "2",
    "3",
    "4",
    "8",
    "17",
    "1019",
    "1025",
    "1032",
    "1037",
    "2001",
    "2028",
    "8006",
    "SFC_IC0003",
]
DOC_ERRORS = [
    ("400.002.02", "Bad Request - Invalid Timestamp", "bad_request", 400),
    ("404.001.03", "Invalid Access Token", "invalid_access_token", 404),
    ("404.001.01", "Resource not found", "resource_not_found", 404),
    ("405.001", "Method Not Allowed", "method_not_allowed", 405),
    ("500.001.1001", "Merchant does not exist", "merchant_does_not_exist", 500),
    ("500.001.1001", "Wrong credentials", "wrong_credentials", 500),
    (
        "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        "subscriber_locked",
        500,
    ),
    ("500.001.1001", "The transaction is being processed", "transaction_being_processed", 500),
    ("500.003.02", "System is busy. Please try again in few minutes.", "system_busy", 500),
    ("500.003.1001", "Internal Server Error", "internal_server_error", 500),
    ("500.003.02", "Error Occurred: Spike Arrest Violation", "spike_arrest", 500),
    ("500.003.03", "Quota Violation", "quota_violation", 500),
]


@pytest.mark.parametrize("code", DOC_RESULT_CODES)
def test_every_documented_result_code_is_catalogued(code):
    entry = codes.result_entry(code)
    assert entry.kind == "result" and entry.code == code
    assert entry.message and entry.explanation and entry.mitigation
    assert entry.final is True


@pytest.mark.parametrize("code,message,name,status", DOC_ERRORS)
def test_every_documented_error_is_catalogued_and_told_apart_by_message(code, message, name, status):
    entry = codes.error_entry(code, message)
    assert entry.name == name
    assert entry.http_status == status
    assert entry.mitigation


@pytest.mark.skipif(not API_DOC.exists(), reason="shared Daraja doc not beside the checkout")
def test_catalogue_covers_the_doc_tables():
    text = API_DOC.read_text(encoding="utf-8")
    doc_errors = set(re.findall(r"^\| (\d{3}\.\d{3}(?:\.\d+)?) \|", text, re.M))
    doc_results = set(re.findall(r"^\| (\d+|SFC\\_IC\d+) \| [A-Z]", text, re.M))
    doc_results = {c.replace("\\", "") for c in doc_results}
    assert doc_errors <= {e.code for e in codes.error_codes()}
    assert doc_results <= {e.code for e in codes.result_codes()}


@pytest.mark.parametrize("raw", [1032, "1032", 1032.0, " 1032 ", "1032.0"])
def test_result_codes_arrive_as_strings_or_numbers(raw):
    assert codes.lookup(raw).name == "cancelled"


def test_unknown_codes_give_an_unknown_entry_not_an_exception():
    entry = codes.lookup(4242)
    assert entry.kind == "unknown" and not entry.known
    assert "STK query" in entry.mitigation
    assert codes.lookup("600.000.01", "Something new").kind == "unknown"
    weird = codes.error_entry("500.001.1001", "A message nobody documented")
    assert weird.code == "500.001.1001" and weird.name == "unrecognised_message"


def test_lookup_by_message_alone():
    assert codes.lookup(None, "The transaction is being processed").name == "transaction_being_processed"
    assert codes.lookup("", "Wrong credentials").name == "wrong_credentials"


def test_en_dash_and_field_extraction():
    assert codes.error_entry("400.002.02", "Bad Request – Invalid PhoneNumber").name == "bad_request"
    assert codes.invalid_field("Bad Request – Invalid PhoneNumber") == "PhoneNumber"
    assert codes.invalid_field("Bad Request - Invalid CallBackURL") == "CallBackURL"
    assert codes.invalid_field("Wrong credentials") is None


def test_names_are_unique_and_by_name_works():
    names = [e.name for e in (*codes.error_codes(), *codes.result_codes())]
    assert len(names) == len(set(names))
    assert codes.by_name("spike_arrest").code == "500.003.02"
    with pytest.raises(KeyError):
        codes.by_name("nope")


def test_data_files_and_frame_agree():
    frame = codes.catalogue_frame()
    assert set(frame["kind"]) == {"error", "result"}
    data = Path(codes.__file__).parent / "data"
    rows = sum(1 for _ in csv.DictReader(open(data / "error_codes.csv"))) + sum(
        1 for _ in csv.DictReader(open(data / "result_codes.csv"))
    )
    assert len(frame) == rows


# -- observed codes: live Daraja beyond its doc page, kept apart from the documented ones ----------

OBSERVED = {
    "1031": ("Request cancelled by user", "before 2026"),
    "1036": ("SMSC ACK timeout", "before 2026"),
    "E3008": ("Error, the user has a bad debt contract.", "2026"),
    "1001": ("Unable to lock subscriber, a transaction is already in process for the current subscriber", "2026"),
    "26": ("System busy", "2026"),
    "9999": ("Error while sending push request", "2026"),
}


@pytest.mark.parametrize("code", sorted(OBSERVED))
def test_observed_codes_are_catalogued_with_when_and_where(code):
    entry = codes.lookup(code)
    message, seen = OBSERVED[code]
    assert entry.kind == "result" and entry.known and entry.message == message
    assert entry.source == "observed" and not entry.documented
    assert entry.seen == seen and entry.seen_in
    assert entry.explanation and entry.mitigation and entry.final is True


def test_documented_and_observed_are_told_apart():
    for entry in codes.result_codes():
        assert entry.documented == (entry.source == "doc")
        if entry.documented:
            assert entry.seen is None
    assert {e.code for e in codes.result_codes() if e.documented} == set(DOC_RESULT_CODES)


def test_1037_keeps_its_documented_wording_and_knows_the_2026_one():
    entry = codes.result_entry(1037)
    assert entry.documented and entry.message == "DS timeout user cannot be reached."
    assert entry.wordings == ("No response from user.",)
    assert codes.live_wording("1037") == "No response from user."
    row = next(r for r in codes.result_wordings() if r["code"] == "1037")
    assert row["seen"] == "2026" and row["source"] == "observed"


def test_an_observed_alphanumeric_code_is_a_final_failure_in_queries():
    from mpesa_lab.daraja.results import read_query_answer

    answer = {
        "ResponseCode": "0",
        "ResultCode": "E3008",
        "ResultDesc": "Error, the user has a bad debt contract.",
        "CheckoutRequestID": "ws_CO_1",
        "MerchantRequestID": "m",
    }
    result = read_query_answer(200, answer)
    assert result.status == "failed" and result.entry.name == "bad_debt_contract"


def test_codes_cli_marks_the_source(capsys):
    from mpesa_lab.cli import main

    assert main(["codes", "E3008"]) == 0
    out = capsys.readouterr().out
    assert "observed (2026)" in out and "live Daraja sandbox" in out
    assert main(["codes", "1037"]) == 0
    out = capsys.readouterr().out
    assert "No response from user." in out and "observed 2026" in out


def test_one_rule_says_what_a_code_means_for_the_money():
    from mpesa_lab.codes import pending_result_codes, result_codes, status_of

    assert status_of(0) == status_of("0") == status_of(0.0) == "paid"
    assert status_of(None) == status_of("") == status_of(float("nan")) == "pending"
    assert status_of("1032") == status_of(1032) == "failed"
    assert status_of("$x^$") == "failed"  # unknown codes are final: the customer was not charged
    assert "4999" in pending_result_codes() and status_of(4999) == "pending"
    for entry in result_codes():
        expected = "paid" if entry.code == "0" else ("pending" if entry.final is False else "failed")
        assert status_of(entry.code) == expected, entry.code


def test_frames_cards_and_widgets_agree_with_the_rule(tmp_path):
    """The transactions frame (vectorised) gives every catalogue code the status codes.status_of gives
    (the cards and the widgets call codes.status_of itself)."""
    import json

    from mpesa_lab import analytics
    from mpesa_lab.codes import result_codes, status_of

    lines = []
    entries = list(result_codes()) + [type("E", (), {"code": "NOT-A-CODE"})()]
    for i, entry in enumerate(entries):
        body = {
            "Body": {
                "stkCallback": {
                    "MerchantRequestID": f"m-{i}",
                    "CheckoutRequestID": f"ws_CO_{i}",
                    "ResultCode": entry.code,
                    "ResultDesc": "x",
                }
            }
        }
        lines.append(json.dumps(body))
    path = tmp_path / "callbacks.jsonl"
    path.write_text("\n".join(lines) + "\n")
    tx = analytics.load(path).transactions.set_index("checkout_request_id")
    for i, entry in enumerate(entries):
        assert tx.loc[f"ws_CO_{i}", "status"] == status_of(entry.code), entry.code


# -- the "no answer" family and the codes added from integrators' tables --------------------------


def test_no_answer_is_one_family_a_handler_treats_alike():
    from mpesa_lab.codes import is_no_answer, no_answer_codes, result_entry, status_of

    assert no_answer_codes() == {"1037", "1019", "1036"}
    for code in (1037, "1019", 1036.0, " 1037 "):
        assert is_no_answer(code) and status_of(code) == "failed"
        assert result_entry(code).family == "no_answer"
        others = no_answer_codes() - {result_entry(code).code}
        assert all(o in result_entry(code).mitigation for o in others), code  # each names the others
    for code in (0, "1032", "2001", "4999", None, "", "4242"):
        assert not is_no_answer(code)


def test_1001_is_the_callback_form_of_the_documented_lock_error():
    entry = codes.lookup(1001)
    error = codes.error_entry("500.001.1001", "Unable to lock subscriber")
    assert entry.kind == "result" and entry.name == "unable_to_lock_subscriber"
    assert entry.message == error.message  # the same words as the documented error
    assert "500.001.1001" in entry.explanation and "1 minute" in entry.mitigation
    assert entry.category == "customer_action" and entry.family is None


@pytest.mark.parametrize("code", ["26", "9999"])
def test_safaricom_side_codes_are_system_and_retried_once(code):
    entry = codes.lookup(code)
    assert entry.category == "system" and entry.final is True and not entry.documented
    assert "again" in entry.mitigation


def test_e3008_is_not_invented_as_a_customer_funds_or_production_code():
    """E3008 has only been seen in the live sandbox (one 2026 report): no category that claims to
    know it is about the customer's money, and no advice to call 100 as if seen in production."""
    entry = codes.lookup("E3008")
    assert entry.category != "customer_funds"
    assert "call 100" not in entry.mitigation and "sandbox" in entry.explanation
    assert entry.seen == "2026" and "sandbox" in entry.seen_in


def test_8006_lock_after_three_pins_is_called_the_emulators_model():
    entry = codes.lookup(8006)
    assert entry.documented and entry.message == "The security credential is locked."
    assert "emulator" in entry.explanation and "not documented" in entry.explanation
