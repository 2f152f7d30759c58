"""Settling a day of solar sharing on a real local chain: commit, pay, prove, correct."""

from __future__ import annotations

import json
import subprocess
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
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import (
    DayLines,
    LineKind,
    Settler,
    day_compute,
    tariff_book,
    verify_offline,
)
from ledger.energy.settlement_sim import SettlementWorld, build_world, synthetic_day
from ledger.errors import ContractRuleError
from tests.settle_store import sql_day_store

DAY = date(2025, 6, 15)
PRODUCERS = ("PRM-P1", "PRM-P2")
CONSUMERS = ("PRM-C1", "PRM-C2", "PRM-C3", "PRM-C4")
ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = range(101, 111)


@pytest.fixture(scope="module")
def settlement_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    """A chain whose clock starts before the tariff (2025-06-01): tariffs are never retroactive."""
    log = tmp_path_factory.mktemp("chain") / "node.log"
    node = DevNode(free_port(), log_path=log, initial_date="2025-05-20T00:00:00Z").start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def worlds(settlement_node: DevNode) -> dict[int, SettlementWorld]:
    """One operation per test, tariffs set while the clock is in May, then the clock moves past DAY."""
    w3 = connect(settlement_node.url)
    manifest = deploy_district(w3, dev_account(0))
    out = {
        op: build_world(
            w3, manifest, op, PRODUCERS, CONSUMERS, operator=dev_account(0), tariff_from=date(2025, 6, 1)
        )
        for op in OPERATIONS
    }
    advance_clock(w3, datetime(2025, 6, 17, tzinfo=UTC))
    return out


def advance_clock(w3: Any, to: datetime) -> None:
    w3.provider.make_request("evm_setNextBlockTimestamp", [int(to.timestamp())])
    w3.provider.make_request("evm_mine", [])


def settle(
    world: SettlementWorld,
    store_dir: Path,
    readings: dict | None = None,  # type: ignore[type-arg]
    batch: int = 2,
):  # type: ignore[no-untyped-def]
    compute = day_compute(
        operation_id=world.operation_id,
        day=DAY,
        step=StepLength.MIN15,
        readings=readings or synthetic_day(DAY, PRODUCERS, CONSUMERS),
        key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(world.operation_id)),
        accounts=world.accounts,
        batch_size=batch,
    )
    return Settler(world.chain, sql_day_store(store_dir), batch_size=batch).run(
        world.operation_id, DAY, compute
    )


def expected_moves(lines: DayLines) -> dict[str, int]:
    """Balance changes the member lines ask for (a member line > 0 is paid by the member)."""
    delta: dict[str, int] = {}
    for t in lines.transfers:
        delta[t.member] = delta.get(t.member, 0) - t.amount
    return delta


def test_a_full_day_settles_on_chain_and_each_member_moves_its_total_once(
    worlds: dict[int, SettlementWorld], tmp_path: Path
) -> None:
    world = worlds[101]
    before = {a: world.balance(a) for a in world.accounts.values()}
    result = settle(world, tmp_path)
    lines = sql_day_store(tmp_path).load(101, DAY)[1]
    assert result.version == 1 and result.committed_now
    assert result.root == lines.root
    # one line per member, not per pair
    assert lines.totals.transfers == len(CONSUMERS) + len(PRODUCERS)
    assert result.paid_up_to == 3 and result.shortfall == 0  # 6 lines by 2
    assert result.paid == lines.totals.amount > 0
    moves = expected_moves(lines)
    for account, start in before.items():
        assert world.balance(account) == start + moves.get(account, 0)
    assert world.chain.pool(101) == 0
    # the money moved is the sum of the pair lines of the day, and the energy adds up
    pairs = [ln for ln in lines.lines if ln.kind is LineKind.PAIR]
    assert sum(ln.value for ln in pairs) == lines.totals.amount
    steps = [ln for ln in lines.lines if ln.kind is LineKind.STEP]
    assert sum(ln.wh for ln in steps) == sum(ln.wh for ln in pairs) > 0
    # the committed (public) totals carry no energy figure: it stays in the lines
    assert lines.totals.as_tuple()[:4] == (0, 0, 0, 0)
    assert world.chain.commitment(101, DAY, 1).totals.as_tuple()[:4] == (0, 0, 0, 0)


