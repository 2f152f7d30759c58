"""Local price of shared solar energy, and the daily money settlement per (producer, consumer).

- The operator sets tariff schedules: time bands of the local clock (Europe/Paris) — solar hours,
  peak, off-peak — each with a price in micro-euro per kWh (int). A schedule is effective from a
  local date; the one in force for a step is the latest effective on or before the step's local
  day. Schedules are never retroactive: one effective on or before a day already settled is
  refused (`RetroactiveTariffError`).
- Every price lies between the feed-in floor (default 40_000 µ€/kWh) and the consumer's avoided
  price for the band (defaults: base 195_200 for solar hours, peak 208_100, off-peak 163_500).
- Amount of a pair over a step = A_{k->i} Wh * price µ€/kWh / 1000. The exact amount is counted
  in milli-micro-euro (1/1000 µ€, an integer); whole micro-euros are paid and the remainder
  (0..999) is carried forward per (producer, consumer) in a `ResidueLedger`, across steps and
  days. Rounding is down, towards the residue: paid * 1000 + residue after
  == exact total * 1000 + residue before, always.
- A band applies to a step by the local clock time of the step's start.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from fractions import Fraction
from types import MappingProxyType

from ledger.domain.energy.allocation import StepAllocation
from ledger.domain.energy.errors import (
    NoTariffError,
    PriceOutOfBoundsError,
    RetroactiveTariffError,
    StepError,
    TariffError,
)
from ledger.domain.energy.steps import PARIS, StepLength, day_step_starts

MILLI = 1000
"""Wh per kWh, and the denominator of a residue (1/1000 micro-euro)."""

FEED_IN_FLOOR = 40_000
"""Feed-in price of a small roof in 2025: 0.04 EUR/kWh, in µ€/kWh."""
BASE_CEILING = 195_200
PEAK_CEILING = 208_100
OFF_PEAK_CEILING = 163_500


class Band(enum.Enum):
    """A time band of a tariff schedule."""

    SOLAR = "solar"
    PEAK = "peak"
    OFF_PEAK = "off_peak"


def _default_ceilings() -> Mapping[Band, int]:
    return MappingProxyType(
        {Band.SOLAR: BASE_CEILING, Band.PEAK: PEAK_CEILING, Band.OFF_PEAK: OFF_PEAK_CEILING}
    )


@dataclass(frozen=True, slots=True)
class PriceBounds:
    """Floor (producer's feed-in price) and per-band ceiling (consumer's avoided price), µ€/kWh."""

    floor: int = FEED_IN_FLOOR
    ceilings: Mapping[Band, int] = field(default_factory=_default_ceilings)

    def __post_init__(self) -> None:
        if type(self.floor) is not int or self.floor < 0:
            raise TariffError(f"the price floor must be whole µ€/kWh >= 0, got {self.floor!r}")
        for band in Band:
            ceiling = self.ceilings.get(band)
            if type(ceiling) is not int or ceiling < self.floor:
                raise TariffError(f"the ceiling of {band.value} must be whole µ€/kWh >= floor")
        object.__setattr__(self, "ceilings", MappingProxyType(dict(self.ceilings)))

    def check(self, band: Band, price: int) -> None:
        if type(price) is not int:
            raise TariffError(f"a price must be whole µ€/kWh, got {price!r}")
        ceiling = self.ceilings[band]
        if not self.floor <= price <= ceiling:
            raise PriceOutOfBoundsError(
                f"{band.value} price {price} µ€/kWh is outside [{self.floor}, {ceiling}] "
                "(feed-in floor, avoided-price ceiling)"
            )


def _minute(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True, slots=True)
class TimeBand:
    """[start, end) of the local clock with its band and price; end 00:00 is midnight.

    start > end wraps past midnight (22:00 -> 06:00). Times are whole minutes.
    """

    start: time
    end: time
    band: Band
    price: int

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if t.second or t.microsecond or t.tzinfo is not None:
                raise TariffError(f"band times are whole minutes of the local clock, got {t}")
        if self.start == self.end:
            raise TariffError(f"the band {self.band.value} starting {self.start} is empty")

    def minutes(self) -> range | tuple[range, range]:
        start, end = _minute(self.start), _minute(self.end) or 1440
        if start < end:
            return range(start, end)
        return range(start, 1440), range(0, end)

    def contains(self, t: time) -> bool:
        m = _minute(t)
        spans = self.minutes()
        return any(m in span for span in (spans if isinstance(spans, tuple) else (spans,)))


@dataclass(frozen=True, slots=True)
class TariffSchedule:
    """Prices by time band, in force from `effective_from` (a local date) until replaced."""

    effective_from: date
    bands: tuple[TimeBand, ...]
    bounds: PriceBounds = field(default_factory=PriceBounds)
    peak_surcharge: int = 0
    """µ€/kWh a consumer pays on top of the peak price, to the commons fund."""
    off_peak_discount: int = 0
    """µ€/kWh of the off-peak price the commons fund pays for a consumer."""

    def __post_init__(self) -> None:
        for name in ("peak_surcharge", "off_peak_discount"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise TariffError(f"a {name.replace('_', ' ')} is whole µ€/kWh >= 0, got {value!r}")
        covered = [0] * 1440
        for tb in self.bands:
            self.bounds.check(tb.band, tb.price)
            self._check_solidarity(tb)
            spans = tb.minutes()
            for span in spans if isinstance(spans, tuple) else (spans,):
                for m in span:
                    covered[m] += 1
        if any(c != 1 for c in covered):
            first = next(m for m, c in enumerate(covered) if c != 1)
            what = "no band" if covered[first] == 0 else "two bands"
            raise TariffError(
                f"the schedule from {self.effective_from} must cover each minute of the day "
                f"exactly once: {what} at {first // 60:02d}:{first % 60:02d}"
            )
        object.__setattr__(self, "bands", tuple(self.bands))

    def _check_solidarity(self, tb: TimeBand) -> None:
        """The consumer's price with the solidarity component stays within the bounds."""
        ceiling = self.bounds.ceilings[Band.PEAK]
        if tb.band is Band.PEAK and tb.price + self.peak_surcharge > ceiling:
            raise PriceOutOfBoundsError(
                f"the peak price {tb.price} plus the surcharge {self.peak_surcharge} µ€/kWh passes "
                f"the peak ceiling {ceiling}: lower the surcharge to at most {ceiling - tb.price}"
            )
        if tb.band is Band.OFF_PEAK and tb.price - self.off_peak_discount < self.bounds.floor:
            raise PriceOutOfBoundsError(
                f"the off-peak price {tb.price} minus the discount {self.off_peak_discount} µ€/kWh "
                f"falls below the floor {self.bounds.floor}: lower the discount to at most "
                f"{tb.price - self.bounds.floor}"
            )

    @property
    def has_solidarity(self) -> bool:
        return bool(self.peak_surcharge or self.off_peak_discount)

    def price_at_local(self, t: time) -> tuple[Band, int]:
        for tb in self.bands:
            if tb.contains(t):
                return tb.band, tb.price
        raise TariffError(f"no band at {t}")  # unreachable: coverage is checked


