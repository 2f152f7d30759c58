"""Exact amounts, migrations, locks and lost connections on real SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.db import DatabaseUnavailable, WriterBusy, make_engine, migrate
from ledger.db.lock import writer_lock
from ledger.db.models import (
    AccountFreeze,
    Balance,
    MinterConfig,
    PayoutChange,
    RawLog,
    TokenAuthorization,
)
from ledger.db.records import (
    AuthorizationRow,
    Batch,
    BlockRow,
    BookingEndRow,
    BookingOpenRow,
    Cursor,
    DepositRow,
    FreezeRow,
    MinterConfigRow,
    NodeLimits,
    PayoutChangeRow,
    ReserveCarryRow,
    TransferRow,
)
from ledger.db.store import Store, deferred_indexes
from ledger.db.types import U256_MAX
from ledger.indexer.events import (
    T_ACCOUNT_FROZEN,
    T_ACCOUNT_UNFROZEN,
    T_AUTHORIZATION_CANCELED,
    T_AUTHORIZATION_USED,
    T_MINTER_CONFIGURED,
    T_PAYOUT_CANCELED,
    T_PAYOUT_REQUESTED,
    Decoder,
)
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


_NONCE = "0x" + "5a" * 32
_ORDER = "0x" + "0c" * 32
_ALICE = "0x" + "aa" * 20
_BOB = "0x" + "bb" * 20


def _powers_batch(first: int) -> Batch:
    batch = Batch(7, first, Cursor(first + 1, "0x" + "01" * 32))
    batch.blocks = [BlockRow(first, "0x" + "02" * 32, "0x" + "03" * 32, 1_764_000_000),
                    BlockRow(first + 1, "0x" + "01" * 32, "0x" + "02" * 32, 1_764_000_002)]
    tx = "0x" + "ef" * 32
    batch.authorizations = [AuthorizationRow(first, 0, tx, _ALICE, _NONCE, "used")]
    batch.freezes = [FreezeRow(first, 1, tx, _BOB, _ORDER, True)]
    batch.minter_configs = [MinterConfigRow(first + 1, 0, tx, _ALICE, U256_MAX, 2**53 + 1)]
    batch.payout_changes = [PayoutChangeRow(first + 1, 1, tx, 3, "requested", _ALICE, _BOB,
                                            1_764_172_800)]
    return batch


def _powers_are_stored_exactly_and_rolled_back(url: str) -> None:
    migrate(url)
    engine = make_engine(url)
    try:
        store = Store(engine)
        store.apply(_powers_batch(10))
        store.apply(_powers_batch(12))
        with engine.connect() as conn:
            minted = conn.execute(select(MinterConfig.allowance, MinterConfig.daily_limit)
                                  ).all()
            frozen = conn.execute(select(AccountFreeze.frozen)).scalars().all()
        assert [tuple(m) for m in minted] == [(U256_MAX, 2**53 + 1)] * 2 and frozen == [True] * 2
        for table in ("token_authorizations", "account_freezes", "minter_configs",
                      "payout_changes"):
            assert store.count(table, 7) == 2
        store.rollback_to(7, Cursor(11, "0x" + "01" * 32))  # a reorg of blocks 12 and 13
        for table in ("token_authorizations", "account_freezes", "minter_configs",
                      "payout_changes"):
            assert store.count(table, 7) == 1, table
    finally:
        engine.dispose()


def test_powers_events_are_stored_exactly_and_rolled_back_in_sqlite(tmp_path: Path) -> None:
    _powers_are_stored_exactly_and_rolled_back(f"sqlite:///{tmp_path / 'powers.db'}")


@pytest.mark.postgres
def test_powers_events_are_stored_exactly_and_rolled_back_in_postgres(postgres_url: str) -> None:
    _powers_are_stored_exactly_and_rolled_back(postgres_url)


def _raw(block: int, index: int, address: str, topics: list[str], data: str) -> dict[str, object]:
    return {"chain_id": 7, "block_number": block, "log_index": index, "tx_hash": "0x" + "ef" * 32,
            "tx_index": 0, "address": address, "topic0": topics[0],
            "topic1": topics[1] if len(topics) > 1 else None,
            "topic2": topics[2] if len(topics) > 2 else None,
            "topic3": topics[3] if len(topics) > 3 else None, "data": data}


def _upgrade_decodes_stored_logs(url: str) -> None:
    """A database indexed before migration 0014 gets its powers events decoded by the upgrade
    (no re-indexing), as the indexer's decoder would have."""
    migrate(url, "0013_node_limits")
    token, payments = "0x" + "11" * 20, "0x" + "22" * 20
    word = f"{2**200 + 5:064x}" + f"{7:064x}"
    logs = [
        _raw(5, 0, token, [T_AUTHORIZATION_USED, "0x" + "0" * 24 + _ALICE[2:], _NONCE], "0x"),
        _raw(5, 1, token, [T_AUTHORIZATION_CANCELED, "0x" + "0" * 24 + _BOB[2:], _NONCE], "0x"),
        _raw(5, 2, token, [T_ACCOUNT_FROZEN, "0x" + "0" * 24 + _BOB[2:], _ORDER], "0x"),
        _raw(6, 0, token, [T_ACCOUNT_UNFROZEN, "0x" + "0" * 24 + _BOB[2:], _ORDER], "0x"),
        _raw(6, 1, token, [T_MINTER_CONFIGURED, "0x" + "0" * 24 + _ALICE[2:]], "0x" + word),
        _raw(6, 2, payments, [T_PAYOUT_REQUESTED, f"0x{3:064x}", "0x" + "0" * 24 + _ALICE[2:],
                              "0x" + "0" * 24 + _BOB[2:]], f"0x{1_764_172_800:064x}"),
        _raw(6, 3, payments, [T_PAYOUT_CANCELED, f"0x{3:064x}", "0x" + "0" * 24 + _BOB[2:]], "0x"),
    ]
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(RawLog.__table__.insert(), logs)
        decoder_batch = Batch(7, 5, Cursor(6, ""))
        Decoder(token, payments).decode_into([
            {"address": r["address"], "topics": [t for t in (r["topic0"], r["topic1"], r["topic2"],
                                                              r["topic3"]) if t],
             "data": r["data"], "blockNumber": hex(int(str(r["block_number"]))),
             "logIndex": hex(int(str(r["log_index"]))), "transactionHash": r["tx_hash"],
             "transactionIndex": "0x0"} for r in logs], decoder_batch)
        migrate(url)
        store = Store(engine)
        with engine.connect() as conn:
            got_auth = [tuple(r) for r in conn.execute(select(
                TokenAuthorization.block_number, TokenAuthorization.log_index,
                TokenAuthorization.tx_hash, TokenAuthorization.authorizer,
                TokenAuthorization.nonce, TokenAuthorization.state))]
            got_freezes = [tuple(r) for r in conn.execute(select(
                AccountFreeze.block_number, AccountFreeze.log_index, AccountFreeze.tx_hash,
                AccountFreeze.account, AccountFreeze.order_ref, AccountFreeze.frozen))]
            got_minters = [tuple(r) for r in conn.execute(select(
                MinterConfig.block_number, MinterConfig.log_index, MinterConfig.tx_hash,
                MinterConfig.minter, MinterConfig.allowance, MinterConfig.daily_limit))]
            got_changes = [tuple(r) for r in conn.execute(select(
                PayoutChange.block_number, PayoutChange.log_index, PayoutChange.tx_hash,
                PayoutChange.merchant_id, PayoutChange.kind, PayoutChange.old_payout,
                PayoutChange.new_payout, PayoutChange.effective_at))]
        assert sorted(got_auth) == [tuple(a) for a in decoder_batch.authorizations]
        assert sorted(got_freezes) == [tuple(f) for f in decoder_batch.freezes]
        assert sorted(got_minters) == [tuple(m) for m in decoder_batch.minter_configs]
        assert sorted(got_changes) == [tuple(p) for p in decoder_batch.payout_changes]
        assert store.count("token_authorizations", 7) == 2
    finally:
        engine.dispose()


