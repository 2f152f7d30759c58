"""`ledger proof` without --operation: the only operation settled that day, else a sentence
naming the operations that exist (it used to default to an operation "1" that may not exist).
The operations are read from the settlement store in the ledger database (SQLite here)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ledger.cli.settlement import choose_operation
from ledger.db.settlement_store import SqlDayStore, settle_store
from ledger.errors import InputError
from tests.integration.test_settlement_store import day_lines

DAY = date(2025, 6, 21)


@pytest.fixture
def store(tmp_path: Path) -> SqlDayStore:
    return settle_store(f"sqlite:///{tmp_path / 'ledger.db'}")


def test_the_only_operation_settled_that_day_is_chosen(store: SqlDayStore) -> None:
    store.save(day_lines(DAY, operation=7))
    store.save(day_lines(date(2025, 6, 20), operation=9))
    assert store.operations(DAY) == [7] and store.operations() == [7, 9]
    assert choose_operation(store, DAY, None) == 7


def test_a_given_operation_is_kept(store: SqlDayStore) -> None:
    assert choose_operation(store, DAY, "12") == 12


def test_several_operations_that_day_are_named(store: SqlDayStore) -> None:
    store.save(day_lines(DAY, operation=7))
    store.save(day_lines(DAY, operation=9))
    with pytest.raises(InputError, match=r"2 operations settled 2025-06-21: 7, 9; choose one"):
        choose_operation(store, DAY, None)


def test_no_settlement_that_day_names_the_operations_that_exist(store: SqlDayStore, tmp_path: Path) -> None:
    store.save(day_lines(date(2025, 6, 20), operation=9))
    with pytest.raises(InputError, match=r"operations settled here: 9"):
        choose_operation(store, DAY, None)
    empty = settle_store(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(InputError, match=r"nothing settled here yet"):
        choose_operation(empty, DAY, None)
