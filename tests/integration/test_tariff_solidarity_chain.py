"""Peak pays for off-peak on a real local chain: a tariff with a solidarity component settles days
with peak and off-peak solar, the commons fund's balance moves by exactly its net (it receives the
surcharges beyond the discounts, or pays the discounts beyond the surcharges with the social
service's approval), producers are paid the tariff, and the new lines are proven by the contract."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.demo import dev_account
from ledger.domain.energy.allocation import DefaultKey, StepReadings
from ledger.domain.energy.steps import PARIS, StepLength, day_step_starts
from ledger.energy.settlement import DayLines, LineKind, Settler, day_compute, tariff_book
from ledger.energy.settlement_chain import SocialService
from ledger.energy.settlement_sim import SettlementWorld, build_world
from tests.settle_store import sql_day_store

pytestmark = pytest.mark.chain

PEAK_DAY = date(2025, 6, 15)  # solar all day and night: the peak surcharges pass the discounts
NIGHT_DAY = date(2025, 6, 16)  # solar (a battery's) only off-peak: the fund pays the discounts
PRODUCERS = ("PRM-P1",)
CONSUMERS = ("PRM-C1", "PRM-C2")
OP = 302
M3E = 1_000_000
SURCHARGE, DISCOUNT = 20_000, 15_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    log = tmp_path_factory.mktemp("chain") / "node.log"
    node = DevNode(free_port(), log_path=log, initial_date="2025-05-20T00:00:00Z").start()
    try:
        yield node
    finally:
        node.stop()


def _readings(day: date, off_peak_only: bool) -> dict[datetime, StepReadings]:
    out = {}
    for start in day_step_starts(day, StepLength.MIN15):
        hour = start.astimezone(PARIS).hour
        night = hour >= 22 or hour < 6
        produced = 1_000 if night or not off_peak_only else 0
        out[start] = StepReadings({"PRM-P1": produced}, {"PRM-C1": 400, "PRM-C2": 800})
    return out


def _compute(world: SettlementWorld, day: date, fund_social: Any, off_peak_only: bool) -> Any:
    tariffs = world.chain.tariffs(OP)
    if fund_social is None:  # the same prices without the solidarity component
        tariffs = [replace(t, peak_surcharge=0, off_peak_discount=0) for t in tariffs]
    return day_compute(
        operation_id=OP,
        day=day,
        step=StepLength.MIN15,
        readings=_readings(day, off_peak_only),
        key=DefaultKey(),
        book=tariff_book(tariffs),
        accounts=world.accounts,
        batch_size=2,
        social=fund_social,
    )


def _settle(world: SettlementWorld, store: Path, day: date, off_peak_only: bool) -> DayLines:
    social = world.chain.social_price(world.accounts.values(), 0, day)
    assert social is not None, "the fund granted a programme to this settlement"
    Settler(world.chain, sql_day_store(store), batch_size=2).run(
        OP, day, _compute(world, day, social, off_peak_only)
    )
    return sql_day_store(store).load(OP, day)[1]


def _sum(lines: DayLines, kind: LineKind) -> int:
    return sum(ln.value for ln in lines.lines if ln.kind is kind)


def test_peak_pays_for_off_peak_and_the_fund_moves_by_exactly_its_net(node: DevNode, tmp_path: Path) -> None:
    w3 = connect(node.url)
    council = dev_account(0)  # the dev deployment's admin: the council and the social service
    manifest = deploy_district(w3, council)
    world = build_world(
        w3, manifest, OP, PRODUCERS, CONSUMERS, operator=council, tariff_from=date(2025, 6, 1)
    )
    schedule = world.chain.set_tariff(OP, date(2025, 6, 10), 80_000, 100_000, 60_000, SURCHARGE, DISCOUNT)
    assert schedule == 2
    tariffs = world.chain.tariffs(OP)
    assert [(t.peak_surcharge, t.off_peak_discount) for t in tariffs] == [(0, 0), (SURCHARGE, DISCOUNT)]
    operator = world.operator
    deployed = manifest.contract("CommonsFund")
    fund = operator.client.contract(deployed.address, deployed.abi)
    fund_address = str(fund.address)
    send: Any = operator.client.transact
    send(fund.functions.openProgramme("Peak pays for off-peak", world.chain.address, 50 * M3E))
    send(fund.functions.grantSettlement(1, world.chain.address, OP))
    operator.record_deposit("FUND-GIFT-2", council.address, 100 * M3E)
    send(operator.token.functions.approve(fund.address, 100 * M3E))
    send(fund.functions.contribute(100 * M3E, b"GIFT".ljust(32, b"\0")))
    w3.provider.make_request(
        "evm_setNextBlockTimestamp", [int(datetime(2025, 6, 17, tzinfo=UTC).timestamp())]
    )
    w3.provider.make_request("evm_mine", [])
    everyone = (*world.accounts.values(), fund_address)

    # A day with solar around the clock: the surcharges pass the discounts, the fund receives the
    # difference, with no approval needed (nothing leaves the fund).
    before = {who: world.balance(who) for who in everyone}
    lines = _settle(world, tmp_path, PEAK_DAY, off_peak_only=False)
    surcharges, discounts = _sum(lines, LineKind.SURCHARGE), _sum(lines, LineKind.DISCOUNT)
    assert surcharges > discounts > 0
    assert world.balance(fund_address) - before[fund_address] == surcharges - discounts
    plain = {t.member: t.amount for t in _compute(world, PEAK_DAY, None, False)(1, {}, {}).transfers}
    producer = world.accounts["PRM-P1"]
    assert world.balance(producer) - before[producer] == -plain[producer], "the producer gets the tariff"
    for meter in CONSUMERS:
        who = world.accounts[meter]
        extra = sum(
            ln.value if ln.kind is LineKind.SURCHARGE else -ln.value
            for ln in lines.lines
            if (ln.kind is LineKind.SURCHARGE and ln.payer == who)
            or (ln.kind is LineKind.DISCOUNT and ln.payee == who)
        )
        assert before[who] - world.balance(who) == plain[who] + extra
    assert sum(world.balance(who) for who in everyone) == sum(before.values()), "nothing created or lost"
    for number, ln in enumerate(lines.lines):
        if ln.kind in (LineKind.SURCHARGE, LineKind.DISCOUNT):
            assert world.chain.verify_line(lines, number), f"{ln.kind.name} {ln.index} proven on chain"

    # A day with off-peak solar only: the fund pays the discounts, once the social service checked
    # the lines against the tariff and approved the day.
    world.chain.social_service = SocialService(world.chain.client, 0)
    before = {who: world.balance(who) for who in everyone}
    night = _settle(world, tmp_path, NIGHT_DAY, off_peak_only=True)
    surcharges, discounts = _sum(night, LineKind.SURCHARGE), _sum(night, LineKind.DISCOUNT)
    assert surcharges == 0 and discounts > 0
    assert before[fund_address] - world.balance(fund_address) == discounts
    assert sum(world.balance(who) for who in everyone) == sum(before.values()), "nothing created or lost"
    for number, ln in enumerate(night.lines):
        if ln.kind is LineKind.DISCOUNT:
            assert world.chain.verify_line(night, number)
    call = operator.client.call
    send(fund.functions.recordReceived())
    assert call(fund.functions.spentIn(1, 2025 * 12 + 5)) == discounts, "the month's budget counts the pull"
    assert call(fund.functions.totalIn()) - call(fund.functions.totalOut()) == world.balance(fund_address)