def test_the_upgrade_decodes_powers_events_already_stored_in_sqlite(tmp_path: Path) -> None:
    _upgrade_decodes_stored_logs(f"sqlite:///{tmp_path / 'upgrade.db'}")


@pytest.mark.postgres
def test_the_upgrade_decodes_powers_events_already_stored_in_postgres(postgres_url: str) -> None:
    _upgrade_decodes_stored_logs(postgres_url)


def _carried_reserve_moves_the_indexed_reserve(url: str) -> None:
    """A successor's ReserveCarriedOver adds the predecessor's reserve to the indexed reserve
    (deposits state the reserve after them, the carry is added), and a reorg takes it away."""
    migrate(url)
    engine = make_engine(url)
    tx = "0x" + "ef" * 32
    try:
        store = Store(engine)
        first = Batch(7, 1, Cursor(2, "0x" + "01" * 32))
        first.blocks = [BlockRow(2, "0x" + "01" * 32, "0x" + "00" * 32, 1_764_000_000)]
        first.transfers = [TransferRow(2, 0, tx, "0x" + "0" * 40, _ALICE, 100)]
        first.deposits = [DepositRow(2, 1, tx, "0x" + "b1" * 32, _ALICE, 100, 100)]
        store.apply(first)
        carry = Batch(7, 3, Cursor(4, "0x" + "03" * 32))
        carry.blocks = [BlockRow(3, "0x" + "02" * 32, "0x" + "01" * 32, 1_764_000_002),
                        BlockRow(4, "0x" + "03" * 32, "0x" + "02" * 32, 1_764_000_004)]
        # block 3: the carried reserve, then a carried balance (a mint); block 4: a deposit
        carry.reserve_carries = [ReserveCarryRow(3, 0, tx, _BOB, 2**200)]
        carry.transfers = [TransferRow(3, 1, tx, "0x" + "0" * 40, _BOB, 2**199),
                           TransferRow(4, 0, tx, "0x" + "0" * 40, _ALICE, 5)]
        carry.deposits = [DepositRow(4, 1, tx, "0x" + "b2" * 32, _ALICE, 5, 2**200 + 105)]
        store.apply(carry)
        assert store.supply(7, 3) == (100 + 2**199, 100 + 2**200)
        assert store.supply(7) == (105 + 2**199, 2**200 + 105)
        assert store.count("reserve_carries", 7) == 1
        store.rollback_to(7, Cursor(2, "0x" + "01" * 32))
        assert store.supply(7) == (100, 100) and store.count("reserve_carries", 7) == 0
    finally:
        engine.dispose()


