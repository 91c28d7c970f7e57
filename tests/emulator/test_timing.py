"""The timing model's distributions: seeded, within their bounds, medians where the source says."""

from __future__ import annotations

import random
import statistics

import pytest

from mpesa_lab.emulator import timing


def _draws(code: str | int, n: int = 2000, seed: int = 7, profile: str = "teaching") -> list[float]:
    rng = random.Random(seed)
    return [timing.draw_delay(code, rng, profile=profile) for _ in range(n)]


@pytest.mark.parametrize("profile", sorted(timing.PROFILES))
def test_every_distribution_stays_within_its_bounds_and_has_its_median(profile: str) -> None:
    for row in timing.table(profile):
        values = _draws(row["code"], profile=profile)
        assert min(values) >= row["low"] and max(values) <= row["high"], row["code"]
        # the median the row states is the median the draws have (within 10 %)
        assert statistics.median(values) == pytest.approx(row["median"], rel=0.1), row["code"]
        assert row["source"] and row["evidence"] in ("observed", "assumption")


def test_seeded_draws_repeat() -> None:
    assert _draws("0", 50, seed=3) == _draws("0", 50, seed=3)
    assert _draws("0", 50, seed=3) != _draws("0", 50, seed=4)


def test_paid_think_time_matches_the_captures() -> None:
    """observed-behaviour.md: paid callbacks 9-16 s after the push; the brief: 5-40 s overall."""
    values = sorted(_draws(0, 4000))
    quartiles = statistics.quantiles(values, n=4)
    assert 5 <= values[0] and values[-1] <= 40
    assert 8.5 <= quartiles[0] <= 10.5 and 11 <= quartiles[1] <= 13 and 14 <= quartiles[2] <= 16.5


def test_1037_comes_about_30_s_after_the_push_in_the_2026_sandbox() -> None:
    values = _draws("1037", profile="live_sandbox_2026")
    assert 28 <= min(values) and max(values) <= 32
    assert statistics.median(values) == pytest.approx(30, abs=0.5)
    assert timing.distribution("1037", profile="live_sandbox_2026").evidence == "observed"


def test_quick_failures_are_quicker_than_any_think_time() -> None:
    for code in ("1025", "17", "E3008", "2028"):
        assert max(_draws(code, 300)) < timing.THINK_PIN.low
    # insufficient funds is answered after the PIN: it takes a think time
    assert statistics.median(_draws("1", 500)) > 10


def test_codes_are_normalised_and_unknown_codes_still_take_time() -> None:
    assert timing.distribution(1032) is timing.distribution("1032")
    assert timing.distribution("sfc_ic0003") is timing.REJECTED
    assert timing.distribution("9999") is timing.UNKNOWN
    with pytest.raises(ValueError, match="timing profile"):
        timing.draw_delay("0", random.Random(1), profile="prod")
    with pytest.raises(ValueError, match="ResultCode"):
        timing.draw_delay(None, random.Random(1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.6, "0.6 s"), (27.4, "27 s"), (90, "1 min 30 s"), (540, "9 min"), (7500, "2 h 5 min")]
)
def test_describe(seconds: float, text: str) -> None:
    assert timing.describe(seconds) == text


def test_the_docs_table_shows_every_distribution_with_its_figures() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "emulator.md").read_text(encoding="utf-8")
    section = doc.split("## Timing: real-world delays")[1].split("\n## ")[0]
    for row in timing.table():
        line = next(
            (
                line
                for line in section.splitlines()
                if line.startswith("| ") and row["code"] in line.split(" | ")[0].strip("| ").split(", ")
            ),
            "",
        )
        assert line, f"docs/emulator.md's Timing table lacks code {row['code']}"
        assert f"| {row['median']:g} | {row['low']:g}-{row['high']:g} |" in line, line
        assert row["evidence"] in line
