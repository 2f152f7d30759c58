"""A merchant's daily takings and a booking's end, written by a later batch than the rows they
change: the takings equal the sums of the indexed payments and refunds, the booking is closed,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from ledger.db import make_engine
from ledger.db.store import Store
from tests.fixtures.districtchain import Chain, MockDistrict, seed_activity, selector
from tests.integration.indexer.helpers import CHAIN_ID, check, index_once


def _count(chain: Chain, district: MockDistrict, name: str) -> int:
    return int(chain.rpc("eth_call", [{"to": district.payments,
                                       "data": "0x" + selector(name)}, "latest"]), 16)


def _takings_across_batches(chain: Chain, district: MockDistrict, manifest: Path,
                            database_url: str) -> None:
    seed_activity(district, rounds=1)
    merchant = _count(chain, district, "merchantCount()")
    district.pay(1, merchant, 7_000, b"first-batch")
    district.open_booking(1, merchant, 50_000, 2_000_000_000, b"across")
    booking = _count(chain, district, "bookingCount()")
    index_once(chain.url, manifest, database_url, confirmations=0)
    # The same merchant and day again, and the booking's end: updates of stored rows.
    district.pay(1, merchant, 11_000, b"second-batch")
    district.refund(5, merchant, district.account(1), 2_000, b"second-batch")
    district.close_booking(booking, 20_000)
    index_once(chain.url, manifest, database_url, confirmations=0)

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            expected: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
            for table, at in (("payments", 0), ("refunds", 1)):
                for merchant_id, day, amount in conn.exec_driver_sql(
                        f"SELECT merchant_id, day, amount FROM {table} "
                        f"WHERE chain_id = {CHAIN_ID}"):
                    sums = expected[(int(merchant_id), str(day))]
                    sums[at] += Store._int(amount)
                    sums[at + 2] += 1
            stored = {
                (int(m), str(d)): [Store._int(p), Store._int(r), int(n_p), int(n_r)]
                for m, d, p, r, n_p, n_r in conn.exec_driver_sql(
                    "SELECT merchant_id, day, paid, refunded, payments, refunds "
                    f"FROM merchant_takings_daily WHERE chain_id = {CHAIN_ID}")
            }
            state, charged = conn.exec_driver_sql(
                f"SELECT state, charged FROM bookings WHERE chain_id = {CHAIN_ID} "
                f"AND booking_id = {booking}").one()
    finally:
        engine.dispose()
    assert stored == dict(expected)
    assert [v[2] for k, v in stored.items() if k[0] == merchant] == [2]  # both batches' payments
    assert (state, Store._int(charged)) == ("closed", 20_000)
    result = check(chain.url, manifest, database_url)
    assert result.ok, result.differences


@pytest.mark.chain
def test_sqlite_takings_and_booking_ends_across_batches(
    chain: Chain, district: MockDistrict, manifest: Path, sqlite_url: str
) -> None:
    _takings_across_batches(chain, district, manifest, sqlite_url)


@pytest.mark.postgres
@pytest.mark.chain
def test_postgres_takings_and_booking_ends_across_batches(
    chain: Chain, district: MockDistrict, manifest: Path, postgres_url: str
) -> None:
    _takings_across_batches(chain, district, manifest, postgres_url)