@dataclass(frozen=True, slots=True)
class TariffBook:
    """The operator's schedules and the last settled local day (nothing before it may change)."""

    schedules: tuple[TariffSchedule, ...] = ()
    settled_through: date | None = None

    def add(self, schedule: TariffSchedule) -> TariffBook:
        """A new book with `schedule`; refused when it would reprice a settled day.

        A schedule with the same effective date as a not-yet-applied one replaces it.
        """
        if self.settled_through is not None and schedule.effective_from <= self.settled_through:
            raise RetroactiveTariffError(
                f"a schedule effective {schedule.effective_from} would change days already "
                f"settled (through {self.settled_through}); make it effective "
                "after the last settled day"
            )
        kept = [s for s in self.schedules if s.effective_from != schedule.effective_from]
        ordered = sorted([*kept, schedule], key=lambda s: s.effective_from)
        return TariffBook(tuple(ordered), self.settled_through)

    def mark_settled(self, day: date) -> TariffBook:
        """A new book recording that `day` (and every day before) is settled."""
        through = day if self.settled_through is None else max(day, self.settled_through)
        return TariffBook(self.schedules, through)

    def schedule_for(self, day: date) -> TariffSchedule:
        in_force = [s for s in self.schedules if s.effective_from <= day]
        if not in_force:
            raise NoTariffError(f"no tariff schedule is in force on {day}")
        return in_force[-1]

    def price_at(self, step_start: datetime) -> tuple[Band, int]:
        """Band and price (µ€/kWh) of the step starting at `step_start` (aware)."""
        if step_start.tzinfo is None:
            raise StepError(f"{step_start.isoformat()} has no UTC offset")
        local = step_start.astimezone(PARIS)
        return self.schedule_for(local.date()).price_at_local(local.time().replace(tzinfo=None))


# --- money ------------------------------------------------------------------------------------

Pair = tuple[str, str]
"""(producer, consumer)."""


def exact_amount(wh: int, price: int) -> Fraction:
    """The exact amount in micro-euro of `wh` at `price` µ€/kWh."""
    return Fraction(wh * price, MILLI)


def pay(wh: int, price: int, residue: int) -> tuple[int, int]:
    """(whole micro-euros paid, residue carried) for one pair and one step.

    `residue` and the result's residue are in 1/1000 µ€ (0..999).
    """
    if type(wh) is not int or wh < 0 or type(price) is not int or price < 0:
        raise TariffError("energy and price must be whole numbers >= 0")
    if not 0 <= residue < MILLI:
        raise TariffError(f"a residue is 0..999 milli-µ€, got {residue}")
    return divmod(wh * price + residue, MILLI)


