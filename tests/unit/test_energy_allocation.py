"""Allocation keys and producer -> consumer pairs (ledger.domain.energy.allocation)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.energy.allocation import (
    MISSING,
    AllocationKey,
    DefaultKey,
    PriorityKey,
    StaticKey,
    StepReadings,
    allocate,
    allocate_step,
    consumer_allocations,
    parse_share,
    split_pairs,
)
from ledger.domain.energy.errors import (
    AllocationKeyError,
    EnergyError,
    InvalidReadingError,
    MissingReadingError,
)
from ledger.errors import LedgerError

PRODUCTION = {"A": 1000}
CONSUMPTION = {"B": 400, "C": 800}


# --- the worked example of the brief ----------------------------------------------------------


def test_default_key_of_the_worked_example_gives_333_and_667() -> None:
    # floors 333 and 666 leave 1 Wh; it goes to the largest remainder (C: 800000 mod 1200 = 800
    # against B's 400), so all of the production is shared when consumers need it all.
    result = allocate(PRODUCTION, CONSUMPTION, DefaultKey())
    assert dict(result.allocated) == {"B": 333, "C": 667}
    assert result.surplus == 0


def test_priority_key_of_the_worked_example_serves_b_first() -> None:
    result = allocate(PRODUCTION, CONSUMPTION, PriorityKey({"B": 1, "C": 2}))
    assert dict(result.allocated) == {"B": 400, "C": 600}
    assert result.surplus == 0


def test_static_fifty_fifty_of_the_worked_example_leaves_100_wh_of_surplus() -> None:
    key = StaticKey({"B": parse_share("0.5"), "C": parse_share("50%")})
    result = allocate(PRODUCTION, CONSUMPTION, key)
    assert dict(result.allocated) == {"B": 400, "C": 500}
    assert result.surplus == 100
    assert result.pairs_of("C") == {"A": 500}


# --- refusals -----------------------------------------------------------------------------------


def test_a_step_with_a_missing_reading_is_refused_and_names_the_meter() -> None:
    step = StepReadings({"A": 1000}, {"B": 400, "C": MISSING})
    with pytest.raises(MissingReadingError) as caught:
        allocate_step(step, DefaultKey())
    assert caught.value.meters == ("C",)
    assert isinstance(caught.value, EnergyError)
    assert isinstance(caught.value, LedgerError)


def test_a_missing_production_is_not_read_as_zero() -> None:
    step = StepReadings({"A": MISSING}, {"B": 400})
    assert step.missing_meters() == ("A",)
    with pytest.raises(MissingReadingError):
        allocate_step(step, DefaultKey())


@pytest.mark.parametrize("value", [-1, 1.5, True, "400"])
def test_a_reading_that_is_not_whole_non_negative_wh_is_refused(value: object) -> None:
    with pytest.raises(InvalidReadingError):
        StepReadings({"A": 1000}, {"B": value})  # type: ignore[dict-item]


def test_static_shares_above_one_are_refused() -> None:
    with pytest.raises(AllocationKeyError, match="sum to 11/10"):
        StaticKey({"B": Fraction(6, 10), "C": Fraction(1, 2)})


def test_a_float_share_is_refused() -> None:
    with pytest.raises(AllocationKeyError):
        StaticKey({"B": 0.5})  # type: ignore[dict-item]


def test_shares_are_parsed_exactly_never_through_a_float() -> None:
    assert parse_share("0.1") == Fraction(1, 10)
    assert parse_share(" 1/3 ") == Fraction(1, 3)
    assert parse_share("12.5%") == Fraction(1, 8)
    for bad in ("abc", "nan", "1.5", "-0.1", "1/0"):
        with pytest.raises(AllocationKeyError):
            parse_share(bad)


def test_a_consumer_without_share_or_level_is_refused() -> None:
    with pytest.raises(AllocationKeyError, match="C"):
        allocate(PRODUCTION, CONSUMPTION, StaticKey({"B": Fraction(1, 2)}))
    with pytest.raises(AllocationKeyError, match="C"):
        allocate(PRODUCTION, CONSUMPTION, PriorityKey({"B": 1}))
    with pytest.raises(AllocationKeyError):
        PriorityKey({"B": 0})


# --- edge cases ---------------------------------------------------------------------------------


def test_no_consumption_leaves_everything_in_surplus() -> None:
    result = allocate({"A": 700}, {"B": 0, "C": 0}, DefaultKey())
    assert dict(result.allocated) == {"B": 0, "C": 0}
    assert result.surplus == 700
    assert list(result.iter_pairs()) == []


def test_no_production_allocates_nothing() -> None:
    result = allocate({"A": 0}, {"B": 300}, DefaultKey())
    assert dict(result.allocated) == {"B": 0}
    assert result.producers == ()
    assert result.pair_row("B") == ()


def test_priority_leftover_of_a_level_passes_to_the_next() -> None:
    key = PriorityKey({"B": 1, "C": 1, "D": 2})
    result = allocate({"A": 1000}, {"B": 300, "C": 200, "D": 900}, key)
    assert dict(result.allocated) == {"B": 300, "C": 200, "D": 500}


def test_pairs_never_take_more_from_a_producer_than_it_injected() -> None:
    # Largest remainder alone would send both rounding Wh to P1 (tie broken by id).
    result = allocate({"P1": 1, "P2": 1}, {"C1": 1, "C2": 1}, DefaultKey())
    assert result.supplied() == {"P1": 1, "P2": 1}
    assert result.pairs_of("C1") == {"P1": 1}
    assert result.pairs_of("C2") == {"P2": 1}


def test_pairs_follow_largest_remainder_with_ties_by_producer_id() -> None:
    result = allocate({"P1": 5, "P2": 5, "P3": 5}, {"C": 2, "D": 10}, DefaultKey())
    # C: 2 * 5 / 15 = 0.667 each -> the two rounding Wh go to P1 and P2 (tie by id)
    assert result.pairs_of("C") == {"P1": 1, "P2": 1}


# --- properties ---------------------------------------------------------------------------------

meters = st.lists(st.integers(0, 3_000), min_size=0, max_size=7)


@st.composite
def steps_and_keys(draw: st.DrawFn) -> tuple[dict[str, int], dict[str, int], AllocationKey]:
    production = {f"P{n}": wh for n, wh in enumerate(draw(meters))}
    if draw(st.booleans()):  # sometimes many producers with tiny values: pairs run dry
        production = {f"P{n}": draw(st.integers(0, 3)) for n in range(draw(st.integers(1, 9)))}
    consumption = {f"C{n}": wh for n, wh in enumerate(draw(meters))}
    kind = draw(st.sampled_from(["default", "static", "priority"]))
    key: AllocationKey
    if kind == "default":
        key = DefaultKey()
    elif kind == "static":
        weights = [draw(st.integers(0, 10)) for _ in consumption]
        denominator = max(1, sum(weights)) + draw(st.integers(0, 5))
        key = StaticKey({m: Fraction(w, denominator) for m, w in zip(consumption, weights, strict=True)})
    else:
        key = PriorityKey({m: draw(st.integers(1, 3)) for m in consumption})
    return production, consumption, key


@settings(max_examples=300, deadline=None)
@given(steps_and_keys())
def test_allocation_never_exceeds_production_consumption_or_needs(
    case: tuple[dict[str, int], dict[str, int], AllocationKey],
) -> None:
    production, consumption, key = case
    result = allocate(production, consumption, key)
    p, c = sum(production.values()), sum(consumption.values())
    assert result.total_allocated <= min(p, c)
    assert result.surplus == p - result.total_allocated >= 0
    for consumer, need in consumption.items():
        assert 0 <= result.allocated[consumer] <= need
        assert sum(result.pairs_of(consumer).values()) == result.allocated[consumer]
        assert all(wh > 0 for wh in result.pairs_of(consumer).values())
    supplied = result.supplied()
    for producer, injected in production.items():
        assert supplied.get(producer, 0) <= injected
    assert sum(wh for _, _, wh in result.iter_pairs()) == result.total_allocated


@settings(max_examples=200, deadline=None)
@given(steps_and_keys())
def test_default_key_serves_min_of_production_and_consumption_up_to_rounding(
    case: tuple[dict[str, int], dict[str, int], AllocationKey],
) -> None:
    production, consumption, _ = case
    result = allocate(production, consumption, DefaultKey())
    p, c = sum(production.values()), sum(consumption.values())
    # each floor loses less than 1 Wh
    assert min(p, c) - max(1, len(consumption)) < result.total_allocated <= min(p, c)


def _reference_pairs(production: dict[str, int], allocated: dict[str, int]) -> dict[str, tuple[int, ...]]:
    """The rule written plainly: consumers by id, floors, then largest remainder with slack."""
    producers = sorted(m for m, v in production.items() if v > 0)
    total = sum(production.values())
    floors = {i: [a * production[k] // total for k in producers] for i, a in allocated.items() if a > 0}
    slack = {k: production[k] - sum(row[n] for row in floors.values()) for n, k in enumerate(producers)}
    rows = {}
    for i in sorted(floors):
        row = floors[i]
        short = allocated[i] - sum(row)
        order = sorted(
            range(len(producers)), key=lambda n: (-(allocated[i] * production[producers[n]] % total), n)
        )
        for n in order + [n for _ in range(short) for n in range(len(producers))]:
            if short and slack[producers[n]] > 0:
                row[n] += 1
                slack[producers[n]] -= 1
                short -= 1
        rows[i] = tuple(row)
    return rows


@settings(max_examples=300, deadline=None)
@given(steps_and_keys())
def test_pairs_match_the_plain_largest_remainder_rule(
    case: tuple[dict[str, int], dict[str, int], AllocationKey],
) -> None:
    production, consumption, key = case
    allocated = consumer_allocations(sum(production.values()), consumption, key)
    producers, floors, bumps = split_pairs(production, allocated)
    result = allocate(production, consumption, key)
    expected = _reference_pairs(production, allocated)
    assert {i: result.pair_row(i) for i in expected} == expected
    assert set(floors) == set(expected)
    assert producers == tuple(sorted(m for m, v in production.items() if v > 0))
    assert set(bumps) <= set(floors)


def test_results_are_immutable() -> None:
    result = allocate(PRODUCTION, CONSUMPTION, DefaultKey())
    with pytest.raises(TypeError):
        result.allocated["B"] = 0  # type: ignore[index]
    with pytest.raises(AttributeError):
        result.producers = ()  # type: ignore[misc]


@settings(max_examples=200, deadline=None)
@given(steps_and_keys())
def test_each_key_applies_its_own_formula_exactly(
    case: tuple[dict[str, int], dict[str, int], AllocationKey],
) -> None:
    production, consumption, key = case
    p = sum(production.values())
    allocated = allocate(production, consumption, key).allocated
    if isinstance(key, StaticKey):
        for meter, need in consumption.items():
            assert allocated[meter] == min(need, int(key.shares[meter] * p))
    elif isinstance(key, PriorityKey) and consumption:
        first = min(key.levels.values())
        level_one = {m: c for m, c in consumption.items() if key.levels[m] == first}
        served = consumer_allocations(p, level_one, DefaultKey())
        assert {m: allocated[m] for m in level_one} == served
    elif isinstance(key, DefaultKey):
        c = sum(consumption.values())
        for meter, need in consumption.items():
            floor = need * min(p, c) // c if c else 0
            assert floor <= allocated[meter] <= floor + 1
            assert allocated[meter] <= need
        assert sum(allocated.values()) == min(p, c)
