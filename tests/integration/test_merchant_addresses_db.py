"""Merchant street addresses (migration 0016_merchant_addresses) on SQLite and PostgreSQL: set,
moved, read per chain, and kept by another process reading the same database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from ledger.db import make_engine, migrate
from ledger.db.api_state import SqlApiState
from tests.conftest import require_service


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    base = require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"addresses_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_merchants_address_is_set_moved_and_read_per_chain(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        assert "api_merchant_addresses" in inspect(engine).get_table_names()
        writer = SqlApiState(engine)
        writer.set_merchant_address(69003, 1, "12 rue Moncey, 69003 Lyon", 100)
        writer.set_merchant_address(69003, 2, "3 place Guichard, 69003 Lyon", 100)
        writer.set_merchant_address(69003, 1, "40 cours Gambetta, 69003 Lyon", 200)  # it moved
        writer.set_merchant_address(1, 1, "another chain's merchant 1", 200)
        reader = SqlApiState(make_engine(database_url))  # another worker process
        assert reader.merchant_addresses(69003) == {
            1: "40 cours Gambetta, 69003 Lyon",
            2: "3 place Guichard, 69003 Lyon",
        }
        assert reader.merchant_addresses(1) == {1: "another chain's merchant 1"}
        reader.close()
        writer.close()
    finally:
        engine.dispose()
