"""`ledger backup` then `ledger restore` into a fresh database: indexing resumes from the restored
cursor and `ledger reconcile` passes; a restore never overwrites a database that holds tables."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.db import make_engine
from tests.fixtures.districtchain import Chain, MockDistrict, seed_activity
from tests.integration.indexer.conftest import postgres_admin_url
from tests.integration.indexer.helpers import (
    chain_logs,
    digest,
    index_once,
    indexed_logs,
    run_ledger,
)

pytestmark = pytest.mark.chain


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A second scratch database (the restore target), dropped afterwards."""
    admin_url = postgres_admin_url()
    admin = make_engine(admin_url)
    name = f"ledger_restore_{uuid.uuid4().hex[:10]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _round_trip(chain: Chain, district: MockDistrict, manifest: Path, source: str, target: str,
                backup_file: Path) -> None:
    seed_activity(district, rounds=1)
    index_once(chain.url, manifest, source, confirmations=2)
    made = run_ledger("backup", str(backup_file), "--database-url", source)
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    again = run_ledger("backup", str(backup_file), "--database-url", source)
    assert again.returncode == 1 and "exists already" in again.stderr
    for i in range(3):  # the chain goes on after the backup
        district.transfer(1, district.account(14), 100 + i)
    restored = run_ledger("restore", str(backup_file), "--database-url", target)
    assert restored.returncode == 0, restored.stderr
    resumed = run_ledger("index", "--once", "--rpc-url", chain.url, "--manifest", str(manifest),
                         "--database-url", target, "--confirmations", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert indexed_logs(target) == chain_logs(chain.url, manifest)
    reconciled = run_ledger("reconcile", "--rpc-url", chain.url, "--manifest", str(manifest),
                            "--database-url", target)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    before = digest(target)
    refused = run_ledger("restore", str(backup_file), "--database-url", target)
    assert refused.returncode == 1 and "already holds tables" in refused.stderr
    assert digest(target) == before


def test_a_sqlite_backup_restores_into_a_fresh_file_and_indexing_resumes(
    chain: Chain, district: MockDistrict, manifest: Path, tmp_path: Path
) -> None:
    _round_trip(chain, district, manifest, f"sqlite:///{tmp_path / 'ledger.db'}",
                f"sqlite:///{tmp_path / 'restored' / 'ledger.db'}", tmp_path / "ledger.backup")


def test_a_postgres_backup_restores_into_a_fresh_database_and_indexing_resumes(
    chain: Chain, district: MockDistrict, manifest: Path, postgres_url: str,
    fresh_postgres: str, tmp_path: Path,
) -> None:
    _round_trip(chain, district, manifest, postgres_url, fresh_postgres, tmp_path / "ledger.dump")


def test_a_backup_of_the_wrong_kind_is_refused_with_a_sentence(tmp_path: Path) -> None:
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup")
    refused = run_ledger("restore", str(junk), "--database-url", f"sqlite:///{tmp_path / 'x.db'}")
    assert refused.returncode == 1
    assert "neither a SQLite backup nor a pg_dump" in refused.stderr
