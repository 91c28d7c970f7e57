"""Exercise checks for the course notebooks: ``check.<exercise>(answer, ...) -> Verdict``.

Each check compares a learner's answer with what Daraja (or the lab) expects and names the part
that is wrong and how to fix it, never just "incorrect". Answers left as ``...`` (the notebooks'
placeholder) get a "not answered yet" verdict with a hint. Messages never quote a secret: a
passkey or consumer secret is named by its fingerprint at most.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from mpesa_lab import codes
from mpesa_lab.clock import DARAJA_TIMESTAMP_FORMAT, daraja_timestamp, to_nairobi
from mpesa_lab.constants import SANDBOX_PASSKEY, SANDBOX_TEST_MSISDN
from mpesa_lab.course.verdict import Verdict, give
from mpesa_lab.daraja.callbacks import CallbackError, ParsedCallback, parse_callback
from mpesa_lab.daraja.password import build_password, check_password
from mpesa_lab.daraja.results import StkQueryResult
from mpesa_lab.secret import Secret

__all__ = [
    "advice_function",
    "callback_target",
    "customer_answer",
    "msisdn",
    "paid_rows",
    "sequence_order",
    "step_delay",
    "top_failure",
    "basic_auth",
    "callback_url",
    "distinct_payments",
    "env_file",
    "password",
    "query_fallback",
    "receipt",
    "result_code",
    "room_fault",
    "room_rehearsal",
    "struggling_participant",
    "timestamp",
    "token_refresh",
    "triggered",
    "wrong_part",
]


# -- helpers ------------------------------------------------------------------------------------


def _unanswered(value: Any) -> bool:
    return value is Ellipsis


def _verdict(exercise: str, problems: Iterable[str], note: str = "") -> Verdict:
    problems = tuple(problems)
    return give(Verdict(exercise, ok=not problems, problems=problems, note=note if not problems else ""))


def _todo(exercise: str, hint: str) -> Verdict:
    return give(Verdict(exercise, ok=False, problems=(hint,), answered=False))


def _reveal(value: Any) -> str:
    return value.reveal() if isinstance(value, Secret) else str(value)


def _b64decode(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _type_name(value: Any) -> str:
    return type(value).__name__


def _a(value: Any) -> str:
    """'an int', 'a str': the type of ``value`` with its article."""
    name = _type_name(value)
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


# -- 00 start here -----------------------------------------------------------------------------


def msisdn(value: Any, expected: str) -> Verdict:
    """A phone number in Daraja's format: 12 digits, 2547XXXXXXXX / 2541XXXXXXXX, as text."""
    name = "Phone number for Daraja"
    if _unanswered(value):
        return _todo(name, "Write the number as Daraja wants it: country code 254, no '+', no leading 0.")
    digits = re.sub(r"\D", "", str(value))
    if isinstance(value, int) and not isinstance(value, bool):
        if str(value) == expected:
            return _verdict(name, [f"right digits, but {_a(value)}: write the phone number as text "
                                   f"(\"{expected}\"), as the request body carries it"])
        return _verdict(name, [f"{value} is not {expected}, and a phone number is text, not a number"])
    if not isinstance(value, str):
        return _verdict(name, [f"the phone number must be a str, not {_type_name(value)}"])
    if value == expected:
        return _verdict(name, [], "12 digits, country code first: Daraja's PhoneNumber and PartyA.")
    if value.strip() != value:
        return _verdict(name, ["there is whitespace around the number: remove it"])
    if value.startswith("+") and digits == expected:
        return _verdict(name, ["drop the '+': Daraja wants digits only, 254 then the 9-digit number"])
    if value.startswith("0") and "254" + digits[1:] == expected:
        return _verdict(name, [f"{value!r} is the local format: replace the leading 0 by the country "
                               f"code 254 ({expected!r})"])
    if digits == expected:
        return _verdict(name, [f"{value!r} has spaces or dashes: Daraja wants the 12 digits only"])
    if len(digits) == 9 and "254" + digits == expected:
        return _verdict(name, [f"{value!r} lacks the country code: put 254 in front"])
    return _verdict(name, [f"{value!r} is not the test phone {expected} in Daraja's format"])


def callback_target(value: Any, lab: Any) -> Verdict:
    """The URL Daraja POSTs this lab's callbacks to: the listener's, not the emulator's."""
    name = "Where callbacks go"
    if _unanswered(value):
        return _todo(name, "Find the URL the lab gives Daraja as CallBackURL (an attribute of lab).")
    expected = lab.callback_url
    if not isinstance(value, str):
        return _verdict(name, [f"a URL is a str, not {_type_name(value)}"])
    if value == expected:
        return _verdict(name, [], "The listener's address, with a hard-to-guess path.")
    base = getattr(lab.settings, "base_url", None)
    if base and value.rstrip("/").startswith(str(base).rstrip("/")):
        return _verdict(name, ["that is Daraja's (the emulator's) address, where your code sends pushes; "
                               "callbacks come back to your side, the listener: lab.callback_url"])
    if value.rstrip("/") == expected.rsplit("/", 1)[0].rstrip("/") or (
            expected.startswith(value.rstrip("/")) and value != expected):
        return _verdict(name, ["that is the listener's address without its secret path: the listener "
                               "answers 404 there and the callback is lost; use lab.callback_url"])
    return _verdict(name, [f"{value!r} is not this lab's CallBackURL (lab.callback_url)"])


# -- 01 the journey -----------------------------------------------------------------------------

JOURNEY = (
    "the merchant sends the STK push",
    "Daraja checks and accepts it",
    "the merchant gets the acknowledgement (CheckoutRequestID)",
    "the prompt appears on the customer's phone",
    "the customer enters the PIN",
    "M-PESA POSTs the callback to the merchant",
    "the merchant queries the status (if no callback came)",
)