@dataclass(frozen=True, slots=True)
class ResidueLedger:
    """Fractions of a micro-euro owed per (producer, consumer), in 1/1000 µ€ (0..999 each)."""

    residues: Mapping[Pair, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for pair, residue in self.residues.items():
            if type(residue) is not int or not 0 <= residue < MILLI:
                raise TariffError(f"the residue of {pair} must be 0..999, got {residue!r}")
        kept = {pair: r for pair, r in sorted(self.residues.items()) if r}
        object.__setattr__(self, "residues", MappingProxyType(kept))

    def get(self, pair: Pair) -> int:
        return self.residues.get(pair, 0)

    def total(self) -> Fraction:
        """All residues, in micro-euro."""
        return Fraction(sum(self.residues.values()), MILLI)


@dataclass(frozen=True, slots=True)
class DaySettlement:
    """The money of one settled local day.

    energy: Wh per pair; exact_milli: sum over the steps of Wh * price (1/1000 µ€) per pair;
    amounts: whole µ€ paid per pair; the residues before and after the day.
    """

    day: date
    step: StepLength
    energy: Mapping[Pair, int]
    exact_milli: Mapping[Pair, int]
    amounts: Mapping[Pair, int]
    residues_before: ResidueLedger
    residues_after: ResidueLedger
    surplus_wh: int

    @property
    def total_paid(self) -> int:
        return sum(self.amounts.values())

    def payable_by_consumer(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (_, consumer), amount in self.amounts.items():
            totals[consumer] = totals.get(consumer, 0) + amount
        return totals

    def receivable_by_producer(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (producer, _), amount in self.amounts.items():
            totals[producer] = totals.get(producer, 0) + amount
        return totals


def settle_day(
    day: date,
    step: StepLength,
    allocations: Mapping[datetime, StepAllocation],
    book: TariffBook,
    residues: ResidueLedger,
) -> DaySettlement:
    """Price every pair of every step of `day` and pay whole micro-euros, carrying residues.

    `allocations` must hold exactly the steps of the local day at `step` (a day with a missing
    step stays open: `StepError`). Carrying the residue step after step pays the same as
    flooring the day's exact total plus the residue before, which is what is computed.
    """
    grid = day_step_starts(day, step)
    given = {start.astimezone(UTC): alloc for start, alloc in allocations.items()}
    if set(given) != set(grid):
        lacking = len(set(grid) - set(given))
        extra = len(set(given) - set(grid))
        raise StepError(
            f"the day {day} stays open: {lacking} of its {len(grid)} steps of {int(step)} min "
            f"have no allocation" + (f" and {extra} steps are not in that day" if extra else "")
        )
    energy: dict[Pair, int] = {}
    exact: dict[Pair, int] = {}
    surplus = 0
    for start in grid:
        alloc = given[start]
        _, price = book.price_at(start)
        surplus += alloc.surplus
        for producer, consumer, wh in alloc.iter_pairs():
            pair = (producer, consumer)
            energy[pair] = energy.get(pair, 0) + wh
            exact[pair] = exact.get(pair, 0) + wh * price
    amounts: dict[Pair, int] = {}
    after = dict(residues.residues)
    for pair in sorted(exact):
        amounts[pair], after[pair] = divmod(exact[pair] + residues.get(pair), MILLI)
    return DaySettlement(
        day=day,
        step=step,
        energy=MappingProxyType(dict(sorted(energy.items()))),
        exact_milli=MappingProxyType(dict(sorted(exact.items()))),
        amounts=MappingProxyType(amounts),
        residues_before=residues,
        residues_after=ResidueLedger(after),
        surplus_wh=surplus,
    )


def net_payments(amounts: Mapping[Pair, int]) -> dict[tuple[str, str], int]:
    """(payer consumer, payee producer) -> µ€, netting opposite flows between two meter ids.

    A meter id that is both producer and consumer (a prosumer) may owe and be owed by the same
    neighbour; only the difference is paid. Paying oneself is dropped. Zero nets are dropped.
    """
    owed: dict[tuple[str, str], int] = {}
    for (producer, consumer), amount in amounts.items():
        if producer == consumer or not amount:
            continue
        owed[(consumer, producer)] = owed.get((consumer, producer), 0) + amount
    net: dict[tuple[str, str], int] = {}
    for (payer, payee), amount in sorted(owed.items()):
        if payer > payee and (payee, payer) in owed:
            continue  # already netted from the other side
        balance = amount - owed.get((payee, payer), 0)
        if balance > 0:
            net[(payer, payee)] = balance
        elif balance < 0:
            net[(payee, payer)] = -balance
    return net


def fold_days(settlements: Iterable[DaySettlement]) -> dict[Pair, int]:
    """Total µ€ paid per pair over several days."""
    totals: dict[Pair, int] = {}
    for settlement in settlements:
        for pair, amount in settlement.amounts.items():
            totals[pair] = totals.get(pair, 0) + amount
    return totals
