"""Allocation of local solar production to consumers, one time step at a time.

French "autoconsommation collective" rules, in integer Wh, rounding always towards the surplus:

- default key (prorata of consumption): A_i = floor(C_i * min(P, C) / C), 0 when C = 0; the
  min(P, C) - sum_i floor(...) Wh that flooring leaves (fewer than the number of consumers) go
  one each to the largest remainders (C_i * min(P, C) mod C, ties by meter id), so the whole
  local production is allocated when consumers need it all: the brief's worked example gives
  333 / 667, not 333 / 666 + 1 Wh of surplus. A_i <= C_i still holds (a consumer with a
  remainder has floor < exact share <= C_i);
- static key with exact shares c_i (sum <= 1): A_i = min(C_i, floor(c_i * P));
- priority cascade: level 1 first, the default formula inside a level against what remains,
  each capped at its need; what a level leaves (unserved production and its rounding) passes on;
- who supplied whom: A_{k->i} = floor(A_i * P_k / P), then the A_i - sum_k floor(...) Wh left
  go one by one to the producers with the largest remainders (A_i * P_k mod P, ties by producer
  id), skipping a producer that has nothing left to give, so the pairs of a consumer sum to A_i
  and the pairs of a producer never exceed P_k (consumers are served in id order);
- surplus S = P - sum(A_i) >= 0.

A missing reading is `MISSING`, never 0: a step with a missing reading is refused
(`MissingReadingError`). All results are immutable.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import ClassVar, TypeAlias

from ledger.domain.energy.errors import (
    AllocationKeyError,
    EnergyError,
    InvalidReadingError,
    MissingReadingError,
)


class Missing(enum.Enum):
    """The explicit absence of a reading (a gap in a load curve); never read as zero."""

    MISSING = "missing"

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing.MISSING
Reading: TypeAlias = int | Missing
"""Energy of one meter over one step, in Wh, or MISSING."""

_EMPTY: Mapping[str, int] = MappingProxyType({})


def _check_reading(meter: object, value: object, role: str) -> Reading:
    if not isinstance(meter, str) or not meter:
        raise InvalidReadingError(f"a {role} meter id must be a non-empty text, got {meter!r}")
    if value is MISSING:
        return MISSING
    if type(value) is not int:  # bool and float are refused: energy is whole Wh
        raise InvalidReadingError(f"the {role} of meter {meter} must be a whole number of Wh, got {value!r}")
    if value < 0:
        raise InvalidReadingError(f"the {role} of meter {meter} is negative ({value} Wh)")
    return value


def _freeze_readings(values: Mapping[str, Reading], role: str) -> Mapping[str, Reading]:
    checked = {meter: _check_reading(meter, value, role) for meter, value in values.items()}
    return MappingProxyType(dict(sorted(checked.items())))


@dataclass(frozen=True, slots=True)
class StepReadings:
    """What every participant of the operation measured over one step.

    `injections`: producer -> Wh injected (P_k); `withdrawals`: consumer -> Wh withdrawn (C_i).
    Every participant of the operation must appear; an unknown value is `MISSING`.
    """

    injections: Mapping[str, Reading]
    withdrawals: Mapping[str, Reading]

    def __post_init__(self) -> None:
        object.__setattr__(self, "injections", _freeze_readings(self.injections, "injection"))
        object.__setattr__(self, "withdrawals", _freeze_readings(self.withdrawals, "withdrawal"))

    def missing_meters(self) -> tuple[str, ...]:
        """Meters (producers then consumers, by id) without a value for this step."""
        missing = [m for m, v in self.injections.items() if v is MISSING]
        missing += [m for m, v in self.withdrawals.items() if v is MISSING and m not in missing]
        return tuple(missing)

    def complete(self) -> tuple[Mapping[str, int], Mapping[str, int]]:
        """(P_k, C_i) when nothing is missing; raises `MissingReadingError` otherwise."""
        missing = self.missing_meters()
        if missing:
            raise MissingReadingError(
                "this step cannot be allocated: no reading for " + ", ".join(missing), missing
            )
        production = {m: v for m, v in self.injections.items() if not isinstance(v, Missing)}
        consumption = {m: v for m, v in self.withdrawals.items() if not isinstance(v, Missing)}
        return MappingProxyType(production), MappingProxyType(consumption)


# --- keys -------------------------------------------------------------------------------------


def parse_share(text: str) -> Fraction:
    """Parse a static share exactly: "0.5", "1/3", "12.5%" (never through a float)."""
    raw = text.strip()
    percent = raw.endswith("%")
    if percent:
        raw = raw[:-1].strip()
    try:
        share = Fraction(raw)
    except (ValueError, ZeroDivisionError):
        raise AllocationKeyError(f"{text!r} is not a share (write 0.25, 1/4 or 25%)") from None
    if percent:
        share /= 100
    if share < 0 or share > 1:
        raise AllocationKeyError(f"a share must be between 0 and 1, got {text!r}")
    return share


@dataclass(frozen=True, slots=True)
class DefaultKey:
    """Prorata of consumption (the key Enedis applies when none is declared)."""

    name: ClassVar[str] = "default"


@dataclass(frozen=True, slots=True)
class StaticKey:
    """Fixed shares c_i of the production, exact fractions summing to at most 1."""

    shares: Mapping[str, Fraction]
    name: ClassVar[str] = "static"

    def __post_init__(self) -> None:
        shares: dict[str, Fraction] = {}
        for meter, share in self.shares.items():
            if isinstance(share, bool) or not isinstance(share, Fraction | int):
                raise AllocationKeyError(f"the share of {meter} must be an exact fraction, got {share!r}")
            if share < 0 or share > 1:
                raise AllocationKeyError(f"the share of {meter} must be between 0 and 1")
            shares[meter] = Fraction(share)
        total = sum(shares.values(), Fraction(0))
        if total > 1:
            raise AllocationKeyError(f"the shares sum to {total} (> 1); lower them to at most 1")
        object.__setattr__(self, "shares", MappingProxyType(dict(sorted(shares.items()))))


@dataclass(frozen=True, slots=True)
class PriorityKey:
    """Priority cascade: consumer -> level (1 is served first)."""

    levels: Mapping[str, int]
    name: ClassVar[str] = "priority"

    def __post_init__(self) -> None:
        for meter, level in self.levels.items():
            if type(level) is not int or level < 1:
                raise AllocationKeyError(
                    f"the priority level of {meter} must be a whole number >= 1, got {level!r}"
                )
        object.__setattr__(self, "levels", MappingProxyType(dict(sorted(self.levels.items()))))


AllocationKey: TypeAlias = DefaultKey | StaticKey | PriorityKey


def _prorata(available: int, consumption: Mapping[str, int]) -> dict[str, int]:
    total = sum(consumption.values())
    if total == 0:
        return dict.fromkeys(consumption, 0)
    served = min(available, total)
    result: dict[str, int] = {}
    remainders: list[tuple[int, str]] = []
    for meter, c in consumption.items():
        share, remainder = divmod(c * served, total)
        result[meter] = share
        if remainder:
            remainders.append((-remainder, meter))
    left = served - sum(result.values())
    if left:
        # Largest remainder first, ties by meter id; `left` < len(remainders) by construction.
        for _, meter in sorted(remainders)[:left]:
            result[meter] += 1
    return result


def _without(key_meters: Mapping[str, object], consumption: Mapping[str, int]) -> list[str]:
    return [meter for meter in consumption if meter not in key_meters]


def consumer_allocations(
    production: int, consumption: Mapping[str, int], key: AllocationKey
) -> dict[str, int]:
    """A_i for every consumer, given P (total Wh injected) and C_i, under `key`."""
    if type(production) is not int or production < 0:
        raise InvalidReadingError(f"the production must be whole Wh >= 0, got {production!r}")
    if isinstance(key, DefaultKey):
        return _prorata(production, consumption)
    if isinstance(key, StaticKey):
        lacking = _without(key.shares, consumption)
        if lacking:
            raise AllocationKeyError("no static share for consumer " + ", ".join(lacking))
        result: dict[str, int] = {}
        for meter, c in consumption.items():
            share = key.shares[meter]
            result[meter] = min(c, share.numerator * production // share.denominator)
        return result
    lacking = _without(key.levels, consumption)
    if lacking:
        raise AllocationKeyError("no priority level for consumer " + ", ".join(lacking))
    by_level: dict[int, dict[str, int]] = {}
    for meter, c in consumption.items():
        by_level.setdefault(key.levels[meter], {})[meter] = c
    remaining = production
    result = {}
    for level in sorted(by_level):
        served = _prorata(remaining, by_level[level])
        remaining -= sum(served.values())
        result.update(served)
    return {meter: result[meter] for meter in consumption}


# --- producer -> consumer pairs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepAllocation:
    """The allocation of one step: A_i per consumer, who supplied whom, the surplus.

    Pairs are kept compactly (a row of floors shared by the consumers with the same A_i, plus the
    producers that received one more Wh by largest remainder); read them with `pairs_of`,
    `pair_row` or `iter_pairs`.
    """

    production: Mapping[str, int]
    consumption: Mapping[str, int]
    allocated: Mapping[str, int]
    producers: tuple[str, ...]
    """Producers with P_k > 0, by id: the columns of `pair_row`."""
    _floors: Mapping[str, tuple[int, ...]]
    _bumps: Mapping[str, tuple[int, ...]]

    @property
    def total_production(self) -> int:
        return sum(self.production.values())

    @property
    def total_consumption(self) -> int:
        return sum(self.consumption.values())

    @property
    def total_allocated(self) -> int:
        return sum(self.allocated.values())

    @property
    def surplus(self) -> int:
        """S = P - sum(A_i): sold outside (feed-in contract), not paid on the chain."""
        return self.total_production - self.total_allocated

    def pair_row(self, consumer: str) -> tuple[int, ...]:
        """Wh supplied to `consumer` by each of `producers`, in that order (zeros if none)."""
        floors = self._floors.get(consumer)
        if floors is None:
            if consumer not in self.consumption:
                raise KeyError(consumer)
            return (0,) * len(self.producers)
        bumps = self._bumps.get(consumer, ())
        if not bumps:
            return floors
        row = list(floors)
        for k in bumps:
            row[k] += 1
        return tuple(row)

    def pairs_of(self, consumer: str) -> dict[str, int]:
        """producer -> Wh supplied to `consumer` (only the non-zero pairs)."""
        row = self.pair_row(consumer)
        return {p: wh for p, wh in zip(self.producers, row, strict=True) if wh}

    def iter_pairs(self) -> Iterator[tuple[str, str, int]]:
        """(producer, consumer, Wh) for every non-zero pair, consumers then producers by id."""
        producers = self.producers
        for consumer in self._floors:
            for producer, wh in zip(producers, self.pair_row(consumer), strict=True):
                if wh:
                    yield producer, consumer, wh

    def supplied(self) -> dict[str, int]:
        """producer -> Wh it supplied to the consumers this step (<= P_k)."""
        totals = [0] * len(self.producers)
        for consumer in self._floors:
            totals = [t + wh for t, wh in zip(totals, self.pair_row(consumer), strict=True)]
        return dict(zip(self.producers, totals, strict=True))


def _rows_of(
    consumers: list[str], allocated: Mapping[str, int],
    per_value: Mapping[int, tuple[tuple[int, ...], list[int], int]],
) -> dict[str, tuple[int, ...]]:
    return {i: per_value[allocated[i]][0] for i in consumers}


def _bumps_of(
    consumers: list[str], allocated: Mapping[str, int], tops: Mapping[int, tuple[int, ...]]
) -> dict[str, tuple[int, ...]]:
    return {i: tops[allocated[i]] for i in consumers if allocated[i] in tops}


def split_pairs(
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
    tops: dict[int, tuple[int, ...]] = {}
    counts: dict[int, int] = {}
    for i in consumers:
        a = allocated[i]
        counts[a] = counts.get(a, 0) + 1
    # demand[k]: how many consumers want one more Wh of producer k by largest remainder alone.
    demand = [0] * n
    for a, count in counts.items():
        floors = tuple([a * p // total for p in p_k])
        short = a - sum(floors)
        order: list[int] = []
        if short:
            remainders = [a * p % total for p in p_k]
            # stable sort, reversed: largest remainder first, ties by producer id (the index)
            order = sorted(range(n), key=remainders.__getitem__, reverse=True)
            top = tops[a] = tuple(order[:short])
            for k in top:
                demand[k] += count
        per_value[a] = (floors, order, short)
    # Fast path: when no producer is asked for more than it has left (its slack) by the largest
    # remainders of all consumers together, nobody is skipped and each consumer's extra Wh go to
    # the first `short` producers of its order (what the sequential pass below would give).
    # Each floor is at most A_i * P_k / P, so slack_k >= P_k * (P - sum A_i) / P: when that
    # bound covers the demand, the exact slack (a sum over every value) is not needed.
    spare = total - sum(a * count for a, count in counts.items())
    if all(d * total <= p * spare for d, p in zip(demand, p_k, strict=True)):
        return producers, _rows_of(consumers, allocated, per_value), _bumps_of(consumers, allocated, tops)
    column_floor = [0] * n
    for a, count in counts.items():
        column_floor = [c + count * f for c, f in zip(column_floor, per_value[a][0], strict=True)]
    slack = [p - c for p, c in zip(p_k, column_floor, strict=True)]
    if all(d <= s for d, s in zip(demand, slack, strict=True)):
        return producers, _rows_of(consumers, allocated, per_value), _bumps_of(consumers, allocated, tops)
    # Sequential pass, consumers by id: each takes its extra Wh from the first `short` producers
    # of its order that still have slack. The live set only shrinks, so a top computed earlier
    # stays exact while all its producers have slack (checked in C by `all`); it is recomputed
    # only when one of them ran dry, instead of scanning the order for every consumer.
    live_tops = dict(tops)
    floors_of = {}
    bumps_of = {}
    has_slack = slack.__getitem__
    for i in consumers:
        a = allocated[i]
        floors, order, short = per_value[a]
        floors_of[i] = floors
        if not short:
            continue
        top = live_tops[a]
        if not all(map(has_slack, top)):
            top = tuple([k for k in order if slack[k] > 0][:short])
            live_tops[a] = top
        for k in top:
            slack[k] -= 1
        if len(top) == short:
            bumps_of[i] = top
            continue
        bumps = list(top)
        while len(bumps) < short:  # producers ran dry: any producer with Wh left, by id
            for k in range(n):
                if slack[k] > 0 and len(bumps) < short:
                    slack[k] -= 1
                    bumps.append(k)
        bumps_of[i] = tuple(bumps)
    return producers, floors_of, bumps_of


def allocate(
    production: Mapping[str, int], consumption: Mapping[str, int], key: AllocationKey
) -> StepAllocation:
    """Allocate one complete step (P_k and C_i known, in Wh) under `key`."""
    prod = {m: _check_reading(m, v, "injection") for m, v in sorted(production.items())}
    cons = {m: _check_reading(m, v, "withdrawal") for m, v in sorted(consumption.items())}
    missing = [m for m, v in (*prod.items(), *cons.items()) if v is MISSING]
    if missing:
        raise MissingReadingError(
            "this step cannot be allocated: no reading for " + ", ".join(missing), tuple(missing)
        )
    p: dict[str, int] = {m: v for m, v in prod.items() if not isinstance(v, Missing)}
    c: dict[str, int] = {m: v for m, v in cons.items() if not isinstance(v, Missing)}
    return _allocate_checked(p, c, key)


def _allocate_checked(p: dict[str, int], c: dict[str, int], key: AllocationKey) -> StepAllocation:
    """Allocate readings already checked (whole Wh >= 0) and sorted by meter id."""
    allocated = consumer_allocations(sum(p.values()), c, key)
    producers, floors, bumps = split_pairs(p, allocated)
    return StepAllocation(
        production=MappingProxyType(p),
        consumption=MappingProxyType(c),
        allocated=MappingProxyType(allocated),
        producers=producers,
        _floors=MappingProxyType(floors),
        _bumps=MappingProxyType(bumps),
    )


def allocate_step(readings: StepReadings, key: AllocationKey) -> StepAllocation:
    """Allocate one step; refuses (MissingReadingError) when any participant has no value."""
    production, consumption = readings.complete()
    # StepReadings checked and sorted every value when it was built: not checked a second time.
    return _allocate_checked(dict(production), dict(consumption), key)