def sequence_order(order: Any, cards: Mapping[str, str]) -> Verdict:
    """The letters of ``cards`` (letter -> step text, shuffled) put in the order of the journey."""
    name = "The journey, in order"
    if _unanswered(order):
        return _todo(name, "List the seven letters, first step first, e.g. ['C', 'A', ...].")
    if isinstance(order, str):
        order = [c for c in order if not c.isspace() and c not in ",;-"]
    if not isinstance(order, (list, tuple)):
        return _verdict(name, [f"answer with a list of letters, not {_type_name(order)}"])
    letters = [str(x).strip().upper() for x in order]
    by_step = {text: letter for letter, text in cards.items()}
    expected = [by_step[text] for text in JOURNEY]
    problems = []
    unknown = [x for x in letters if x not in cards]
    if unknown:
        problems.append(f"{', '.join(map(repr, unknown))} is not one of the cards ({', '.join(sorted(cards))})")
    missing = [x for x in expected if x not in letters]
    if missing:
        problems.append(f"card(s) {', '.join(missing)} missing: all seven steps are in the journey")
    repeated = sorted({x for x in letters if letters.count(x) > 1})
    if repeated:
        problems.append(f"card(s) {', '.join(repeated)} appear more than once")
    if problems:
        return _verdict(name, problems)
    if letters == expected:
        return _verdict(name, [], "Push, accept, acknowledge, prompt, PIN, callback, query.")
    for index, (got, want) in enumerate(zip(letters, expected)):
        if got != want:
            text = cards[got]
            where = JOURNEY.index(text) + 1
            # At the first misplaced card every earlier step is right, so this card came too early.
            hint = {
                JOURNEY[4]: "; the customer can only enter a PIN once the prompt is on the phone",
                JOURNEY[5]: "; the callback carries the customer's answer, so it comes after the PIN",
                JOURNEY[6]: "; the query is the fallback, after the callback should have come",
                JOURNEY[3]: "; Daraja acknowledges the push first, then the phone rings",
            }.get(text, "")
            return _verdict(name, [f"step {index + 1} is not {got} ({text!r}): that is step {where}{hint}"])
    return _verdict(name, ["the order differs from the journey"])


def step_delay(value: Any, steps: Any, start: int, end: int) -> Verdict:
    """Seconds between two steps of one transaction (``transaction_steps``): ``(end.at - start.at)``."""
    name = f"Seconds from step {start} to step {end}"
    if _unanswered(value):
        return _todo(name, f"Subtract steps[{start - 1}].at from steps[{end - 1}].at, then .total_seconds().")
    first, last = steps[start - 1].at, steps[end - 1].at
    if first is None or last is None:
        raise ValueError(f"step {start} or {end} has no time in this transaction; push again")
    expected = (last - first).total_seconds()
    if isinstance(value, timedelta):
        if abs(value.total_seconds() - expected) < 1e-3:
            return _verdict(name, ["right, but a timedelta: call .total_seconds() to get a number of seconds"])
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _verdict(name, [f"answer with a number of seconds, not {_type_name(value)}"])
    if abs(value - expected) < 1e-3:
        return _verdict(name, [], f"{expected:.3f} s: the customer's time on the phone is most of it.")
    if abs(value + expected) < 1e-3:
        return _verdict(name, [f"{value:.3f} is negative: subtract the earlier step from the later one"])
    if abs(value - expected * 1000) < 1:
        return _verdict(name, ["that looks like milliseconds: the answer is in seconds"])
    if abs(value - round(expected)) < 1e-9 and abs(value - expected) >= 1e-3:
        return _verdict(name, [f"{value} is rounded: keep the fraction ({expected:.3f} s)"])
    for i, other in enumerate(steps):
        if other.at is not None and i not in (start - 1, end - 1):
            if abs(value - (last - other.at).total_seconds()) < 1e-3:
                return _verdict(name, [f"that is from step {i + 1}, not step {start}"])
            if abs(value - (other.at - first).total_seconds()) < 1e-3:
                return _verdict(name, [f"that is to step {i + 1}, not step {end}"])
    return _verdict(name, [f"{value} s is not the time between step {start} and step {end}"])


# -- 02 the access token ------------------------------------------------------------------------


def basic_auth(header: Any, consumer_key: str, consumer_secret: str | Secret) -> Verdict:
    """The OAuth ``Authorization`` header: ``Basic base64(consumer_key:consumer_secret)``."""
    name = "Basic auth header"
    if _unanswered(header):
        return _todo(name, "Build 'Basic ' + base64 of 'consumer_key:consumer_secret'.")
    key, secret = str(consumer_key), _reveal(consumer_secret)
    if isinstance(header, bytes):
        return _verdict(name, [
            "the header is bytes (b'...'): HTTP headers here are text; call .decode('ascii') on the "
            "base64 part and put 'Basic ' in front"
        ])
    if not isinstance(header, str):
        return _verdict(name, [f"the header must be a str, not {_type_name(header)}"])
    problems: list[str] = []
    text = header
    scheme, _, encoded = text.partition(" ")
    if not encoded:
        scheme, encoded = "", text
        problems.append("the header lacks the scheme: it must start with 'Basic ' (with one space)")
    elif scheme != "Basic":
        if scheme.lower() == "basic":
            problems.append(f"the scheme is {scheme!r}: write it exactly 'Basic'")
        elif scheme.lower() == "bearer":
            problems.append("'Bearer' is for the access token on the push and query; the OAuth call "
                            "itself uses 'Basic'")
        else:
            problems.append(f"the header starts with {scheme!r}: it must start with 'Basic '")
    encoded = encoded.strip()
    decoded = _b64decode(encoded)
    if decoded is None:
        if encoded == f"{key}:{secret}":
            problems.append("the key and secret are not base64-encoded: encode 'key:secret' with "
                            "base64.b64encode(...).decode()")
        elif encoded.startswith("b'") or encoded.startswith('b"'):
            problems.append("the header contains b'...': you formatted bytes into the string; call "
                            ".decode() on base64.b64encode(...) first")
        else:
            problems.append("the part after 'Basic ' is not valid base64")
        return _verdict(name, problems)
    if decoded != f"{key}:{secret}":
        if decoded == f"{secret}:{key}":
            problems.append("the key and the secret are swapped: the consumer key comes first")
        elif decoded in (f"{key}{secret}", f"{key} {secret}", f"{key};{secret}"):
            problems.append("key and secret must be joined by one colon ':'")
        elif decoded.strip() == f"{key}:{secret}":
            problems.append("there is whitespace (a newline?) around 'key:secret' inside the base64")
        elif ":" in decoded:
            got_key, _, got_secret = decoded.partition(":")
            if got_key != key:
                problems.append(f"the consumer key inside is {got_key!r}, expected {key!r}")
            if got_secret != secret:
                problems.append("the consumer secret inside is not the one given (check for a typo "
                                "or a secret from another app)")
        else:
            problems.append("the base64 does not decode to 'consumer_key:consumer_secret'")
    return _verdict(name, problems, "This is what TokenProvider sends to /oauth/v1/generate.")