def test_a_carried_reserve_moves_the_indexed_reserve_in_sqlite(tmp_path: Path) -> None:
    _carried_reserve_moves_the_indexed_reserve(f"sqlite:///{tmp_path / 'carry.db'}")


@pytest.mark.postgres
def test_a_carried_reserve_moves_the_indexed_reserve_in_postgres(postgres_url: str) -> None:
    _carried_reserve_moves_the_indexed_reserve(postgres_url)


def _booking_ends_of_a_batch(url: str) -> None:
    """A batch's booking ends, written in one statement: each booking gets its last end (a
    booking ended twice in one batch keeps the second, as when each end was its own UPDATE),
    amounts up to 2^256 - 1 exact, an end of a booking never opened changes nothing, and ends
    of two kinds together (their states of two widths go the bound way on SQLite)."""
    migrate(url)
    engine = make_engine(url)
    tx = "0x" + "ab" * 32
    try:
        store = Store(engine)
        opened = Batch(7, 1, Cursor(1, "0x" + "01" * 32))
        opened.blocks = [BlockRow(1, "0x" + "01" * 32, "0x" + "00" * 32, 1_764_000_000)]
        opened.booking_opens = [BookingOpenRow(1, i, tx, i, 1, _ALICE, 10**18, 2_000_000_000,
                                               "0x" + "cd" * 32) for i in range(1, 6)]
        store.apply(opened)
        for first, ends in ((2, [BookingEndRow(2, 0, tx, 1, "closed", 2**256 - 1, 0),
                                 BookingEndRow(2, 1, tx, 2, "closed", 5, 10**18 - 5),
                                 BookingEndRow(2, 2, tx, 1, "closed", 7, 3),
                                 BookingEndRow(2, 3, tx, 99, "closed", 1, 1)]),
                            (3, [BookingEndRow(3, 0, tx, 3, "reclaimed", 0, 10**18),
                                 BookingEndRow(3, 1, tx, 4, "closed", 2**200, 1)])):
            batch = Batch(7, first, Cursor(first, "0x" + f"{first:02x}" * 32))
            batch.blocks = [BlockRow(first, "0x" + f"{first:02x}" * 32,
                                     "0x" + f"{first - 1:02x}" * 32, 1_764_000_000 + first)]
            batch.booking_ends = ends
            store.apply(batch)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT booking_id, state, charged, returned, ended_block, ended_log_index "
                "FROM bookings WHERE chain_id = 7 ORDER BY booking_id").all()
    finally:
        engine.dispose()
    got = [(int(b), s, None if c is None else Store._int(c), None if r is None else Store._int(r),
            e, li) for b, s, c, r, e, li in rows]
    assert got == [(1, "closed", 7, 3, 2, 2), (2, "closed", 5, 10**18 - 5, 2, 1),
                   (3, "reclaimed", 0, 10**18, 3, 0), (4, "closed", 2**200, 1, 3, 1),
                   (5, "open", None, None, None, None)]


