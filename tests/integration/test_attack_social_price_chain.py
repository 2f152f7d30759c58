"""Attacks on the social energy price, on a real local chain: the fund's programme promises more
than the fund holds, and a household found eligible after a day is subsidised for that day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.demo import dev_account
from ledger.domain.energy.allocation import DefaultKey
from ledger.domain.energy.solidarity import SocialPrice
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import (
    DayLines,
    LineKind,
    SettlementError,
    Settler,
    day_compute,
    tariff_book,
)
from ledger.energy.settlement_chain import SocialService
from ledger.energy.settlement_sim import SettlementWorld, build_world, synthetic_day
from tests.settle_store import sql_day_store

pytestmark = pytest.mark.chain

DAY = date(2025, 6, 15)
PRODUCERS = ("PRM-P1",)
CONSUMERS = ("PRM-C1", "PRM-C2")
OP = 302
M3E = 1_000_000
BUDGET = 50 * M3E
DISCOUNT_BPS = 4_000
JUNE_2025 = 2025 * 12 + 5
UNTIL_THE_YEAR_END = int(datetime(2025, 12, 31, tzinfo=UTC).timestamp())


@pytest.fixture
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    log = tmp_path_factory.mktemp("chain") / "node.log"
    node = DevNode(free_port(), log_path=log, initial_date="2025-05-20T00:00:00Z").start()
    try:
        yield node
    finally:
        node.stop()


def _move_chain_to(w3: Any, moment: datetime) -> None:
    """Mine a block at `moment` unless the chain is already past it (time never goes back)."""
    target = int(moment.timestamp())
    if int(w3.eth.get_block("latest")["timestamp"]) < target:
        w3.provider.make_request("evm_setNextBlockTimestamp", [target])
        w3.provider.make_request("evm_mine", [])


def _world_with_programme(w3: Any) -> tuple[SettlementWorld, Any]:
    council = dev_account(0)
    manifest = deploy_district(w3, council)
    world = build_world(
        w3, manifest, OP, PRODUCERS, CONSUMERS, operator=council, tariff_from=date(2025, 6, 1)
    )
    deployed = manifest.contract("CommonsFund")
    fund = world.operator.client.contract(deployed.address, deployed.abi)
    send: Any = world.operator.client.transact
    send(fund.functions.openProgramme("Social energy price", world.chain.address, BUDGET))
    send(fund.functions.grantSettlement(1, world.chain.address, OP))
    # The dev deployment's admin is also the social service: it approves the fund's part of a day.
    world.chain.social_service = SocialService(world.chain.client, DISCOUNT_BPS)
    return world, fund


def _settle(world: SettlementWorld, store: Path, day: date, social: SocialPrice | None) -> DayLines:
    compute = day_compute(
        operation_id=OP, day=day, step=StepLength.MIN15,
        readings=synthetic_day(day, PRODUCERS, CONSUMERS), key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(OP)), accounts=world.accounts, batch_size=2, social=social,
    )
    Settler(world.chain, sql_day_store(store), batch_size=2).run(OP, day, compute)
    return sql_day_store(store).load(OP, day)[1]


def _normal_transfers(world: SettlementWorld, day: date) -> dict[str, int]:
    lines = day_compute(
        operation_id=OP, day=day, step=StepLength.MIN15,
        readings=synthetic_day(day, PRODUCERS, CONSUMERS), key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(OP)), accounts=world.accounts, batch_size=2,
    )(1, {}, {})
    return {t.member: t.amount for t in lines.transfers}


def test_attack_a_programme_budget_above_what_the_fund_holds_leaves_the_producer_unpaid(
    node: DevNode, tmp_path: Path
) -> None:
    # The council's budget is 50 M3E a month, but the fund holds 1 micro-M3E: the discount must
    # stop at what the fund can actually pay, or the producer is paid short in the settlement.
    w3 = connect(node.url)
    world, fund = _world_with_programme(w3)
    council = world.operator
    council.record_deposit("FUND-GIFT-ATTACK", council.client.address, 1)
    council.client.transact(council.token.functions.approve(fund.address, 1))
    council.client.transact(fund.functions.contribute(1, b"GIFT".ljust(32, b"\0")))
    household = world.accounts["PRM-C1"]
    council.client.transact(fund.functions.setEligibility(household, UNTIL_THE_YEAR_END))
    _move_chain_to(w3, datetime(2025, 6, 17, tzinfo=UTC))

    social = world.chain.social_price(world.accounts.values(), DISCOUNT_BPS, DAY)
    assert social is not None and social.eligible == {household}
    assert social.budget_left <= world.balance(str(fund.address)), "the fund cannot promise what it lacks"
    producer = world.accounts["PRM-P1"]
    before = world.balance(producer)
    lines = _settle(world, tmp_path, DAY, social)
    paid_normally = -_normal_transfers(world, DAY)[producer]
    assert world.balance(producer) - before == paid_normally, "producer paid in full"
    assert not [t for t in lines.transfers if t.member == str(fund.address) and t.amount > 1]


def test_attack_a_household_found_eligible_after_the_day_is_not_subsidised_for_it(
    node: DevNode, tmp_path: Path
) -> None:
    # The social service records the household on the 17th; the 15th is settled late, on the
    # 18th: the household was not eligible on the 15th, so it pays the normal price for it.
    w3 = connect(node.url)
    world, fund = _world_with_programme(w3)
    council = world.operator
    council.record_deposit("FUND-GIFT-ATTACK-2", council.client.address, 100 * M3E)
    council.client.transact(council.token.functions.approve(fund.address, 100 * M3E))
    council.client.transact(fund.functions.contribute(100 * M3E, b"GIFT".ljust(32, b"\0")))
    household = world.accounts["PRM-C1"]
    _move_chain_to(w3, datetime(2025, 6, 17, 9, tzinfo=UTC))
    council.client.transact(fund.functions.setEligibility(household, UNTIL_THE_YEAR_END))
    _move_chain_to(w3, datetime(2025, 6, 18, tzinfo=UTC))

    social = world.chain.social_price(world.accounts.values(), DISCOUNT_BPS, DAY)
    assert social is not None
    assert household not in social.eligible, "eligible only from the 17th"
    before = world.balance(household)
    lines = _settle(world, tmp_path, DAY, social)
    assert not [ln for ln in lines.lines if ln.kind is LineKind.SOLIDARITY]
    assert before - world.balance(household) == _normal_transfers(world, DAY)[household]
    # ... and from the day it became eligible on, it is.
    later = world.chain.social_price(world.accounts.values(), DISCOUNT_BPS, date(2025, 6, 17))
    assert later is not None and later.eligible == {household}


def test_attack_a_pull_on_the_months_last_day_is_counted_in_that_month_not_the_next(
    node: DevNode, tmp_path: Path
) -> None:
    # The settlement pays late on 30 June; the fund records the pull only when it next looks,
    # on 1 July: June's books would miss it and July's budget would pay for June.
    w3 = connect(node.url)
    world, fund = _world_with_programme(w3)
    council = world.operator
    council.record_deposit("FUND-GIFT-ATTACK-3", council.client.address, 100 * M3E)
    council.client.transact(council.token.functions.approve(fund.address, 100 * M3E))
    council.client.transact(fund.functions.contribute(100 * M3E, b"GIFT".ljust(32, b"\0")))
    household = world.accounts["PRM-C1"]
    council.client.transact(fund.functions.setEligibility(household, UNTIL_THE_YEAR_END))
    _move_chain_to(w3, datetime(2025, 6, 30, 23, tzinfo=UTC))

    social = world.chain.social_price(world.accounts.values(), DISCOUNT_BPS, DAY)
    assert social is not None and social.eligible == {household}
    lines = _settle(world, tmp_path, DAY, social)
    (subsidy,) = [ln.value for ln in lines.lines if ln.kind is LineKind.SOLIDARITY]
    _move_chain_to(w3, datetime(2025, 7, 1, 1, tzinfo=UTC))
    council.client.transact(fund.functions.refreshSettlementAllowance())
    call = council.client.call
    assert call(fund.functions.spentIn(1, JUNE_2025)) == subsidy, "June's pull is June's outflow"
    assert call(fund.functions.spentIn(1, JUNE_2025 + 1)) == 0, "July's budget is whole"


def test_attack_an_oracle_that_helps_a_household_the_social_service_never_made_eligible_moves_nothing(
    node: DevNode, tmp_path: Path
) -> None:
    # The settlement service computes the day with a forged social price (a household nobody made
    # eligible): the social service checks the SOLIDARITY lines against the fund's own records
    # and refuses to approve, so the fund's batch is never paid.
    w3 = connect(node.url)
    world, fund = _world_with_programme(w3)
    council = world.operator
    council.record_deposit("FUND-GIFT-ATTACK-4", council.client.address, 100 * M3E)
    council.client.transact(council.token.functions.approve(fund.address, 100 * M3E))
    council.client.transact(fund.functions.contribute(100 * M3E, b"GIFT".ljust(32, b"\0")))
    _move_chain_to(w3, datetime(2025, 6, 17, tzinfo=UTC))
    honest = world.chain.social_price(world.accounts.values(), DISCOUNT_BPS, DAY)
    assert honest is not None and honest.eligible == frozenset()
    forged = SocialPrice(honest.fund, frozenset({world.accounts["PRM-C2"]}), DISCOUNT_BPS, honest.budget_left)
    held = world.balance(str(fund.address))
    with pytest.raises(SettlementError, match="not eligible"):
        _settle(world, tmp_path, DAY, forged)
    assert world.balance(str(fund.address)) == held, "the fund paid nothing"
