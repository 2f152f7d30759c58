"""The indexer against the real DistrictToken and ServicePayments (deployed by ledger.chain)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import text

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_from_url
from ledger.chain.devnode import DevNode
from ledger.chain.district import Category, District
from ledger.settings import DEV_ACCOUNT_KEY
from tests.integration.indexer.helpers import CHAIN_ID, chain_logs, check, index_once, store_for

pytestmark = pytest.mark.chain

# Hardhat dev accounts #1 and #2 (public keys of the local chain only)
RESIDENT_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
MERCHANT_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdd4ce5c"


def test_real_contracts_every_event_lands_and_reconciles(node: DevNode, tmp_path: Path) -> None:
    operator = Account.from_key(DEV_ACCOUNT_KEY)
    resident = Account.from_key(RESIDENT_KEY)
    merchant = Account.from_key(MERCHANT_KEY)
    manifest = deploy_from_url(node.url, operator)
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    w3 = connect(node.url)
    district = District(w3, operator, manifest)
    # 2**60 micro-M3E (above 2**53, where floats lose integers) is beyond the dev minter's default
    # allowance: the admin raises it first, as it would for a large deposit.
    district.client.transact(district.token.functions.configureMinter(operator.address, 2**61, 0))
    district.record_deposit("VIR-2025-0001", resident.address, 150_000_000)
    district.record_deposit("VIR-2025-0002", merchant.address, 2**60)
    merchant_id, _ = district.register_merchant("Boulangerie Gambetta", Category.FOOD,
                                                merchant.address)
    as_resident = district.as_(resident)
    as_resident.approve_payments()
    as_resident.pay(merchant_id, 4_200_000, "baguette")
    as_resident.transfer(merchant.address, 1_000_000)
    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    events = index_once(node.url, manifest_path, database_url, confirmations=0)
    assert events == len(chain_logs(node.url, manifest_path))
    result = check(node.url, manifest_path, database_url)
    assert result.ok, result.differences
    store = store_for(database_url)
    assert store.count("deposits", CHAIN_ID) == 2
    assert store.count("payments", CHAIN_ID) == 1
    assert store.count("merchants", CHAIN_ID) == 1
    assert store.balances(CHAIN_ID)[merchant.address.lower()] == 2**60 + 4_200_000 + 1_000_000
    store.engine.dispose()


def test_real_contracts_authorizations_freezes_minters_and_payout_changes_are_decoded(
    node: DevNode, tmp_path: Path
) -> None:
    operator = Account.from_key(DEV_ACCOUNT_KEY)
    resident = Account.from_key(RESIDENT_KEY)
    merchant = Account.from_key(MERCHANT_KEY)
    manifest = deploy_from_url(node.url, operator)
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    district = District(connect(node.url), operator, manifest)
    district.client.transact(district.token.functions.configureMinter(operator.address, 10**12, 10**9))
    district.record_deposit("VIR-2025-0100", resident.address, 50_000_000)
    merchant_id, _ = district.register_merchant("Fromagerie Part-Dieu", Category.FOOD,
                                                merchant.address)
    as_resident = district.as_(resident)
    spent = as_resident.sign_payment(merchant_id, 2_500_000, "tomme")
    district.submit_signed_payment(spent)  # the terminal submits it: the nonce is used
    unused = as_resident.sign_payment(merchant_id, 1_000_000, "brie")
    as_resident.cancel_authorization(unused.authorization_nonce)  # the payer changed its mind
    order = b"TJ-LYON-2026-42".ljust(32, b"\0")
    district.client.transact(district.token.functions.freeze(merchant.address, order))
    district.client.transact(district.token.functions.unfreeze(merchant.address, order))
    new_payout = Account.create().address
    district.client.transact(district.payments.functions.requestPayoutChange(merchant_id, new_payout))
    district.client.transact(district.payments.functions.cancelPayoutChange(merchant_id))

    database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    index_once(node.url, manifest_path, database_url, confirmations=0)
    assert check(node.url, manifest_path, database_url).ok
    store = store_for(database_url)
    try:
        with store.engine.connect() as conn:
            def rows(sql: str) -> list[tuple[object, ...]]:
                return [tuple(r) for r in conn.execute(text(sql))]

            assert rows("SELECT authorizer, nonce, state FROM token_authorizations "
                        "ORDER BY block_number, log_index") == [
                (resident.address.lower(), "0x" + spent.authorization_nonce.hex(), "used"),
                (resident.address.lower(), "0x" + unused.authorization_nonce.hex(), "canceled")]
            assert rows("SELECT account, order_ref, frozen FROM account_freezes "
                        "ORDER BY block_number, log_index") == [
                (merchant.address.lower(), "0x" + order.hex(), 1),
                (merchant.address.lower(), "0x" + order.hex(), 0)]
            minters = rows("SELECT minter, allowance, daily_limit FROM minter_configs "
                           "ORDER BY block_number, log_index")
            # the deployment's own configuration, then ours; allowances read back exactly
            assert [(m, int.from_bytes(a, "big"), int.from_bytes(d, "big"))  # type: ignore[arg-type]
                    for m, a, d in minters][-1] == (operator.address.lower(), 10**12, 10**9)
            changes = rows("SELECT merchant_id, kind, old_payout, new_payout, effective_at "
                           "FROM payout_changes ORDER BY block_number, log_index")
            assert [c[:4] for c in changes] == [
                (merchant_id, "requested", merchant.address.lower(), new_payout.lower()),
                (merchant_id, "canceled", None, new_payout.lower())]
            assert int(changes[0][4]) > 0 and changes[1][4] is None  # type: ignore[arg-type]
    finally:
        store.engine.dispose()