def test_a_batch_other_than_the_committed_one_reverts_whole_even_before_the_last(
    worlds: dict[int, SettlementWorld], tmp_path: Path
) -> None:
    """Finding 1: batch 0 of 3 used to be paid unchecked; now it must prove itself."""
    world = worlds[109]
    compute = day_compute(
        operation_id=world.operation_id,
        day=DAY,
        step=StepLength.MIN15,
        readings=synthetic_day(DAY, PRODUCERS, CONSUMERS),
        key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(world.operation_id)),
        accounts=world.accounts,
        batch_size=2,
    )
    lines = compute(1, {}, {})
    store = sql_day_store(tmp_path)
    store.save(lines)
    world.chain.wait_commit(world.chain.send_commit(lines))
    members, proof = lines.batch(0)
    # an off-list member (a consumer of another operation) pulled in place of a listed one
    outsider = worlds[110].accounts["PRM-C1"]
    forged = [replace(members[0], member=outsider), *members[1:]]
    # same lines, another order; and one micro-M3E more
    swapped = [members[1], members[0]]
    more = [replace(members[0], amount=members[0].amount + 1), members[1]]
    before = {a: world.balance(a) for a in [*world.accounts.values(), outsider]}
    fn = world.chain.contract.functions.pay
    for bad in (forged, swapped, more):
        args = [(t.member, t.amount) for t in bad]
        with pytest.raises(ContractRuleError, match="not a batch of the committed root"):
            world.chain.client.transact(fn(world.operation_id, 20250615, 1, 0, args, proof))
    assert {a: world.balance(a) for a in before} == before
    assert world.chain.commitment(world.operation_id, DAY, 1).next_batch == 0
    # the stored lines pay and close it
    result = Settler(world.chain, store, batch_size=2).run(world.operation_id, DAY, compute)
    assert not result.committed_now and result.paid_up_to == 3
    assert world.chain.commitment(world.operation_id, DAY, 1).closed


def test_running_the_same_day_again_pays_nothing_more(
    worlds: dict[int, SettlementWorld], tmp_path: Path
) -> None:
    world = worlds[102]
    settle(world, tmp_path)
    balances = {a: world.balance(a) for a in world.accounts.values()}
    again = settle(world, tmp_path)
    assert again.nothing_to_do and not again.batches and again.version == 1
    assert {a: world.balance(a) for a in world.accounts.values()} == balances


def test_a_consumer_short_of_funds_owes_its_line_which_is_never_counted_as_paid(
    worlds: dict[int, SettlementWorld], tmp_path: Path
) -> None:
    world = worlds[103]
    poor = world.consumers["PRM-C2"]
    from ledger.chain.district import District

    resident = District(world.chain.client.w3, poor, world.operator.manifest)
    resident.transfer(world.accounts["PRM-C1"], resident.balance_of(poor.address))
    before = {a: world.balance(a) for a in world.accounts.values()}
    result = settle(world, tmp_path, batch=100)
    lines = sql_day_store(tmp_path).load(103, DAY)[1]
    owed_by_poor = sum(t.amount for t in lines.transfers if t.member == poor.address)
    assert owed_by_poor > 0
    assert {s.payer for s in result.shortfalls} == {poor.address}
    assert result.shortfall == owed_by_poor
    assert world.chain.member_account(103, poor.address)[3] == owed_by_poor  # owed on chain
    # the producers were paid what the pool held; the rest stays due to them
    due = sum(-world.chain.member_account(103, world.accounts[p])[3] for p in PRODUCERS)
    assert due == owed_by_poor and world.chain.pool(103) == 0
    assert world.chain.shortfall_members(103) == [poor.address]
    # once funded again, the oracle collects it, and anyone releases what is due
    world.operator.record_deposit("SHORT-103", poor.address, owed_by_poor)
    world.chain.client.transact(world.chain.contract.functions.collect(103, poor.address))
    for p in PRODUCERS:
        if world.chain.member_account(103, world.accounts[p])[3] < 0:
            world.chain.client.transact(world.chain.contract.functions.release(103, world.accounts[p]))
    moves = expected_moves(lines)
    for account, start in before.items():
        extra = owed_by_poor if account == poor.address else 0
        assert world.balance(account) == start + moves.get(account, 0) + extra


