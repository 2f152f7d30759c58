"""Attacks on the promise that a published district figure never changes (outside review of
issues 11 and 15): the day's step length changes from quarter-hours to half-hours when one
30-minute reading arrives (or back, when it is corrected away), and figures computed afresh at
the new length must never differ from those published at the old one by a home."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api import services_energy
from api.fakes import FakeEnergy, FakeReading, FakeSettlements
from api.ports import SettledDay
from ledger.db.queries_api import CursorInfo
from ledger.domain.energy.allocation import StepReadings
from ledger.domain.energy.steps import StepLength, day_step_starts
from ledger.energy.settlement import DayLines, LineKind
from tests.unit.test_api import build, seeded
from tests.unit.test_api_energy import DAY, NOON, chain_of, day_lines
from tests.unit.test_settlement_lines import DAY as LINES_DAY
from tests.unit.test_settlement_lines import compute

HOMES = [f"0x{n:040x}" for n in range(1, 7)]
LATER = NOON + 7 * 86_400  # every step of the day long closed: final whoever reported


def _quarter(home: str, at: int, value: int) -> FakeReading:
    return FakeReading(home, at, 900, "electricity", "import", value)


def _figure(energy: FakeEnergy, start: str) -> int | None:
    body = services_energy.district(energy, DAY, now=LATER)
    return next(s for s in body.steps if s.start == start).consumption_wh


def test_attack_a_quarter_published_alone_then_a_half_hour_gives_the_other_quarter_away() -> None:
    """10:00 is published (6 homes); 10:15 has only 4 homes and is withheld. A 30-minute reading
    elsewhere in the day switches it to half-hours: the 10:00 half-hour, if published, minus the
    published 10:00 quarter, is the 10:15 quarter of 4 homes."""
    energy = FakeEnergy([_quarter(h, NOON, 100 + n) for n, h in enumerate(HOMES)])
    energy.readings += [_quarter(h, NOON + 900, 50) for h in HOMES[:4]]
    assert _figure(energy, "2025-06-21T10:00:00Z") == sum(100 + n for n in range(6))
    energy.readings.append(FakeReading(HOMES[0], NOON - 9 * 3600, 1800, "electricity", "import", 300))
    body = services_energy.district(energy, DAY, now=LATER)
    half = next(s for s in body.steps if s.start == "2025-06-21T10:00:00Z")
    assert half.consumption_wh is None, "the half-hour gives the withheld quarter of 4 homes away"
    assert {w.reason for w in half.withheld if w.figure == "consumption"} == {"published_at_another_step"}


def test_attack_a_half_hour_published_then_quarters_computed_afresh_differ_by_a_home() -> None:
    """The day was published in half-hours (6 homes at 10:00); the only 30-minute readings are
    then corrected into quarter-hours, one home's quarters missing. The quarters, computed afresh,
    must not be published: their sum would differ from the half-hour by that home."""
    halves = [FakeReading(h, NOON, 1800, "electricity", "import", 200 + n) for n, h in enumerate(HOMES)]
    energy = FakeEnergy(halves)
    assert _figure(energy, "2025-06-21T10:00:00Z") == sum(200 + n for n in range(6))
    energy.readings = [_quarter(h, at, 100) for h in HOMES[1:] for at in (NOON, NOON + 900)]
    quarters = [_figure(energy, "2025-06-21T10:00:00Z"), _figure(energy, "2025-06-21T10:15:00Z")]
    assert quarters == [None, None], f"quarters {quarters} published beside the half-hour"


def test_attack_the_settlement_totals_of_an_operation_of_three_homes_are_public() -> None:
    """An operation of three homes (one prosumer, two buyers): the public settlement day gave
    the two buyers' consumption of the day, a group of 2 where the district figures promise 5,
    and counted whatever their consent to the district aggregates. The public settlement days
    and the feed now give what a day moved, no energy figure."""
    lines = day_lines(1)
    cursor = CursorInfo(50, "0x" + "cd" * 32)
    settled = FakeSettlements([SettledDay(1, DAY, 1, lines, chain_of(lines))], cursor)
    with TestClient(build(seeded(), settlements=settled)) as client:
        body = client.get("/v1/settlements/2025-06-21").json()
        listed = client.get("/v1/settlements").json()
    totals = body["settlements"][0]["totals"]
    assert totals == {"amount": {"micro": "81000", "display": "0.081 M3E"}, "transfers": 2}
    assert "900" not in str(body) and "_wh" not in str(listed), "two homes' consumption is published"


def _homes_day(homes: int) -> DayLines:
    """A day of `homes` homes: one prosumer, the others buying, every step."""
    meters = {f"home-{n}": "0x" + f"{0xA0 + n:040x}" for n in range(homes)}
    buyers = list(meters)[1:]
    readings = {
        start: StepReadings({"home-0": 1000}, {m: 300 for m in buyers})
        for start in day_step_starts(LINES_DAY, StepLength.MIN15)
    }
    return compute(readings=readings, accounts=meters)


@pytest.mark.parametrize("homes", [2, 3, 5, 20])
def test_attack_the_chain_event_of_a_day_carries_no_energy_total(homes: int) -> None:
    """What `commitDay` publishes in its event (the totals, which the feed repeated) is public:
    it carries zeros for the energy (the contract accepts them) and the DAY line agrees, so an
    RPC reader learns what the day moved, never the energy of a few homes (few traders among
    many members, or a home's whole day as the difference of two versions)."""
    day = _homes_day(homes)
    assert day.totals.as_tuple()[:4] == (0, 0, 0, 0)
    assert day.totals.amount > 0 and day.totals.transfers == homes
    assert next(ln for ln in day.lines if ln.kind is LineKind.DAY).wh == 0
    assert sum(ln.wh for ln in day.lines if ln.kind is LineKind.STEP) > 0  # the tree keeps them
