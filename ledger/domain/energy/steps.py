"""Time steps of a settlement day (Europe/Paris), and 15 -> 30 minute aggregation.

- The legal step is 15 minutes; a day settles at 30 minutes for the whole operation when any
  participant only has 30-minute data (`settlement_step`). Quarter-hours are summed in pairs
  into half-hours (`aggregate_to_30`); 30 minutes is never split into 15 (`ResolutionError`).
- A local day runs from local midnight to the next local midnight: 96 quarter-hours, 92 on the
  spring change (23 h), 100 on the autumn change (25 h). Step starts are UTC datetimes.
- A sum is MISSING as soon as one of its quarter-hours is missing (missing is never zero).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ledger.domain.energy.allocation import MISSING, Missing, Reading
from ledger.domain.energy.errors import ResolutionError, StepError

PARIS = ZoneInfo("Europe/Paris")


class StepLength(enum.IntEnum):
    """Length of a settlement step, in minutes."""

    MIN15 = 15
    MIN30 = 30

    @property
    def delta(self) -> timedelta:
        return timedelta(minutes=int(self))


def day_bounds(day: date, tz: ZoneInfo = PARIS) -> tuple[datetime, datetime]:
    """UTC instants of local midnight of `day` and of the next day."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)
    return start, end


def day_step_starts(day: date, step: StepLength, tz: ZoneInfo = PARIS) -> tuple[datetime, ...]:
    """UTC starts of the steps of local `day` (92, 96 or 100 quarter-hours; 46, 48 or 50 halves)."""
    start, end = day_bounds(day, tz)
    delta = StepLength(step).delta
    count, rest = divmod(end - start, delta)
    if rest:  # a zone whose offsets are not whole steps (not Europe/Paris)
        raise StepError(f"the day {day} in {tz.key} is not a whole number of {int(step)}-min steps")
    return tuple(start + n * delta for n in range(count))


def local_day_of(instant: datetime, tz: ZoneInfo = PARIS) -> date:
    """The local day an instant (aware) belongs to."""
    if instant.tzinfo is None:
        raise StepError(f"{instant.isoformat()} has no UTC offset")
    return instant.astimezone(tz).date()


def settlement_step(resolutions: Iterable[StepLength]) -> StepLength:
    """15 minutes, or 30 when any participant only has 30-minute data (whole operation)."""
    return StepLength.MIN30 if StepLength.MIN30 in set(resolutions) else StepLength.MIN15


def day_series(
    readings: Mapping[datetime, Reading], day: date, step: StepLength, tz: ZoneInfo = PARIS
) -> tuple[Reading, ...]:
    """The values of one meter on the grid of `day` (MISSING where there is none).

    Refuses a reading that is not at a step start of that day.
    """
    grid = day_step_starts(day, step, tz)
    index = {start: n for n, start in enumerate(grid)}
    values: list[Reading] = [MISSING] * len(grid)
    for instant, value in readings.items():
        if instant.tzinfo is None:
            raise StepError(f"{instant.isoformat()} has no UTC offset")
        n = index.get(instant.astimezone(UTC))
        if n is None:
            raise StepError(f"{instant.isoformat()} is not the start of a {int(step)}-min step of {day}")
        values[n] = value
    return tuple(values)


def aggregate_to_30(quarters: tuple[Reading, ...]) -> tuple[Reading, ...]:
    """Sum quarter-hours in pairs (:00+:15, :30+:45) of a day series; MISSING if either is."""
    if len(quarters) % 2:
        raise ResolutionError("an odd number of quarter-hours cannot make half-hours")
    halves: list[Reading] = []
    for n in range(0, len(quarters), 2):
        first, second = quarters[n], quarters[n + 1]
        if isinstance(first, Missing) or isinstance(second, Missing):
            halves.append(MISSING)
        else:
            halves.append(first + second)
    return tuple(halves)


def to_resolution(series: tuple[Reading, ...], have: StepLength, want: StepLength) -> tuple[Reading, ...]:
    """Bring a day series from `have` to `want`: 15 -> 30 sums, 30 -> 15 is refused."""
    if have == want:
        return series
    if have == StepLength.MIN15 and want == StepLength.MIN30:
        return aggregate_to_30(series)
    raise ResolutionError("30-minute data cannot be split into 15-minute steps")


def curve_resolution(starts: Iterable[datetime]) -> StepLength:
    """15 when any start is at :15 or :45 past a half-hour, else 30 (a half-hourly curve)."""
    for start in starts:
        if start.astimezone(UTC).minute % 30 == 15:
            return StepLength.MIN15
    return StepLength.MIN30


def aggregate_curve_to_30(curve: Mapping[datetime, Reading]) -> dict[datetime, Reading]:
    """Sum a quarter-hour curve into half-hours (UTC starts); MISSING if either half is absent.

    Europe/Paris offsets are whole hours, so UTC half-hours are local half-hours.
    """
    halves: dict[datetime, list[Reading]] = {}
    for start, value in curve.items():
        utc = start.astimezone(UTC)
        if utc.minute % 15 or utc.second or utc.microsecond:
            raise StepError(f"{start.isoformat()} is not the start of a quarter-hour")
        half = utc.replace(minute=utc.minute - utc.minute % 30)
        halves.setdefault(half, []).append(value)
    result: dict[datetime, Reading] = {}
    for half, values in sorted(halves.items()):
        whole = [v for v in values if not isinstance(v, Missing)]
        result[half] = sum(whole) if len(whole) == 2 else MISSING
    return result
