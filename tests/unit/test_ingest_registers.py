"""Cumulative registers to interval energy: rollover, replacement, resets and gaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.energy.ingest import RegisterSample, registers_to_intervals

S = 900
T = 1_750_000_500 - 1_750_000_500 % S


def _run(samples: list[RegisterSample], **kw: object):  # type: ignore[no-untyped-def]
    return registers_to_intervals(
        samples,
        S,
        modulus=kw.get("modulus", 100_000),  # type: ignore[arg-type]
        max_per_step=3_000,
        replacements=kw.get("replacements"),
    )  # type: ignore[arg-type]


def test_consecutive_indexes_give_interval_energy() -> None:
    intervals, gaps = _run(
        [RegisterSample(T, 100, "A"), RegisterSample(T + S, 350, "A"), RegisterSample(T + 2 * S, 350, "A")]
    )
    assert intervals == [(T, 250), (T + S, 0)] and gaps == []


def test_a_rollover_wraps_around_the_modulus() -> None:
    intervals, gaps = _run([RegisterSample(T, 99_900, "A"), RegisterSample(T + S, 150, "A")])
    assert intervals == [(T, 250)] and gaps == []


def test_a_register_going_back_too_far_is_a_reset_and_stays_missing() -> None:
    intervals, gaps = _run([RegisterSample(T, 50_000, "A"), RegisterSample(T + S, 10, "A")])
    assert intervals == [] and "reset" in gaps[0].reason


def test_a_replaced_meter_without_indexes_leaves_a_gap() -> None:
    intervals, gaps = _run([RegisterSample(T, 5_000, "A"), RegisterSample(T + S, 20, "B")])
    assert intervals == [] and "replaced" in gaps[0].reason


def test_a_replaced_meter_with_final_and_initial_indexes_is_exact() -> None:
    intervals, gaps = _run(
        [RegisterSample(T, 5_000, "A"), RegisterSample(T + S, 120, "B"), RegisterSample(T + 2 * S, 200, "B")],
        replacements={T + 400: (5_100, 0)},
    )
    assert intervals == [(T, 100 + 120), (T + S, 80)] and gaps == []


def test_samples_further_apart_are_never_split() -> None:
    intervals, gaps = _run([RegisterSample(T, 0, "A"), RegisterSample(T + 3 * S, 900, "A")])
    assert intervals == [] and gaps[0].end_ts - gaps[0].start_ts == 3 * S


@given(
    st.lists(st.integers(min_value=0, max_value=3_000), min_size=1, max_size=50),
    st.integers(min_value=0, max_value=99_999),
)
def test_interval_energy_sums_to_the_index_difference_modulo_rollover(steps: list[int], first: int) -> None:
    samples = [RegisterSample(T, first, "A")]
    index = first
    for n, wh in enumerate(steps, start=1):
        index = (index + wh) % 100_000
        samples.append(RegisterSample(T + n * S, index, "A"))
    intervals, gaps = _run(samples)
    assert gaps == [] and [wh for _, wh in intervals] == steps
