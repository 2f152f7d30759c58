"""The commons fund on a real node: the deploy wires the token's fee to it, the council opens a
programme, fees and a contribution come in, the spender pays; the indexer stores every event on
SQLite and PostgreSQL and GET /v1/fund's figures equal what the contract says."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from api.services import Deployment, fund
from ledger.chain.client import connect
from ledger.chain.deploy import deploy_from_url
from ledger.chain.devnode import DevNode
from ledger.chain.district import Category, District
from ledger.db.queries_api import ApiQueries
from ledger.db.records import Cursor
from ledger.settings import DEV_ACCOUNT_KEY
from tests.integration.indexer.helpers import CHAIN_ID, chain_logs, check, index_once, store_for

pytestmark = pytest.mark.chain

# Hardhat dev accounts #1, #2 and #3 (public keys of the local chain only)
RESIDENT_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
MERCHANT_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdd4ce5c"
SPENDER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
M3E = 1_000_000


def _fund_story(node: DevNode, tmp_path: Path, database_url: str) -> None:
    council = Account.from_key(DEV_ACCOUNT_KEY)  # the dev deployment's admin is the council
    resident = Account.from_key(RESIDENT_KEY)
    merchant = Account.from_key(MERCHANT_KEY)
    spender = Account.from_key(SPENDER_KEY)
    manifest = deploy_from_url(node.url, council)
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    w3 = connect(node.url)
    district = District(w3, council, manifest)
    fund_info = manifest.contract("CommonsFund")
    contract = district.client.contract(fund_info.address, fund_info.abi)
    assert district.client.call(district.token.functions.commonsFund()) == fund_info.address

    district.record_deposit("VIR-1", merchant.address, 1_000 * M3E)
    district.record_deposit("VIR-2", resident.address, 100 * M3E)
    district.register_merchant("La Ruche", Category.CO_WORKING, merchant.address)
    district.as_(merchant).redeem(1_000 * M3E, "WIRE-1")  # 30 M3E of fee to the fund
    district.client.transact(contract.functions.openProgramme("Free basics", spender.address, 20 * M3E))
    as_resident = District(w3, resident, manifest).client
    as_resident.transact(district.token.functions.approve(fund_info.address, 5 * M3E))
    as_resident.transact(contract.functions.contribute(5 * M3E, b"SOLIDARITY_SURCHARGE".ljust(32, b"\0")))
    before_payment = w3.eth.block_number
    District(w3, spender, manifest).client.transact(
        contract.functions.disburse(1, merchant.address, 8 * M3E, b"\x01" * 32)
    )

    events = index_once(node.url, manifest_path, database_url, confirmations=0)
    assert events == len(chain_logs(node.url, manifest_path))
    result = check(node.url, manifest_path, database_url)
    assert result.ok, result.differences

    queries = ApiQueries.from_url(database_url, CHAIN_ID)
    try:
        report = fund(queries, Deployment(token=None, contracts=(), fund=fund_info.address.lower()))
    finally:
        queries.close()
    on_chain = district.client.call
    assert int(report.recorded_in.micro) == on_chain(contract.functions.totalIn()) == 35 * M3E
    assert int(report.recorded_out.micro) == on_chain(contract.functions.totalOut()) == 8 * M3E
    balance = on_chain(district.token.functions.balanceOf(fund_info.address))
    assert int(report.balance.micro) == balance == 27 * M3E
    assert report.not_yet_recorded.micro == "0"
    assert sorted((f.source, f.amount.micro) for f in report.inflows) == [
        ("REDEMPTION_FEES", str(30 * M3E)), ("SOLIDARITY_SURCHARGE", str(5 * M3E))]
    (programme,) = report.programmes
    assert programme.spender == spender.address.lower()
    assert int(programme.left_this_month.micro) == on_chain(contract.functions.leftThisMonth(1)) == 12 * M3E
    assert [(f.programme_id, f.amount.micro) for f in report.outflows] == [(1, str(8 * M3E))]

    # A reorg undoes the fund's rows with every other event table.
    store = store_for(database_url)
    try:
        # opened, the fees (recorded by the contribution), the contribution, the payment
        assert store.count("fund_events", CHAIN_ID) == 4
        block = w3.eth.get_block(before_payment)
        store.rollback_to(CHAIN_ID, Cursor(before_payment, Web3.to_hex(block["hash"])))
        assert store.count("fund_events", CHAIN_ID) == 3
    finally:
        store.engine.dispose()


def test_the_fund_is_indexed_and_reported_as_the_contract_counts_sqlite(
    node: DevNode, tmp_path: Path
) -> None:
    _fund_story(node, tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")


@pytest.mark.postgres
def test_the_fund_is_indexed_and_reported_as_the_contract_counts_postgres(
    node: DevNode, tmp_path: Path, postgres_url: str
) -> None:
    _fund_story(node, tmp_path, postgres_url)
