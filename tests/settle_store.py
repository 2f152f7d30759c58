"""The settlement store of a test: the SQL store on a SQLite file, one engine per file."""

from __future__ import annotations

import functools
from pathlib import Path

from ledger.db.settlement_store import SqlDayStore, settle_store


@functools.cache
def _store(url: str) -> SqlDayStore:
    return settle_store(url)


def sql_day_store(folder: Path) -> SqlDayStore:
    """A store of its own in `folder` (settle.db)."""
    return _store(f"sqlite:///{folder / 'settle.db'}")


def ledger_day_store(state_dir: Path) -> SqlDayStore:
    """The store `ledger settle` uses with LEDGER_STATE_DIR=state_dir (its default database)."""
    return _store(f"sqlite:///{state_dir / 'ledger.db'}")
