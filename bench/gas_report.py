"""Gas used by each district operation, measured from real transaction receipts.

Starts its own local chain (chain id 69003), deploys with the same code path as `ledger deploy`,
and prints gasUsed per operation against the goals of the currency issue.
Run: .venv/bin/python bench/gas_report.py
"""

from __future__ import annotations

import time

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import Category, District
from ledger.chain.reference import new_salt, reference_commitment
from ledger.demo import dev_account

M3E = 1_000_000


def committed(reference: str) -> bytes:
    """What a resident's payment carries on chain: a salted commitment, never the clear text
    (32 non-zero bytes of calldata, so the gas measured is the real one)."""
    return reference_commitment(reference, new_salt())
GOALS = {
    "pay (repeat payer)": 60_000,
    "pay with permit (first, cold nonce)": 110_000,
    "pay with permit (next)": 110_000,
    "pay with permit (payer's first ever)": 110_000,
}


def main() -> None:
    with DevNode(free_port()) as node:
        w3 = connect(node.url)
        operator = District(w3, dev_account(0), deploy_district(w3, dev_account(0)))
        merchant_key, payer_key, terminal_key = dev_account(1), dev_account(2), dev_account(3)
        merchant_id, reg = operator.register_merchant("Bench Bakery", Category.FOOD, merchant_key.address)
        payer, merchant, terminal = (operator.as_(k) for k in (payer_key, merchant_key, terminal_key))
        rows: list[tuple[str, int]] = [("register merchant", reg.gas_used)]
        rows.append(
            (
                "deposit-mint (first for account)",
                operator.record_deposit("B-1", payer.address, 500 * M3E).gas_used,
            )
        )
        rows.append(
            ("deposit-mint (next)", operator.record_deposit("B-2", payer.address, 500 * M3E).gas_used)
        )
        rows.append(("transfer (to a new holder)", payer.transfer(dev_account(4).address, M3E).gas_used))
        rows.append(("transfer (to a holder)", payer.transfer(dev_account(4).address, M3E).gas_used))
        rows.append(("approve ServicePayments (once)", payer.approve_payments().gas_used))
        first = payer.pay(merchant_id, 3 * M3E, committed("P-1"))
        rows.append(("pay (first payment to this merchant)", first.gas_used))
        rows.append(("pay (repeat payer)", payer.pay(merchant_id, 3 * M3E, committed("P-2")).gas_used))
        signed = payer.sign_payment(merchant_id, 2 * M3E, committed("T-1"))
        rows.append(("pay with permit (first, cold nonce)", terminal.submit_signed_payment(signed).gas_used))
        signed = payer.sign_payment(merchant_id, 2 * M3E, committed("T-2"))
        rows.append(("pay with permit (next)", terminal.submit_signed_payment(signed).gas_used))
        # The worst case: a payer's very first signed payment, to a merchant it never paid
        # (cold permit nonce, a new running total, no allowance yet).
        newcomer = operator.as_(dev_account(5))
        operator.record_deposit("B-3", newcomer.address, 50 * M3E)
        signed = newcomer.sign_payment(merchant_id, 2 * M3E, committed("T-3"))
        rows.append(
            ("pay with permit (payer's first ever)", terminal.submit_signed_payment(signed).gas_used)
        )
        merchant.approve_payments()
        rows.append(("refund", merchant.refund(merchant_id, payer.address, M3E, committed("P-1")).gas_used))
        booking_id, opened = payer.open_booking(
            merchant_id, 10 * M3E, int(time.time()) + 3600, committed("B-1")
        )
        rows.append(("booking open", opened.gas_used))
        rows.append(("booking close", merchant.close_booking(booking_id, 4 * M3E).gas_used))
        _, redeemed = merchant.redeem(2 * M3E, "PAYOUT-1")
        rows.append(("redeem", redeemed.gas_used))
    print(f"{'operation':<40} {'gasUsed':>8}  goal")
    for name, gas in rows:
        goal = GOALS.get(name)
        verdict = "" if goal is None else f"<= {goal:,}  {'ok' if gas <= goal else 'OVER'}"
        print(f"{name:<40} {gas:>8,}  {verdict}")


if __name__ == "__main__":
    main()
