"""Gas per settled member-day, measured from real `EnergySettlement.pay` receipts.

Starts its own local chain (chain id 69003; its clock starts before the tariff, as tariffs are
never retroactive, then moves past the settled days), deploys with the same code path as
`ledger deploy`, enrols MEMBERS consumers (a deposit, an energy mandate and a bounded allowance,
as `wallet energy join` does) and MEMBERS producers (who already hold tokens, as after their first
settled day), then settles a 2,000-meter day: one member line per member (each consumer pays its
total into the pool, each producer receives its total), in batches of 100, each batch proven
against the committed root. Prints the gas per member-day, the transactions and the blocks that
day needs under the district's 30,000,000 block gas limit; then batches of 1 on another day.
The day's tree here holds the member lines and batch lines only: a real day's tree also holds its
pair and step lines (millions of leaves, about 12 more proof hashes per batch: about 6,000 gas per
batch, 60 per member line in batches of 100), printed as a correction.
Run: .venv/bin/python bench/settlement_gas.py [MEMBERS]   (default 1000 + 1000)
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime

from ledger.chain.client import ChainClient, connect
from ledger.chain.deploy import decoder_for_manifest, deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import District
from ledger.demo import dev_account
from ledger.energy.settlement import (
    ZERO_ADDRESS,
    DayLines,
    Line,
    LineKind,
    MemberTransfer,
    Totals,
    batch_lines,
)
from ledger.energy.settlement_chain import ChainSettlement
from ledger.energy.settlement_sim import world_account

GOAL = 30_000
BLOCK_GAS_LIMIT = 30_000_000
DEEPER_TREE_PER_BATCH = 12 * (32 * 16 + 60)  # 12 more proof hashes: calldata and hashing
AMOUNT = 123_456  # micro-M3E a consumer pays for the day
PER_DAY, PER_MONTH = 20_000_000, 200_000_000
DAY, NEXT_DAY, DAY_OF_ONES = date(2025, 6, 2), date(2025, 6, 3), date(2025, 6, 4)
SAMPLE_OF_ONES = 40


def day_lines(day: date, transfers: list[MemberTransfer], batch_size: int) -> DayLines:
    lines = [
        Line(
            LineKind.TRANSFER,
            i,
            0,
            t.member if t.amount > 0 else ZERO_ADDRESS,
            ZERO_ADDRESS if t.amount > 0 else t.member,
            0,
            abs(t.amount),
        )
        for i, t in enumerate(transfers)
    ]
    amount = sum(t.amount for t in transfers if t.amount > 0)
    lines += batch_lines(transfers, batch_size)
    lines.append(Line(LineKind.DAY, len(transfers), 0, ZERO_ADDRESS, ZERO_ADDRESS, 0, amount))
    return DayLines(1, day, 1, 15, tuple(lines), Totals(0, 0, 0, 0, amount, len(transfers)), batch_size)


def main() -> None:
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with DevNode(free_port(), initial_date="2025-05-20T00:00:00Z") as node:
        w3 = connect(node.url)
        operator_key = dev_account(0)
        manifest = deploy_district(w3, operator_key)
        operator = District(w3, operator_key, manifest)
        chain = ChainSettlement(ChainClient(w3, operator_key, decoder_for_manifest(manifest)), manifest)
        chain.ensure_roles()
        chain.set_tariff(1, date(2025, 6, 1), 80_000, 100_000, 60_000)
        started = time.monotonic()
        consumers = [world_account(1, f"bench-c-{i}") for i in range(members)]
        producers = [world_account(1, f"bench-p-{i}") for i in range(members)]
        last = None
        for i, c in enumerate(consumers):
            operator.client.transact(
                operator.token.functions.recordDeposit(_ref(f"BC-{i}"), c.address, 10 * AMOUNT), wait=False
            )
        for i, p in enumerate(producers):
            last = operator.client.transact(
                operator.token.functions.recordDeposit(_ref(f"BP-{i}"), p.address, 1), wait=False
            )
        mandates = []
        for c in consumers:
            resident = District(w3, c, manifest)
            settlement = resident.client.contract(chain.address, manifest.contract("EnergySettlement").abi)
            mandates.append(resident.client.transact(
                settlement.functions.setMandate(1, PER_DAY, PER_MONTH), wait=False
            ))
            last = resident.client.transact(
                resident.token.functions.approve(chain.address, PER_MONTH * 12), wait=False
            )
        if last is not None:
            w3.eth.wait_for_transaction_receipt(last.tx_hash, timeout=600)  # type: ignore[arg-type]
        enrol_s = time.monotonic() - started
        mandate_gas = _gas(w3, mandates[-1].tx_hash)
        end = int(datetime(2025, 6, 5, tzinfo=UTC).timestamp())
        w3.provider.make_request("evm_setNextBlockTimestamp", [end])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

        # one member line per member: debits first, then credits (each producer one consumer's total)
        transfers = [MemberTransfer(c.address, AMOUNT) for c in consumers]
        transfers += [MemberTransfer(p.address, -AMOUNT) for p in producers]
        lines = day_lines(DAY, transfers, 100)
        commit_gas = _gas(w3, chain.send_commit(lines))
        first_block = int(w3.eth.block_number)
        gas = 0
        for batch in range(lines.batch_count):
            receipt = chain.wait_pay(chain.send_pay(lines, batch))
            if receipt.shortfalls:
                raise SystemExit(f"bench: unexpected shortfalls {receipt.shortfalls[:3]}")
            gas += receipt.gas_used
        blocks_used = int(w3.eth.block_number) - first_block
        if chain.pool(1) != 0 or not chain.commitment(1, DAY, 1).closed:
            raise SystemExit("bench: the day did not close with an empty pool")

        # the next day: every member's account slot already exists (the steady state)
        again = day_lines(NEXT_DAY, transfers, 100)
        chain.wait_commit(chain.send_commit(again))
        gas_next = sum(chain.wait_pay(chain.send_pay(again, b)).gas_used for b in range(again.batch_count))

        ones = day_lines(DAY_OF_ONES, transfers, 1)
        chain.wait_commit(chain.send_commit(ones))
        gas_ones = [
            chain.wait_pay(chain.send_pay(ones, b)).gas_used for b in range(SAMPLE_OF_ONES // 2)
        ] + [
            chain.wait_pay(chain.send_pay(ones, b)).gas_used
            for b in range(SAMPLE_OF_ONES // 2, SAMPLE_OF_ONES)
        ]

    n = len(transfers)
    per_member = gas // n
    deeper = per_member + DEEPER_TREE_PER_BATCH // 100
    packed_blocks = -(-(gas + commit_gas) // BLOCK_GAS_LIMIT)
    print(f"members {n:,} ({members:,} consumers, {members:,} producers), enrolment {enrol_s:.0f} s")
    print(f"commitDay: {commit_gas:,} gas")
    print(f"setMandate, once per member when it joins (prepares its account slot): {mandate_gas:,} gas")
    print(
        f"batches of 100: {lines.batch_count} pay() transactions, {gas:,} gas, "
        f"{per_member:,} gas per member-day on the members' first day (deeper tree about "
        f"{deeper:,}); goal <= {GOAL:,}: {'ok' if deeper <= GOAL else 'OVER'} "
        f"({deeper / GOAL:.2f} of the limit)"
    )
    next_member = gas_next // n
    next_deeper = next_member + DEEPER_TREE_PER_BATCH // 100
    print(
        f"the next day, batches of 100: {next_member:,} gas per member-day (deeper tree about "
        f"{next_deeper:,}): {'ok' if next_deeper <= GOAL else 'OVER'} ({next_deeper / GOAL:.2f} of the "
        "limit); setMandate prepared each member's account slot, so its first day costs the same"
    )
    print(
        f"blocks: {blocks_used} here (one transaction per block, automine); "
        f"{packed_blocks} when packed under the {BLOCK_GAS_LIMIT:,} block gas limit"
    )
    avg_ones = sum(gas_ones) // len(gas_ones)
    print(
        f"batches of 1 ({SAMPLE_OF_ONES} sampled): {avg_ones:,} gas per member-day "
        f"({avg_ones / GOAL:.2f} of the goal: the 21,000 transaction base and one proof per line)"
    )


def _ref(text: str) -> bytes:
    from ledger.chain.district import ref32

    return ref32(text)


def _gas(w3: object, tx_hash: str) -> int:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)  # type: ignore[attr-defined]
    return int(receipt["gasUsed"])


if __name__ == "__main__":
    main()
