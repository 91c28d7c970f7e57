"""Checks for notebook 00, start here: the phone number and where callbacks go."""

from __future__ import annotations

import re
from typing import Any

from mpesa_lab.course.checks._shared import todo, type_name, unanswered, verdict, with_article
from mpesa_lab.course.verdict import Verdict


def msisdn(value: Any, expected: str) -> Verdict:
    """A phone number in Daraja's format: 12 digits, 2547XXXXXXXX / 2541XXXXXXXX, as text."""
    name = "Phone number for Daraja"
    if unanswered(value):
        return todo(name, "Write the number as Daraja wants it: country code 254, no '+', no leading 0.")
    digits = re.sub(r"\D", "", str(value))
    if isinstance(value, int) and not isinstance(value, bool):
        if str(value) == expected:
            return verdict(
                name,
                [
                    f"right digits, but {with_article(value)}: write the phone number as text "
                    f'("{expected}"), as the request body carries it'
                ],
            )
        return verdict(name, [f"{value} is not {expected}, and a phone number is text, not a number"])
    if not isinstance(value, str):
        return verdict(name, [f"the phone number must be a str, not {type_name(value)}"])
    if value == expected:
        return verdict(name, [], "12 digits, country code first: Daraja's PhoneNumber and PartyA.")
    if value.strip() != value:
        return verdict(name, ["there is whitespace around the number: remove it"])
    if value.startswith("+") and digits == expected:
        return verdict(name, ["drop the '+': Daraja wants digits only, 254 then the 9-digit number"])
    if value.startswith("0") and "254" + digits[1:] == expected:
        return verdict(
            name, [f"{value!r} is the local format: replace the leading 0 by the country code 254 ({expected!r})"]
        )
    if digits == expected:
        return verdict(name, [f"{value!r} has spaces or dashes: Daraja wants the 12 digits only"])
    if len(digits) == 9 and "254" + digits == expected:
        return verdict(name, [f"{value!r} lacks the country code: put 254 in front"])
    return verdict(name, [f"{value!r} is not the test phone {expected} in Daraja's format"])


def callback_target(value: Any, lab: Any) -> Verdict:
    """The URL Daraja POSTs this lab's callbacks to: the listener's, not the emulator's."""
    name = "Where callbacks go"
    if unanswered(value):
        return todo(name, "Find the URL the lab gives Daraja as CallBackURL (an attribute of lab).")
    expected = lab.callback_url
    if not isinstance(value, str):
        return verdict(name, [f"a URL is a str, not {type_name(value)}"])
    if value == expected:
        return verdict(name, [], "The listener's address, with a hard-to-guess path.")
    base = getattr(lab.settings, "base_url", None)
    if base and value.rstrip("/").startswith(str(base).rstrip("/")):
        return verdict(
            name,
            [
                "that is Daraja's (the emulator's) address, where your code sends pushes; "
                "callbacks come back to your side, the listener: lab.callback_url"
            ],
        )
    if value.rstrip("/") == expected.rsplit("/", 1)[0].rstrip("/") or (
        expected.startswith(value.rstrip("/")) and value != expected
    ):
        return verdict(
            name,
            [
                "that is the listener's address without its secret path: the listener "
                "answers 404 there and the callback is lost; use lab.callback_url"
            ],
        )
    return verdict(name, [f"{value!r} is not this lab's CallBackURL (lab.callback_url)"])
