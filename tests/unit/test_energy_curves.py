"""The Enedis 30-minute average power into whole Wh: the half Wh of an odd wattage is carried to
the next half-hour, so nothing is refused and nothing is rounded away."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.energy.curves import consecutive_runs, powers_to_wh


def test_odd_watts_carry_their_half_wh_to_the_next_half_hour() -> None:
    run = powers_to_wh(0, [1001, 1001, 1000])
    assert run.energy_wh == (500, 501, 500) and run.carry_out == 0 and run.next_start_ts == 5400
    last = powers_to_wh(0, [1001])
    assert last.energy_wh == (500,) and last.carry_out == 1
    assert powers_to_wh(1800, [3], carry_in=1).energy_wh == (2,)


@given(st.lists(st.integers(0, 10**9), max_size=200), st.integers(0, 1))
def test_the_energy_of_a_run_is_exact_to_the_half_wh(powers: list[int], carry: int) -> None:
    run = powers_to_wh(0, powers, carry)
    assert 2 * sum(run.energy_wh) + run.carry_out == carry + sum(powers)
    assert run.carry_out in (0, 1)
    # each interval is within a half Wh of its own exact energy, never negative
    assert all(abs(2 * e - p) <= 1 for e, p in zip(run.energy_wh, powers, strict=True))


@given(st.lists(st.integers(0, 10**6), min_size=2, max_size=60), st.integers(1, 59))
def test_splitting_a_run_in_two_files_with_the_carry_gives_the_same_wh(powers: list[int], cut: int) -> None:
    cut = min(cut, len(powers) - 1)
    whole = powers_to_wh(0, powers)
    first = powers_to_wh(0, powers[:cut])
    second = powers_to_wh(first.next_start_ts, powers[cut:], first.carry_out)
    assert first.energy_wh + second.energy_wh == whole.energy_wh


def test_runs_are_consecutive_half_hours() -> None:
    assert consecutive_runs([0, 1800, 3600, 9000, 10800]) == [(0, 3), (3, 5)]
    assert consecutive_runs([]) == []
