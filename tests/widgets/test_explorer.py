"""The code explorer: search, read, and trigger a code for real."""

from __future__ import annotations

from mpesa_lab import codes
from mpesa_lab.daraja.errors import SystemBusy, WrongCredentials
from mpesa_lab.widgets import CodeExplorer

from .conftest import TIMEOUT


def test_lists_every_documented_and_observed_code():
    explorer = CodeExplorer()  # browsing needs no lab
    assert len(explorer.shown) == len(codes.error_codes()) + len(codes.result_codes())
    explorer.source.value = "observed"
    assert explorer.shown and all(e.source == "observed" for e in explorer.shown)
    explorer.source.value = "all"
    explorer.kind.value = "result"
    assert all(e.kind == "result" for e in explorer.shown)


def test_search_finds_by_words_and_code():
    explorer = CodeExplorer()
    explorer.search.value = "cancelled"
    assert "1032" in [e.code for e in explorer.shown]
    assert all("cancel" in f"{e.name} {e.message} {e.explanation}".lower() for e in explorer.shown)
    explorer.search.value = "lock subscriber"
    # the documented error and its callback form, 1001 (observed)
    assert [e.name for e in explorer.shown] == ["subscriber_locked", "unable_to_lock_subscriber"]
    explorer.search.value = "wrong credentials"  # every word, anywhere in the entry
    assert "wrong_credentials" in [e.name for e in explorer.shown]
    explorer.search.value = "no such words anywhere"
    assert explorer.shown == [] and "No code matches" in explorer.detail.value and explorer.trigger.disabled


def test_detail_says_meaning_mitigation_and_how_to_trigger(lab, closing):
    explorer = closing(CodeExplorer(lab))
    entry = explorer.select("2001")
    assert entry.name == "wrong_pin"
    detail = explorer.detail.value
    assert "254708002001" in detail  # the emulator's magic number, from its control API
    assert entry.mitigation[:30].replace("'", "&#x27;") in detail
    assert not explorer.trigger.disabled


def test_trigger_a_result_code_shows_the_callback(lab, closing):
    explorer = closing(CodeExplorer(lab))
    explorer.select("1032")
    explorer.trigger.click()  # runs in the background: the kernel is not blocked
    assert explorer.done.wait(TIMEOUT)
    callback = explorer.last_result
    assert callback.result_code == "1032"
    assert "1032" in explorer.result.value and "Request cancelled by user" in explorer.result.value
    # what came back is this lab's own callback, stored
    assert lab.listener.callback(callback.checkout_request_id).result_code == "1032"


def test_trigger_an_error_shows_the_typed_error(lab, closing):
    explorer = closing(CodeExplorer(lab))
    explorer.kind.value = "error"
    explorer.select("500.001.1001", "wrong credentials")
    explorer.fire(block=True)
    assert isinstance(explorer.last_result, WrongCredentials)
    assert "500.001.1001" in explorer.result.value and "what to do" in explorer.result.value


def test_a_retryable_error_survives_the_clients_retries(lab, closing):
    explorer = closing(CodeExplorer(lab))
    explorer.select("500.003.02", "system is busy")
    explorer.fire(block=True)
    assert isinstance(explorer.last_result, SystemBusy)
    assert "safe to retry" in explorer.result.value
    # and the injection does not linger: the next push goes through
    assert lab.push("0708374149", 3, "AFTER", "after").wait(TIMEOUT).result_code == "0"


def test_every_code_can_be_triggered(lab, closing):
    explorer = closing(CodeExplorer(lab, wait_timeout=TIMEOUT))
    for entry in list(explorer.shown):
        explorer.list.value = entry
        explorer.fire(block=True)
        outcome = explorer.last_result
        if entry.kind == "result":
            assert getattr(outcome, "result_code", None) == entry.code, (entry.code, outcome)
        elif entry.name == "transaction_being_processed":
            assert outcome.status == "pending"
        else:
            assert getattr(outcome, "error_code", None) == entry.code, (entry.name, outcome)
            assert outcome.entry.name == entry.name, (entry.name, outcome.entry.name)


def test_selecting_another_code_clears_the_previous_codes_outcome(lab, closing):
    """Issue 18, item 8: the outcome panel kept 1032's callback after 2001 was selected."""
    explorer = closing(CodeExplorer(lab))
    explorer.select("1032")
    explorer.fire(block=True)
    assert "1032" in explorer.result.value
    explorer.search.value = "1032"  # filtering that keeps the same code selected keeps its outcome
    assert "1032" in explorer.result.value
    explorer.search.value = ""
    explorer.select("2001")
    assert explorer.result.value == "", "the outcome panel still shows the previous code's callback"
    explorer.fire(block=True)
    assert "2001" in explorer.result.value


def test_list_lines_have_one_code_column_and_fit_the_box():
    """Every line: the code padded to one column, the message cut at a word with an ellipsis so
    that nothing is clipped by the list's width (a monospace font keeps the column aligned)."""
    from mpesa_lab.widgets.explorer import CODE_COLUMN, LIST_CHARS

    explorer = CodeExplorer()
    for label, entry in explorer.list.options:
        assert label.startswith(f"{entry.code:<{CODE_COLUMN}} "), label
        assert len(label) <= LIST_CHARS, label
        words = label[CODE_COLUMN + 1 :].removesuffix(" (observed)")
        if words.endswith("…"):
            assert entry.message.startswith(words[:-1]) and entry.message[len(words) - 1] in " ,.;:-", label
        else:
            assert words == entry.message
    assert "mpl-code-list" in explorer.list._dom_classes
