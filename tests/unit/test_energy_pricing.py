"""Tariff schedules, amounts per pair with carried residues, daily settlement and netting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.energy.allocation import DefaultKey, StepAllocation, allocate
from ledger.domain.energy.errors import (
    NoTariffError,
    PriceOutOfBoundsError,
    RetroactiveTariffError,
    StepError,
    TariffError,
)
from ledger.domain.energy.pricing import (
    Band,
    PriceBounds,
    ResidueLedger,
    TariffBook,
    TariffSchedule,
    TimeBand,
    exact_amount,
    fold_days,
    net_payments,
    pay,
    settle_day,
)
from ledger.domain.energy.steps import StepLength, day_step_starts

DAY = date(2025, 6, 21)


def schedule(
    effective: date, solar: int = 90_000, peak: int = 120_000, off_peak: int = 70_000
) -> TariffSchedule:
    return TariffSchedule(
        effective,
        (
            TimeBand(time(22), time(7), Band.OFF_PEAK, off_peak),
            TimeBand(time(7), time(10), Band.PEAK, peak),
            TimeBand(time(10), time(16), Band.SOLAR, solar),
            TimeBand(time(16), time(22), Band.PEAK, peak),
        ),
    )


def test_a_schedule_must_cover_each_minute_exactly_once() -> None:
    with pytest.raises(TariffError, match="no band at 16:00"):
        TariffSchedule(DAY, (TimeBand(time(0), time(16), Band.SOLAR, 90_000),))
    with pytest.raises(TariffError, match="two bands at 10:00"):
        TariffSchedule(
            DAY,
            (TimeBand(time(0), time(12), Band.SOLAR, 90_000), TimeBand(time(10), time(0), Band.PEAK, 90_000)),
        )
    whole_day = TariffSchedule(
        DAY,
        (
            TimeBand(time(0), time(0, 1), Band.SOLAR, 90_000),
            TimeBand(time(0, 1), time(0), Band.SOLAR, 90_000),
        ),
    )
    assert whole_day.price_at_local(time(23, 59)) == (Band.SOLAR, 90_000)


def test_prices_stay_between_the_feed_in_floor_and_the_avoided_price() -> None:
    with pytest.raises(PriceOutOfBoundsError, match="40000"):
        schedule(DAY, solar=39_999)
    with pytest.raises(PriceOutOfBoundsError, match="163500"):
        schedule(DAY, off_peak=163_501)
    with pytest.raises(PriceOutOfBoundsError, match="208100"):
        schedule(DAY, peak=208_101)
    assert schedule(DAY, solar=195_200, peak=208_100, off_peak=163_500)
    with pytest.raises(TariffError):
        PriceBounds(floor=100_000, ceilings={Band.SOLAR: 90_000, Band.PEAK: 1, Band.OFF_PEAK: 1})


def test_the_band_of_a_step_is_read_on_the_paris_clock() -> None:
    book = TariffBook().add(schedule(DAY))
    assert book.price_at(datetime(2025, 6, 21, 8, 30, tzinfo=UTC)) == (Band.SOLAR, 90_000)
    assert book.price_at(datetime(2025, 6, 21, 7, 45, tzinfo=UTC)) == (Band.PEAK, 120_000)
    assert book.price_at(datetime(2025, 6, 21, 20, 0, tzinfo=UTC)) == (Band.OFF_PEAK, 70_000)
    winter = TariffBook().add(schedule(date(2025, 1, 1)))
    assert winter.price_at(datetime(2025, 1, 15, 9, 0, tzinfo=UTC)) == (Band.SOLAR, 90_000)


def test_the_latest_schedule_effective_on_the_day_is_in_force() -> None:
    book = TariffBook().add(schedule(date(2025, 7, 1), solar=95_000)).add(schedule(DAY))
    assert book.schedule_for(DAY).bands[2].price == 90_000
    assert book.schedule_for(date(2025, 7, 1)).bands[2].price == 95_000
    assert book.schedule_for(date(2026, 1, 1)).bands[2].price == 95_000
    with pytest.raises(NoTariffError):
        book.schedule_for(date(2025, 6, 20))


def test_a_schedule_is_never_retroactive() -> None:
    book = TariffBook().add(schedule(DAY)).mark_settled(DAY)
    for effective in (DAY, DAY - timedelta(days=30)):
        with pytest.raises(RetroactiveTariffError):
            book.add(schedule(effective, solar=80_000))
    later = book.add(schedule(DAY + timedelta(days=1), solar=80_000))
    assert later.schedule_for(DAY).bands[2].price == 90_000
    assert later.mark_settled(DAY - timedelta(days=5)).settled_through == DAY


def test_an_amount_is_whole_micro_euros_and_the_rest_is_carried() -> None:
    assert pay(333, 90_000, 0) == (29_970, 0)
    assert pay(1, 90_001, 0) == (90, 1)
    assert pay(1, 90_001, 999) == (91, 0)
    assert exact_amount(1, 90_001) == Fraction(90_001, 1000)
    with pytest.raises(TariffError):
        pay(1, 90_000, 1000)
    with pytest.raises(TariffError):
        ResidueLedger({("A", "B"): -1})


def _worked_day(day: date = DAY) -> dict[datetime, StepAllocation]:
    result = allocate({"A": 1000}, {"B": 400, "C": 800}, DefaultKey())
    return {start: result for start in day_step_starts(day, StepLength.MIN15)}


def test_a_day_of_the_worked_example_is_paid_per_pair() -> None:
    book = TariffBook().add(schedule(DAY, solar=90_001))
    settled = settle_day(DAY, StepLength.MIN15, _worked_day(), book, ResidueLedger())
    # 24 solar quarter-hours (10:00-16:00) at 90_001, 36 peak at 120_000, 36 off-peak at 70_000
    exact_b = 333 * (24 * 90_001 + 36 * 120_000 + 36 * 70_000)
    assert settled.exact_milli[("A", "B")] == exact_b
    assert settled.amounts[("A", "B")] == exact_b // 1000
    assert settled.residues_after.get(("A", "B")) == exact_b % 1000
    assert settled.energy == {("A", "B"): 333 * 96, ("A", "C"): 667 * 96}
    assert settled.surplus_wh == 0
    assert settled.payable_by_consumer()["B"] == settled.amounts[("A", "B")]
    assert settled.receivable_by_producer()["A"] == settled.total_paid


def test_a_day_with_a_missing_step_stays_open() -> None:
    steps = _worked_day()
    steps.pop(min(steps))
    book = TariffBook().add(schedule(DAY))
    with pytest.raises(StepError, match="stays open: 1 of its 96"):
        settle_day(DAY, StepLength.MIN15, steps, book, ResidueLedger())


def test_a_dst_day_settles_its_100_steps() -> None:
    day = date(2025, 10, 26)
    book = TariffBook().add(schedule(date(2025, 1, 1)))
    settled = settle_day(day, StepLength.MIN15, _worked_day(day), book, ResidueLedger())
    assert settled.energy[("A", "B")] == 333 * 100


def test_netting_pays_only_the_difference_between_two_neighbours() -> None:
    # (producer, consumer) -> amount: B owes A 100, A owes B 30, C owes A 5, A pays itself 7
    amounts = {("A", "B"): 100, ("B", "A"): 30, ("A", "C"): 5, ("A", "A"): 7, ("D", "E"): 0}
    assert net_payments(amounts) == {("B", "A"): 70, ("C", "A"): 5}
    assert net_payments({("A", "B"): 30, ("B", "A"): 30}) == {}


# --- properties: nothing is ever lost ----------------------------------------------------------

prices = st.integers(40_000, 163_500)
pair_steps = st.lists(st.tuples(st.integers(0, 5_000), prices), min_size=0, max_size=100)


@given(pair_steps, st.integers(0, 999))
def test_paid_plus_residue_is_the_exact_total_and_folding_steps_equals_one_division(
    steps: list[tuple[int, int]], residue: int
) -> None:
    paid_total, carried = 0, residue
    for wh, price in steps:
        paid, carried = pay(wh, price, carried)
        paid_total += paid
    exact = sum(exact_amount(wh, price) for wh, price in steps)
    assert paid_total + Fraction(carried, 1000) == exact + Fraction(residue, 1000)
    assert (paid_total, carried) == divmod(sum(wh * p for wh, p in steps) + residue, 1000)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.sampled_from(["P1", "P2", "P3"]), st.integers(0, 400), min_size=1),
            st.dictionaries(st.sampled_from(["C1", "C2", "P1"]), st.integers(0, 400), min_size=1),
            st.integers(40_001, 163_499),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_residues_are_never_lost_over_many_days(
    days: list[tuple[dict[str, int], dict[str, int], int]],
) -> None:
    residues = ResidueLedger()
    book = TariffBook()
    settlements = []
    exact_total = Fraction(0)
    for offset, (production, consumption, price) in enumerate(days):
        day = DAY + timedelta(days=offset)
        book = book.add(schedule(day, solar=price, peak=price, off_peak=price))
        steps = {
            start: allocate(production, consumption, DefaultKey())
            for start in day_step_starts(day, StepLength.MIN30)
        }
        settled = settle_day(day, StepLength.MIN30, steps, book, residues)
        for pair, milli in settled.exact_milli.items():
            before, after = settled.residues_before.get(pair), settled.residues_after.get(pair)
            assert settled.amounts[pair] * 1000 + after == milli + before
        exact_total += sum((Fraction(m, 1000) for m in settled.exact_milli.values()), Fraction(0))
        residues = settled.residues_after
        book = book.mark_settled(day)
        settlements.append(settled)
    paid = sum(fold_days(settlements).values())
    assert paid + residues.total() == exact_total
    assert all(0 < r < 1000 for r in residues.residues.values())
