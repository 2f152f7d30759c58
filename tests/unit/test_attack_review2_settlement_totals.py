"""Attacks on the settlement totals' privacy promise: no chain event (nor the API or the feed,
which repeat it) gives the day's energy of fewer than 5 homes (MIN_HOMES)."""

from __future__ import annotations

from datetime import datetime

from ledger.domain.energy.allocation import Reading, StepReadings
from ledger.domain.energy.anonymity import MIN_HOMES
from ledger.domain.energy.steps import StepLength, day_step_starts
from ledger.energy.settlement import DayLines, LineKind, transferred_by
from tests.unit.test_settlement_lines import DAY, compute

METERS = {f"home-{n}": "0x" + f"{0xB0 + n:040x}" for n in range(6)}
STEPS = list(day_step_starts(DAY, StepLength.MIN15))


def _day(withdrawals: dict[str, Reading], version: int = 1, **kw: object) -> DayLines:
    """home-0 produces 1000 Wh every step; the others withdraw as given (every step)."""
    readings: dict[datetime, StepReadings] = {
        start: StepReadings({"home-0": 1000}, dict(withdrawals)) for start in STEPS
    }
    return compute(readings=readings, accounts=METERS, version=version, **kw)  # type: ignore[no-any-return]


def _traders(day: DayLines) -> set[str]:
    bought = {ln.payer for ln in day.lines if ln.kind is LineKind.BOUGHT}
    return bought | {ln.payee for ln in day.lines if ln.kind is LineKind.SOLD}


def test_attack_homes_reading_zero_count_among_the_5_homes_of_the_public_totals() -> None:
    """Five members, three of whom withdraw nothing all day (away, or meters reading 0): the
    settlement counts them among the 5 homes and commits the totals, which are then the energy of
    two homes: the producer's production and the single buyer's consumption, each to the Wh."""
    day = _day({"home-1": 300, "home-2": 0, "home-3": 0, "home-4": 0})
    produced, consumed, allocated, _surplus = day.totals.as_tuple()[:4]
    assert len(_traders(day)) == 2
    exposed = (produced, consumed, allocated) == (96 * 1000, 96 * 300, 96 * 300)
    assert not exposed, (
        f"the committed totals {day.totals.as_tuple()[:4]} are the energy of 2 homes "
        "(the producer's production and the one buyer's consumption)"
    )


def test_attack_a_day_of_two_traders_commits_what_the_one_buyer_bought() -> None:
    """Readings of 5 homes, 2 of them trading (the others withdraw only when nothing is produced:
    here, never during the production): the allocated energy on chain is exactly what the one
    buyer bought, a figure of 2 homes; the API withholds it for that reason when it has the
    lines, the chain event and the feed (api.feed, from the event) give it."""
    day = _day({"home-1": 300, "home-2": 0, "home-3": 0, "home-4": 0})
    assert len(_traders(day)) < MIN_HOMES
    bought = [ln.wh for ln in day.lines if ln.kind is LineKind.BOUGHT]
    assert day.totals.allocated_wh == 0 or len(bought) >= MIN_HOMES, (
        f"allocated {day.totals.allocated_wh} Wh committed: the single buyer's energy {bought}"
    )


def test_attack_two_versions_of_a_day_differ_by_one_home() -> None:
    """Version 1: six members, one meter read 0 all day (a reading later corrected); version 2:
    both versions' totals are committed and listed by /v1/settlements/{day}, and their difference
    is that one home's consumption of the day."""
    late = {"home-1": 300, "home-2": 200, "home-3": 250, "home-4": 150}
    v1 = _day({**late, "home-5": 0})
    v2 = _day({**late, "home-5": 170}, version=2, already_transferred=transferred_by([(v1, v1.batch_count)]))
    difference = v2.totals.consumed_wh - v1.totals.consumed_wh
    assert difference != 96 * 170, f"v2 - v1 = {difference} Wh: home-5's consumption of the day"
