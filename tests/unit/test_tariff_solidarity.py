"""Peak pays for off-peak: a tariff's solidarity component. Consumers pay a surcharge on their peak
solar to the commons fund, the fund pays a discount on their off-peak solar, producers are paid the
tariff, and nothing is created or lost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.energy.allocation import DefaultKey, StepReadings
from ledger.domain.energy.errors import PriceOutOfBoundsError, TariffError
from ledger.domain.energy.pricing import Band, PriceBounds, TariffSchedule, TimeBand
from ledger.domain.energy.solidarity import SocialPrice, tariff_solidarity
from ledger.domain.energy.steps import PARIS, StepLength, day_step_starts
from ledger.energy.settlement import (
    ChainTariff,
    DayLines,
    Line,
    LineKind,
    SettlementError,
    compute_day,
    fund_debit_to_approve,
    tariff_book,
    verify_offline,
)
from tests.unit.test_settlement_lines import DAY, B, C, P, compute

FUND = str(to_checksum_address("0x" + "f" * 40))
SURCHARGE, DISCOUNT = 20_000, 15_000
SOLIDARY = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000, SURCHARGE, DISCOUNT)])
PLAIN = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000)])
b, c, p = (str(to_checksum_address(x)) for x in (B, C, P))


def fund_only(left: int = 10**12, eligible: frozenset[str] = frozenset(), bps: int = 0) -> SocialPrice:
    return SocialPrice(FUND, eligible, bps, left)


def members(day: DayLines) -> dict[str, int]:
    return {t.member: t.amount for t in day.transfers}


def of_kind(day: DayLines, kind: LineKind) -> dict[str, Line]:
    return {(ln.payer if kind is LineKind.SURCHARGE else ln.payee): ln for ln in day.lines if ln.kind is kind}


def band_wh(day: DayLines, band: Band) -> dict[str, int]:
    out: dict[str, int] = {}
    for ln in day.lines:
        if ln.kind is LineKind.STEP and SOLIDARY.price_at(datetime.fromtimestamp(ln.time, PARIS))[0] is band:
            out[ln.payer] = out.get(ln.payer, 0) + ln.wh
    return out


# --- the pure rules ---------------------------------------------------------------------------


def test_surcharges_and_discounts_are_rounded_down_per_consumer_and_day() -> None:
    surcharges, discounts = tariff_solidarity(
        {"b": 999, "c": 1_001}, {"b": 1_999}, 1, 1_000, {"b": 10**9}, 10**9
    )
    # 999 Wh x 1 µ€/kWh is 0.999 µ€: the consumer pays nothing of it (in its favour); 1,999 Wh x
    # 1,000 µ€/kWh is exactly 1,999 µ€.
    assert surcharges == {"c": 1}
    assert discounts == {"b": 1_999}


def test_discounts_beyond_the_budget_and_the_days_surcharges_are_scaled_down_never_above() -> None:
    surcharges, discounts = tariff_solidarity(
        {"c": 10_000}, {"a": 30_000, "b": 10_000}, 10, 100, {"a": 10**9, "b": 10**9}, 900
    )
    assert surcharges == {"c": 100}
    # wanted 3,000 + 1,000; available 900 + 100 = 1,000: scaled in proportion, floor.
    assert discounts == {"a": 750, "b": 250}
    assert sum(discounts.values()) - sum(surcharges.values()) <= 900


def test_a_discount_never_exceeds_what_the_household_still_pays() -> None:
    _, discounts = tariff_solidarity({}, {"b": 10_000}, 0, 50_000, {"b": 120}, 10**9)
    assert discounts == {"b": 120}


def test_a_schedule_keeps_the_consumers_price_within_the_bounds() -> None:
    bands = tuple(
        TimeBand(start, end, band, price)
        for start, end, band, price in (
            (time(22), time(6), Band.OFF_PEAK, 60_000),
            (time(6), time(22), Band.PEAK, 200_000),
        )
    )
    TariffSchedule(DAY, bands, PriceBounds(), 8_100, 20_000)  # exactly at both bounds
    with pytest.raises(PriceOutOfBoundsError, match="lower the surcharge to at most 8100"):
        TariffSchedule(DAY, bands, PriceBounds(), 8_101, 0)
    with pytest.raises(PriceOutOfBoundsError, match="lower the discount to at most 20000"):
        TariffSchedule(DAY, bands, PriceBounds(), 0, 20_001)
    with pytest.raises(TariffError, match="whole µ€/kWh >= 0"):
        TariffSchedule(DAY, bands, PriceBounds(), -1, 0)


# --- the day's lines --------------------------------------------------------------------------


def test_peak_pays_for_off_peak_and_the_producer_is_paid_the_tariff() -> None:
    plain = compute(book=PLAIN)
    day = compute(book=SOLIDARY, social=fund_only())
    peak, off = band_wh(day, Band.PEAK), band_wh(day, Band.OFF_PEAK)
    surcharges, discounts = of_kind(day, LineKind.SURCHARGE), of_kind(day, LineKind.DISCOUNT)
    assert set(surcharges) == set(discounts) == {b, c}
    for who in (b, c):
        assert (surcharges[who].payee, surcharges[who].wh) == (FUND, peak[who])
        assert surcharges[who].value == peak[who] * SURCHARGE // 1000 > 0
        assert (discounts[who].payer, discounts[who].wh) == (FUND, off[who])
        assert discounts[who].value == off[who] * DISCOUNT // 1000 > 0
    before, after = members(plain), members(day)
    assert after[p] == before[p]  # the producer is paid the tariff, nothing else
    for who in (b, c):
        assert after[who] == before[who] + surcharges[who].value - discounts[who].value
    fund_net = sum(ln.value for ln in discounts.values()) - sum(ln.value for ln in surcharges.values())
    assert after.get(FUND, 0) == fund_net
    assert sum(after.values()) == 0
    # Every new line, and the fund's member line, proves against the root like the others.
    for number, ln in enumerate(day.lines):
        if ln.kind in (LineKind.SURCHARGE, LineKind.DISCOUNT) or FUND in (ln.payer, ln.payee):
            assert verify_offline(day, number, day.root)


def test_the_fund_receives_its_net_when_the_days_surcharges_pass_its_discounts() -> None:
    # Peak solar far above off-peak: the fund's member line is a credit, within no budget at all.
    day = compute(book=SOLIDARY, social=fund_only(left=0))
    net = members(day)[FUND]
    surcharges = sum(ln.value for ln in of_kind(day, LineKind.SURCHARGE).values())
    discounts = sum(ln.value for ln in of_kind(day, LineKind.DISCOUNT).values())
    assert discounts <= surcharges  # nothing left: discounts only from the day's surcharges
    assert net == discounts - surcharges < 0 or (net == 0 and discounts == surcharges)


def test_a_plain_tariff_leaves_the_day_exactly_as_before() -> None:
    assert compute(book=PLAIN, social=fund_only()).root == compute(book=PLAIN).root


def test_a_solidarity_tariff_without_the_fund_is_refused_with_a_sentence() -> None:
    with pytest.raises(SettlementError, match="grant a fund programme to this settlement"):
        compute(book=SOLIDARY)


def test_a_correction_moves_only_the_difference_for_the_fund_too() -> None:
    first = compute(book=SOLIDARY, social=fund_only())
    moved = members(first)
    readings = {
        s: StepReadings({"prod": 1000}, {"conso-b": 300, "conso-c": 800})
        for s in day_step_starts(DAY, StepLength.MIN15)
    }
    fresh = compute(book=SOLIDARY, social=fund_only(), readings=readings)
    second = compute(
        book=SOLIDARY, social=fund_only(), readings=readings, version=2, already_transferred=moved
    )
    for who, amount in members(fresh).items():
        assert moved.get(who, 0) + members(second).get(who, 0) == amount


# --- the social service's check ---------------------------------------------------------------


def test_the_social_service_approves_an_honest_day_and_refuses_forged_lines() -> None:
    helped = compute(book=SOLIDARY, social=fund_only(eligible=frozenset({b}), bps=5_000))
    fund_debit = members(helped)[FUND]
    assert fund_debit > 0
    assert fund_debit_to_approve(helped, FUND, frozenset({b}), 5_000, book=SOLIDARY) == fund_debit
    with pytest.raises(SettlementError, match="give the tariff book"):
        fund_debit_to_approve(helped, FUND, frozenset({b}), 5_000)

    def forged(kind: LineKind, delta: int) -> DayLines:
        lines = tuple(
            replace(ln, value=ln.value + delta) if ln.kind is kind and ln.index == 0 else ln
            for ln in helped.lines
        )
        return DayLines(
            helped.operation_id, helped.day, helped.version, helped.step_minutes, lines, helped.totals
        )

    with pytest.raises(SettlementError, match=r"DISCOUNT line 0 .* does not match"):
        fund_debit_to_approve(forged(LineKind.DISCOUNT, 1), FUND, frozenset({b}), 5_000, book=SOLIDARY)
    with pytest.raises(SettlementError, match=r"SURCHARGE line 0 .* does not match"):
        fund_debit_to_approve(forged(LineKind.SURCHARGE, -1), FUND, frozenset({b}), 5_000, book=SOLIDARY)
    # Surcharge lines listed but not netted in the fund's member line: it takes more than its lines.
    no_surcharge = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000, 0, DISCOUNT)])
    unnetted = compute(book=no_surcharge, social=fund_only(eligible=frozenset({b}), bps=5_000))
    spliced = unnetted.lines + tuple(ln for ln in helped.lines if ln.kind is LineKind.SURCHARGE)
    forged_day = DayLines(helped.operation_id, helped.day, 1, helped.step_minutes, spliced, unnetted.totals)
    with pytest.raises(SettlementError, match="less its SURCHARGE lines"):
        fund_debit_to_approve(forged_day, FUND, frozenset({b}), 5_000, book=SOLIDARY)


# --- conservation over random days ------------------------------------------------------------

HOURS = st.lists(st.integers(0, 3_000), min_size=24, max_size=24)
"""Wh per hour of the local day (each hour's four steps read the same)."""


def _readings(production: list[list[int]], consumption: list[list[int]]) -> dict[datetime, StepReadings]:
    out = {}
    for start in day_step_starts(DAY, StepLength.MIN15):
        hour = start.astimezone(PARIS).hour
        out[start] = StepReadings(
            {f"p{k}": curve[hour] for k, curve in enumerate(production)},
            {f"c{i}": curve[hour] for i, curve in enumerate(consumption)},
        )
    return out


def _accounts(producers: int, consumers: int, prosumer: bool) -> Mapping[str, str]:
    accounts = {f"p{k}": "0x" + f"{k + 1:x}" * 40 for k in range(producers)}
    accounts |= {f"c{i}": "0x" + f"{i + 10:x}" * 40 for i in range(consumers)}
    if prosumer:  # the first consumer's meter and the first producer's share one account
        accounts["c0"] = accounts["p0"]
    return accounts


@settings(max_examples=60, deadline=None)
@given(
    production=st.lists(HOURS, min_size=1, max_size=2),
    consumption=st.lists(HOURS, min_size=1, max_size=4),
    prosumer=st.booleans(),
    surcharge=st.integers(0, 108_100),
    discount=st.integers(0, 20_000),
    bps=st.integers(0, 10_000),
    eligible_mask=st.integers(0, 15),
    budget=st.one_of(st.just(0), st.integers(0, 10**6), st.just(10**12)),
)
def test_nothing_is_created_nor_lost_on_any_day(
    production: list[list[int]],
    consumption: list[list[int]],
    prosumer: bool,
    surcharge: int,
    discount: int,
    bps: int,
    eligible_mask: int,
    budget: int,
) -> None:
    accounts = _accounts(len(production), len(consumption), prosumer)
    readings = _readings(production, consumption)
    book = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000, surcharge, discount)])
    plain_book = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000)])
    eligible = frozenset(
        str(to_checksum_address(accounts[f"c{i}"])) for i in range(len(consumption)) if eligible_mask >> i & 1
    )
    social = SocialPrice(FUND, eligible, bps, budget)
    base = {
        "operation_id": 1,
        "day": DAY,
        "step": StepLength.MIN15,
        "readings": readings,
        "key": DefaultKey(),
    }
    day = compute_day(**base, book=book, accounts=accounts, social=social)  # type: ignore[arg-type]
    plain = compute_day(**base, book=plain_book, accounts=accounts)  # type: ignore[arg-type]

    net = members(day)
    assert sum(net.values()) == 0  # the member lines balance: nothing created, nothing lost
    # Producers are paid exactly the energy at the tariff: the priced lines are the plain day's.
    priced = (LineKind.STEP, LineKind.PAIR, LineKind.BOUGHT, LineKind.SOLD)
    assert [ln for ln in day.lines if ln.kind in priced] == [ln for ln in plain.lines if ln.kind in priced]

    def by(kind: LineKind, side: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for ln in day.lines:
            if ln.kind is kind:
                who = getattr(ln, side)
                out[who] = out.get(who, 0) + ln.value
        return out

    bought, sold = by(LineKind.BOUGHT, "payer"), by(LineKind.SOLD, "payee")
    social_parts, discounts = by(LineKind.SOLIDARITY, "payee"), by(LineKind.DISCOUNT, "payee")
    surcharges = by(LineKind.SURCHARGE, "payer")
    everyone = set(bought) | set(sold)
    for who in everyone:
        expected = (
            bought.get(who, 0)
            - sold.get(who, 0)
            - social_parts.get(who, 0)
            - discounts.get(who, 0)
            + surcharges.get(who, 0)
        )
        assert net.get(who, 0) == expected
        # Nothing negative: the fund never pays more than a household's own purchase.
        assert bought.get(who, 0) - social_parts.get(who, 0) - discounts.get(who, 0) >= 0
    fund_net = sum(social_parts.values()) + sum(discounts.values()) - sum(surcharges.values())
    assert net.get(FUND, 0) == fund_net
    assert fund_net <= budget  # within what is left of the programme's month
    peak, off = band_wh(day, Band.PEAK), band_wh(day, Band.OFF_PEAK)
    for ln in day.lines:
        assert ln.value >= 0 and ln.wh >= 0
        if ln.kind is LineKind.SURCHARGE:
            assert ln.value == peak[ln.payer] * surcharge // 1000 > 0 and ln.wh == peak[ln.payer]
        if ln.kind is LineKind.DISCOUNT:
            assert 0 < ln.value <= off[ln.payee] * discount // 1000 and ln.wh == off[ln.payee]
    # The social service's check accepts every honest day.
    assert fund_debit_to_approve(day, FUND, eligible, bps, book=book) == max(0, fund_net)


@settings(max_examples=30, deadline=None)
@given(
    first=st.lists(HOURS, min_size=3, max_size=3),
    revised=st.lists(HOURS, min_size=3, max_size=3),
    surcharge=st.integers(0, 108_100),
    discount=st.integers(0, 20_000),
    bps=st.integers(0, 10_000),
    left=st.one_of(st.integers(0, 10**6), st.just(10**12)),
)
def test_a_correction_moves_only_the_difference_and_takes_from_the_fund_only_its_allowance(
    first: list[list[int]],
    revised: list[list[int]],
    surcharge: int,
    discount: int,
    bps: int,
    left: int,
) -> None:
    accounts = _accounts(1, 2, prosumer=False)
    book = tariff_book([ChainTariff(date(2025, 6, 1), 80_000, 100_000, 60_000, surcharge, discount)])
    eligible = frozenset({str(to_checksum_address(accounts["c0"]))})
    base = {"operation_id": 1, "day": DAY, "step": StepLength.MIN15, "key": DefaultKey(), "book": book}
    one = compute_day(  # type: ignore[arg-type]
        **base,
        readings=_readings(first[:1], first[1:]),
        accounts=accounts,
        social=SocialPrice(FUND, eligible, bps, left),
    )
    moved = members(one)
    # The fund's allowance after version 1: what it pulled is spent, what it received is not budget.
    allowance = left - max(0, moved.get(FUND, 0))
    two = compute_day(  # type: ignore[arg-type]
        **base,
        readings=_readings(revised[:1], revised[1:]),
        accounts=accounts,
        version=2,
        already_transferred=moved,
        social=SocialPrice(FUND, eligible, bps, allowance),
    )
    assert sum(members(two).values()) == 0
    # The correction's pull fits the allowance left, beyond which it may only give back what the
    # fund received for that day (surcharges whose consumption the revision removed).
    assert members(two).get(FUND, 0) <= allowance + max(0, -moved.get(FUND, 0))
    if left == 10**12:  # an ample month: version 1 + the correction = the revised day computed afresh
        fresh = compute_day(  # type: ignore[arg-type]
            **base,
            readings=_readings(revised[:1], revised[1:]),
            accounts=accounts,
            social=SocialPrice(FUND, eligible, bps, left),
        )
        for who in set(moved) | set(members(two)) | set(members(fresh)):
            assert moved.get(who, 0) + members(two).get(who, 0) == members(fresh).get(who, 0)
