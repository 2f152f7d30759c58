"""The treasury's tables and rules on PostgreSQL (migration 0010_treasury): the same statements
mint the same deposits once, payouts and the reconciliation work as on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from ledger.db import make_engine, migrate
from ledger.treasury.ports import FakeTreasuryChain
from ledger.treasury.reconcile import reconcile_day
from ledger.treasury.service import register_reference
from tests.conftest import require_service
from tests.fixtures.camt import camt053
from tests.unit.test_treasury import (
    ALICE,
    BOB,
    D2,
    D3,
    MERCHANT,
    REFERENCE_KEY,
    Stmt,
    clean_month,
    day1,
    day2,
    do_import,
    make_file,
    redeem,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base = require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"treasury_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_statements_mint_once_and_the_reserve_reconciles_on_postgresql(postgres_url: str) -> None:
    from ledger.treasury.payouts import set_payee

    engine = make_engine(postgres_url)
    try:
        migrate(engine)
        register_reference(engine, ALICE, "test", REFERENCE_KEY)
        register_reference(engine, BOB, "test", REFERENCE_KEY)
        chain = FakeTreasuryChain()
        overlap = Stmt("STMT-20261102-03", day1().day, 100_00, day1().entries + day2().entries, last_day=D2)
        for data in (camt053(day1()), camt053(overlap), camt053(day2()), camt053(day1())):
            do_import(engine, chain, data)
        assert chain.sent == 4
        assert chain.balances == {ALICE.lower(): 55_500_000, BOB.lower(): 30_000_000}
    finally:
        engine.dispose()

    engine = make_engine(postgres_url)  # a second process would see the same rows
    try:
        with engine.begin() as conn:
            for table in (
                "treasury_payout_items",
                "treasury_payouts",
                "treasury_payout_files",
                "treasury_entries",
                "treasury_statements",
            ):
                conn.execute(text(f"DELETE FROM {table}"))
        chain = FakeTreasuryChain()
        clean_month(engine, chain)
        set_payee(
            engine,
            merchant=MERCHANT.address,
            iban="FR7630006000011234567890189",
            holder="Boulangerie du Lac",
            consent_date=D2,
        )
        redeem(engine, chain, MERCHANT.address, 20_000_000, 600_000)
        assert reconcile_day(engine, chain, D3).ok
        assert make_file(engine) is not None and make_file(engine) is None
    finally:
        engine.dispose()
