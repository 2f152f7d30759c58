"""The indexer against the real DistrictToken and ServicePayments (deployed by ledger.chain)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

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
