"""The social energy price: the fund pays part of eligible households' solar, within what is
left of its month, in the day's own proven member lines; the producer is paid in full."""

from __future__ import annotations

import pytest

from ledger.domain.energy.errors import TariffError
from ledger.domain.energy.solidarity import SocialPrice, solidarity_parts
from ledger.energy.settlement import (
    DayLines,
    LineKind,
    SettlementError,
    fund_debit_to_approve,
    verify_offline,
)
from tests.unit.test_settlement_lines import B, C, P, compute

FUND = "0x" + "f" * 40


def social(eligible: frozenset[str], bps: int = 5_000, left: int = 10**12) -> SocialPrice:
    return SocialPrice(FUND, eligible, bps, left)


def test_parts_are_the_discount_of_eligible_purchases_rounded_down() -> None:
    parts = solidarity_parts({"b": 1_001, "c": 2_000, "d": 0}, social(frozenset({"b", "d"}), bps=5_000))
    assert parts == {"b": 500}


def test_parts_beyond_the_month_left_are_scaled_down_in_proportion_never_above_it() -> None:
    parts = solidarity_parts({"b": 3_000, "c": 1_000}, social(frozenset({"b", "c"}), bps=10_000, left=1_001))
    assert parts == {"b": 750, "c": 250}
    assert sum(parts.values()) <= 1_001


def test_nothing_left_means_the_normal_price() -> None:
    assert solidarity_parts({"b": 3_000}, social(frozenset({"b"}), left=0)) == {}


@pytest.mark.parametrize("bps", [10_001, -1])
def test_a_discount_outside_0_to_10000_bps_is_refused_with_a_sentence(bps: int) -> None:
    with pytest.raises(TariffError, match="basis points"):
        social(frozenset(), bps=bps)


def test_a_discount_of_zero_bps_is_no_social_price() -> None:
    # The fund may take part through a tariff's solidarity component alone.
    assert solidarity_parts({"b": 3_000}, social(frozenset({"b"}), bps=0)) == {}


def test_the_fund_cannot_be_an_eligible_household() -> None:
    with pytest.raises(TariffError, match="cannot be an eligible"):
        SocialPrice(FUND, frozenset({FUND}), 5_000, 1)


def _checksummed(address: str) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


def _members(day: object) -> dict[str, int]:
    return {t.member: t.amount for t in day.transfers}  # type: ignore[attr-defined]


def test_an_eligible_household_pays_less_the_fund_pays_the_difference_the_producer_is_paid_in_full() -> None:
    normal = compute()
    helped = compute(social=social(frozenset({B})))
    fund, b, c, p = (_checksummed(x) for x in (FUND, B, C, P))
    before, after = _members(normal), _members(helped)
    (line,) = [ln for ln in helped.lines if ln.kind is LineKind.SOLIDARITY]
    bought_b = next(ln for ln in helped.lines if ln.kind is LineKind.BOUGHT and ln.payer == b)
    assert (line.payer, line.payee, line.wh) == (fund, b, bought_b.wh)
    assert line.value == bought_b.value // 2
    assert after[b] == before[b] - line.value
    assert after[fund] == line.value
    assert after[c] == before[c] and after[p] == before[p]  # the producer gets the tariff
    assert sum(v for v in after.values() if v > 0) == -sum(v for v in after.values() if v < 0)
    assert helped.totals.amount == normal.totals.amount
    # the solidarity line and the fund's member line are proven like the rest
    for number, ln in enumerate(helped.lines):
        if ln.kind is LineKind.SOLIDARITY or (ln.kind is LineKind.TRANSFER and ln.payer == fund):
            assert verify_offline(helped, number, helped.root)


def test_the_fund_pays_no_more_than_is_left_of_its_month() -> None:
    helped = compute(social=social(frozenset({B, C}), bps=10_000, left=1_000_001))
    fund = _checksummed(FUND)
    assert _members(helped)[fund] <= 1_000_001
    parts = [ln.value for ln in helped.lines if ln.kind is LineKind.SOLIDARITY]
    assert sum(parts) == _members(helped)[fund]


def test_with_nothing_left_the_day_settles_at_the_normal_price() -> None:
    normal = compute()
    spent = compute(social=social(frozenset({B}), left=0))
    assert spent.lines == normal.lines and spent.root == normal.root


def test_the_fund_cannot_also_hold_a_meter() -> None:
    with pytest.raises(SettlementError, match="commons fund"):
        compute(social=SocialPrice(P, frozenset({B}), 5_000, 10**9))


def test_the_social_service_approves_the_funds_line_of_a_day_whose_solidarity_lines_check() -> None:
    helped = compute(social=social(frozenset({B})))
    fund_line = _members(helped)[_checksummed(FUND)]
    assert fund_debit_to_approve(helped, FUND, frozenset({_checksummed(B)}), 5_000) == fund_line > 0


def test_the_social_service_refuses_a_day_helping_a_household_it_did_not_make_eligible() -> None:
    helped = compute(social=social(frozenset({B})))
    with pytest.raises(SettlementError, match="not eligible"):
        fund_debit_to_approve(helped, FUND, frozenset({_checksummed(C)}), 5_000)


def test_the_social_service_refuses_a_day_paying_more_than_its_discount() -> None:
    helped = compute(social=social(frozenset({B}), bps=5_000))
    with pytest.raises(SettlementError, match="bps of what"):
        fund_debit_to_approve(helped, FUND, frozenset({_checksummed(B)}), 4_999)


def test_the_social_service_refuses_a_fund_line_above_its_solidarity_lines() -> None:
    helped = compute(social=social(frozenset({B})))
    kept = tuple(ln for ln in helped.lines if ln.kind is not LineKind.SOLIDARITY)
    forged = DayLines(
        operation_id=helped.operation_id, day=helped.day, version=helped.version,
        step_minutes=helped.step_minutes, lines=kept, totals=helped.totals, batch_size=helped.batch_size,
    )
    with pytest.raises(SettlementError, match="more than its SOLIDARITY"):
        fund_debit_to_approve(forged, FUND, frozenset({_checksummed(B)}), 5_000)
