"""The lines of a settled day: energy and money add up, netting, corrections, the stored file."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from eth_utils.crypto import keccak

from ledger.domain.energy.allocation import MISSING, DefaultKey, StepReadings
from ledger.domain.energy.errors import EnergyError
from ledger.domain.energy.steps import StepLength, day_step_starts
from ledger.energy.settlement import (
    ChainTariff,
    LineKind,
    MemberTransfer,
    MemoryDayStore,
    SettlementError,
    batch_hash,
    compute_day,
    day_number,
    member_difference,
    operation_number,
    tariff_book,
    transferred_by,
    verify_offline,
)

DAY = date(2025, 6, 15)
P = "0x" + "a" * 40
B = "0x" + "b" * 40
C = "0x" + "c" * 40
ACCOUNTS = {"prod": P, "conso-b": B, "conso-c": C}
BOOK = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000)])


def worked_example_day(missing_at: int | None = None) -> dict[datetime, StepReadings]:
    """The brief's example at every step: P = 1000, C_B = 400, C_C = 800."""
    out = {}
    for n, start in enumerate(day_step_starts(DAY, StepLength.MIN15)):
        b = MISSING if n == missing_at else 400
        out[start] = StepReadings({"prod": 1000}, {"conso-b": b, "conso-c": 800})
    return out


def compute(**kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "operation_id": 1,
        "day": DAY,
        "step": StepLength.MIN15,
        "readings": worked_example_day(),
        "key": DefaultKey(),
        "book": BOOK,
        "accounts": ACCOUNTS,
    }
    args.update(kw)
    return compute_day(**args)  # type: ignore[arg-type]


def test_the_worked_example_gives_333_and_667_wh_per_step_and_the_money_adds_up() -> None:
    lines = compute()
    steps = [ln for ln in lines.lines if ln.kind is LineKind.STEP]
    assert len(steps) == 96 * 2
    first = [ln for ln in steps if ln.index == 0]
    assert {(ln.payer.lower(), ln.wh) for ln in first} == {(B, 333), (C, 667)}
    assert sum(ln.wh for ln in steps) == 96 * 1000  # every Wh produced is shared
    # Three homes: the public totals (committed on chain) carry no energy figure.
    assert lines.totals.as_tuple()[:4] == (0, 0, 0, 0)
    assert next(ln for ln in lines.lines if ln.kind is LineKind.DAY).wh == 0
    pairs = [ln for ln in lines.lines if ln.kind is LineKind.PAIR]
    exact = sum(ln.value for ln in steps)  # 1/1000 micro-euro
    paid = sum(ln.value for ln in pairs)
    residue = sum(lines.residues_after.values())
    assert paid * 1000 + residue == exact  # nothing lost, rounding carried
    # one line per member: each consumer pays its total, the producer receives the sum
    assert lines.totals.amount == paid == sum(t.amount for t in lines.transfers if t.amount > 0)
    assert {t.member.lower() for t in lines.transfers[:2]} == {B, C}
    assert lines.transfers[2].member.lower() == P
    assert [t.amount > 0 for t in lines.transfers] == [True, True, False]  # debits first
    assert sum(t.amount for t in lines.transfers) == 0


def test_a_day_with_a_missing_reading_stays_open() -> None:
    with pytest.raises(EnergyError):
        compute(readings=worked_example_day(missing_at=40))


def test_a_meter_without_account_is_refused() -> None:
    with pytest.raises(SettlementError, match="conso-c has no account"):
        compute(accounts={"prod": P, "conso-b": B})


def test_a_correction_moves_only_the_difference_and_refunds_a_consumer_whose_allocation_went_down() -> None:
    assert member_difference({B: 100, P: -100}, {B: 70, P: -70}) == [
        MemberTransfer(B, 30),
        MemberTransfer(P, -30),
    ]
    # B's allocation went down: B is credited back, the producer gives it back
    assert member_difference({B: 70, P: -70}, {B: 100, P: -100}) == [
        MemberTransfer(P, 30),
        MemberTransfer(B, -30),
    ]
    assert member_difference({B: 100, P: -100}, {B: 100, P: -100}) == []
    first = compute()
    moved = transferred_by([(first, first.batch_count)])
    again = compute(version=2, already_transferred=moved, residues=first.residues_before)
    assert again.totals.transfers == 0 and again.totals.amount == 0
    assert again.totals.same_energy(first.totals)
    # B consumed 100 Wh less at one step: B is refunded, C pays more (its share of P grew)
    readings = worked_example_day()
    start = min(readings)
    readings[start] = StepReadings({"prod": 1000}, {"conso-b": 300, "conso-c": 800})
    corrected = compute(
        version=2, already_transferred=moved, residues=first.residues_before, readings=readings
    )
    by_member = {t.member.lower(): t.amount for t in corrected.transfers}
    assert by_member[B] < 0 < by_member[C]
    assert sum(by_member.values()) == 0


def test_a_voided_version_counts_only_the_batches_the_chain_processed() -> None:
    first = compute(batch_size=1)
    assert first.batch_count == 3
    assert transferred_by([(first, 1)]) == {first.transfers[0].member: first.transfers[0].amount}


def test_every_line_proves_against_the_root() -> None:
    lines = compute()
    for n in range(0, len(lines.lines), 17):
        assert verify_offline(lines, n, lines.root)
    assert not verify_offline(lines, 0, bytes(32))


def test_each_batch_line_is_the_hash_chain_of_its_member_lines_as_the_contract_recomputes_it() -> None:
    lines = compute(batch_size=2)
    transfers = lines.transfers
    assert len(transfers) == 3 and lines.batch_count == 2
    # h_0 = 0, h_{i+1} = keccak256(abi.encode(h_i, member, int256 amount)), written out by hand
    expected = b"\0" * 32
    for t in transfers[:2]:
        words = [bytes.fromhex(t.member[2:]).rjust(32, b"\0"), t.amount.to_bytes(32, "big", signed=True)]
        expected = keccak(expected + b"".join(words))
    assert batch_hash(transfers[:2]) == expected
    batches = [ln for ln in lines.lines if ln.kind is LineKind.BATCH]
    assert [(b.index, b.wh, b.value) for b in batches] == [
        (0, 2, int.from_bytes(expected, "big")),
        (1, 1, int.from_bytes(batch_hash(transfers[2:]), "big")),
    ]
    assert batch_hash(reversed(transfers[:2])) != expected  # the order is bound too
    members, proof = lines.batch(1)
    assert members == transfers[2:]
    n = lines.lines.index(batches[1])
    assert proof == lines.proof(n) and verify_offline(lines, n, lines.root)


def test_the_residues_of_a_day_carry_to_the_next_one() -> None:
    store = MemoryDayStore()
    lines = compute()
    store.save(lines)
    assert store.residues_before(1, date(2025, 6, 16)) == dict(lines.residues_after)
    assert store.residues_before(1, DAY) == {}


def test_identifiers_for_the_contract() -> None:
    assert day_number(DAY) == 20250615
    assert operation_number("42") == 42
    assert operation_number("lyon-3e-moncey") == operation_number("lyon-3e-moncey") > 2**200
    assert datetime.fromtimestamp(compute().lines[-1].time, UTC).hour == 22  # local midnight, summer