def token_refresh(seconds: Any, expires_in: Any, margin: float) -> Verdict:
    """Seconds after fetching at which to refresh a token: ``float(expires_in) - margin``."""
    name = "When to refresh"
    if _unanswered(seconds):
        return _todo(name, "Turn expires_in into a number of seconds and subtract the margin.")
    lifetime = float(str(expires_in).strip())
    expected = lifetime - margin
    if isinstance(seconds, str):
        return _verdict(name, [
            f"the answer is the text {seconds!r}: Daraja sends expires_in as a string, so convert it "
            "with int() or float() before doing arithmetic"
        ])
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return _verdict(name, [f"the answer must be a number of seconds, not {_type_name(seconds)}"])
    if abs(seconds - expected) < 1e-6:
        return _verdict(name, [], f"Refresh after {expected:g} s, before Daraja starts answering 404.001.03.")
    if abs(seconds - lifetime) < 1e-6:
        problem = (f"{seconds:g} s is the moment the token dies: a call sent then can fail with "
                   f"404.001.03 Invalid Access Token; refresh {margin:g} s earlier")
    elif abs(seconds - (lifetime + margin)) < 1e-6:
        problem = f"you added the margin: refresh {margin:g} s *before* expiry, not after"
    elif abs(seconds - lifetime / 60) < 1e-6 or abs(seconds - expected / 60) < 1e-6:
        problem = "that looks like minutes: expires_in is in seconds, and so is the answer"
    else:
        problem = f"{seconds:g} s is not expires_in ({lifetime:g} s) minus the margin ({margin:g} s)"
    return _verdict(name, [problem])


# -- 03 password and timestamp ------------------------------------------------------------------


def password(value: Any, shortcode: str | int, passkey: str | Secret, timestamp: str) -> Verdict:
    """An STK Password: ``base64(BusinessShortCode + Passkey + Timestamp)``."""
    name = "Password"
    if _unanswered(value):
        return _todo(name, "Join shortcode + passkey + timestamp, then base64-encode the result.")
    code, key, ts = str(shortcode).strip(), _reveal(passkey), str(timestamp).strip()
    if isinstance(value, bytes):
        try:
            as_text = value.decode("ascii")
        except UnicodeDecodeError:
            as_text = ""
        if as_text == build_password(code, key, ts):
            return _verdict(name, ["the password is right but it is bytes: add .decode() so the JSON "
                                   "body gets a string, not b'...'"])
        return _verdict(name, [f"the password must be a str, not bytes"])
    if not isinstance(value, str):
        return _verdict(name, [f"the password must be a str, not {_type_name(value)}"])
    if value == f"{code}{key}{ts}":
        return _verdict(name, ["you joined the three parts but did not base64-encode them: "
                               "base64.b64encode(text.encode()).decode()"])
    decoded = _b64decode(value.strip())
    if decoded is not None:
        parts = {"shortcode": code, "passkey": key, "timestamp": ts}
        for order in (("passkey", "shortcode", "timestamp"), ("shortcode", "timestamp", "passkey"),
                      ("timestamp", "shortcode", "passkey"), ("passkey", "timestamp", "shortcode"),
                      ("timestamp", "passkey", "shortcode")):
            if decoded == "".join(parts[p] for p in order):
                return _verdict(name, [f"the parts are in the order {' + '.join(order)}: Daraja wants "
                                       "shortcode + passkey + timestamp"])
        if decoded.replace(" ", "").replace(":", "").replace("-", "") == f"{code}{key}{ts}" and decoded != f"{code}{key}{ts}":
            return _verdict(name, ["there are separators (spaces, ':' or '-') between the parts: join "
                                   "them with nothing in between"])
    result = check_password(value, code, key, ts)
    return _verdict(name, result.problems, "Daraja will accept it with this Timestamp.")


def timestamp(value: Any, moment: datetime) -> Verdict:
    """A Daraja Timestamp for ``moment``: YYYYMMDDHHmmss in Nairobi time (UTC+3)."""
    name = "Timestamp"
    if _unanswered(value):
        return _todo(name, "Convert the moment to Africa/Nairobi, then format it as %Y%m%d%H%M%S.")
    expected = daraja_timestamp(moment)
    if isinstance(value, int) and not isinstance(value, bool):
        value_text = str(value)
        if value_text == expected:
            return _verdict(name, ["right digits, but as a number: send the Timestamp as a string "
                                   "(a number also loses a leading zero in other formats)"])
    if not isinstance(value, str):
        return _verdict(name, [f"the Timestamp must be a str of 14 digits, not {_type_name(value)}"])
    text = value.strip()
    if text == expected:
        return _verdict(name, [], "Nairobi time, 14 digits: what Daraja expects.")
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    utc_text = aware.astimezone(timezone.utc).strftime(DARAJA_TIMESTAMP_FORMAT)
    nairobi = to_nairobi(moment)
    if not re.fullmatch(r"\d{14}", text):
        digits = re.sub(r"\D", "", text)
        if digits == expected:
            return _verdict(name, [f"{text!r} has separators: Daraja wants the 14 digits only, "
                                   "format '%Y%m%d%H%M%S'"])
        if len(digits) == 14 and digits == utc_text:
            return _verdict(name, [f"{text!r} has separators, and it is UTC time: format "
                                   "'%Y%m%d%H%M%S' in Africa/Nairobi time"])
        return _verdict(name, [f"{text!r} is not 14 digits: use the format '%Y%m%d%H%M%S' "
                               "(YYYYMMDDHHmmss)"])
    if text == utc_text:
        return _verdict(name, ["this is UTC time (a laptop or server set to UTC): Nairobi is 3 hours "
                               "ahead; convert with .astimezone(ZoneInfo('Africa/Nairobi')) first"])
    if text == nairobi.strftime("%Y%m%d%I%M%S"):
        return _verdict(name, ["the hour is on a 12-hour clock (%I): use %H, the 24-hour hour"])
    if text == nairobi.strftime("%Y%d%m%H%M%S"):
        return _verdict(name, ["day and month are swapped: the order is year, month, day, hour, "
                               "minute, second"])
    if text == nairobi.strftime("%Y%m%d%H%S%M"):
        return _verdict(name, ["minutes and seconds are swapped (%M is minutes, %S seconds)"])
    try:
        got = datetime.strptime(text, DARAJA_TIMESTAMP_FORMAT)
    except ValueError:
        return _verdict(name, [f"{text!r} is 14 digits but not a real date and time"])
    offset = got - nairobi.replace(tzinfo=None, microsecond=0)
    hours = offset.total_seconds() / 3600
    if hours.is_integer() and hours:
        return _verdict(name, [f"the time is {abs(hours):g} hour(s) {'ahead of' if hours > 0 else 'behind'} "
                               "Nairobi time: convert the moment to Africa/Nairobi (UTC+3) before formatting"])
    return _verdict(name, [f"{text!r} is {offset} away from the moment given ({expected} in Nairobi time)"])


