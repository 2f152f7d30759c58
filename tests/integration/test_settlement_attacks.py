"""Attacks on the settlement store from an outside review, on real SQLite and PostgreSQL: altered
residue, total and batch-size rows, a SQLite database named by a `file:` URI, a rebuild while a
run holds the day, a crash between a mined batch and its row."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger.db.settlement_store import SqlDayStore, settle_store
from ledger.energy.settlement import Compute, DayLines, DayLogs, OnChainDay, SettlementBusy, SettlementError
from ledger.energy.settlement_rebuild import rebuild_store
from tests.integration.test_settlement_store import DAY, HUGE_OPERATION, database_url, day_lines, store

__all__ = ["database_url", "store"]  # the fixtures, shared with the store's own tests


def test_attack_an_altered_residue_row_is_refused_on_reading(store: SqlDayStore) -> None:
    # A residue is not a leaf of the root, but it moves money into the next day's pair values.
    store.save(day_lines())
    with store.engine.begin() as conn:
        changed = conn.execute(text(
            "UPDATE settle_residues SET residue = 500 WHERE side = 'after' AND residue <> 500"
        )).rowcount
    assert changed
    with pytest.raises(SettlementError, match="altered"):
        store.load(HUGE_OPERATION, DAY)


@pytest.mark.parametrize(
    "change",
    ["amount = amount + 1", "transfers = transfers - 1", "allocated_wh = allocated_wh + 1", "batch_size = 1",
     "residues_hash = NULL"],
)
def test_attack_an_altered_total_or_batch_size_is_refused_on_reading(store: SqlDayStore, change: str) -> None:
    # A pending version is committed with its stored totals and paid in its stored batch size.
    store.save(day_lines())
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE settle_versions SET {change}"))
    with pytest.raises(SettlementError, match="altered"):
        store.load(HUGE_OPERATION, DAY)


def test_attack_the_same_sqlite_file_named_by_a_file_uri_is_held_by_one_run(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    plain = settle_store(f"sqlite:///{path}")
    as_uri = settle_store(f"sqlite:///file:{path}?uri=true")
    try:
        as_uri.save(day_lines())
        assert plain.load(HUGE_OPERATION, DAY)  # one database under two spellings
        with plain.claim(7, DAY):
            with pytest.raises(SettlementBusy), as_uri.claim(7, DAY):
                pass
        with as_uri.claim(7, DAY):
            with pytest.raises(SettlementBusy), plain.claim(7, DAY):
                pass
    finally:
        plain.engine.dispose()
        as_uri.engine.dispose()


class CommittedChain:
    """One committed, paid version of DAY: what `settle-rebuild` reads from the chain."""

    def __init__(self, lines: DayLines) -> None:
        self.lines = lines

    def committed_days(self, operation_id: int, from_block: int = 0) -> list[date]:
        return [DAY]

    def latest_version(self, operation_id: int, day: date) -> int:
        return 1

    def commitment(self, operation_id: int, day: date, version: int) -> OnChainDay:
        lines = self.lines
        return OnChainDay(lines.root, lines.totals, lines.batch_size, lines.batch_count, lines.totals.amount,
                          lines.totals.amount)

    def day_logs(self, operation_id: int, day: date, from_block: int = 0) -> DayLogs:
        return DayLogs({1: "0x" + "ab" * 32})


def test_attack_a_rebuild_while_a_run_holds_the_day_is_refused_and_writes_nothing(database_url: str) -> None:
    running, rebuilding = settle_store(database_url), settle_store(database_url)
    try:
        lines = day_lines()
        running.save(lines)
        running.mark(HUGE_OPERATION, DAY, 1, "commit-sent", "0x" + "12" * 32)
        def same_lines(_day: date) -> Compute:
            return lambda *_: lines

        with running.claim(HUGE_OPERATION, DAY):
            with pytest.raises(SettlementBusy):
                rebuild_store(CommittedChain(lines), rebuilding, HUGE_OPERATION, same_lines)
        assert running.progress(HUGE_OPERATION, DAY) == {1: ("commit-sent", "0x" + "12" * 32, 0)}
        rebuild_store(CommittedChain(lines), rebuilding, HUGE_OPERATION, same_lines)
        assert running.progress(HUGE_OPERATION, DAY)[1][0] == "paid"  # once the run is over
    finally:
        running.engine.dispose()
        rebuilding.engine.dispose()


def test_the_residues_digest_migration_keeps_stored_versions_readable_and_guarded(database_url: str) -> None:
    from alembic import command

    from ledger.db.migrate import alembic_config, migrate

    store = settle_store(database_url)
    try:
        lines = day_lines()
        store.save(lines)
        command.downgrade(alembic_config(store.engine), "0018_settlement_state")  # as stored before
        migrate(store.engine)  # the upgrade gives each stored version the digest of its residues
        assert dict(store.load(HUGE_OPERATION, DAY)[1].residues_after) == dict(lines.residues_after)
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE settle_residues SET residue = residue + 1 WHERE residue < 999"))
        with pytest.raises(SettlementError, match="altered"):
            store.load(HUGE_OPERATION, DAY)
    finally:
        store.engine.dispose()
