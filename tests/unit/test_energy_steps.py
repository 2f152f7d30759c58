"""Time steps of a local day and the 15 -> 30 minute aggregation."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.energy.allocation import MISSING, Reading
from ledger.domain.energy.errors import ResolutionError, StepError
from ledger.domain.energy.steps import (
    StepLength,
    aggregate_curve_to_30,
    aggregate_to_30,
    curve_resolution,
    day_series,
    day_step_starts,
    settlement_step,
    to_resolution,
)

SPRING_CHANGE = date(2025, 3, 30)
AUTUMN_CHANGE = date(2025, 10, 26)
ORDINARY = date(2025, 6, 21)


@pytest.mark.parametrize(
    ("day", "quarters", "halves"),
    [(ORDINARY, 96, 48), (SPRING_CHANGE, 92, 46), (AUTUMN_CHANGE, 100, 50)],
)
def test_a_paris_day_has_92_96_or_100_quarter_hours(day: date, quarters: int, halves: int) -> None:
    assert len(day_step_starts(day, StepLength.MIN15)) == quarters
    assert len(day_step_starts(day, StepLength.MIN30)) == halves


def test_steps_start_at_local_midnight_in_utc_and_follow_each_other() -> None:
    starts = day_step_starts(SPRING_CHANGE, StepLength.MIN15)
    assert starts[0] == datetime(2025, 3, 29, 23, 0, tzinfo=UTC)  # 00:00 CET
    assert starts[-1] == datetime(2025, 3, 30, 21, 45, tzinfo=UTC)  # 23:45 CEST
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(starts))
    assert day_step_starts(date(2025, 3, 31), StepLength.MIN15)[0] == starts[-1] + timedelta(minutes=15)


def test_the_whole_operation_settles_at_30_min_when_anyone_only_has_half_hours() -> None:
    assert settlement_step([StepLength.MIN15, StepLength.MIN15]) is StepLength.MIN15
    assert settlement_step([StepLength.MIN15, StepLength.MIN30]) is StepLength.MIN30
    assert settlement_step([]) is StepLength.MIN15


def test_quarter_hours_are_summed_in_pairs_and_a_missing_one_makes_the_half_missing() -> None:
    assert aggregate_to_30((1, 2, 3, 4)) == (3, 7)
    assert aggregate_to_30((1, MISSING, 3, 4)) == (MISSING, 7)
    with pytest.raises(ResolutionError):
        aggregate_to_30((1, 2, 3))


def test_thirty_minutes_are_never_split_into_fifteen() -> None:
    with pytest.raises(ResolutionError):
        to_resolution((10, 20), StepLength.MIN30, StepLength.MIN15)
    assert to_resolution((1, 2), StepLength.MIN15, StepLength.MIN30) == (3,)
    assert to_resolution((1, 2), StepLength.MIN30, StepLength.MIN30) == (1, 2)


def test_an_autumn_day_aggregates_to_50_half_hours() -> None:
    starts = day_step_starts(AUTUMN_CHANGE, StepLength.MIN15)
    curve: dict[datetime, Reading] = {start: 10 for start in starts}
    halves = aggregate_curve_to_30(curve)
    assert list(halves) == list(day_step_starts(AUTUMN_CHANGE, StepLength.MIN30))
    assert set(halves.values()) == {20}


def test_a_half_hour_with_only_one_quarter_is_missing() -> None:
    start = datetime(2025, 6, 21, 10, 0, tzinfo=UTC)
    halves = aggregate_curve_to_30(
        {start: 5, start + timedelta(minutes=30): 6, start + timedelta(minutes=45): 7}
    )
    assert halves == {start: MISSING, start + timedelta(minutes=30): 13}
    with pytest.raises(StepError):
        aggregate_curve_to_30({start + timedelta(minutes=7): 1})


def test_a_curve_with_quarter_past_starts_is_quarter_hourly() -> None:
    start = datetime(2025, 6, 21, 10, 0, tzinfo=UTC)
    assert curve_resolution([start, start + timedelta(minutes=15)]) is StepLength.MIN15
    assert curve_resolution([start, start + timedelta(minutes=30)]) is StepLength.MIN30


def test_a_day_series_puts_missing_where_there_is_no_reading() -> None:
    starts = day_step_starts(ORDINARY, StepLength.MIN30)
    series = day_series({starts[1]: 42}, ORDINARY, StepLength.MIN30)
    assert len(series) == 48
    assert series[1] == 42
    assert series[0] is MISSING
    with pytest.raises(StepError):
        day_series({starts[1] + timedelta(minutes=15): 1}, ORDINARY, StepLength.MIN30)
    with pytest.raises(StepError):
        day_series({datetime(2025, 6, 21, 10, 0): 1}, ORDINARY, StepLength.MIN30)


@given(
    st.lists(st.integers(0, 10_000), min_size=0, max_size=50).map(
        lambda values: values[: len(values) - len(values) % 2]
    )
)
def test_aggregation_keeps_the_energy_of_the_day(quarters: list[int]) -> None:
    halves = aggregate_to_30(tuple(quarters))
    assert len(halves) * 2 == len(quarters)
    assert sum(h for h in halves if isinstance(h, int)) == sum(quarters)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2037, 12, 31)))
def test_every_day_has_96_quarter_hours_except_the_two_clock_changes(day: date) -> None:
    count = len(day_step_starts(day, StepLength.MIN15))
    last_sunday = {3: 92, 10: 100}
    is_change = day.month in last_sunday and day.weekday() == 6 and (day + timedelta(7)).month != day.month
    assert count == (last_sunday[day.month] if is_change else 96)
