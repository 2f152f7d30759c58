"""Finding 4: a commit pending when readings change is re-sent as stored, never recomputed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from ledger.domain.energy.allocation import DefaultKey, StepReadings
from ledger.domain.energy.steps import StepLength
from ledger.energy.settlement import (
    BatchReceipt,
    ChainTariff,
    DayLines,
    DayLogs,
    MemoryDayStore,
    OnChainDay,
    Settler,
    Totals,
    day_compute,
    tariff_book,
)
from ledger.energy.settlement_sim import synthetic_day

DAY = date(2025, 6, 15)
ACCOUNTS = {"P": "0x" + "a" * 40, "C1": "0x" + "b" * 40, "C2": "0x" + "c" * 40}
BOOK = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000)])
EMPTY = OnChainDay(b"\0" * 32, Totals(0, 0, 0, 0, 0, 0))


class FakeChain:
    """Commits land only when `mine()` is called: a commit pending in the mempool."""

    def __init__(self) -> None:
        self.days: dict[int, OnChainDay] = {}
        self.pending: list[DayLines] = []
        self.committed_roots: list[bytes] = []

    def latest_version(self, operation_id: int, day: date) -> int:
        return max(self.days, default=0)

    def commitment(self, operation_id: int, day: date, version: int) -> OnChainDay:
        return self.days.get(version, EMPTY)

    def tariffs(self, operation_id: int) -> list[ChainTariff]:
        return []

    def send_commit(self, lines: DayLines) -> str:
        self.pending.append(lines)
        return f"0x{len(self.pending)}"

    def wait_commit(self, tx_hash: str) -> None:
        raise TimeoutError("not mined in time")

    def mine(self) -> None:
        for lines in self.pending:
            if lines.version in self.days:
                continue  # the contract refuses a version committed twice
            self.days[lines.version] = OnChainDay(lines.root, lines.totals, lines.batch_size)
            self.committed_roots.append(lines.root)
        self.pending.clear()

    def send_pay(self, lines: DayLines, batch: int) -> str:
        day = self.days[lines.version]
        self.days[lines.version] = replace(day, next_batch=batch + 1)
        return "0xpay"

    def wait_pay(self, tx_hash: str) -> BatchReceipt:
        return BatchReceipt(tx_hash, 0, -1, 0, ())

    def verify_line(self, lines: DayLines, line_number: int) -> bool:
        return True

    def day_logs(self, operation_id: int, day: date, from_block: int = 0) -> DayLogs:
        return DayLogs({})  # no logs kept: these tests do not crash between a mined tx and its row


def compute_for(readings: dict[Any, StepReadings]):  # type: ignore[no-untyped-def]
    return day_compute(
        operation_id=1,
        day=DAY,
        step=StepLength.MIN15,
        readings=readings,
        key=DefaultKey(),
        book=BOOK,
        accounts=ACCOUNTS,
    )


def test_a_pending_commit_is_resent_as_stored_when_the_readings_changed_meanwhile() -> None:
    chain, store = FakeChain(), MemoryDayStore()
    first = synthetic_day(DAY, ["P"], ["C1", "C2"])
    try:
        Settler(chain, store).run(1, DAY, compute_for(first))  # type: ignore[arg-type]
    except TimeoutError:
        pass
    stored = store.load(1, DAY)[1]
    # the readings are revised before the first commit is mined
    revised = dict(first)
    start = sorted(revised)[50]
    revised[start] = StepReadings({"P": 500}, {"C1": 10, "C2": 20})
    chain.mine()  # the first commit lands meanwhile
    result = Settler(chain, store).run(1, DAY, compute_for(revised))  # type: ignore[arg-type]
    assert result.version == 1 and result.root == stored.root
    assert store.load(1, DAY)[1].root == stored.root, "the stored version was never overwritten"
    # and the revision becomes version 2 on the next run, computed from what version 1 moved
    try:
        Settler(chain, store).run(1, DAY, compute_for(revised))  # type: ignore[arg-type]
    except TimeoutError:
        chain.mine()
    again = Settler(chain, store).run(1, DAY, compute_for(revised))  # type: ignore[arg-type]
    assert again.version == 2
    assert chain.committed_roots == [stored.root, store.load(1, DAY)[2].root]


def test_a_commit_still_pending_is_resent_unchanged() -> None:
    chain, store = FakeChain(), MemoryDayStore()
    day = synthetic_day(DAY, ["P"], ["C1", "C2"])
    try:
        Settler(chain, store).run(1, DAY, compute_for(day))  # type: ignore[arg-type]
    except TimeoutError:
        pass
    revised = dict(day)
    revised[sorted(revised)[50]] = StepReadings({"P": 500}, {"C1": 10, "C2": 20})
    try:
        Settler(chain, store).run(1, DAY, compute_for(revised))  # type: ignore[arg-type]
    except TimeoutError:
        pass
    assert [p.root for p in chain.pending] == [store.load(1, DAY)[1].root] * 2
