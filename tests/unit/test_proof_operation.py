"""`ledger proof` without --operation: the only operation settled that day, else a sentence
naming the operations that exist (it used to default to an operation "1" that may not exist)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ledger.cli_settlement import choose_operation
from ledger.energy.settlement import JsonDayStore
from ledger.errors import InputError

DAY = date(2026, 6, 21)


def settled(root: Path, operation: int, day: date) -> None:
    path = JsonDayStore(root).path(operation, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")


def test_the_only_operation_settled_that_day_is_chosen(tmp_path: Path) -> None:
    settled(tmp_path, 7, DAY)
    settled(tmp_path, 9, date(2026, 6, 20))
    assert choose_operation(JsonDayStore(tmp_path), DAY, None) == 7


def test_a_given_operation_is_kept(tmp_path: Path) -> None:
    assert choose_operation(JsonDayStore(tmp_path), DAY, "12") == 12


def test_several_operations_that_day_are_named(tmp_path: Path) -> None:
    settled(tmp_path, 7, DAY)
    settled(tmp_path, 9, DAY)
    with pytest.raises(InputError, match=r"2 operations settled 2026-06-21: 7, 9; choose one"):
        choose_operation(JsonDayStore(tmp_path), DAY, None)


def test_no_settlement_that_day_names_the_operations_that_exist(tmp_path: Path) -> None:
    settled(tmp_path, 9, date(2026, 6, 20))
    with pytest.raises(InputError, match=r"operations settled here: 9"):
        choose_operation(JsonDayStore(tmp_path), DAY, None)
    with pytest.raises(InputError, match=r"nothing settled here yet"):
        choose_operation(JsonDayStore(tmp_path / "empty"), DAY, None)