_PARTS = ("shortcode", "passkey", "timestamp")


def wrong_part(answer: Any, password: str, shortcode: str | int, passkey: str | Secret,
               timestamp: str) -> Verdict:
    """Diagnose "Wrong credentials": which part of ``password`` disagrees with the request."""
    name = "Wrong credentials diagnosed"
    if _unanswered(answer):
        return _todo(name, f"Decode the password and answer one of {', '.join(map(repr, _PARTS))} or 'none'.")
    result = check_password(password, shortcode, passkey, timestamp)
    wrong = [part for part in _PARTS if any(p.startswith(part) for p in result.problems)]
    expected = wrong[0] if wrong else "none"
    given = str(answer).strip().lower()
    if given not in (*_PARTS, "none"):
        return _verdict(name, [f"answer one of 'shortcode', 'passkey', 'timestamp' or 'none', not {answer!r}"])
    if given == expected:
        return _verdict(name, [], f"decode_password(...) showed it: {result.problems[0] if result.problems else 'it matches'}")
    if given == "none":
        return _verdict(name, [f"the password does not match the request: decode it with decode_password() "
                               f"and compare each part"])
    if expected == "none":
        return _verdict(name, [f"the {given} inside the password matches the request: this password "
                               "is right, look elsewhere (is the Timestamp field the same one?)"])
    return _verdict(name, [f"the {given} inside the password matches the request; another part does "
                           "not: compare each part of decode_password(...) with the request"])


# -- 05 callbacks and the listener --------------------------------------------------------------


def _parse(body: Any) -> ParsedCallback:
    return body if isinstance(body, ParsedCallback) else parse_callback(body)


def receipt(value: Any, body: Any) -> Verdict:
    """The MpesaReceiptNumber read from a raw callback body."""
    name = "Receipt from the raw body"
    if _unanswered(value):
        return _todo(name, "Walk Body -> stkCallback -> CallbackMetadata -> Item and find MpesaReceiptNumber.")
    parsed = _parse(body)
    expected = parsed.receipt
    if value == expected:
        return _verdict(name, [], "Keep it with the order: it is the customer's proof of payment.")
    if isinstance(value, (list, tuple)):
        return _verdict(name, ["this is the whole Item list: pick the entry whose Name is "
                               "'MpesaReceiptNumber' and take its Value"])
    if isinstance(value, dict):
        if value.get("Name") == "MpesaReceiptNumber":
            return _verdict(name, ["this is the Item entry: take its 'Value'"])
        return _verdict(name, ["this is a dict: go down to the Item whose Name is 'MpesaReceiptNumber' "
                               "and take its Value"])
    for key, item in parsed.items.items():
        if key != "MpesaReceiptNumber" and item is not None and str(value) == str(item):
            return _verdict(name, [f"that is the {key} item: the receipt is the item named 'MpesaReceiptNumber'"])
    if value == parsed.checkout_request_id:
        return _verdict(name, ["that is the CheckoutRequestID (Daraja's id for the push); the receipt "
                               "is M-PESA's id for the payment, in CallbackMetadata"])
    if value == parsed.merchant_request_id:
        return _verdict(name, ["that is the MerchantRequestID; the receipt is in CallbackMetadata"])
    return _verdict(name, [f"{value!r} is not the MpesaReceiptNumber in this body"])


