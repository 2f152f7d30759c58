"""Settling a day of solar sharing on a real local chain: commit, pay, prove, correct."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode
from ledger.chain.manifest import Manifest
from ledger.demo import dev_account
from ledger.domain.energy.allocation import DefaultKey, StepReadings
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import (
    DayLines,
    JsonDayStore,
    LineKind,
    Settler,
    day_compute,
    tariff_book,
    verify_offline,
)
from ledger.energy.settlement_sim import SettlementWorld, build_world, synthetic_day
from ledger.errors import ContractRuleError

DAY = date(2025, 6, 15)
PRODUCERS = ("PRM-P1", "PRM-P2")
CONSUMERS = ("PRM-C1", "PRM-C2", "PRM-C3", "PRM-C4")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest(chain_node: DevNode) -> Manifest:
    return deploy_district(connect(chain_node.url), dev_account(0))


def world_for(chain_node: DevNode, manifest: Manifest, operation_id: int, **kw: object) -> SettlementWorld:
    return build_world(
        connect(chain_node.url),
        manifest,
        operation_id,
        PRODUCERS,
        CONSUMERS,
        operator=dev_account(0),
        tariff_from=date(2025, 6, 1),
        **kw,  # type: ignore[arg-type]
    )


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
    )
    return Settler(world.chain, JsonDayStore(store_dir), batch_size=batch).run(
        world.operation_id, DAY, compute
    )


def expected_moves(lines: DayLines) -> dict[str, int]:
    delta: dict[str, int] = {}
    for t in lines.transfers:
        delta[t.payer] = delta.get(t.payer, 0) - t.amount
        delta[t.payee] = delta.get(t.payee, 0) + t.amount
    return delta


def test_a_full_day_settles_on_chain_and_balances_move_exactly_as_the_lines_say(
    chain_node: DevNode, manifest: Manifest, tmp_path: Path
) -> None:
    world = world_for(chain_node, manifest, 101)
    before = {a: world.balance(a) for a in world.accounts.values()}
    result = settle(world, tmp_path)
    lines = JsonDayStore(tmp_path).load(101, DAY)[1]
    assert result.version == 1 and result.committed_now
    assert result.root == lines.root
    assert lines.totals.transfers == len(CONSUMERS) * len(PRODUCERS)
    assert result.paid_up_to == lines.totals.transfers and result.shortfall == 0
    assert result.paid == lines.totals.amount > 0
    assert len(result.batches) == 4  # 8 lines by 2
    moves = expected_moves(lines)
    for account, start in before.items():
        assert world.balance(account) == start + moves.get(account, 0)
    # the money paid is the sum of the pair lines of the day, and the energy adds up
    pairs = [ln for ln in lines.lines if ln.kind is LineKind.PAIR]
    assert sum(ln.value for ln in pairs) == lines.totals.amount
    steps = [ln for ln in lines.lines if ln.kind is LineKind.STEP]
    assert sum(ln.wh for ln in steps) == lines.totals.allocated_wh == sum(ln.wh for ln in pairs)
    assert lines.totals.produced_wh == lines.totals.allocated_wh + lines.totals.surplus_wh


def test_the_contract_closes_a_version_only_with_the_committed_transfer_lines(
    chain_node: DevNode, manifest: Manifest, tmp_path: Path
) -> None:
    world = world_for(chain_node, manifest, 109)
    compute = day_compute(
        operation_id=world.operation_id,
        day=DAY,
        step=StepLength.MIN15,
        readings=synthetic_day(DAY, PRODUCERS, CONSUMERS),
        key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(world.operation_id)),
        accounts=world.accounts,
    )
    lines = compute(1, {}, {})
    store = JsonDayStore(tmp_path)
    store.save(lines)
    tx = world.chain.send_commit(lines)
    world.chain.wait_commit(tx)
    receipt = world.chain.client.w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
    committed = world.chain._logs(receipt, "EnergySettlementTransfersCommitted")
    assert [bytes(log["args"]["transfersHash"]) for log in committed] == [lines.transfers_hash]
    transfers = list(lines.transfers)
    # same lines, same total, another order: the closing batch reverts as a whole
    swapped = [transfers[1], transfers[0], *transfers[2:]]
    before = {a: world.balance(a) for a in world.accounts.values()}
    with pytest.raises(ContractRuleError, match="not the committed ones"):
        world.chain.send_pay(world.operation_id, DAY, 1, 0, swapped)
    assert {a: world.balance(a) for a in world.accounts.values()} == before
    assert world.chain.commitment(world.operation_id, DAY, 1).paid_up_to == 0
    # the hash computed in Python is the one the contract checks: the stored lines close it
    result = Settler(world.chain, store, batch_size=3).run(world.operation_id, DAY, compute)
    assert not result.committed_now and result.paid_up_to == len(transfers)
    assert world.chain.commitment(world.operation_id, DAY, 1).closed


def test_running_the_same_day_again_pays_nothing_more(
    chain_node: DevNode, manifest: Manifest, tmp_path: Path
) -> None:
    world = world_for(chain_node, manifest, 102)
    settle(world, tmp_path)
    balances = {a: world.balance(a) for a in world.accounts.values()}
    again = settle(world, tmp_path)
    assert again.nothing_to_do and not again.batches and again.version == 1
    assert {a: world.balance(a) for a in world.accounts.values()} == balances


def test_a_consumer_short_of_funds_produces_a_shortfall_and_the_batch_goes_on(
    chain_node: DevNode, manifest: Manifest, tmp_path: Path
) -> None:
    world = world_for(chain_node, manifest, 103)
    poor = world.consumers["PRM-C2"]
    # the resident spent everything before the settlement
    from ledger.chain.district import District

    resident = District(connect(chain_node.url), poor, world.operator.manifest)
    resident.transfer(world.accounts["PRM-C1"], resident.balance_of(poor.address))
    before = {a: world.balance(a) for a in world.accounts.values()}
    result = settle(world, tmp_path, batch=100)
    lines = JsonDayStore(tmp_path).load(103, DAY)[1]
    owed_by_poor = sum(t.amount for t in lines.transfers if t.payer == poor.address)
    assert owed_by_poor > 0
    assert len(result.batches) == 1
    assert {s.payer for s in result.shortfalls} == {poor.address}
    assert sum(s.amount for s in result.shortfalls) == owed_by_poor == result.shortfall
    assert result.paid == lines.totals.amount - owed_by_poor
    assert result.paid_up_to == lines.totals.transfers
    moves = expected_moves(lines)
    for t in lines.transfers:
        if t.payer == poor.address:
            moves[t.payer] += t.amount
            moves[t.payee] -= t.amount
    for account, start in before.items():
        assert world.balance(account) == start + moves.get(account, 0)


def test_every_line_of_an_account_proves_against_the_root_in_python_on_chain_and_in_js(
    chain_node: DevNode, manifest: Manifest, tmp_path: Path
) -> None:
    world = world_for(chain_node, manifest, 104)
    settle(world, tmp_path)
    lines = JsonDayStore(tmp_path).load(104, DAY)[1]
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
    chain_node: DevNode, manifest: Manifest, tmp_path: Path
) -> None:
    world = world_for(chain_node, manifest, 105)
    first = synthetic_day(DAY, PRODUCERS, CONSUMERS)
    settle(world, tmp_path, readings=first)
    v1 = JsonDayStore(tmp_path).load(105, DAY)[1]
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
    v2 = JsonDayStore(tmp_path).load(105, DAY)[2]
    assert 0 < v2.totals.transfers
    c1 = world.accounts["PRM-C1"]
    assert any(t.payer == c1 for t in v2.transfers)
    moves = expected_moves(v2)
    for account, start in after_v1.items():
        assert world.balance(account) == start + moves.get(account, 0)
    # v1 + v2 paid exactly what the revised day owes, pair by pair (net)
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
