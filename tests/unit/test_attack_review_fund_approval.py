"""Attack review: the social service's check of the commons fund's lines (fund_debit_to_approve).

The oracle alone writes the day's lines; the social service approves the fund's debit only after
checking them. Each test below forges lines an oracle could commit and asserts the check refuses
them. They fail while the check lets the fund pay more than the tariff's rules allow.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from ledger.domain.energy.pricing import Band
from ledger.energy.settlement import (
    ChainTariff,
    DayLines,
    Line,
    LineKind,
    SettlementError,
    Totals,
    batch_lines,
    fund_debit_to_approve,
    member_difference,
    tariff_book,
)
from tests.unit.test_settlement_lines import compute
from tests.unit.test_tariff_solidarity import DISCOUNT, FUND, SOLIDARY, b, fund_only, members


def _with_lines(honest: DayLines, lines: list[Line], net: dict[str, int]) -> DayLines:
    """`honest` with its energy/solidarity lines replaced by `lines` and its member lines by
    `net`: a consistent, committable day (root, batches and totals match)."""
    kept = [ln for ln in lines if ln.kind not in (LineKind.TRANSFER, LineKind.BATCH, LineKind.DAY)]
    transfers = member_difference(net, {})
    for number, t in enumerate(transfers):
        payer, payee = (t.member, "0x" + "0" * 40) if t.amount > 0 else ("0x" + "0" * 40, t.member)
        kept.append(Line(LineKind.TRANSFER, number, 0, payer, payee, 0, abs(t.amount)))
    kept.extend(batch_lines(transfers, honest.batch_size))
    old = honest.totals
    totals = Totals(
        old.produced_wh,
        old.consumed_wh,
        old.allocated_wh,
        old.surplus_wh,
        sum(t.amount for t in transfers if t.amount > 0),
        len(transfers),
    )
    day = next(ln for ln in honest.lines if ln.kind is LineKind.DAY)
    kept.append(replace(day, index=totals.transfers, value=totals.amount))
    return DayLines(
        honest.operation_id,
        honest.day,
        honest.version,
        honest.step_minutes,
        tuple(kept),
        totals,
        honest.batch_size,
    )


def _honest() -> DayLines:
    day: DayLines = compute(book=SOLIDARY, social=fund_only())
    return day


def test_a_duplicated_discount_line_is_refused() -> None:
    # An off-peak discount and no surcharge: the fund's member line is a debit to approve.
    book = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000, 0, DISCOUNT)])
    honest = compute(book=book, social=fund_only())
    discount = next(ln for ln in honest.lines if ln.kind is LineKind.DISCOUNT and ln.payee == b)
    count = sum(1 for ln in honest.lines if ln.kind is LineKind.DISCOUNT)
    twin = replace(discount, index=count)  # same consumer, same off-peak Wh, a new line number
    net = members(honest)
    net[b] -= discount.value
    net[FUND] = net.get(FUND, 0) + discount.value
    forged = _with_lines(honest, [*honest.lines, twin], net)
    honest_debit = fund_debit_to_approve(honest, FUND, frozenset(), 0, book=book)
    assert honest_debit > 0
    # The fund would pay b's off-peak discount twice.
    with pytest.raises(SettlementError):
        approved = fund_debit_to_approve(forged, FUND, frozenset(), 0, book=book)
        pytest.fail(f"approved {approved} µM3E for the fund where the rules give {honest_debit}")


def test_a_day_whose_surcharge_lines_are_left_out_is_refused() -> None:
    honest = _honest()
    surcharges = [ln for ln in honest.lines if ln.kind is LineKind.SURCHARGE]
    assert surcharges
    net = members(honest)
    for ln in surcharges:  # consumers no longer pay the peak surcharge; the fund pays all discounts
        net[ln.payer] -= ln.value
        net[FUND] = net.get(FUND, 0) + ln.value
    forged = _with_lines(honest, [ln for ln in honest.lines if ln.kind is not LineKind.SURCHARGE], net)
    assert members(forged)[FUND] > members(honest).get(FUND, 0)
    with pytest.raises(SettlementError):
        approved = fund_debit_to_approve(forged, FUND, frozenset(), 0, book=SOLIDARY)
        pytest.fail(f"approved {approved} µM3E: consumers skipped the surcharge, the fund paid it")


def test_a_discount_above_what_the_household_still_pays_is_refused() -> None:
    # b is fully helped by the social price (10,000 bps): the rules leave no room for a discount.
    social = fund_only(eligible=frozenset({b}), bps=10_000)
    honest = compute(book=SOLIDARY, social=social)
    assert not any(ln.kind is LineKind.DISCOUNT and ln.payee == b for ln in honest.lines)
    off_peak_wh = sum(
        ln.wh for ln in honest.lines if ln.kind is LineKind.STEP and ln.payer == b and _off_peak(ln)
    )
    value = off_peak_wh * SOLIDARY.schedule_for(honest.day).off_peak_discount // 1000
    assert value > 0
    count = sum(1 for ln in honest.lines if ln.kind is LineKind.DISCOUNT)
    extra = Line(LineKind.DISCOUNT, count, honest.lines[0].time, FUND, b, off_peak_wh, value)
    net = members(honest)
    net[b] -= value  # the fund pays b's energy twice: social price in full, then a discount
    net[FUND] = net.get(FUND, 0) + value
    forged = _with_lines(honest, [*honest.lines, extra], net)
    bought = next(ln for ln in honest.lines if ln.kind is LineKind.BOUGHT and ln.payer == b)
    helped = next(ln for ln in honest.lines if ln.kind is LineKind.SOLIDARITY and ln.payee == b)
    assert bought.value - helped.value == 0  # no room left for any discount
    with pytest.raises(SettlementError):
        approved = fund_debit_to_approve(forged, FUND, frozenset({b}), 10_000, book=SOLIDARY)
        pytest.fail(f"approved {approved} µM3E: the fund pays more than the household's purchase")


def _off_peak(ln: Line) -> bool:
    return SOLIDARY.price_at(datetime.fromtimestamp(ln.time, UTC))[0] is Band.OFF_PEAK


def test_a_duplicated_solidarity_line_is_refused() -> None:
    """The social price twice for one household: each line alone is within the discount."""
    social = fund_only(eligible=frozenset({b}), bps=5_000)
    honest = compute(book=SOLIDARY, social=social)
    helped = next(ln for ln in honest.lines if ln.kind is LineKind.SOLIDARITY and ln.payee == b)
    count = sum(1 for ln in honest.lines if ln.kind is LineKind.SOLIDARITY)
    net = members(honest)
    net[b] -= helped.value
    net[FUND] = net.get(FUND, 0) + helped.value
    forged = _with_lines(honest, [*honest.lines, replace(helped, index=count)], net)
    with pytest.raises(SettlementError, match="second time"):
        fund_debit_to_approve(forged, FUND, frozenset({b}), 5_000, book=SOLIDARY)
