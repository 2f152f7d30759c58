"""Peak pays for off-peak on a real local chain: a tariff with a solidarity component settles days
with peak and off-peak solar, the commons fund's balance moves by exactly its net (it receives the
surcharges beyond the discounts, or pays the discounts beyond the surcharges with the social
service's approval), producers are paid the tariff, and the new lines are proven by the contract."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.db.settlement_store import settle_store
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


def _surcharge_inflows(w3: Any, fund: str) -> int:
    """What the fund's Inflow events recorded under SOLIDARITY_SURCHARGE."""
    topic = "0x" + keccak(text="Inflow(bytes32,address,uint256)").hex()
    source = "0x" + b"SOLIDARITY_SURCHARGE".ljust(32, b"\0").hex()
    logs = w3.eth.get_logs({"address": fund, "fromBlock": 0, "topics": [topic, source]})
    return sum(int.from_bytes(bytes(log["data"]), "big") for log in logs)


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
    # The fund's books name it: the settlement held the credit until the fund recorded it.
    assert _surcharge_inflows(w3, fund_address) == surcharges - discounts
    assert operator.client.call(world.chain.contract.functions.pool(OP)) == 0
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


def test_the_operator_sets_a_solidarity_tariff_and_settles_with_the_ledger_command(
    node: DevNode, tmp_path: Path
) -> None:
    op = 303
    w3 = connect(node.url)
    council = dev_account(0)
    manifest = deploy_district(w3, council)
    w3.provider.make_request("evm_setNextBlockTimestamp", [int(datetime(2025, 7, 1, tzinfo=UTC).timestamp())])
    w3.provider.make_request("evm_mine", [])
    world = build_world(
        w3, manifest, op, PRODUCERS, CONSUMERS, operator=council, tariff_from=date(2025, 7, 5)
    )
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    env = {
        **os.environ,
        "LEDGER_RPC_URL": node.url,
        "LEDGER_STATE_DIR": str(tmp_path),
        "LEDGER_MANIFEST": str(manifest_path),
        "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
    }
    for name in ("LEDGER_DEPLOYER_KEY", "LEDGER_KEYSTORE", "LEDGER_SOCIAL_SERVICE_KEY"):
        env.pop(name, None)

    def ledger(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "ledger", *args, "--operation", str(op)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)

    tariff = (
        "tariff-set",
        "--from",
        "2025-07-10",
        "--solar",
        "80000",
        "--peak",
        "100000",
        "--off-peak",
        "60000",
    )
    refused = ledger(*tariff, "--peak-surcharge", "108101")
    assert refused.returncode == 1 and "Lower the surcharge or the discount" in refused.stderr
    done = ledger(*tariff, "--peak-surcharge", str(SURCHARGE), "--off-peak-discount", str(DISCOUNT))
    assert done.returncode == 0, done.stderr
    assert "surcharge 20000 and discount 15000" in done.stdout
    assert world.chain.tariffs(op)[-1].peak_surcharge == SURCHARGE

    day = date(2025, 7, 12)
    readings = tmp_path / "readings.csv"
    rows = ["step_start,meter,direction,wh"]
    for start, step in _readings(day, off_peak_only=False).items():
        iso = start.isoformat()
        rows += [f"{iso},{m},export,{wh}" for m, wh in step.injections.items()]
        rows += [f"{iso},{m},import,{wh}" for m, wh in step.withdrawals.items()]
    readings.write_text("\n".join(rows) + "\n")
    participants = tmp_path / "participants.csv"
    participants.write_text("meter,account\n" + "".join(f"{m},{a}\n" for m, a in world.accounts.items()))
    w3.provider.make_request(
        "evm_setNextBlockTimestamp", [int(datetime(2025, 7, 14, tzinfo=UTC).timestamp())]
    )
    w3.provider.make_request("evm_mine", [])
    settle = (
        "settle",
        "--day",
        day.isoformat(),
        "--readings",
        str(readings),
        "--participants",
        str(participants),
    )
    # No fund programme granted to this settlement: the day is refused with what to do.
    no_fund = ledger(*settle)
    assert no_fund.returncode == 1 and "grant a fund programme" in no_fund.stderr + no_fund.stdout

    deployed = manifest.contract("CommonsFund")
    fund = world.operator.client.contract(deployed.address, deployed.abi)
    send: Any = world.operator.client.transact
    send(fund.functions.openProgramme("Peak pays for off-peak", world.chain.address, 50 * M3E))
    send(fund.functions.grantSettlement(1, world.chain.address, op))
    before = world.balance(str(fund.address))
    settled = ledger(*settle, "--json")
    assert settled.returncode == 0, settled.stderr
    lines = settle_store(env["LEDGER_DATABASE_URL"]).load(op, day)[1]
    net = _sum(lines, LineKind.SURCHARGE) - _sum(lines, LineKind.DISCOUNT)
    assert world.balance(str(fund.address)) - before == net > 0, "the fund received its net"
    assert _surcharge_inflows(w3, str(fund.address)) == net