def result_code(value: Any, body: Any) -> Verdict:
    """The ResultCode of a callback, as text (codes can be alphanumeric, e.g. SFC_IC0003)."""
    name = "ResultCode as text"
    if _unanswered(value):
        return _todo(name, "Read Body.stkCallback.ResultCode and make it a str.")
    parsed = _parse(body)
    expected = parsed.result_code
    if isinstance(value, str) and value.strip() == expected:
        entry = codes.result_entry(expected)
        return _verdict(name, [], f"{expected} is {entry.name}: {entry.mitigation}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and codes.normalize_code(value) == expected:
        return _verdict(name, [f"right code, but {_a(value)}: keep codes as text (str(...)), "
                               "since some are alphanumeric (SFC_IC0003) and the STK query sends them "
                               "as strings"])
    if isinstance(value, str) and value == parsed.result_desc:
        return _verdict(name, ["that is ResultDesc (the words); the code is ResultCode"])
    return _verdict(name, [f"{value!r} is not this callback's ResultCode"])


def distinct_payments(value: Any, deliveries: Any) -> Verdict:
    """How many distinct pushes a list of callback deliveries (with duplicates) is about."""
    name = "Distinct payments"
    if _unanswered(value):
        return _todo(name, "Count unique CheckoutRequestIDs, not deliveries.")
    ids = [_parse(d).checkout_request_id for d in deliveries]
    paid = {_parse(d).checkout_request_id for d in deliveries if _parse(d).succeeded}
    expected = len(set(ids))
    if isinstance(value, bool) or not isinstance(value, int):
        return _verdict(name, [f"answer with a whole number, not {_type_name(value)}"])
    if value == expected:
        return _verdict(name, [], "Duplicates are kept as deliveries but count once.")
    if value == len(ids):
        return _verdict(name, [f"{value} counts every delivery: a duplicate callback is the same payment "
                               "again; count unique CheckoutRequestIDs"])
    if value == len(paid):
        return _verdict(name, [f"{value} counts only the paid ones: the question asks for every distinct push"])
    if value == len({_parse(d).merchant_request_id for d in deliveries}) and value != expected:
        return _verdict(name, ["count CheckoutRequestIDs (one per push), not MerchantRequestIDs"])
    return _verdict(name, [f"{value} is not the number of distinct CheckoutRequestIDs"])


def query_fallback(result: Any, checkout_request_id: str) -> Verdict:
    """The STK query result for a push whose callback never came."""
    name = "STK query fallback"
    if _unanswered(result):
        return _todo(name, "Call lab.query(checkout_request_id) (or push.query()).")
    if isinstance(result, ParsedCallback):
        return _verdict(name, ["this is a callback; the point is that none came: ask Daraja with "
                               "lab.query(...) instead"])
    if isinstance(result, TimeoutError):
        return _verdict(name, ["waiting longer is not the fallback: ask Daraja with lab.query(...)"])
    if not isinstance(result, StkQueryResult):
        return _verdict(name, [f"expected the StkQueryResult of lab.query(...), got {_type_name(result)}"])
    problems = []
    if result.checkout_request_id and result.checkout_request_id != checkout_request_id:
        problems.append("this query is about another push: query the CheckoutRequestID whose callback "
                        "was lost")
    if result.pending:
        problems.append("the answer is still pending: query again in a few seconds (pending is an "
                        "answer, not a failure)")
    return _verdict(name, problems, f"Daraja says: {result.status} {result.result_code}. Never push again "
                                    "to find out: the customer would be asked twice.")


# -- 06 errors and result codes -----------------------------------------------------------------


# How a lesson asks for each code "the way it happens to a real customer" (the emulator's real
# conditions, docs/emulator.md); a magic number or set_next_result only scripts the code.
_REAL_CONDITIONS = {
    "1": "register a subscriber with a small balance, lab.emulator.register_subscriber(\"254711000061\", "
         "balance=50), then push more than that balance to that phone (e.g. 51)",
    "2": "push an Amount of 0",
    "3": "push an Amount above 250,000 (or above a subscriber's max_transaction)",
    "17": "push the same Amount to the same phone twice within two minutes",
    "2001": "enter a wrong PIN on the prompt (push.answer(pin='0000'))",
    "1032": "press Cancel on the prompt (push.cancel())",
    "1037": "leave the prompt unanswered (lab.emulator.answer(push.checkout_request_id, ignore=True))",
}


def _lab_transaction(lab: Any, callback: ParsedCallback) -> tuple[dict | None, str | None]:
    """What the lab's emulator knows of the push behind ``callback``: (transaction, None), or
    (None, problem) when it is no push of this lab. (None, None) when there is no local emulator
    to ask (the real sandbox has no magic numbers to take a shortcut with)."""
    emulator = getattr(lab, "emulator", None)
    if emulator is None or not hasattr(emulator, "transaction"):
        return None, None
    try:
        return emulator.transaction(callback.checkout_request_id), None
    except KeyError:  # the emulator's UnknownTransaction
        return None, (f"no push of this lab has the CheckoutRequestID {callback.checkout_request_id!r}: "
                      "keep the callback that push.wait() returns, not one written by hand")


def _scripted(tx: Mapping[str, Any]) -> str | None:
    """How a transaction's result was scripted (a magic number, set_next_result, the random mix), or
    None when the customer or a real condition decided it."""
    answered = any(e.get("event") in ("answered_by_lab", "answer_queued") for e in tx.get("timeline", ()))
    if tx.get("customer_action") != "script" or answered:
        return None
    source = tx.get("decided_by")
    if source == "trigger":
        return f"{tx.get('phone')} is a magic number: the emulator scripts ResultCode {tx.get('scripted_code')} for it"
    if source == "instruction":
        return "lab.emulator.set_next_result(...) scripted this ResultCode"
    return f"the emulator's {source} scripted this ResultCode"


def triggered(callback: Any, code: str | int, *, lab: Any) -> Verdict:
    """A callback (from ``push.wait()`` on ``lab``) whose ResultCode is ``code``, produced by its real
    condition: a magic number or ``set_next_result`` only scripts it, and the exercise forbids that."""
    want = codes.normalize_code(code)
    entry = codes.result_entry(want)
    name = f"Trigger ResultCode {want}"
    real = _REAL_CONDITIONS.get(want, "produce it by its real condition (docs/emulator.md lists them)")
    if _unanswered(callback):
        return _todo(name, f"Push so that M-PESA answers {want} ({entry.name}): {real}; then push.wait().")
    if not isinstance(callback, ParsedCallback):
        try:
            callback = _parse(callback)
        except (CallbackError, TypeError, ValueError, AttributeError):
            return _verdict(name, [f"expected the callback from push.wait(), got {_type_name(callback)}"])
    tx, unknown = _lab_transaction(lab, callback)
    if unknown:
        return _verdict(name, [unknown])
    if callback.result_code != want:
        got = codes.result_entry(callback.result_code)
        return _verdict(name, [f"this callback's ResultCode is {callback.result_code} ({got.name}), not {want} "
                               f"({entry.name}): {entry.explanation} To get it: {real}."])
    scripted = _scripted(tx) if tx is not None else None
    if scripted:
        return _verdict(name, [f"right code, wrong way: {scripted}, which a real customer never meets. "
                               f"Produce it by its real condition: {real}."])
    return _verdict(name, [], f"{entry.name}: {entry.mitigation}")


def advice_function(fn: Any) -> Verdict:
    """``fn(code) -> str``: the catalogue's mitigation for any code, and advice for unknown ones."""
    name = "advice(code)"
    if _unanswered(fn) or fn is None:
        return _todo(name, "Define advice(code) returning codes.lookup(code).mitigation.")
    if not callable(fn):
        return _verdict(name, [f"advice must be a function, not {_type_name(fn)}"])
    cases: list[tuple[Any, str]] = [
        ("1032", "a ResultCode as text"),
        (1032, "a ResultCode as a number (callbacks send numbers)"),
        ("2001", "another ResultCode"),
        ("SFC_IC0003", "an alphanumeric ResultCode"),
        ("500.001.1001", "an errorCode"),
        ("9999", "a code outside Daraja's tables"),
        ("E3008", "a code seen live but not documented"),
    ]
    problems = []
    for code, what in cases:
        try:
            got = fn(code)
        except Exception as exc:  # the learner's code: report, never crash the check
            if not codes.lookup(code).known:
                fix = ("unknown codes must still get advice, not an exception: codes.lookup() returns "
                       "an 'unknown' entry with a mitigation for them")
            elif isinstance(code, int):
                fix = ("callbacks send ResultCode as a number: look it up with codes.lookup(code), "
                       "which accepts 1032 and '1032' alike")
            else:
                fix = "your own table lacks this code: the catalogue has it (codes.lookup(code))"
            problems.append(f"advice({code!r}) ({what}) raised {_type_name(exc)}: {exc}; {fix}")
            continue
        if got is None:
            problems.append(f"advice({code!r}) returned None: return the advice text")
            continue
        if not isinstance(got, str):
            problems.append(f"advice({code!r}) returned {_a(got)}: return the mitigation text")
            continue
        expected = codes.lookup(code).mitigation
        if expected not in got:
            if not codes.lookup(code).known:
                problems.append(f"advice({code!r}) ({what}) should still say what to do: keep the raw "
                                "payload and ask with an STK query (codes.lookup(code).mitigation)")
            else:
                problems.append(f"advice({code!r}) ({what}) does not contain the catalogue's mitigation "
                                f"{expected!r}")
    if not problems:
        texts = {code: fn(code) for code in ("1032", "2001")}
        if texts["1032"] == texts["2001"]:
            problems.append("advice('1032') and advice('2001') return the same text: each code gets its "
                            "own mitigation, codes.lookup(code).mitigation")
    return _verdict(name, problems, "Known codes get their fix; unknown ones never crash the handler.")


# -- 04 your first push, on the virtual phone ----------------------------------------------------

# What the customer did -> the ResultCode M-PESA sends back, and how to do it on the phone.
_ANSWERS = {
    "paid": ("0", "enter the right PIN (push.answer(pin='1234'), or type 1234 on the phone and press OK)"),
    "cancelled": ("1032", "press Cancel (push.cancel(), or Cancel on the phone)"),
    "wrong_pin": ("2001", "enter a wrong PIN (push.answer(pin='0000'), or a wrong PIN and OK on the phone)"),
    "ignored": ("1037", "ignore the prompt (lab.emulator.answer(push.checkout_request_id, ignore=True), "
                        "or Ignore on the phone)"),
}
_TEST_PHONE = SANDBOX_TEST_MSISDN
_BY_CODE = {code: what for what, (code, _how) in _ANSWERS.items()}
_DID = {"paid": "paid", "cancelled": "cancelled", "wrong_pin": "entered a wrong PIN", "ignored": "did not answer"}


def customer_answer(callback: Any, wanted: str, *, lab: Any) -> Verdict:
    """The callback of a push of ``lab`` the customer answered as ``wanted`` (paid, cancelled,
    wrong_pin, ignored) on the phone, not a code scripted by a magic number or set_next_result."""
    if wanted not in _ANSWERS:
        raise ValueError(f"wanted must be one of {', '.join(_ANSWERS)}, not {wanted!r}")
    code, how = _ANSWERS[wanted]
    name = f"A push the customer {wanted.replace('_', ' ')}" if wanted != "wrong_pin" else "A push answered with a wrong PIN"
    if _unanswered(callback):
        return _todo(name, f"Push to the test phone, then {how}; keep push.wait()'s callback.")
    if isinstance(callback, StkQueryResult):
        return _verdict(name, ["this is an STK query result: keep the callback, push.wait()"])
    if type(callback).__name__ == "Push":
        return _verdict(name, ["this is the push (its acknowledgement): the customer's answer comes in "
                               "the callback, push.wait()"])
    if not isinstance(callback, ParsedCallback):
        try:
            callback = _parse(callback)
        except (CallbackError, TypeError, ValueError, AttributeError):
            return _verdict(name, [f"expected the callback from push.wait(), got {_type_name(callback)}"])
    tx, unknown = _lab_transaction(lab, callback)
    if unknown:
        return _verdict(name, [unknown])
    got = callback.result_code
    if got == code:
        scripted = _scripted(tx) if tx is not None else None
        if scripted:
            return _verdict(name, [f"right code, but no customer answered: {scripted}. Push to the test "
                                   f"phone {_TEST_PHONE} and {how}"])
        entry = codes.result_entry(code)
        return _verdict(name, [], f"ResultCode {code}, {entry.name}: {entry.mitigation}")
    did = _BY_CODE.get(got)
    entry = codes.result_entry(got)
    if got == "17":
        return _verdict(name, ["ResultCode 17: the same amount to the same phone within 2 minutes; change "
                               "the amount and push again"])
    if did is not None:
        return _verdict(name, [f"this callback says the customer {_DID[did]} (ResultCode {got}, "
                               f"{entry.name}); to get {code}, {how}"])
    return _verdict(name, [f"ResultCode {got} ({entry.name}) is not {code}: {how}"])


# -- 07 result-code analytics -------------------------------------------------------------------


def paid_rows(frame: Any, tx: Any) -> Verdict:
    """The rows of ``tx`` whose callback said paid: ``tx[tx.result_code == "0"]``."""
    name = "The paid transactions"
    if _unanswered(frame):
        return _todo(name, "Filter the transactions on result_code; remember what type it holds.")
    expected = int((tx["result_code"] == "0").sum())
    if isinstance(frame, (int, float)) and not isinstance(frame, bool):
        return _verdict(name, [f"{frame} is a number: keep the rows (a DataFrame), not their count"])
    if isinstance(frame, bool) or not hasattr(frame, "columns"):
        if hasattr(frame, "dtype") and str(getattr(frame, "dtype", "")) == "bool":
            return _verdict(name, ["this is the mask (True/False per row): use it to select rows, tx[mask]"])
        return _verdict(name, [f"expected a DataFrame of transactions, got {_type_name(frame)}"])
    got = len(frame)
    if got == expected and "result_code" in frame.columns and (frame["result_code"] == "0").all():
        return _verdict(name, [], f"{expected} of {len(tx)} transactions paid.")
    if got == 0 and expected:
        return _verdict(name, ["no rows: result_code is text, so result_code == 0 (the number) is never "
                               "true; compare with the text \"0\""])
    if got == len(tx):
        return _verdict(name, [f"all {got} rows: nothing was filtered out; keep only result_code \"0\""])
    if "result_code" in frame.columns and not (frame["result_code"] == "0").all():
        return _verdict(name, ["some rows have another result_code than \"0\": those did not pay"])
    return _verdict(name, [f"{got} rows, but {expected} transactions have result_code \"0\""])


def top_failure(value: Any, tx: Any) -> Verdict:
    """The most frequent failing ResultCode in ``tx`` (status failed), as text."""
    name = "The commonest failure"
    if _unanswered(value):
        return _todo(name, "Count result_code among the failed rows and take the most common one.")
    failed_rows = tx[tx["status"] == "failed"]
    failed = failed_rows["result_code"].value_counts()
    expected = str(failed.index[0])
    # What analytics.summary counts (and the notebook shows): the callback's code, else the STK
    # query's for a push whose callback never came; the message gives both parts of that count.
    by_query = (failed_rows["result_code"].isna() & (failed_rows["query_result_code"] == expected)
                if "query_result_code" in failed_rows.columns else failed_rows["result_code"].isna() & False)
    told = int(failed.iloc[0])
    asked = int(by_query.sum())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if codes.normalize_code(value) == expected:
            return _verdict(name, [f"right code, but {_a(value)}: result codes are text (\"{expected}\")"])
    if not isinstance(value, str):
        return _verdict(name, [f"answer with the code as a str, not {_type_name(value)}"])
    code = value.strip()
    if code == expected:
        entry = codes.result_entry(expected)
        how = (f"{told + asked} times ({told} told by the callback, {asked} by the STK query when no "
               "callback came)") if asked else f"{told} times"
        return _verdict(name, [], f"{expected} ({entry.name}) failed {how}: {entry.mitigation}")
    if code == "0":
        return _verdict(name, ["0 is success: look at the failed rows only (status == 'failed')"])
    if code in failed.index:
        rank = list(failed.index).index(code) + 1
        return _verdict(name, [f"{code} failed {int(failed[code])} times, number {rank} among the failures; "
                               f"another code failed more often"])
    counts = tx["result_code"].value_counts()
    if code in counts.index:
        return _verdict(name, [f"{code} is in the week but not as a failure (its rows are not status "
                               "'failed'): filter on status first"])
    return _verdict(name, [f"{code!r} is not a result code of these transactions"])


# -- 08 the real sandbox ------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"^(<.*>|\.\.\.|your[-_ ].*|paste[-_ ].*|x+|changeme)$", re.I)


def env_file(text: Any) -> Verdict:
    """A ``.env`` for the real sandbox: MPESA_ENV=sandbox, key, secret, and a way to get callbacks."""
    name = ".env for the sandbox"
    if _unanswered(text):
        return _todo(name, "Write the lines KEY=value that Lab.start(environment='sandbox') reads.")
    if not isinstance(text, str):
        return _verdict(name, [f"the .env must be text, not {_type_name(text)}"])
    values: dict[str, str] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):].strip()
        if "=" not in stripped:
            problems.append(f"line {number} has no '=': write NAME=value")
            continue
        key, _, value = stripped.partition("=")
        key = key.strip()
        value = value.strip().strip("'\"")
        if key != key.upper():
            problems.append(f"line {number}: variable names are upper case ({key.upper()})")
            key = key.upper()
        values[key] = value
    env = values.get("MPESA_ENV", "")
    if env.lower() != "sandbox":
        problems.append("MPESA_ENV must be 'sandbox'" + (f" (it is {env!r})" if env else " (it is missing)")
                        + ": without it the lab stays local")
    for var in ("MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET"):
        if not values.get(var):
            problems.append(f"{var} is missing: copy it from your app on the Daraja portal (My Apps)")
    placeholders = {"MPESA_CONSUMER_KEY": "paste-your-consumer-key",
                    "MPESA_CONSUMER_SECRET": "paste-your-consumer-secret",
                    "NGROK_AUTHTOKEN": "paste-your-ngrok-authtoken"}
    for var, placeholder in placeholders.items():
        # A notebook gets shared, committed and projected: the exercise asks for placeholders.
        if values.get(var) and not _PLACEHOLDER.match(values[var]):
            problems.append(f"{var} holds a value, not a placeholder: this notebook may be shared, so "
                            f"write {var}={placeholder} here and the real value only in the .env file")
    if not (values.get("NGROK_AUTHTOKEN") or values.get("MPESA_CALLBACK_URL")):
        problems.append("nothing gives Safaricom a public URL: add NGROK_AUTHTOKEN (the lab opens a "
                        "tunnel) or MPESA_CALLBACK_URL (a public https URL of your own)")
    callback = values.get("MPESA_CALLBACK_URL")
    if callback and not _PLACEHOLDER.match(callback) and not callback.startswith("https://"):
        problems.append("MPESA_CALLBACK_URL must be a public https:// URL")
    if values.get("MPESA_SHORTCODE") and values["MPESA_SHORTCODE"] != "174379":
        problems.append("the sandbox's test paybill is 174379: leave MPESA_SHORTCODE out (or set 174379)")
    passkey = values.get("MPESA_PASSKEY")
    if passkey and passkey != SANDBOX_PASSKEY and not _PLACEHOLDER.match(passkey):
        problems.append("MPESA_PASSKEY is not the sandbox's public passkey: leave it out, the lab knows it")
    if values.get("MPESA_BASE_URL") and "sandbox.safaricom.co.ke" not in values["MPESA_BASE_URL"]:
        problems.append("MPESA_BASE_URL points somewhere else than the sandbox: leave it out")
    return _verdict(name, problems, "Keep it out of git (.env is in .gitignore) and out of notebooks.")


