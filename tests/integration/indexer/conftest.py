"""Fixtures of the indexer's integration tests: a real Hardhat node, mock district contracts,
SQLite files and PostgreSQL scratch databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.chain.devnode import DevNode, free_port
from ledger.db import make_engine
from tests.fixtures.districtchain import Chain, MockDistrict

PG_ENV = "LEDGER_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    log = tmp_path_factory.mktemp("node") / "hardhat.log"
    with DevNode(free_port(), log_path=log) as running:
        yield running


@pytest.fixture
def chain(node: DevNode) -> Iterator[Chain]:
    running = Chain(node.url)
    yield running
    running.close()


@pytest.fixture
def district(chain: Chain) -> MockDistrict:
    return MockDistrict(chain)


@pytest.fixture
def manifest(district: MockDistrict, tmp_path: Path) -> Path:
    return district.write_manifest(tmp_path / "deployment.json")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def postgres_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_ENV} is not set but CI=true: PostgreSQL tests must run in CI")
        pytest.skip(f"{PG_ENV} not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A scratch database, dropped afterwards."""
    admin_url = postgres_admin_url()
    assert admin_url is not None
    admin = make_engine(admin_url)
    name = f"ledger_test_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
