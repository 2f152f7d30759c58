"""Gas used by each district operation, measured from real transaction receipts.

Starts its own local chain (chain id 69003), deploys with the same code path as `ledger deploy`,
and prints gasUsed per operation against the goals of the currency issue.
Run: .venv/bin/python bench/gas_report.py
"""

from __future__ import annotations

import time

from eth_account import Account

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import Category, District, SignedPayment
from ledger.chain.reference import new_salt, reference_commitment
from ledger.chain.typed_data import cancel_authorization_typed_data
from ledger.demo import dev_account

M3E = 1_000_000
SIGNED_GOAL = 110_000


def committed(reference: str) -> bytes:
    """What a resident's payment carries on chain: a salted commitment, never the clear text
    (32 non-zero bytes of calldata, so the gas measured is the real one)."""
    return reference_commitment(reference, new_salt())


GOALS = {
    "pay (repeat payer)": 60_000,
    "signed payment (first of this payer to the merchant)": SIGNED_GOAL,
    "signed payment (next)": SIGNED_GOAL,
    "signed payment (payer's first ever)": SIGNED_GOAL,
    "signed payment (worst: first ever, payout and escrow empty)": SIGNED_GOAL,
    "pay (repeat payer) while an account is frozen": 60_000,
    "signed payment (payer's first ever) while an account is frozen": SIGNED_GOAL,
}


def main() -> None:
    with DevNode(free_port()) as node:
        w3 = connect(node.url)
        operator = District(w3, dev_account(0), deploy_district(w3, dev_account(0)))
        merchant_key, payer_key, terminal_key = dev_account(1), dev_account(2), dev_account(3)
        token, payments = operator.token.functions, operator.payments.functions
        # The worst signed payment first: nothing held by the payments contract (no booking yet),
        # a merchant whose payout holds nothing, a payer who never signed anything.
        worst_id, _ = operator.register_merchant("Bench Empty", Category.OTHER, dev_account(6).address)
        stranger = operator.as_(dev_account(7))
        operator.record_deposit("B-0", stranger.address, 50 * M3E)
        signed = stranger.sign_payment(worst_id, 2 * M3E, "T-0")
        worst = operator.as_(terminal_key).submit_signed_payment(signed).gas_used
        merchant_id, reg = operator.register_merchant("Bench Bakery", Category.FOOD, merchant_key.address)
        payer, merchant, terminal = (operator.as_(k) for k in (payer_key, merchant_key, terminal_key))
        rows: list[tuple[str, int]] = [("register merchant", reg.gas_used)]
        rows.append(("signed payment (worst: first ever, payout and escrow empty)", worst))
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
        signed = payer.sign_payment(worst_id, 2 * M3E, committed("T-1"))
        first_to_merchant = terminal.submit_signed_payment(signed).gas_used
        rows.append(("signed payment (first of this payer to the merchant)", first_to_merchant))
        signed = payer.sign_payment(merchant_id, 2 * M3E, committed("T-2"))
        rows.append(("signed payment (next)", terminal.submit_signed_payment(signed).gas_used))
        # A payer's very first signed payment, to a merchant it never paid (a new running total).
        newcomer = operator.as_(dev_account(5))
        operator.record_deposit("B-3", newcomer.address, 50 * M3E)
        signed = newcomer.sign_payment(merchant_id, 2 * M3E, committed("T-3"))
        rows.append(
            ("signed payment (payer's first ever)", terminal.submit_signed_payment(signed).gas_used)
        )
        signed = payer.sign_payment(merchant_id, 2 * M3E, committed("T-4"))
        nonce = signed.authorization_nonce
        cancel = payer.client.transact(
            token.cancelAuthorization(payer.address, nonce, _cancel_signature(payer, signed))
        )
        rows.append(("cancel a signed payment", cancel.gas_used))
        merchant.approve_payments()
        rows.append(("refund", merchant.refund(merchant_id, payer.address, M3E, committed("P-1")).gas_used))
        booking_id, opened = payer.open_booking(
            merchant_id, 10 * M3E, int(time.time()) + 3600, committed("B-1")
        )
        rows.append(("booking open", opened.gas_used))
        rows.append(("booking close", merchant.close_booking(booking_id, 4 * M3E).gas_used))
        _, redeemed = merchant.redeem(12 * M3E, "PAYOUT-1")
        rows.append(("redeem", redeemed.gas_used))
        freezer_role = operator.client.call(token.FREEZER_ROLE())
        operator.client.transact(token.grantRole(freezer_role, operator.address))
        order = b"ORDER-1".ljust(32, b"\0")
        rows.append(("freeze", operator.client.transact(token.freeze(newcomer.address, order)).gas_used))
        # While any account is frozen, each transfer also reads the flags of its two accounts.
        frozen_pay = payer.pay(merchant_id, M3E, committed("P-3")).gas_used
        rows.append(("pay (repeat payer) while an account is frozen", frozen_pay))
        late = operator.as_(dev_account(10))
        operator.record_deposit("B-4", late.address, 50 * M3E)
        signed = late.sign_payment(merchant_id, 2 * M3E, committed("T-5"))
        rows.append((
            "signed payment (payer's first ever) while an account is frozen",
            terminal.submit_signed_payment(signed).gas_used,
        ))
        rows.append(("unfreeze", operator.client.transact(token.unfreeze(newcomer.address, order)).gas_used))
        rows.append((
            "configure minter",
            operator.client.transact(token.configureMinter(dev_account(8).address, 10**12, 10**11)).gas_used,
        ))
        new_payout = dev_account(9).address
        rows.append((
            "payout change: request",
            operator.client.transact(payments.requestPayoutChange(merchant_id, new_payout)).gas_used,
        ))
        w3.provider.make_request("evm_increaseTime", [2 * 24 * 3600])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        rows.append((
            "payout change: complete (after 2 days)",
            terminal.client.transact(payments.completePayoutChange(merchant_id)).gas_used,
        ))
    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}} {'gasUsed':>8}  goal")
    for name, gas in rows:
        goal = GOALS.get(name)
        verdict = ""
        if goal is not None:
            verdict = f"<= {goal:,}  {gas / goal:.2f} of it  {'ok' if gas <= goal else 'OVER'}"
        print(f"{name:<{width}} {gas:>8,}  {verdict}")


def _cancel_signature(payer: District, signed: SignedPayment) -> bytes:
    """The payer's CancelAuthorization signature of a payment it signed (ERC-3009)."""
    message = cancel_authorization_typed_data(
        chain_id=signed.chain_id,
        token=payer.token.address,
        token_name=str(payer.client.call(payer.token.functions.name())),
        authorizer=payer.address,
        nonce=signed.authorization_nonce,
    )
    return bytes(Account.sign_typed_data(payer.client.account.key, full_message=message).signature)


if __name__ == "__main__":
    main()
