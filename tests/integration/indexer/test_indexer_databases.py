"""Exact amounts, migrations, locks and lost connections on real SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.db import DatabaseUnavailable, WriterBusy, make_engine, migrate
from ledger.db.lock import writer_lock
from ledger.db.models import Balance
from ledger.db.records import NodeLimits
from ledger.db.store import Store
from ledger.db.types import U256_MAX
from tests.fixtures.districtchain import Chain, MockDistrict, seed_activity
from tests.integration.indexer.helpers import chain_logs, check, digest, index_once, indexed_logs

AMOUNTS = [0, 1, 2**53 - 1, 2**53, 2**53 + 1, 10**30 + 7, 2**255, U256_MAX - 1, U256_MAX]


def _round_trip(url: str) -> None:
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(Balance.__table__.insert(), [
                {"chain_id": 1, "account": f"0x{i:040x}", "balance": v, "updated_block": i}
                for i, v in enumerate(AMOUNTS)
            ])
        with engine.connect() as conn:
            got = conn.execute(select(Balance.balance).order_by(Balance.balance)).scalars().all()
        assert got == sorted(AMOUNTS)  # exact, and SQL order is numeric order
        assert Store(engine).balances(1) == {f"0x{i:040x}": v for i, v in enumerate(AMOUNTS)}
    finally:
        engine.dispose()


def test_amounts_up_to_2_256_minus_1_survive_sqlite(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'amounts.db'}")


@pytest.mark.postgres
def test_amounts_up_to_2_256_minus_1_survive_postgres(postgres_url: str) -> None:
    _round_trip(postgres_url)


def _node_limits_round_trip(url: str) -> None:
    migrate(url)
    engine = make_engine(url)
    try:
        store = Store(engine)
        assert store.node_limits(1, "a" * 64) is None
        store.save_node_limits(1, "a" * 64, NodeLimits(None, 2_048, 1_536, 7_500))
        store.save_node_limits(1, "a" * 64, NodeLimits(300, None, 300, 20_000))  # replaced
        store.save_node_limits(2, "a" * 64, NodeLimits(10, None, 10, 5))  # another chain
        assert store.node_limits(1, "a" * 64) == NodeLimits(300, None, 300, 20_000)
        assert store.node_limits(1, "b" * 64) is None  # another node learns its own
    finally:
        engine.dispose()


def test_a_node_range_cap_is_kept_in_sqlite(tmp_path: Path) -> None:
    _node_limits_round_trip(f"sqlite:///{tmp_path / 'limits.db'}")


@pytest.mark.postgres
def test_a_node_range_cap_is_kept_in_postgres(postgres_url: str) -> None:
    _node_limits_round_trip(postgres_url)


def test_migrations_run_twice_without_change(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate(url)
    migrate(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    engine.dispose()
    from alembic.script import ScriptDirectory

    from ledger.db.migrate import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert (mode, version) == ("wal", head)


@pytest.mark.postgres
@pytest.mark.chain
def test_postgres_backfill_reorg_and_reconcile(
    chain: Chain, district: MockDistrict, manifest: Path, postgres_url: str
) -> None:
    seed_activity(district, rounds=2)
    snapshot = chain.snapshot()
    for i in range(3):
        district.transfer(1, district.account(10), 100 + i)
    index_once(chain.url, manifest, postgres_url, confirmations=12)
    assert check(chain.url, manifest, postgres_url).ok
    chain.revert(snapshot)
    for i in range(5):
        district.transfer(2, district.account(11), 200 + i)
    index_once(chain.url, manifest, postgres_url, confirmations=12)
    assert indexed_logs(postgres_url) == chain_logs(chain.url, manifest)
    result = check(chain.url, manifest, postgres_url)
    assert result.ok, result.differences


@pytest.mark.postgres
def test_a_second_postgres_writer_is_refused_while_the_first_holds_the_lock(
    postgres_url: str,
) -> None:
    first = make_engine(postgres_url)
    second = make_engine(postgres_url)
    try:
        with writer_lock(first):
            with pytest.raises(WriterBusy, match="advisory lock"):
                with writer_lock(second):
                    pass
        with writer_lock(second):  # released: the next one gets it
            pass
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.postgres
@pytest.mark.chain
def test_a_killed_postgres_connection_leaves_no_half_written_batch(
    chain: Chain, district: MockDistrict, manifest: Path, postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_activity(district, rounds=1)
    index_once(chain.url, manifest, postgres_url, confirmations=0)
    before = digest(postgres_url)
    seed_activity(district, rounds=1, salt=5)
    original = Store._apply_bookings
    admin = make_engine(postgres_url)

    def kill_own_backend(self: Store, conn: object, batch: object) -> None:
        # raw logs, transfers and balances of this batch are written (uncommitted) by now
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()  # type: ignore[attr-defined]
        with admin.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        original(self, conn, batch)  # type: ignore[arg-type]
        conn.exec_driver_sql("SELECT 1")  # type: ignore[attr-defined]

    monkeypatch.setattr(Store, "_apply_bookings", kill_own_backend)
    try:
        with pytest.raises(DatabaseUnavailable):
            index_once(chain.url, manifest, postgres_url, confirmations=0)
    finally:
        admin.dispose()
    monkeypatch.setattr(Store, "_apply_bookings", original)
    assert digest(postgres_url) == before
    index_once(chain.url, manifest, postgres_url, confirmations=0)
    assert check(chain.url, manifest, postgres_url).ok


def test_the_sqlite_lock_can_be_waited_for(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    released = threading.Event()
    acquired = threading.Event()

    def holder() -> None:
        with writer_lock(engine):
            acquired.set()
            released.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    acquired.wait(5)
    with pytest.raises(WriterBusy):
        with writer_lock(engine):
            pass
    threading.Timer(0.3, released.set).start()
    with writer_lock(engine, wait=True):
        pass
    t.join(5)
    engine.dispose()