def test_booking_ends_of_a_batch_in_sqlite(tmp_path: Path) -> None:
    _booking_ends_of_a_batch(f"sqlite:///{tmp_path / 'ends.db'}")


@pytest.mark.postgres
def test_booking_ends_of_a_batch_in_postgres(postgres_url: str) -> None:
    _booking_ends_of_a_batch(postgres_url)


def _deferred_indexes_dropped_and_built(url: str) -> None:
    from ledger.db.store import _present_indexes

    migrate(url)
    engine = make_engine(url)
    store = Store(engine)
    deferred = {(ix.table.name, str(ix.name)) for ix in deferred_indexes()}  # type: ignore[union-attr]

    def present() -> dict[tuple[str, str], str]:
        with engine.connect() as conn:
            return _present_indexes(conn)

    try:
        everything = set(present())
        assert deferred <= everything
        assert ("settlement_days", "ix_settlement_days_day") in everything
        assert store.drop_deferred_indexes_if_empty() is True
        assert set(present()) == everything - deferred  # the others (and primary keys) stay
        assert store.drop_deferred_indexes_if_empty() is True  # already missing: nothing to do
        assert store.build_deferred_indexes() == len(deferred)
        assert set(present()) == everything
        assert store.build_deferred_indexes() == 0
        store.apply(Batch(7, 1, Cursor(1, "0x" + "b" * 64), blocks=[
            BlockRow(1, "0x" + "b" * 64, "0x" + "a" * 64, 100)],
            transfers=[TransferRow(1, 0, "0x" + "c" * 64, "0x" + "0" * 40, "0x" + "1" * 40, 5)]))
        assert store.drop_deferred_indexes_if_empty() is False  # a table holds a row: kept
        assert set(present()) == everything
    finally:
        engine.dispose()


def test_deferred_indexes_are_dropped_and_built_in_sqlite(tmp_path: Path) -> None:
    _deferred_indexes_dropped_and_built(f"sqlite:///{tmp_path / 'ix.db'}")


@pytest.mark.postgres
def test_deferred_indexes_are_dropped_and_built_in_postgres(postgres_url: str) -> None:
    _deferred_indexes_dropped_and_built(postgres_url)


@pytest.mark.postgres
def test_deferred_indexes_are_found_on_the_tables_the_search_path_resolves(
    postgres_url: str,
) -> None:
    """PostgreSQL's default search path is "$user", public: a schema named after the role,
    created once the tables are in public, becomes current_schema() while every table still
    resolves to public. The indexes are found there (not built twice: DuplicateTable), and an
    index of the same name in that first schema is neither counted nor dropped."""
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    try:
        with engine.begin() as conn:
            user = conn.exec_driver_sql("SELECT current_user").scalar_one()
            conn.exec_driver_sql(f'CREATE SCHEMA "{user}"')
            conn.exec_driver_sql(f'CREATE TABLE "{user}".other (account text)')
            conn.exec_driver_sql(
                f'CREATE INDEX ix_transfers_from_history ON "{user}".other (account)')
        store = Store(engine)
        assert store.build_deferred_indexes() == 0
        assert store.drop_deferred_indexes_if_empty() is True
        with engine.connect() as conn:
            kept = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_transfers_from_history'"
                f" AND schemaname = '{user}'").scalar_one()
        assert kept == 1
        assert store.build_deferred_indexes() == len(deferred_indexes())
    finally:
        engine.dispose()
