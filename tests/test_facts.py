"""Claims about Daraja that were wrong (issue 21, item 8), kept from coming back anywhere a learner
reads: README, docs, the course sources, the package's texts and data. Each banned phrase is the
old wording; each "must say" is the corrected fact with its source in docs/daraja.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READ_BY_LEARNERS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "notebooks" / "source").glob("*.py")),
    *sorted((ROOT / "mpesa_lab").rglob("*.py")),
    *sorted((ROOT / "mpesa_lab").rglob("*.csv")),
    *sorted((ROOT / "mpesa_lab").rglob("*.html")),
]

# old wording -> why it is wrong
BANNED = {
    "known to nobody but the customer": "an STK query, Transaction Status or the org portal still find it",
    "reads the `Timestamp` as Nairobi": "Nairobi time is a convention; the doc gives only a format",
    "the UTC trap": "UTC alone is not a cause of Wrong credentials; two different timestamps are",
    "often the UTC clock": "the causes are a wrong passkey, a shortcode/passkey mismatch, two timestamps",
    "M-PESA gives up and": "real captures: 1037 ~30 s after the push (2026), 1019 (2022)",
    "Nobody sees a successful payment in the live sandbox": "one 2026 report: hedge and date it",
    "Invalid Authentication passed / Invalid authentication type passed": "400.008.01 is only the non-Basic header",
    "draws Safaricom's sequence diagram": "the stepper draws the lab's seven steps, adapted",
    "Three wrong PINs in a row lock the customer's PIN (ResultCode 8006)": "the emulator's model, not Daraja's",
}


@pytest.mark.parametrize("phrase", sorted(BANNED))
def test_a_corrected_claim_does_not_come_back(phrase):
    flat = re.sub(r"\s*\n#?\s*", " ", phrase)
    found = []
    for path in READ_BY_LEARNERS:
        text = re.sub(r"\s*\n#?\s*", " ", path.read_text(encoding="utf-8"))  # across wrapped lines
        if flat in text:  # case matters: the old sentences, not the hedged ones quoting them
            found.append(str(path.relative_to(ROOT)))
    assert not found, f"{phrase!r} ({BANNED[phrase]}) is back in {found}"


def _daraja_page() -> str:
    return (ROOT / "docs" / "daraja.md").read_text(encoding="utf-8")


def test_400_008_01_is_the_non_basic_header_and_a_wrong_secret_a_bare_400():
    rows = [line for line in _daraja_page().splitlines() if line.startswith("| 400.008.01 ")]
    assert rows and all("secret" not in row for row in rows), rows
    assert "HTTP 400, often with an empty body" in _daraja_page()


def test_the_daraja_page_says_callbacks_are_unsigned_and_how_to_confirm():
    page = _daraja_page()
    assert "### Callbacks are not signed" in page
    assert "STK query" in page.split("### Callbacks are not signed")[1].split("##")[0]
    assert "unconfirmed by Safaricom" in page  # the IP list is third-party, and says so


def test_going_live_is_documented_linked_and_keeps_secrets_out_of_git():
    guide = " ".join((ROOT / "docs" / "going-live.md").read_text(encoding="utf-8").split())
    for must in ("Go Live", "passkey", "store", "KES 1", "Lipa na M-PESA production product", ".gitignore"):
        assert must in guide, must
    assert "docs/going-live.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "going-live.md" in _daraja_page()
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored and ".env.*" in ignored


def test_the_catalogue_rows_for_e3008_and_8006_say_what_is_known():
    import csv

    rows = {r["code"]: r for r in csv.DictReader((ROOT / "mpesa_lab" / "data" / "result_codes.csv").open())}
    assert rows["E3008"]["category"] != "customer_funds"
    assert "call 100" not in rows["E3008"]["mitigation"]
    assert "emulator" in rows["8006"]["explanation"]
