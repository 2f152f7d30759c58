"""The indexer decodes EnergySettlement events of a day settled on a real chain, and a reorg
across a settlement payment takes its rows away."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import MismatchedABI

from ledger.chain.client import connect
from ledger.chain.deploy import deploy_district
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.district import District
from ledger.chain.manifest import Manifest
from ledger.db import make_engine
from ledger.db.store import DIGEST_TABLES
from ledger.demo import dev_account
from ledger.domain.energy.allocation import DefaultKey
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import (
    Settler,
    SettleResult,
    day_compute,
    operation_number,
    tariff_book,
)
from ledger.energy.settlement_sim import SettlementWorld, build_world, synthetic_day
from ledger.indexer.events import SETTLEMENT_EVENTS, check_abi
from tests.integration.indexer.helpers import (
    CHAIN_ID,
    chain_logs,
    index_once,
    indexed_logs,
    store_for,
)
from tests.settle_store import sql_day_store

pytestmark = pytest.mark.chain


@pytest.fixture
def node(tmp_path: Path) -> Iterator[DevNode]:
    """A chain of this test whose clock starts before the tariff (2025-06-01)."""
    start = "2025-05-20T00:00:00Z"
    with DevNode(free_port(), log_path=tmp_path / "node.log", initial_date=start) as running:
        yield running

# A text operation id, as the demo and `ledger settle --operation sim-lyon3` use: a 256-bit hash on chain.
OPERATION = operation_number("lyon3-indexer-test")
PRODUCERS = ("PRM-P1", "PRM-P2")
CONSUMERS = ("PRM-C1", "PRM-C2", "PRM-C3")


def settle(world: SettlementWorld, day: date, store_dir: Path, batch: int = 2) -> SettleResult:
    compute = day_compute(
        operation_id=world.operation_id, day=day, step=StepLength.MIN15,
        readings=synthetic_day(day, PRODUCERS, CONSUMERS), key=DefaultKey(),
        book=tariff_book(world.chain.tariffs(world.operation_id)), accounts=world.accounts,
        batch_size=batch,
    )
    return Settler(world.chain, sql_day_store(store_dir), batch_size=batch).run(
        world.operation_id, day, compute
    )


def chain_rows(w3: Web3, manifest: Manifest) -> dict[str, list[tuple[Any, ...]]]:
    """The settlement events on the chain, decoded by web3's ABI decoder (independent of the
    indexer's), as the rows the indexer's tables should hold."""
    info = manifest.contracts["EnergySettlement"]
    contract = w3.eth.contract(address=Web3.to_checksum_address(info.address), abi=info.abi)
    raw = w3.eth.get_logs({"address": contract.address, "fromBlock": 0, "toBlock": "latest"})
    rows: dict[str, list[tuple[Any, ...]]] = {
        "tariffs": [], "settlement_days": [], "settlement_payments": [], "settlement_shortfalls": []}
    for log in raw:
        for name in ("EnergySettlementTariffSet", "EnergySettlementDayCommitted",
                     "EnergySettlementBatchPaid", "EnergySettlementShortfall"):
            try:
                a = contract.events[name]().process_log(log)["args"]
            except MismatchedABI:
                continue
            break
        else:
            continue
        key = (int(log["blockNumber"]), int(log["logIndex"]), "0x" + bytes(log["transactionHash"]).hex())
        if name == "EnergySettlementTariffSet":
            rows["tariffs"].append((*key, a["operationId"], a["scheduleId"], a["effectiveFrom"],
                                    a["solarPrice"], a["peakPrice"], a["offPeakPrice"]))
        elif name == "EnergySettlementDayCommitted":
            t = a["totals"]
            rows["settlement_days"].append((
                *key, a["operationId"], a["day"], a["version"], "0x" + bytes(a["root"]).hex(),
                t["producedWh"], t["consumedWh"], t["allocatedWh"], t["surplusWh"], t["amount"],
                t["transfers"]))
        elif name == "EnergySettlementBatchPaid":
            rows["settlement_payments"].append((
                *key, a["operationId"], a["day"], a["version"], a["fromIndex"], a["toIndex"],
                a["paid"], a["shortfall"]))
        else:
            rows["settlement_shortfalls"].append((
                *key, a["operationId"], a["day"], a["version"], a["index"], a["payer"].lower(),
                a["payee"].lower(), a["amount"]))
    return rows


def indexed_rows(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    from ledger.db.models import SettlementDay, SettlementPayment, SettlementShortfall, Tariff

    store = store_for(database_url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with store.engine.connect() as conn:
            for model in (Tariff, SettlementDay, SettlementPayment, SettlementShortfall):
                table = model.__table__
                columns = [c for c in table.columns if c.name != "chain_id"]  # type: ignore[attr-defined]
                result = conn.execute(
                    table.select().with_only_columns(*columns)  # type: ignore[attr-defined]
                    .where(table.c.chain_id == CHAIN_ID)  # type: ignore[attr-defined]
                    .order_by(table.c.block_number, table.c.log_index)  # type: ignore[attr-defined]
                )
                out[str(model.__tablename__)] = [tuple(r) for r in result]
    finally:
        store.engine.dispose()
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def database_urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two scratch databases of one kind: the one followed through the reorg, and a fresh one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}", f"sqlite:///{tmp_path / 'fresh.db'}"
    first: str = request.getfixturevalue("postgres_url")
    admin = make_engine(first)
    name = f"ledger_test_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()

    request.addfinalizer(drop)
    return first, admin.url.set(database=name).render_as_string(hide_password=False)


def test_a_settled_day_is_decoded_exactly_and_a_reorg_across_its_payment_removes_it(
    node: DevNode, tmp_path: Path, database_urls: tuple[str, str]
) -> None:
    w3 = connect(node.url)
    manifest = deploy_district(w3, dev_account(0))
    manifest_path = tmp_path / "deployment.json"
    manifest.save(manifest_path)
    info = manifest.contracts["EnergySettlement"]
    assert check_abi(info.abi, SETTLEMENT_EVENTS) == []
    assert {e["name"] for e in info.abi if e.get("type") == "event"} >= set(SETTLEMENT_EVENTS)
    world = build_world(w3, manifest, OPERATION, PRODUCERS, CONSUMERS, operator=dev_account(0),
                        tariff_from=date(2025, 6, 1))
    # tariffs are never retroactive: set while the clock is in May, then past the settled day
    w3.provider.make_request("evm_setNextBlockTimestamp", [1_750_400_000])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    # one consumer spent everything: its lines become shortfall events, the batch goes on
    poor = world.consumers["PRM-C2"]
    resident = District(w3, poor, manifest)
    resident.transfer(world.accounts["PRM-C1"], resident.balance_of(poor.address))
    first = settle(world, date(2025, 6, 15), tmp_path / "settle")
    assert first.shortfalls and len(first.batches) >= 2

    database_url, fresh_url = database_urls
    index_once(node.url, manifest_path, database_url, confirmations=12)
    expected = chain_rows(w3, manifest)
    got = indexed_rows(database_url)
    assert got == expected
    assert len(got["tariffs"]) == 1 and len(got["settlement_days"]) == 1
    assert len(got["settlement_payments"]) == len(first.batches)
    assert sum(r[8] for r in got["settlement_payments"]) == first.paid
    assert sum(r[9] for r in got["settlement_payments"]) == first.shortfall > 0
    assert [r[9] for r in got["settlement_shortfalls"]] == [s.amount for s in first.shortfalls]

    # a second day, settled on a fork that the chain then abandons
    from tests.fixtures.districtchain import Chain

    chain = Chain(node.url)
    try:
        snapshot = chain.snapshot()
        second = settle(world, date(2025, 6, 16), tmp_path / "settle-fork")
        assert second.committed_now and second.batches
        index_once(node.url, manifest_path, database_url, confirmations=12)
        forked = indexed_rows(database_url)
        assert len(forked["settlement_days"]) == 2
        assert len(forked["settlement_payments"]) == len(first.batches) + len(second.batches)
        chain.revert(snapshot)
        operator = District(w3, dev_account(0), manifest)
        for i in range(len(second.batches) + 3):  # a longer fork without the second day
            operator.record_deposit(f"FORK-{i}", world.accounts["PRM-C3"], 1_000 + i)
    finally:
        chain.close()
    index_once(node.url, manifest_path, database_url, confirmations=12)
    assert indexed_rows(database_url) == chain_rows(w3, manifest) == expected
    assert indexed_logs(database_url) == chain_logs(node.url, manifest_path)
    # and the data equals, row for row, that of a database indexed from scratch on the new chain
    # (the stored headers differ by design: a backfill keeps only the blocks holding logs)
    index_once(node.url, manifest_path, fresh_url, confirmations=12)
    tables = [t for t in DIGEST_TABLES if t != "blocks"]
    assert {"tariffs", "settlement_days", "settlement_payments", "settlement_shortfalls"} <= set(tables)
    digests = []
    for url in (database_url, fresh_url):
        store = store_for(url)
        digests.append(store.digest(CHAIN_ID, tables))
        store.engine.dispose()
    assert digests[0] == digests[1]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_migration_decodes_the_settlement_logs_a_database_already_holds(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A database indexed before revision 0004 kept settlement logs raw only: the upgrade fills
    the new tables with exactly what the indexer's decoder makes of those logs."""
    from eth_abi import encode
    from sqlalchemy import insert

    from ledger.db import migrate
    from ledger.db.models import RawLog
    from ledger.db.records import Batch, Cursor
    from ledger.indexer.events import (
        T_BATCH_PAID,
        T_DAY_COMMITTED,
        T_SHORTFALL,
        T_TARIFF_SET,
        Decoder,
    )

    settlement, payer, payee = "0x" + "33" * 20, "0x" + "aa" * 20, "0x" + "bb" * 20

    def w(n: int) -> str:
        return "0x" + f"{n:064x}"

    def log(index: int, topics: list[str], types: list[str], values: list[Any]) -> dict[str, Any]:
        return {"address": settlement, "topics": topics, "data": "0x" + encode(types, values).hex(),
                "blockNumber": hex(9 + index), "blockHash": "0x" + "cd" * 32,
                "transactionHash": "0x" + f"{index:064x}", "transactionIndex": "0x0",
                "logIndex": "0x1"}

    logs = [
        log(0, [T_TARIFF_SET, w(4), w(1)], ["uint32"] * 4, [20250601, 80_000, 100_000, 60_000]),
        log(1, [T_DAY_COMMITTED, w(4), w(20250615), w(1)],
            ["bytes32", "(uint64,uint64,uint64,uint64,uint128,uint32)"],
            [b"\x07" * 32, (2**64 - 1, 9, 8, 7, 2**128 - 1, 6)]),
        log(2, [T_SHORTFALL, w(4), w(20250615), "0x" + "0" * 24 + payer[2:]],
            ["uint32", "uint32", "address", "uint256"], [1, 3, payee, 2**256 - 1]),
        log(3, [T_BATCH_PAID, w(4), w(20250615), w(1)], ["uint32", "uint32", "uint256", "uint256"],
            [0, 6, 10**30, 2**256 - 1]),
    ]
    batch = Batch(CHAIN_ID, 9, Cursor(12, "0x" + "cd" * 32))
    Decoder("0x" + "11" * 20, None, settlement=settlement).decode_into(logs, batch)
    url = (f"sqlite:///{tmp_path / 'old.db'}" if kind == "sqlite"
           else str(request.getfixturevalue("postgres_url")))
    engine = make_engine(url)
    try:
        migrate(engine, "0003")
        with engine.begin() as conn:
            conn.execute(insert(RawLog), [r._asdict() for r in batch.logs])
        migrate(engine)
    finally:
        engine.dispose()
    rows = indexed_rows(url)
    assert rows == {
        "tariffs": [tuple(r) for r in batch.tariffs],
        "settlement_days": [tuple(r) for r in batch.settlement_days],
        "settlement_payments": [tuple(r) for r in batch.settlement_payments],
        "settlement_shortfalls": [tuple(r) for r in batch.settlement_shortfalls],
    }
    assert all(rows.values())
