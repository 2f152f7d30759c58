"""An account's history read from the index on SQLite and PostgreSQL: newest first, both sides
merged, a transfer to oneself once, mints and burns, paged on (block, log index), every field with
the exact type the API writes (amounts beyond 64 bits included)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger.db import make_engine, migrate
from ledger.db.queries_api import ApiQueries, TransferItem
from ledger.db.records import Batch, BlockRow, Cursor, TransferRow
from ledger.db.store import Store
from tests.conftest import require_service

CHAIN = 69003
ZERO = "0x" + "00" * 20
ALICE, BOB, CHLOE = "0x" + "a1" * 20, "0x" + "b0" * 20, "0x" + "c1" * 20
HUGE = 2**255 + 12_345  # beyond any machine integer: the amount must come back exact
T0 = 1_760_000_000


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    base = require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"history_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


TRANSFERS = [
    TransferRow(1, 0, "0x" + "01" * 32, ZERO, ALICE, 50_000_000),  # mint
    TransferRow(2, 0, "0x" + "02" * 32, ALICE, BOB, 2_400_000),  # sent
    TransferRow(2, 1, "0x" + "03" * 32, BOB, CHLOE, 1_000_000),  # not Alice's
    TransferRow(3, 0, "0x" + "04" * 32, BOB, ALICE, 1_234_567),  # received
    TransferRow(3, 1, "0x" + "05" * 32, ALICE, ALICE, 700_000),  # to herself: one line
    TransferRow(4, 0, "0x" + "06" * 32, ZERO, ALICE, HUGE),  # mint of a huge amount
    TransferRow(5, 0, "0x" + "07" * 32, ALICE, ZERO, 10_000_000),  # burn
]


def item(row: TransferRow) -> TransferItem:
    return TransferItem(*row, T0 + row.block_number * 2)


@pytest.fixture
def queries(database_url: str) -> Iterator[ApiQueries]:
    engine = make_engine(database_url)
    migrate(engine)
    blocks = [BlockRow(n, f"0x{n:064x}", f"0x{n - 1:064x}", T0 + n * 2) for n in range(1, 6)]
    batch = Batch(CHAIN, 1, Cursor(5, blocks[-1].hash))
    batch.blocks = blocks
    batch.block_times = {b.number: b.timestamp for b in blocks}
    batch.transfers = list(TRANSFERS)
    Store(engine).apply(batch)
    engine.dispose()
    reader = ApiQueries.from_url(database_url, CHAIN)
    try:
        yield reader
    finally:
        reader.close()


def test_the_history_merges_both_sides_newest_first_with_exact_values_and_types(queries: ApiQueries) -> None:
    page = queries.history(ALICE.upper().replace("0X", "0x"), None, 50)

    expected = [item(TRANSFERS[i]) for i in (6, 5, 4, 3, 1, 0)]
    assert page.items == expected
    assert page.indexed.block_number == 5
    for line in page.items:  # the API serializes these as they are: no Decimal, no bytes
        numbers = (line.block_number, line.log_index, line.value, line.block_time)
        assert [type(v) for v in numbers] == [int] * 4
        assert [type(v) for v in (line.tx_hash, line.from_address, line.to_address)] == [str] * 3


def test_the_history_pages_on_block_and_log_index_without_gap_or_repeat(queries: ApiQueries) -> None:
    first = queries.history(ALICE, None, 2)
    second = queries.history(ALICE, (first.items[-1].block_number, first.items[-1].log_index), 2)
    third = queries.history(ALICE, (second.items[-1].block_number, second.items[-1].log_index), 2)
    last = queries.history(ALICE, (third.items[-1].block_number, third.items[-1].log_index), 2)

    assert [*first.items, *second.items, *third.items] == [item(TRANSFERS[i]) for i in (6, 5, 4, 3, 1, 0)]
    assert last.items == []


def test_an_account_without_transfers_has_an_empty_history(queries: ApiQueries) -> None:
    assert queries.history("0x" + "ee" * 20, None, 50).items == []