def callback_url(value: Any, public_url: str, path: str) -> Verdict:
    """The CallBackURL for the sandbox: the tunnel's public https URL + the listener's secret path."""
    name = "CallBackURL"
    if _unanswered(value):
        return _todo(name, "Join the tunnel's public URL and the listener's callback path.")
    if not isinstance(value, str):
        return _verdict(name, [f"the CallBackURL must be a str, not {_type_name(value)}"])
    expected = public_url.rstrip("/") + "/" + path.lstrip("/")
    if value == expected:
        return _verdict(name, [], "Safaricom can reach it, and only someone who knows the path can post to it.")
    problems = []
    parts = urlsplit(value)
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1", "0.0.0.0") or host.startswith("192.168.") or host.startswith("10."):
        problems.append(f"{host} is only reachable from this machine: Safaricom's servers cannot POST "
                        "to it; use the tunnel's public URL")
    elif parts.scheme != "https":
        problems.append("use https: production refuses plain http and the tunnel gives you https")
    if not parts.path.rstrip("/").endswith(path.strip("/")):
        problems.append("the listener's secret callback path is missing: without it the listener "
                        "answers 404 and the callback is lost")
    if "//" in parts.path:
        problems.append("there is a double slash in the path: join with exactly one '/'")
    if any(c.isspace() for c in value):
        problems.append("there is whitespace in the URL: Daraja answers Invalid CallBackURL")
    if not problems:
        problems.append(f"expected {expected!r}")
    return _verdict(name, problems)


