"""The page's reads of the index on SQLite and PostgreSQL: the commons fund named by the token's
last CommonsFundChanged and the fees it received since, the pause from the last Paused/Unpaused,
a payer's bookings and a member's latest energy mandate per operation (raw logs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text

from ledger.db import make_engine, migrate
from ledger.db.models import Balance, Block, Booking, IndexerCursor, Merchant, RawLog, Redemption
from ledger.db.queries_api import (
    TOPIC_COMMONS_FUND_CHANGED,
    TOPIC_MANDATE_REVOKED,
    TOPIC_MANDATE_SET,
    TOPIC_PAUSED,
    TOPIC_UNPAUSED,
    ApiQueries,
)
from tests.conftest import require_service

CHAIN = 69003
TOKEN = "0x" + "70" * 20
SETTLEMENT = "0x" + "5e" * 20
OLD_FUND, FUND = "0x" + "0f" * 20, "0x" + "cf" * 20
RUCHE, ALICE = "0x" + "c0" * 20, "0x" + "a1" * 20
BOOKED_MERCHANT = 2
M3E = 1_000_000


def word(value: int | str) -> str:
    return "0x" + (value[2:] if isinstance(value, str) else f"{value:x}").rjust(64, "0")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    base = require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"page_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def log(
    block: int,
    index: int,
    address: str,
    t0: str,
    t1: str | None = None,
    t2: str | None = None,
    data: str = "0x",
) -> dict[str, object]:
    return {
        "chain_id": CHAIN,
        "block_number": block,
        "log_index": index,
        "tx_hash": word(block * 100 + index),
        "tx_index": 0,
        "address": address,
        "topic0": t0,
        "topic1": t1,
        "topic2": t2,
        "topic3": None,
        "data": data,
    }


def redemption(block: int, rid: int, fee: int) -> dict[str, object]:
    return {
        "chain_id": CHAIN,
        "block_number": block,
        "log_index": 0,
        "tx_hash": word(block),
        "redemption_id": rid,
        "merchant": RUCHE,
        "amount": 20 * M3E,
        "fee": fee,
        "euros": 20 * M3E - fee,
        "payout_ref": word(rid),
        "reserve_after": 0,
    }


def booking(booking_id: int, payer: str, state: str, block: int) -> dict[str, object]:
    return {
        "chain_id": CHAIN,
        "booking_id": booking_id,
        "merchant_id": BOOKED_MERCHANT,
        "payer": payer,
        "deposit": 15 * M3E,
        "expires_at": 1_900_000_000,
        "ref": word(booking_id),
        "state": state,
        "charged": None,
        "returned": None,
        "opened_block": block,
        "opened_log_index": 0,
        "opened_tx": word(block),
    }


def test_the_pages_reads_of_the_index(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(Block),
                [
                    {
                        "chain_id": CHAIN,
                        "number": n,
                        "hash": word(n),
                        "parent_hash": word(n - 1),
                        "timestamp": 1_764_000_000 + n,
                    }
                    for n in range(1, 11)
                ],
            )
            conn.execute(insert(IndexerCursor).values(chain_id=CHAIN, block_number=10, block_hash=word(10)))
            conn.execute(
                insert(Merchant).values(
                    chain_id=CHAIN,
                    merchant_id=2,
                    payout=RUCHE,
                    category=0,
                    name="La Ruche Part-Dieu",
                    active=True,
                    registered_block=1,
                    updated_block=1,
                )
            )
            conn.execute(
                insert(Balance),
                [
                    {"chain_id": CHAIN, "account": FUND, "balance": 2 * 10**70, "updated_block": 9},
                    {"chain_id": CHAIN, "account": OLD_FUND, "balance": 5, "updated_block": 3},
                ],
            )
            conn.execute(
                insert(RawLog),
                [
                    log(1, 0, TOKEN, TOPIC_COMMONS_FUND_CHANGED, word(0), word(OLD_FUND)),
                    log(5, 1, TOKEN, TOPIC_COMMONS_FUND_CHANGED, word(OLD_FUND), word(FUND)),
                    log(6, 1, TOKEN, TOPIC_PAUSED, data=word(ALICE)),
                    log(7, 1, TOKEN, TOPIC_UNPAUSED, data=word(ALICE)),
                    log(8, 1, TOKEN, TOPIC_PAUSED, data=word(ALICE)),
                    log(9, 1, SETTLEMENT, TOPIC_UNPAUSED, data=word(ALICE)),  # another contract's pause
                    log(
                        2,
                        1,
                        SETTLEMENT,
                        TOPIC_MANDATE_SET,
                        word(7),
                        word(ALICE),
                        word(20 * M3E) + word(200 * M3E)[2:],
                    ),
                    log(
                        3,
                        1,
                        SETTLEMENT,
                        TOPIC_MANDATE_SET,
                        word(7),
                        word(ALICE),
                        word(25 * M3E) + word(250 * M3E)[2:],
                    ),
                    log(
                        4,
                        1,
                        SETTLEMENT,
                        TOPIC_MANDATE_SET,
                        word(8),
                        word(ALICE),
                        word(1 * M3E) + word(9 * M3E)[2:],
                    ),
                    log(9, 2, SETTLEMENT, TOPIC_MANDATE_REVOKED, word(8), word(ALICE)),
                ],
            )
            conn.execute(insert(Redemption), [redemption(3, 1, 600_000), redemption(6, 2, 400_000)])
            conn.execute(
                insert(Booking),
                [booking(1, ALICE, "closed", 2), booking(2, ALICE, "open", 4), booking(3, RUCHE, "open", 5)],
            )
        queries = ApiQueries(make_engine(database_url), CHAIN)
        commons = queries.commons(TOKEN)
        assert (commons.fund, commons.fund_since_block, commons.fund_balance) == (FUND, 5, 2 * 10**70)
        assert commons.fee_inflows == 400_000  # the fee paid before block 5 went to the old fund
        assert (commons.redemptions, commons.euros_paid) == (2, 40 * M3E - 1_000_000)
        assert [(r.redemption_id, r.merchant_name, r.block_time) for r in commons.recent] == [
            (2, "La Ruche Part-Dieu", 1_764_000_006),
            (1, "La Ruche Part-Dieu", 1_764_000_003),
        ]
        assert (commons.paused, commons.paused_block) == (True, 8)
        assert queries.commons(None).fund is None
        assert [(b.booking_id, b.state, b.opened_time) for b in queries.bookings(ALICE.upper()).items] == [
            (2, "open", 1_764_000_004),
            (1, "closed", 1_764_000_002),
        ]
        by_merchant = queries.bookings(merchant_id=BOOKED_MERCHANT).items
        assert [(b.booking_id, b.payer) for b in by_merchant] == [
            (3, RUCHE.lower()), (2, ALICE.lower()), (1, ALICE.lower())
        ]
        assert queries.bookings(merchant_id=BOOKED_MERCHANT + 1).items == []
        with pytest.raises(ValueError, match="one of the two"):
            queries.bookings(ALICE, merchant_id=BOOKED_MERCHANT)
        mandates = queries.mandates(ALICE)
        assert [(m.operation_id, m.per_day, m.per_month, m.active) for m in mandates.items] == [
            (7, 25 * M3E, 250 * M3E, True),
            (8, 0, 0, False),
        ]
        assert queries.mandates(RUCHE).items == []
        queries.close()
    finally:
        engine.dispose()
