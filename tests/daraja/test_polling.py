"""wait_for_result against the running emulator: both pending styles are waited out with backoff,
the first final code ends the loop, time running out gives the last pending answer."""

from __future__ import annotations

import pytest

from mpesa_lab.daraja import errors as E
from mpesa_lab.daraja.polling import backoff_delays, wait_for_result

from .test_client_emulator import TEST_PHONE, emulator, emulator_client  # noqa: F401 - the fixture

BOTH_STYLES = pytest.mark.parametrize(
    "emulator",
    [{"interactive": True, "pending_style": "error"}, {"interactive": True, "pending_style": "result"}],
    indirect=True,
    ids=["pending-as-500.001.1001", "pending-as-4999"],
)


@BOTH_STYLES
def test_pending_is_waited_out_with_backoff_until_the_final_code(emulator):  # noqa: F811
    with emulator_client(emulator) as client:
        push = client.stk_push(TEST_PHONE, 10, "POLL1")
        waits: list[float] = []

        def sleep(seconds: float) -> None:  # the customer answers while the loop waits a third time
            waits.append(seconds)
            if len(waits) == 3:
                emulator.answer(push.checkout_request_id, pin="0000")
                emulator.wait_until_final(push.checkout_request_id)

        result = wait_for_result(client, push.checkout_request_id, first_delay=1, factor=2, max_delay=3, sleep=sleep)
    assert (result.status, result.result_code) == ("failed", "2001")
    assert waits == [1, 2, 3]


@BOTH_STYLES
def test_time_running_out_gives_the_last_pending_answer(emulator):  # noqa: F811
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with emulator_client(emulator) as client:
        push = client.stk_push(TEST_PHONE, 10, "POLL2")
        result = wait_for_result(client, push.checkout_request_id, timeout=10, sleep=sleep, clock=lambda: now[0])
    assert result.pending and now[0] == 10


@pytest.mark.parametrize("emulator", [{"interactive": False}], indirect=True)
def test_a_final_answer_ends_it_at_once_and_a_wrong_id_is_raised(emulator):  # noqa: F811
    with emulator_client(emulator) as client:
        push = client.stk_push("254708000000", 10, "POLL3")  # the magic phone that always pays
        emulator.wait_until_final(push.checkout_request_id)
        assert wait_for_result(client, push.checkout_request_id, sleep=pytest.fail).success
        with pytest.raises(E.DarajaError):
            wait_for_result(client, "ws_CO_000000000000000000", sleep=pytest.fail)


def test_backoff_grows_to_its_ceiling():
    delay = backoff_delays(first=2, factor=2, most=15)
    assert [delay(n) for n in range(5)] == [2, 4, 8, 15, 15]
