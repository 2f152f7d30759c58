"""Residue exact across corrections: over days and their correction versions, what consumers paid
(in micro-M3E, x1000) plus the residue carried at the end equals the exact value of the latest
readings (sum of Wh x price, in 1/1000 micro-euro) plus the residue carried in. No fraction of a
micro-M3E is created or lost, whichever version of a day is the last.

Runs `Settler` over the SQL store on an in-memory SQLite database (the store under test) and a
chain fake that commits and pays at once and records every member line it moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.db.settlement_store import SqlDayStore, settle_store
from ledger.domain.energy.allocation import DefaultKey, StepReadings
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import (
    BatchReceipt,
    ChainTariff,
    DayLines,
    DayLogs,
    LineKind,
    MemoryDayStore,
    OnChainDay,
    PaidBatch,
    Settler,
    Totals,
    day_compute,
    tariff_book,
)
from ledger.energy.settlement_sim import synthetic_day

FIRST = date(2025, 6, 15)
PRODUCERS = ("P1", "P2")
CONSUMERS = ("C1", "C2", "C3")
ACCOUNTS = {m: "0x" + c * 40 for m, c in zip((*PRODUCERS, *CONSUMERS), "abcde", strict=True)}
# prices that leave a fraction of a micro-euro on almost every step
BOOK = tariff_book([ChainTariff(date(2025, 6, 1), 80_123, 100_007, 60_011)])
EMPTY = OnChainDay(b"\0" * 32, Totals(0, 0, 0, 0, 0, 0))


class PayingChain:
    """Commits and pays at once; records each member line moved."""

    def __init__(self) -> None:
        self.days: dict[tuple[date, int], OnChainDay] = {}
        self.moved: dict[str, int] = {}
        self.logs: dict[date, DayLogs] = {}

    def latest_version(self, operation_id: int, day: date) -> int:
        return max((v for d, v in self.days if d == day), default=0)

    def commitment(self, operation_id: int, day: date, version: int) -> OnChainDay:
        return self.days.get((day, version), EMPTY)

    def send_commit(self, lines: DayLines) -> str:
        self.days[(lines.day, lines.version)] = OnChainDay(lines.root, lines.totals, lines.batch_size)
        logs = self.logs.get(lines.day, DayLogs({}))
        self.logs[lines.day] = DayLogs({**logs.commits, lines.version: "0xcommit"}, logs.paid)
        return "0xcommit"

    def wait_commit(self, tx_hash: str) -> None:
        return None

    def send_pay(self, lines: DayLines, batch: int) -> str:
        members, _ = lines.batch(batch)
        for t in members:
            self.moved[t.member.lower()] = self.moved.get(t.member.lower(), 0) + t.amount
        day = self.days[(lines.day, lines.version)]
        paid = sum(t.amount for t in members if t.amount > 0)
        self.days[(lines.day, lines.version)] = replace(
            day, next_batch=batch + 1, debits=day.debits + paid, credits=day.credits + paid
        )
        logs = self.logs.get(lines.day, DayLogs({}))
        mined = PaidBatch(lines.version, batch * lines.batch_size, "0xpay", 1)
        self.logs[lines.day] = DayLogs(logs.commits, (*logs.paid, mined))
        return "0xpay"

    def day_logs(self, operation_id: int, day: date, from_block: int = 0) -> DayLogs:
        return self.logs.get(day, DayLogs({}))

    def wait_pay(self, tx_hash: str) -> BatchReceipt:
        return BatchReceipt(tx_hash, 0, -1, 0, ())


def readings_of(day: date, bumps: list[tuple[int, int, int]]) -> dict[object, StepReadings]:
    """The synthetic day with consumer loads raised at (step, consumer, Wh)."""
    base = synthetic_day(day, PRODUCERS, CONSUMERS)
    starts = sorted(base)
    for step, consumer, wh in bumps:
        start = starts[step]
        withdrawals = dict(base[start].withdrawals)
        name = CONSUMERS[consumer]
        withdrawals[name] = withdrawals[name] + wh
        base[start] = replace(base[start], withdrawals=withdrawals)
    return dict(base)


def settle(chain: PayingChain, store: object, day: date, readings: dict[object, StepReadings]) -> None:
    compute = day_compute(
        operation_id=1, day=day, step=StepLength.MIN15, readings=readings,  # type: ignore[arg-type]
        key=DefaultKey(), book=BOOK, accounts=ACCOUNTS, batch_size=2,
    )
    Settler(chain, store, batch_size=2).run(1, day, compute)  # type: ignore[arg-type]


def exact_value(lines: DayLines) -> int:
    """The day's exact value in 1/1000 micro-euro: the sum of its step lines (Wh x price)."""
    return sum(ln.value for ln in lines.lines if ln.kind is LineKind.STEP)


BUMP = st.tuples(st.integers(30, 70), st.integers(0, 2), st.integers(1, 400))
PLAN = st.lists(st.lists(st.lists(BUMP, max_size=3), min_size=1, max_size=3), min_size=1, max_size=2)
"""Days; per day the readings of version 1 and of each correction (bumps on the synthetic day)."""


@pytest.fixture(scope="module")
def sql_store() -> Iterator[SqlDayStore]:
    store = settle_store("sqlite://")
    yield store
    store.engine.dispose()


def check_residue_exact(
    store: MemoryDayStore | SqlDayStore, plan: list[list[list[tuple[int, int, int]]]]
) -> None:
    chain = PayingChain()
    for n, versions in enumerate(plan):
        day = FIRST + timedelta(days=n)
        for bumps in versions:
            settle(chain, store, day, readings_of(day, bumps))
    exact = 0
    carried: dict[tuple[str, str], int] = {}
    for n in range(len(plan)):
        versions = store.load(1, FIRST + timedelta(days=n))
        latest = versions[max(versions)]
        exact += exact_value(latest)
        carried = dict(latest.residues_after)
    consumers_paid = sum(chain.moved.get(ACCOUNTS[c], 0) for c in CONSUMERS)
    producers_got = -sum(chain.moved.get(ACCOUNTS[p], 0) for p in PRODUCERS)
    assert consumers_paid == producers_got
    assert 1000 * consumers_paid + sum(carried.values()) == exact


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=PLAN)
def test_paid_plus_carried_residue_equals_the_exact_amount_across_corrections(
    sql_store: SqlDayStore, plan: list[list[list[tuple[int, int, int]]]]
) -> None:
    with sql_store.engine.begin() as conn:
        for table in ("settle_batches", "settle_residues", "settle_lines", "settle_versions"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    check_residue_exact(sql_store, plan)


def test_a_day_corrected_twice_then_the_next_day_keeps_every_fraction(sql_store: SqlDayStore) -> None:
    """The example the property must cover: residues before, between and after corrections."""
    with sql_store.engine.begin() as conn:
        for table in ("settle_batches", "settle_residues", "settle_lines", "settle_versions"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    plan = [[[], [(40, 0, 333)], [(40, 0, 333), (55, 2, 77)]], [[], [(45, 1, 91)]]]
    check_residue_exact(sql_store, plan)
    versions = sql_store.load(1, FIRST)
    assert len(versions) == 3 and versions[3].residues_after != versions[1].residues_after
    assert any(versions[3].residues_after.values())
    assert sql_store.load(1, FIRST + timedelta(days=1))[2].residues_before == versions[3].residues_after