def test_every_line_of_an_account_proves_against_the_root_in_python_on_chain_and_in_js(
    worlds: dict[int, SettlementWorld], tmp_path: Path
) -> None:
    world = worlds[104]
    settle(world, tmp_path)
    lines = sql_day_store(tmp_path).load(104, DAY)[1]
    on_chain = world.chain.commitment(104, DAY, 1)
    account = world.accounts["PRM-C3"]
    mine = lines.lines_of(account)
    kinds = {ln.kind for _, ln in mine}
    assert {LineKind.STEP, LineKind.PAIR, LineKind.TRANSFER, LineKind.BOUGHT} <= kinds
    for number, _ in mine[:: max(1, len(mine) // 12)]:
        assert verify_offline(lines, number, on_chain.root)
        assert world.chain.verify_line(lines, number)
    # a line with one Wh more does not verify
    number, line = mine[0]
    forged = DayLines(lines.operation_id, DAY, 1, 15, lines.lines, lines.totals)
    assert not verify_offline(
        DayLines(
            lines.operation_id,
            DAY,
            1,
            15,
            tuple(
                ln
                if n != number
                else type(ln)(ln.kind, ln.index, ln.time, ln.payer, ln.payee, ln.wh + 1, ln.value)
                for n, ln in enumerate(lines.lines)
            ),
            lines.totals,
        ),
        number,
        on_chain.root,
    )
    assert forged.root == lines.root
    # the JS library (StandardMerkleTree.verify) accepts the stored proof against the on-chain root
    data = lines.to_json()
    sample = data["lines"][number]
    script = (
        "const {StandardMerkleTree} = require('@openzeppelin/merkle-tree');"
        "const d = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(StandardMerkleTree.verify(d.root, d.types, d.leaf, d.proof));"
    )
    leaf = [int(line.kind), line.index, line.time, line.payer, line.payee, line.wh, str(line.value)]
    payload = {
        "root": "0x" + on_chain.root.hex(),
        "types": ["uint8", "uint32", "uint64", "address", "address", "uint64", "uint256"],
        "leaf": leaf,
        "proof": sample["proof"],
    }
    out = subprocess.run(
        [str(ROOT / "node_modules/.bin/node"), "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert out.stdout.strip() == "true"


def test_revised_readings_commit_version_two_paying_only_the_difference(
    worlds: dict[int, SettlementWorld], tmp_path: Path
) -> None:
    world = worlds[105]
    first = synthetic_day(DAY, PRODUCERS, CONSUMERS)
    settle(world, tmp_path, readings=first)
    v1 = sql_day_store(tmp_path).load(105, DAY)[1]
    after_v1 = {a: world.balance(a) for a in world.accounts.values()}
    # the distributor revises consumer C1 upwards at noon: it bought more, others less
    revised = dict(first)
    noon = sorted(revised)[48]
    step = revised[noon]
    revised[noon] = StepReadings(
        dict(step.injections),
        {**dict(step.withdrawals), "PRM-C1": int(step.withdrawals["PRM-C1"]) + 400},  # type: ignore[call-overload]
    )
    result = settle(world, tmp_path, readings=revised)
    assert result.version == 2 and result.committed_now
    v2 = sql_day_store(tmp_path).load(105, DAY)[2]
    assert 0 < v2.totals.transfers
    c1 = world.accounts["PRM-C1"]
    assert any(t.member == c1 and t.amount > 0 for t in v2.transfers)
    moves = expected_moves(v2)
    for account, start in after_v1.items():
        assert world.balance(account) == start + moves.get(account, 0)
    # v1 + v2 moved exactly what the revised day owes, member by member
    full = day_compute(
        operation_id=105,
        day=DAY,
        step=StepLength.MIN15,
        readings=revised,
        key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(105)),
        accounts=world.accounts,
    )(1, v1.residues_before, {})
    total = expected_moves(v1)
    for account, amount in expected_moves(v2).items():
        total[account] = total.get(account, 0) + amount
    assert {a: v for a, v in total.items() if v} == {a: v for a, v in expected_moves(full).items() if v}
    # and a third run has nothing to do
    assert settle(world, tmp_path, readings=revised).nothing_to_do


def test_a_correction_that_lowers_a_consumers_allocation_refunds_it_on_chain(
    worlds: dict[int, SettlementWorld], tmp_path: Path
) -> None:
    """Finding 2: the refund used to be recorded as a shortfall and counted as settled."""
    world = worlds[106]
    first = synthetic_day(DAY, PRODUCERS, CONSUMERS)
    settle(world, tmp_path, readings=first)
    c1 = world.accounts["PRM-C1"]
    after_v1 = world.balance(c1)
    # the distributor revises C1's consumption down by half all day: C1 was allocated too much
    revised = {
        start: StepReadings(
            dict(r.injections),
            {**dict(r.withdrawals), "PRM-C1": int(r.withdrawals["PRM-C1"]) // 2},  # type: ignore[call-overload]
        )
        for start, r in first.items()
    }
    result = settle(world, tmp_path, readings=revised)
    v2 = sql_day_store(tmp_path).load(106, DAY)[2]
    refund = -next(t.amount for t in v2.transfers if t.member == c1)
    assert refund > 0 and result.shortfall == 0
    assert world.balance(c1) == after_v1 + refund, "the consumer got the difference back on chain"
    assert world.chain.member_account(106, c1)[3] == 0 and world.chain.pool(106) == 0