# -- 09 running a workshop ----------------------------------------------------------------------


def _frame_rows(frame: Any) -> list[Mapping[str, Any]]:
    if hasattr(frame, "to_dict"):
        return frame.to_dict("records")
    return list(frame)


def room_rehearsal(frame: Any, phones: Iterable[str]) -> Verdict:
    """Every participant's phone has a paid push in the transactions frame."""
    name = "Room rehearsal"
    if _unanswered(frame):
        return _todo(name, "Push once to each participant's phone, wait, then pass lab.transactions().")
    rows = _frame_rows(frame)
    wanted = [str(p) for p in phones]
    problems = []
    by_phone: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_phone.setdefault(str(row.get("phone")), []).append(row)
    others = sorted(p for p in by_phone if p not in wanted)
    if others:
        problems.append(f"{len(others)} phone(s) outside the room ({', '.join(others[:3])}"
                        f"{', ...' if len(others) > 3 else ''}): keep only this rehearsal's rows, filtered "
                        "on its pushes' checkout_request_id")
    for phone in wanted:
        seen = by_phone.get(phone, [])
        if len(seen) > 1:
            problems.append(f"{phone}: {len(seen)} rows, but the rehearsal pushed once: earlier pushes' "
                            "rows (a paid one would hide a failure now) must go; filter on this "
                            "rehearsal's checkout_request_id")
        elif not seen:
            problems.append(f"{phone}: no push at all; push to it")
        elif not any(str(r.get("status")) == "paid" for r in seen):
            last = seen[-1]
            problems.append(f"{phone}: no paid push (last: {last.get('status')} "
                            f"{last.get('result_code')} {last.get('result_desc')}); push again and answer")
    return _verdict(name, problems, f"All {len(wanted)} phones paid: the room's setup works end to end.")


