"""Final blocks dated from their logs' `blockTimestamp` (no header read) on a real node: every
stored block's hash and time equal the node's header, on SQLite and PostgreSQL; the migration
that makes the parent hash optional goes down and up again without losing a block."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.engine import Engine

from ledger.db import make_engine, migrate
from ledger.db.migrate import alembic_config
from ledger.indexer.rpc import RpcClient
from tests.fixtures.districtchain import Chain, MockDistrict, seed_activity
from tests.integration.indexer.helpers import CHAIN_ID, check, index_once


def _stored_blocks(database_url: str) -> list[tuple[int, str, str | None, int]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT number, hash, parent_hash, timestamp FROM blocks WHERE chain_id = "
                f"{CHAIN_ID} ORDER BY number").all()
    finally:
        engine.dispose()
    return [(int(r[0]), str(r[1]), r[2], int(r[3])) for r in rows]


def _backfill_dates_blocks_as_the_node(chain: Chain, district: MockDistrict, manifest: Path,
                                       database_url: str) -> None:
    seed_activity(district, rounds=2)
    # confirmations=0: every block is final, so the whole run is the backfill path
    assert index_once(chain.url, manifest, database_url, confirmations=0) > 0
    stored = _stored_blocks(database_url)
    assert stored
    with RpcClient(chain.url) as rpc:
        headers = rpc.headers([n for n, *_ in stored])
    for (_number, block_hash, parent_hash, timestamp), header in zip(stored, headers, strict=True):
        assert header is not None
        assert (block_hash, timestamp) == (header["hash"], int(header["timestamp"], 16))
        assert parent_hash in (None, header["parentHash"])
    assert any(parent is None for _, _, parent, _ in stored)  # dated from logs, no header read
    result = check(chain.url, manifest, database_url)
    assert result.ok, result.differences


@pytest.mark.chain
def test_sqlite_backfill_dates_blocks_from_their_logs(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    _backfill_dates_blocks_as_the_node(chain, district, manifest, sqlite_url)


@pytest.mark.postgres
@pytest.mark.chain
def test_postgres_backfill_dates_blocks_from_their_logs(
    chain: Chain, district: MockDistrict, manifest: Path, postgres_url: str
) -> None:
    _backfill_dates_blocks_as_the_node(chain, district, manifest, postgres_url)


def _migration_round_trip(database_url: str) -> None:
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO blocks (chain_id, number, hash, parent_hash, timestamp) VALUES "
                f"(1, 5, '0x{'05' * 32}', NULL, 50), (1, 6, '0x{'06' * 32}', '0x{'05' * 32}', 60)")
        command.downgrade(alembic_config(engine), "0020_settlement_residues_hash")
        assert _blocks(engine) == [(5, "", 50), (6, f"0x{'05' * 32}", 60)]
        command.upgrade(alembic_config(engine), "head")
        assert _blocks(engine) == [(5, "", 50), (6, f"0x{'05' * 32}", 60)]
    finally:
        engine.dispose()


def _blocks(engine: Engine) -> list[tuple[int, str, int]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT number, parent_hash, timestamp FROM blocks ORDER BY number").all()
    return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]


def test_the_optional_parent_migration_round_trips_on_sqlite(tmp_path: Path) -> None:
    _migration_round_trip(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_the_optional_parent_migration_round_trips_on_postgres(postgres_url: str) -> None:
    _migration_round_trip(postgres_url)
