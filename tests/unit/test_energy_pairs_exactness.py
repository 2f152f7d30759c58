"""The pairs of the faster split are exactly those of the split it replaced, on random steps.

`split_pairs_before_speedup` is the previous implementation, kept verbatim as the oracle: the
faster one must give the same producers, the same floors and the same extra Wh, consumer by
consumer, including the steps where producers run dry (the sequential path) and the steps with
a large surplus (the bound that skips the exact slack).
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.energy.allocation import (
    DefaultKey,
    StepReadings,
    allocate,
    allocate_step,
    consumer_allocations,
    split_pairs,
)
from ledger.domain.energy.errors import EnergyError


def split_pairs_before_speedup(
    production: Mapping[str, int], allocated: Mapping[str, int]
) -> tuple[tuple[str, ...], dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Who supplied whom: (producers, floors per consumer, extra-Wh producer indexes).

    Row of consumer i = floors[i] plus one Wh for each index in bumps[i].
    """
    producers = tuple(sorted(m for m, p in production.items() if p > 0))
    consumers = sorted(m for m, a in allocated.items() if a > 0)
    total = sum(production.values())
    if not consumers:
        return producers, {}, {}
    if sum(allocated.values()) > total:
        raise EnergyError("cannot split more energy than was produced")  # a broken key
    if len(producers) == 1:
        return producers, {i: (allocated[i],) for i in consumers}, {}
    p_k = [production[k] for k in producers]
    n = len(p_k)
    # Everything but the bumps depends on A_i only: compute it once per distinct value.
    per_value: dict[int, tuple[tuple[int, ...], list[int], int]] = {}
    column_floor = [0] * n
    counts: dict[int, int] = {}
    for i in consumers:
        a = allocated[i]
        counts[a] = counts.get(a, 0) + 1
    for a, count in counts.items():
        floors = tuple([a * p // total for p in p_k])
        short = a - sum(floors)
        order: list[int] = []
        if short:
            remainders = [a * p % total for p in p_k]
            # stable sort, reversed: largest remainder first, ties by producer id (the index)
            order = sorted(range(n), key=remainders.__getitem__, reverse=True)
        per_value[a] = (floors, order, short)
        column_floor = [c + count * f for c, f in zip(column_floor, floors, strict=True)]
    slack = [p - c for p, c in zip(p_k, column_floor, strict=True)]
    # Fast path: when no producer is asked for more than it has left by the largest remainders
    # of all consumers together, nobody is skipped and each consumer's extra Wh go to the first
    # `short` producers of its order (the same result the sequential pass below would give).
    demand = [0] * n
    for a, count in counts.items():
        _, order, short = per_value[a]
        for k in order[:short]:
            demand[k] += count
    if all(d <= s for d, s in zip(demand, slack, strict=True)):
        tops = {a: tuple(order[:short]) for a, (_, order, short) in per_value.items() if short}
        floors_of = {i: per_value[allocated[i]][0] for i in consumers}
        bumps_of = {i: tops[allocated[i]] for i in consumers if allocated[i] in tops}
        return producers, floors_of, bumps_of
    floors_of = {}
    bumps_of = {}
    for i in consumers:
        floors, order, short = per_value[allocated[i]]
        floors_of[i] = floors
        if not short:
            continue
        bumps: list[int] = []
        for k in order:
            if slack[k] > 0:
                slack[k] -= 1
                bumps.append(k)
                if len(bumps) == short:
                    break
        while len(bumps) < short:  # producers ran dry: any producer with Wh left, by id
            for k in range(n):
                if slack[k] > 0 and len(bumps) < short:
                    slack[k] -= 1
                    bumps.append(k)
        bumps_of[i] = tuple(bumps)
    return producers, floors_of, bumps_of


def _random_step(rng: random.Random) -> tuple[dict[str, int], dict[str, int]]:
    """Producers and consumers in one of the regimes that take different paths."""
    regime = rng.choice(["surplus", "tight", "dry", "few-values", "huge"])
    producers = rng.randint(1, 60)
    consumers = rng.randint(1, 250)
    if regime == "surplus":
        production = {f"P{k:03d}": rng.randint(0, 6_000) for k in range(producers)}
        consumption = {f"C{i:03d}": rng.randint(0, 200) for i in range(consumers)}
    elif regime == "tight":  # production close to consumption: producers run dry
        production = {f"P{k:03d}": rng.randint(0, 400) for k in range(producers)}
        target = sum(production.values())
        consumption = {f"C{i:03d}": rng.randint(0, 2 * max(1, target) // consumers + 2)
                       for i in range(consumers)}
    elif regime == "dry":  # many producers with one to three Wh
        production = {f"P{k:03d}": rng.randint(0, 3) for k in range(producers)}
        consumption = {f"C{i:03d}": rng.randint(0, 5) for i in range(consumers)}
    elif regime == "few-values":  # many consumers share the same A_i
        production = {f"P{k:03d}": rng.randint(0, 900) for k in range(producers)}
        consumption = {f"C{i:03d}": rng.choice([7, 13, 40, 41]) for i in range(consumers)}
    else:  # far beyond any meter: the arithmetic must stay exact
        production = {f"P{k:03d}": rng.randint(0, 10**30) for k in range(producers)}
        consumption = {f"C{i:03d}": rng.randint(0, 10**28) for i in range(consumers)}
    return production, consumption


def _same_split(production: Mapping[str, int], allocated: Mapping[str, int]) -> None:
    try:
        expected = split_pairs_before_speedup(production, allocated)
    except EnergyError:
        expected = None
    try:
        got = split_pairs(production, allocated)
    except EnergyError:
        got = None
    assert got == expected


def test_the_faster_split_gives_the_same_pairs_on_a_thousand_random_steps() -> None:
    rng = random.Random(20250415)
    for _ in range(1_000):
        production, consumption = _random_step(rng)
        allocated = consumer_allocations(sum(production.values()), consumption, DefaultKey())
        _same_split(production, allocated)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.integers(0, 50), min_size=1, max_size=25),
    st.lists(st.integers(0, 60), min_size=0, max_size=80),
)
def test_the_faster_split_gives_the_same_pairs_on_any_small_step(
    injections: list[int], withdrawals: list[int]
) -> None:
    production = {f"P{k:02d}": wh for k, wh in enumerate(injections)}
    consumption = {f"C{i:02d}": wh for i, wh in enumerate(withdrawals)}
    allocated = consumer_allocations(sum(production.values()), consumption, DefaultKey())
    _same_split(production, allocated)


def test_a_split_of_more_than_was_produced_is_still_refused() -> None:
    _same_split({"P1": 3, "P2": 4}, {"C1": 5, "C2": 5})


def test_allocating_checked_step_readings_gives_what_allocate_gives() -> None:
    rng = random.Random(7)
    for _ in range(200):
        production, consumption = _random_step(rng)
        through_readings = allocate_step(StepReadings(production, consumption), DefaultKey())
        assert through_readings == allocate(production, consumption, DefaultKey())