def struggling_participant(answer: Any, frame: Any) -> Verdict:
    """(phone, code): the phone with no paid push, and the ResultCode it gets most."""
    name = "Who needs help?"
    if _unanswered(answer):
        return _todo(name, "Group the frame by phone; find the one with no paid push and its commonest code.")
    rows = _frame_rows(frame)
    by_phone: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_phone.setdefault(str(row.get("phone")), []).append(row)
    stuck = {p: r for p, r in by_phone.items() if not any(str(x.get("status")) == "paid" for x in r)}
    if len(stuck) != 1:
        raise ValueError(f"this frame has {len(stuck)} phones with no paid push; the exercise needs one")
    phone, its_rows = next(iter(stuck.items()))
    code = Counter(str(r.get("result_code")) for r in its_rows).most_common(1)[0][0]
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return _verdict(name, [f"answer with a pair (phone, result_code), not {answer!r}"])
    got_phone, got_code = str(answer[0]), codes.normalize_code(answer[1])
    problems = []
    if got_phone != phone:
        if got_phone in by_phone:
            problems.append(f"{got_phone} has a paid push: look for the phone with none")
        else:
            problems.append(f"{got_phone} is not in the frame (phones look like 2547XXXXXXXX)")
    elif got_code != code:
        problems.append(f"{got_code} is not the code this phone gets most; count its result_code values")
    entry = codes.result_entry(code)
    return _verdict(name, problems, f"{code} is {entry.name}: tell them: {entry.mitigation}")


def room_fault(answer: Any, room: Mapping[str, Any]) -> Verdict:
    """(error_code, pushes): the Daraja error a room fault answered most, from the room's data."""
    name = "What the room saw"
    if _unanswered(answer):
        return _todo(name, "Take the first entry of the room data's 'errors' chart: its code and its count.")
    errors = [e for e in room.get("errors", []) if e.get("count")]
    if not errors:
        raise ValueError("this room's data has no errors; turn a fault on and push before the exercise")
    top = max(errors, key=lambda e: e["count"])
    code, count = str(top["code"]), int(top["count"])
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        return _verdict(name, [f"answer with a pair (error_code, pushes), not {answer!r}"])
    got_code, got_count = answer
    problems = []
    result_codes = {str(r.get("code")) for r in room.get("results", [])}
    if str(got_code).strip() != code:
        if str(got_code).strip() in result_codes:
            problems.append(f"{got_code} is a ResultCode from the callbacks (the 'results' chart); the fault's "
                            f"answers are Daraja errors, in the 'errors' chart")
        elif str(got_code).strip() in {str(e["code"]) for e in errors}:
            problems.append(f"{got_code} is in the errors chart, but not the one the most pushes got")
        else:
            problems.append(f"{got_code!r} is not in the room's errors chart; error codes look like 500.003.02")
    if isinstance(got_count, bool) or not isinstance(got_count, int):
        problems.append(f"the number of pushes must be a whole number, not {_type_name(got_count)}")
    elif got_count != count and not problems:
        people = len(room.get("participants", []))
        hint = (" (that is the number of participants; the chart counts every push the server answered, "
                "the labs' retries included)") if got_count == people else ""
        problems.append(f"{got_count} is not the count next to {code} in the errors chart{hint}")
    entry = codes.error_entry(code)
    return _verdict(name, problems, f"{code} is '{entry.message}': {entry.mitigation}")
