"""The social energy price on a real local chain: an eligible household's day settles at the
social price, the commons fund pays the producer the difference in the same proven settlement,
within its programme's month; once the month is spent the normal price applies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from api import services
from api.services import Deployment
from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import District
from ledger.chain.governance import deploy_with_plan
from ledger.db.queries_api import ApiQueries
from ledger.demo import DEMO_ELIGIBLE_HOME, DEMO_FUND_GRANT, demo_plan, dev_account, home_account, seed_fund
from ledger.domain.energy.allocation import DefaultKey
from ledger.domain.energy.solidarity import SocialPrice
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import DayLines, LineKind, SettlementError, Settler, day_compute, tariff_book
from ledger.energy.settlement_chain import SocialService
from ledger.energy.settlement_sim import SettlementWorld, build_world, synthetic_day
from ledger.energy.simulator import OPERATION_ID
from tests.integration.indexer.helpers import index_once
from tests.settle_store import sql_day_store

pytestmark = pytest.mark.chain

DAY = date(2025, 6, 15)
NEXT_DAY = date(2025, 6, 16)
PRODUCERS = ("PRM-P1",)
CONSUMERS = ("PRM-C1", "PRM-C2")
OP = 301
M3E = 1_000_000
BUDGET = 50 * M3E
JUNE_2025 = 2025 * 12 + 5
DISCOUNT_BPS = 4_000  # the fund pays 40 % of an eligible household's solar


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    log = tmp_path_factory.mktemp("chain") / "node.log"
    node = DevNode(free_port(), log_path=log, initial_date="2025-05-20T00:00:00Z").start()
    try:
        yield node
    finally:
        node.stop()


def _settle(world: SettlementWorld, store: Path, day: date, social: SocialPrice | None) -> DayLines:
    compute = day_compute(
        operation_id=OP, day=day, step=StepLength.MIN15,
        readings=synthetic_day(day, PRODUCERS, CONSUMERS), key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(OP)), accounts=world.accounts, batch_size=2, social=social,
    )
    Settler(world.chain, sql_day_store(store), batch_size=2).run(OP, day, compute)
    return sql_day_store(store).load(OP, day)[1]


def _normal(world: SettlementWorld, day: date) -> DayLines:
    return day_compute(
        operation_id=OP, day=day, step=StepLength.MIN15,
        readings=synthetic_day(day, PRODUCERS, CONSUMERS), key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(OP)), accounts=world.accounts, batch_size=2,
    )(1, {}, {})


def test_an_eligible_households_day_settles_at_the_social_price_and_the_fund_pays_the_difference(
    node: DevNode, tmp_path: Path
) -> None:
    w3 = connect(node.url)
    council = dev_account(0)  # the dev deployment's admin: the council, and the social service
    manifest = deploy_district(w3, council)
    world = build_world(
        w3, manifest, OP, PRODUCERS, CONSUMERS, operator=council, tariff_from=date(2025, 6, 1)
    )
    operator = world.operator
    deployed = manifest.contract("CommonsFund")
    fund = operator.client.contract(deployed.address, deployed.abi)
    send: Any = operator.client.transact
    send(fund.functions.openProgramme("Social energy price", world.chain.address, BUDGET))
    send(fund.functions.grantSettlement(1, world.chain.address, OP))
    operator.record_deposit("FUND-GIFT-1", council.address, 100 * M3E)
    send(operator.token.functions.approve(fund.address, 100 * M3E))
    send(fund.functions.contribute(100 * M3E, b"GIFT".ljust(32, b"\0")))
    household = world.accounts["PRM-C1"]
    send(fund.functions.setEligibility(household, int(datetime(2025, 12, 31, tzinfo=UTC).timestamp())))
    after_the_days = int(datetime(2025, 6, 17, tzinfo=UTC).timestamp())
    w3.provider.make_request("evm_setNextBlockTimestamp", [after_the_days])
    w3.provider.make_request("evm_mine", [])

    social = world.chain.social_price(world.accounts.values(), DISCOUNT_BPS, DAY)
    assert social is not None
    assert social.eligible == {household} and social.budget_left == BUDGET
    before = {who: world.balance(who) for who in (*world.accounts.values(), str(fund.address))}
    # The oracle's key alone commits the day but cannot pay the fund's line: the second key is missing.
    with pytest.raises(SettlementError, match="social service"):
        _settle(world, tmp_path, DAY, social)
    assert world.balance(str(fund.address)) == before[str(fund.address)], "the fund paid nothing yet"
    # The social service checks the fund's lines and approves the day; the same run then pays it.
    world.chain.social_service = SocialService(world.chain.client, DISCOUNT_BPS)
    lines = _settle(world, tmp_path, DAY, social)
    approved = operator.client.call(
        world.chain.contract.functions.dayApproval(OP, fund.address, 20250615, lines.version)
    )
    assert approved == 0, "the approval is spent by the pull"
    normal = _normal(world, DAY)

    (solidarity,) = [(n, ln) for n, ln in enumerate(lines.lines) if ln.kind is LineKind.SOLIDARITY]
    number, line = solidarity
    bought = next(ln for ln in lines.lines if ln.kind is LineKind.BOUGHT and ln.payer == household)
    assert line.payee == household and line.value == bought.value * DISCOUNT_BPS // 10_000 > 0
    assert world.chain.verify_line(lines, number), "the solidarity line is proven by the contract"
    producer = world.accounts["PRM-P1"]
    paid_normally = {t.member: t.amount for t in normal.transfers}
    assert world.balance(producer) - before[producer] == -paid_normally[producer], "producer paid in full"
    assert before[household] - world.balance(household) == paid_normally[household] - line.value
    other = world.accounts["PRM-C2"]
    assert before[other] - world.balance(other) == paid_normally[other], "not eligible: normal price"
    assert before[str(fund.address)] - world.balance(str(fund.address)) == line.value

    call = operator.client.call
    send(fund.functions.recordReceived())
    assert call(fund.functions.spentIn(1, JUNE_2025)) == line.value
    books = call(fund.functions.totalIn()) - call(fund.functions.totalOut())
    assert books == world.balance(str(fund.address))

    # The council lowers the month's budget to what was spent: the next day is at the normal price.
    send(fund.functions.changeProgramme(1, world.chain.address, line.value, True))
    spent = world.chain.social_price(world.accounts.values(), DISCOUNT_BPS, NEXT_DAY)
    assert spent is not None and spent.budget_left == 0
    household_before = world.balance(household)
    next_lines = _settle(world, tmp_path, NEXT_DAY, spent)
    assert not [ln for ln in next_lines.lines if ln.kind is LineKind.SOLIDARITY]
    normal_next = {t.member: t.amount for t in _normal(world, NEXT_DAY).transfers}
    assert household_before - world.balance(household) == normal_next[household]

    # The fund's report, from the indexed events: the settlement's pull is programme 1's outflow
    # of June, the month's budget is spent, and the books equal the balance.
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    index_once(node.url, manifest_path, database_url, confirmations=0)
    queries = ApiQueries.from_url(database_url, 69003)
    try:
        report = services.fund(queries, Deployment(token=None, contracts=(), fund=str(fund.address).lower()),
                               now=datetime(2025, 6, 17, tzinfo=UTC).timestamp())
    finally:
        queries.close()
    assert [(f.month, f.programme_id, int(f.amount.micro)) for f in report.outflows] == [
        ("2025-06", 1, line.value)]
    (programme,) = report.programmes
    assert programme.budget_spent and programme.left_this_month.micro == "0"
    assert int(report.balance.micro) == world.balance(str(fund.address))
    assert report.not_yet_recorded.micro == "0"


def test_the_demo_opens_the_social_programme_and_finds_one_home_eligible(node: DevNode) -> None:
    w3 = connect(node.url)
    manifest = deploy_with_plan(w3, dev_account(0), demo_plan()).manifest
    operator = District(w3, dev_account(0), manifest)
    assert seed_fund(operator, OPERATION_ID)
    assert not seed_fund(operator, OPERATION_ID), "seeded once"
    deployed = manifest.contract("CommonsFund")
    fund = operator.client.contract(deployed.address, deployed.abi)
    call = operator.client.call
    assert call(operator.token.functions.commonsFund()) == deployed.address
    granted = tuple(call(fund.functions.settlementGrant()))
    assert granted == (manifest.contract("EnergySettlement").address, 1)
    assert call(fund.functions.isEligible(home_account(DEMO_ELIGIBLE_HOME).address))
    assert call(fund.functions.totalIn()) == DEMO_FUND_GRANT
