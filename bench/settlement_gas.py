"""Gas per settled producer -> consumer pair, measured from real `EnergySettlement.pay` receipts.

Starts its own local chain (chain id 69003), deploys with the same code path as `ledger deploy`,
enrols consumers (deposit + approval of the settlement contract, as at enrolment) and producers
(who already hold tokens, as after their first settled day), commits a day whose transfer lines
are N distinct consumer -> producer pairs (every payer and payee a cold account: the worst case
of a real day, where pairs share accounts), pays them in one transaction and prints gasUsed / N.
Then: the marginal gas of one more pair, and how many pairs fit in one transaction under the
district's block gas limit (30,000,000).
Run: .venv/bin/python bench/settlement_gas.py
"""

from __future__ import annotations

from datetime import date

from ledger.chain.client import ChainClient, connect
from ledger.chain.deploy import decoder_for_manifest, deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import MAX_UINT256, District
from ledger.demo import dev_account
from ledger.energy.settlement import DayLines, Line, LineKind, Totals, Transfer, day_number
from ledger.energy.settlement_chain import ChainSettlement
from ledger.energy.settlement_sim import world_account

GOAL = 30_000
BLOCK_GAS_LIMIT = 30_000_000
SIZES = (1, 10, 50, 100)
AMOUNT = 123_456  # micro-M3E per pair
FIRST_DAY = date(2025, 6, 2)


def main() -> None:
    with DevNode(free_port()) as node:
        w3 = connect(node.url)
        operator_key = dev_account(0)
        manifest = deploy_district(w3, operator_key)
        operator = District(w3, operator_key, manifest)
        chain = ChainSettlement(ChainClient(w3, operator_key, decoder_for_manifest(manifest)), manifest)
        chain.ensure_roles()
        chain.set_tariff(1, date(2025, 6, 1), 80_000, 100_000, 60_000)
        results: list[tuple[int, int]] = []
        first_payee_gas = 0
        for n_day, size in enumerate(SIZES):
            day = date(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day + n_day)
            transfers = []
            for i in range(size):
                consumer = world_account(1, f"bench-c-{size}-{i}")
                producer = world_account(1, f"bench-p-{size}-{i}")
                operator.record_deposit(f"BC-{size}-{i}", consumer.address, 10 * AMOUNT)
                operator.record_deposit(f"BP-{size}-{i}", producer.address, 1)
                resident = District(w3, consumer, manifest)
                resident.client.transact(resident.token.functions.approve(chain.address, MAX_UINT256))
                transfers.append(Transfer(consumer.address, producer.address, AMOUNT))
            lines = DayLines(
                operation_id=1,
                day=day,
                version=1,
                step_minutes=15,
                lines=tuple(
                    Line(LineKind.TRANSFER, i, 0, t.payer, t.payee, 0, t.amount)
                    for i, t in enumerate(transfers)
                ),
                totals=Totals(0, 0, 0, 0, AMOUNT * size, size),
            )
            chain.wait_commit(chain.send_commit(lines))
            receipt = chain.wait_pay(chain.send_pay(1, day, 1, 0, transfers))
            if receipt.paid != AMOUNT * size:
                raise SystemExit(f"bench: {day_number(day)} paid {receipt.paid}, expected {AMOUNT * size}")
            results.append((size, receipt.gas_used))
        # a producer paid for the first time ever (balance 0 -> non-zero): one more storage slot
        day = date(2025, 6, 20)
        consumer, producer = world_account(1, "bench-c-new"), world_account(1, "bench-p-new")
        operator.record_deposit("BC-new", consumer.address, 10 * AMOUNT)
        District(w3, consumer, manifest).client.transact(
            District(w3, consumer, manifest).token.functions.approve(chain.address, MAX_UINT256)
        )
        only = [Transfer(consumer.address, producer.address, AMOUNT)]
        lines = DayLines(
            1,
            day,
            1,
            15,
            (Line(LineKind.TRANSFER, 0, 0, consumer.address, producer.address, 0, AMOUNT),),
            Totals(0, 0, 0, 0, AMOUNT, 1),
        )
        chain.wait_commit(chain.send_commit(lines))
        first_payee_gas = chain.wait_pay(chain.send_pay(1, day, 1, 0, only)).gas_used

    print(f"{'pairs in one pay()':<22} {'gasUsed':>11} {'gas per pair':>13}  goal")
    for size, gas in results:
        per_pair = gas // size
        verdict = "ok" if per_pair <= GOAL else "OVER"
        print(f"{size:<22} {gas:>11,} {per_pair:>13,}  <= {GOAL:,}  {verdict}")
    (n1, g1), (n2, g2) = results[-2], results[-1]
    marginal = (g2 - g1) // (n2 - n1)
    fixed = g2 - marginal * n2
    fit = (BLOCK_GAS_LIMIT - fixed) // marginal
    print(f"marginal gas of one more pair: {marginal:,} (fixed cost of a pay() call about {fixed:,})")
    print(f"pairs per transaction under the {BLOCK_GAS_LIMIT:,} block gas limit: about {fit:,}")
    print(
        f"first-ever payment to a producer (balance 0 -> non-zero), 1 pair: {first_payee_gas:,} "
        "(the token's storage write of a new holder, paid once per producer)"
    )


if __name__ == "__main__":
    main()
