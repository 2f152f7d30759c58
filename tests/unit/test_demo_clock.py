"""The demo's new chain starts its clock far enough back that the demo tariff, which must precede
the simulated past days, is still in the future by the chain's clock whatever the wall-clock hour
(a demo started at 22:00 UTC once failed: its chain began 61 days back, two hours after the start
of the tariff's day as the contract reckons it)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ledger.demo import demo_chain_start, demo_tariff_day, first_tariff_day

# EnergySettlement.setTariff: a schedule must start after the chain's clock, where its start is
# the effective day's midnight UTC less PARIS_MAX_OFFSET (2 hours), Paris being at most UTC+2.
PARIS_MAX_OFFSET = timedelta(hours=2)
# far more than deploying and seeding ever take, even on a loaded machine
SEEDING = timedelta(hours=6)


def _contract_starts_at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - PARIS_MAX_OFFSET


WALL_CLOCKS = [
    datetime(2026, 12, 2, 0, 0, tzinfo=UTC) + timedelta(minutes=15 * step) for step in range(96)
] + [
    datetime(2026, 12, 2, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 29, 23, 30, tzinfo=UTC),  # the night France moves to summer time
    datetime(2028, 2, 29, 22, 1, tzinfo=UTC),  # a leap day
]


@pytest.mark.parametrize("now", WALL_CLOCKS, ids=lambda now: now.strftime("%Y-%m-%dT%H:%M:%S"))
def test_the_demo_tariff_starts_after_the_new_chain_clock_at_any_hour(now: datetime) -> None:
    chain_start = datetime.strptime(demo_chain_start(now), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    tariff_day = demo_tariff_day(now)
    assert chain_start + SEEDING < _contract_starts_at(tariff_day), (
        f"started at {now}, the chain's clock ({chain_start}) plus seeding reaches the start of the "
        f"tariff of {tariff_day}"
    )
    # and the tariff still precedes the 60 simulated past days
    assert tariff_day <= now.date() - timedelta(days=60)


@pytest.mark.parametrize("now", WALL_CLOCKS, ids=lambda now: now.strftime("%Y-%m-%dT%H:%M:%S"))
def test_on_a_chain_running_on_the_wall_clock_the_tariff_takes_the_first_day_still_ahead(
    now: datetime,
) -> None:
    """A chain reloaded from its state file (or one the demo did not start) runs on the wall
    clock: 60 days back is past there, and the contract would refuse it (the demo then failed at
    every start until its chain was removed)."""
    chain_time = int(now.timestamp())
    day = first_tariff_day(chain_time, now)
    assert _contract_starts_at(day) > now + timedelta(minutes=10), (now, day)
    assert day <= now.date() + timedelta(days=2)
    # on the demo's own new chain, the 60 days back are kept
    started = datetime.strptime(demo_chain_start(now), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert first_tariff_day(int(started.timestamp()), now) == demo_tariff_day(now)
