"""Free basics on a real node: the council opens a programme whose spender is ServicePayments,
the registrar gives a co-working space a free first hour, a resident pays an hour and a half and
books a room; the fund pays the free parts to the merchant. The indexer stores the covers and
the tier on SQLite and PostgreSQL, the fund's outflows match, the merchant's takings count the
fund's part of a payment (takings = price), and a reorg undoes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import select
from web3 import Web3

from api.services import Deployment, fund
from ledger.chain.client import connect
from ledger.chain.deploy import deploy_from_url
from ledger.chain.devnode import DevNode
from ledger.chain.district import Category, District
from ledger.db.models import FreeBasicsEvent, MerchantTakingsDaily
from ledger.db.queries_api import ApiQueries
from ledger.db.records import Cursor
from ledger.settings import DEV_ACCOUNT_KEY
from tests.integration.indexer.helpers import CHAIN_ID, chain_logs, check, index_once, store_for

pytestmark = pytest.mark.chain

# Hardhat dev accounts #1 and #2 (public keys of the local chain only)
RESIDENT_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
MERCHANT_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdd4ce5c"
M3E = 1_000_000
HOUR = 4 * M3E


def _free_basics_story(node: DevNode, tmp_path: Path, database_url: str) -> None:
    council = Account.from_key(DEV_ACCOUNT_KEY)  # the dev deployment's admin is the council
    resident = Account.from_key(RESIDENT_KEY)
    merchant = Account.from_key(MERCHANT_KEY)
    manifest = deploy_from_url(node.url, council)
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    w3 = connect(node.url)
    district = District(w3, council, manifest)
    fund_info = manifest.contract("CommonsFund")
    contract = district.client.contract(fund_info.address, fund_info.abi)
    payments = district.payments
    on_chain = district.client.call

    district.record_deposit("VIR-1", resident.address, 100 * M3E)
    district.record_deposit("VIR-2", council.address, 50 * M3E)
    merchant_id, _ = district.register_merchant("La Ruche", Category.CO_WORKING, merchant.address)
    district.client.transact(district.token.functions.approve(fund_info.address, 50 * M3E))
    district.client.transact(contract.functions.contribute(50 * M3E, b"GIFT".ljust(32, b"\0")))
    district.client.transact(contract.functions.openProgramme("Free basics", payments.address, 6 * M3E))
    district.client.transact(payments.functions.setFreeBasicsFund(fund_info.address, 1))
    district.client.transact(payments.functions.setFreeTier(merchant_id, HOUR, 1))

    as_resident = district.as_(resident)
    assert on_chain(payments.functions.fundCover(merchant_id, resident.address, 6 * M3E)) == HOUR
    as_resident.pay(merchant_id, 6 * M3E, "DESK-1")  # the fund pays the hour, the resident 2 M3E
    assert on_chain(district.token.functions.balanceOf(resident.address)) == 98 * M3E
    before_booking = w3.eth.block_number
    as_resident.pay(merchant_id, 3 * M3E, "DESK-2")  # the free hour is used: no cover
    # A second resident's booking: the month's 6 M3E has 2 left, so the fund pays 2 of the charge.
    district.record_deposit("VIR-3", merchant.address, 0 + M3E)
    other = Account.from_key("0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6")
    district.record_deposit("VIR-4", other.address, 20 * M3E)
    booking_id, _ = district.as_(other).open_booking(
        merchant_id, 10 * M3E, w3.eth.get_block("latest")["timestamp"] + 3600, "ROOM-1")
    district.as_(merchant).close_booking(booking_id, 5 * M3E)
    assert on_chain(district.token.functions.balanceOf(other.address)) == 17 * M3E
    assert on_chain(district.token.functions.balanceOf(resident.address)) == 95 * M3E
    assert on_chain(contract.functions.leftThisMonth(1)) == 0

    events = index_once(node.url, manifest_path, database_url, confirmations=0)
    assert events == len(chain_logs(node.url, manifest_path))
    result = check(node.url, manifest_path, database_url)
    assert result.ok, result.differences

    queries = ApiQueries.from_url(database_url, CHAIN_ID)
    try:
        report = fund(queries, Deployment(token=None, contracts=(), fund=fund_info.address.lower()))
    finally:
        queries.close()
    assert [(f.programme_id, f.amount.micro) for f in report.outflows] == [(1, str(6 * M3E))]
    (programme,) = report.programmes
    assert programme.spender == payments.address.lower() and programme.left_this_month.micro == "0"

    store = store_for(database_url)
    t = MerchantTakingsDaily

    def takings() -> list[tuple[int, int]]:
        with store.engine.connect() as conn:
            return [(int(r.paid), r.payments) for r in conn.execute(
                select(t.paid, t.payments).where(t.merchant_id == merchant_id)).all()]

    try:
        # The merchant took the two prices (6 + 3 M3E), the fund's hour included; the booking's
        # charge is not a payment and is left out of takings, its cover with it.
        assert takings() == [(9 * M3E, 2)]
        e = FreeBasicsEvent
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(e.kind, e.merchant_id, e.payer, e.booking_id, e.amount, e.uses_per_month)
                .order_by(e.block_number, e.log_index)).all()
        assert [tuple(r) for r in rows] == [
            ("tier", merchant_id, None, None, HOUR, 1),
            ("covered", merchant_id, resident.address.lower(), None, HOUR, None),
            ("covered", merchant_id, other.address.lower(), booking_id, 2 * M3E, None),
        ]
        block = w3.eth.get_block(before_booking)
        store.rollback_to(CHAIN_ID, Cursor(before_booking, Web3.to_hex(block["hash"])))
        assert store.count("free_basics_events", CHAIN_ID) == 2
        # Recomputed from what remains: the first payment's whole price, the fund's hour included.
        assert takings() == [(6 * M3E, 1)]
    finally:
        store.engine.dispose()


def test_free_basics_are_indexed_as_the_contract_pays_them_sqlite(node: DevNode, tmp_path: Path) -> None:
    _free_basics_story(node, tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}")


@pytest.mark.postgres
def test_free_basics_are_indexed_as_the_contract_pays_them_postgres(
    node: DevNode, tmp_path: Path, postgres_url: str
) -> None:
    _free_basics_story(node, tmp_path, postgres_url)
