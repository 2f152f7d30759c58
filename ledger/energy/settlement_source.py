"""Settlement from the stored readings, and the watch that settles days as they close.

`day_inputs(store, operation_id, day)` builds what the pure core needs for one local day
(Europe/Paris) of a sharing operation, from the readings the pipeline stored:

- participants, their role and share or level come from the registry; each participant's
  electricity meters in the operation are its meters (meter -> wallet from the registry);
- production P_k = the *export* of the producers' meters (role producer or both), consumption
  C_i = the *import* of the consumers' meters (role consumer or both);
- per meter, direction and interval the distributor's (settlement-grade) value is preferred over
  the gateway's; within a source, the latest version (`corrected` supersedes `raw`);
- per half-hour of the day a meter has quarter-hours (15-minute data) or a half-hour
  (30-minute data, the distributor's 30-minute value winning over the gateway's quarters); the
  day settles at 15 minutes, or at 30 minutes for the whole operation as soon as one meter has
  a half-hour only (or the operation is registered with 1800 s steps): quarter-hours are then
  summed in pairs, a half-hour is never split;
- a missing value is missing, never zero: the day stays open (`DayOpenError` names the meters,
  directions and local step ranges lacking a reading) and nothing is committed.

The core sees meters by their salted hash (`serial_hash`), so the settlement files and their
residues carry no meter number; errors for the operator name the serial.

`SettleWatcher` is the loop behind `ledger settle-watch`: every `interval_s` it looks at the
complete past days that have readings, asks the chain what is committed and paid for each, and
settles (or finishes paying) the days that are not closed, with bounded retries; each outcome is
one structured (JSON) log line. The chain is the source of truth; a run is idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol

from ledger.domain.energy.allocation import (
    MISSING,
    AllocationKey,
    DefaultKey,
    PriorityKey,
    Reading,
    StaticKey,
    StepReadings,
)
from ledger.domain.energy.pricing import TariffBook
from ledger.domain.energy.solidarity import SocialPrice
from ledger.domain.energy.steps import PARIS, StepLength, day_bounds, day_step_starts, local_day_of
from ledger.energy.ingest import DISTRIBUTOR, GATEWAY, NewReading
from ledger.energy.registry import KeyKind, Meter, Operation, Participant, Role
from ledger.energy.reviews import ReviewItem
from ledger.energy.settlement import (
    DayLines,
    DayStore,
    SettlementChain,
    SettlementError,
    Settler,
    compute_day,
    operation_number,
)
from ledger.errors import LedgerError

ELECTRICITY = "electricity"
_QUARTER = 900
_HALF = 1800
_VERSION_RANK = {"raw": 0, "corrected": 1}
COMMIT_LAG_S = 60
"""How long a write may take between its stamp and its commit (see days_needing_settlement)."""


class DayOpenError(SettlementError):
    """The day lacks readings: it stays open. `missing`: (serial, direction) -> step starts."""

    def __init__(self, message: str, missing: Mapping[tuple[str, str], tuple[datetime, ...]]) -> None:
        super().__init__(message)
        self.missing = dict(missing)

    @property
    def missing_steps(self) -> int:
        return sum(len(steps) for steps in self.missing.values())


class SettlementReadingStore(Protocol):
    """What settlement reads from the registry and the readings (SqlEnergyStore, or a fake)."""

    def operation(self, operation_id: str) -> Operation | None: ...

    def participants(self, operation_id: str) -> Sequence[Participant]: ...

    def operation_meters(self, operation_id: str) -> Sequence[Meter]: ...

    def participants_on(self, operation_id: str, day: date) -> Sequence[Participant] | None:
        """The members on `day` from the membership history; None when there is none."""
        ...

    def meter_readings(
        self, serials: Collection[str], start_ts: int, end_ts: int
    ) -> Sequence[NewReading]:
        """Every stored reading (all sources, versions and history) of these meters whose
        interval starts in [start_ts, end_ts)."""
        ...

    def reading_span(self, serials: Collection[str]) -> tuple[int, int] | None:
        """(first, last) interval start of the stored readings of these meters, or None."""
        ...

    def open_reviews(
        self, serials: Collection[str], start_ts: int, end_ts: int
    ) -> Sequence[ReviewItem]:
        """Open reviews of these meters whose interval starts in [start_ts, end_ts)."""
        ...


class ChangeFeed(Protocol):
    """What `days_needing_settlement` reads (SqlEnergyStore)."""

    def operation(self, operation_id: str) -> Operation | None: ...

    def operation_meters(self, operation_id: str) -> Sequence[Meter]: ...

    def changed_since(
        self, serials: Collection[str], since_ts: int, sources: Collection[str]
    ) -> tuple[list[int], int]:
        """Interval starts stored, replaced or reviewed at or after `since_ts`, and the cursor."""
        ...


@dataclass(frozen=True)
class DayInputs:
    """The pure core's inputs for one operation and local day."""

    operation_id: str
    day: date
    step: StepLength
    readings: dict[datetime, StepReadings]
    key: AllocationKey
    accounts: dict[str, str]
    """meter id (serial hash) -> wallet."""
    half_hourly: tuple[str, ...] = ()
    """Serials whose data forced 30-minute steps."""
    sources: dict[str, int] = field(default_factory=dict)
    """How many meter values of the day came from each source."""


# --- choosing the values ----------------------------------------------------------------------


@dataclass
class _Curve:
    """One meter and direction over the day: chosen quarter-hours and half-hours (Unix s)."""

    quarters: dict[int, int] = field(default_factory=dict)
    halves: dict[int, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)

    def count(self, source: str, n: int = 1) -> None:
        self.sources[source] = self.sources.get(source, 0) + n


Tables = dict[tuple[str, int], dict[int, int]]
"""(source, step s) -> {interval start: value} for one meter and direction."""


def _latest(rows: Iterable[NewReading]) -> dict[tuple[str, str], Tables]:
    """(serial, direction) -> its tables, keeping the latest version of each interval."""
    best: dict[tuple[str, str], dict[tuple[str, int], dict[int, tuple[int, int]]]] = {}
    for r in rows:
        rank = _VERSION_RANK.get(r.version)
        if rank is None:
            continue
        table = best.setdefault((r.meter_serial, r.direction), {}).setdefault((r.source, r.step_s), {})
        have = table.get(r.start_ts)
        if have is None or rank > have[0]:
            table[r.start_ts] = (rank, r.value)
    return {
        meter: {k: {start: value for start, (_, value) in t.items()} for k, t in tables.items()}
        for meter, tables in best.items()
    }


def _curve(tables: Tables, halves: Sequence[int], *, gateway: bool) -> _Curve:
    """The chosen values; gateway readings only when `gateway` (the operation's flag)."""
    dq, dh = tables.get((DISTRIBUTOR, _QUARTER), {}), tables.get((DISTRIBUTOR, _HALF), {})
    gq: dict[int, int] = tables.get((GATEWAY, _QUARTER), {}) if gateway else {}
    gh: dict[int, int] = tables.get((GATEWAY, _HALF), {}) if gateway else {}
    curve = _Curve()
    for half in halves:
        a, b = half, half + _QUARTER
        if a in dq and b in dq:
            curve.quarters[a], curve.quarters[b] = dq[a], dq[b]
            curve.count(DISTRIBUTOR, 2)
        elif half in dh:
            curve.halves[half] = dh[half]
            curve.count(DISTRIBUTOR)
        elif a in dq or b in dq or a in gq or b in gq:
            for quarter in (a, b):
                for source, table in ((DISTRIBUTOR, dq), (GATEWAY, gq)):
                    if quarter in table:
                        curve.quarters[quarter] = table[quarter]
                        curve.count(source)
                        break
        elif half in gh:
            curve.halves[half] = gh[half]
            curve.count(GATEWAY)
    return curve


def _series(curve: _Curve, grid: Sequence[int], step: StepLength) -> list[Reading]:
    if step is StepLength.MIN15:
        return [curve.quarters.get(t, MISSING) for t in grid]
    out: list[Reading] = []
    for half in grid:
        if half in curve.halves:
            out.append(curve.halves[half])
            continue
        a, b = curve.quarters.get(half), curve.quarters.get(half + _QUARTER)
        out.append(MISSING if a is None or b is None else a + b)
    return out


# --- the registry side ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Member:
    meter: Meter
    participant: Participant

    @property
    def produces(self) -> bool:
        return self.participant.role in (Role.PRODUCER, Role.BOTH)

    @property
    def consumes(self) -> bool:
        return self.participant.role in (Role.CONSUMER, Role.BOTH)


def _members(store: SettlementReadingStore, operation: Operation, day: date) -> list[_Member]:
    on_day = store.participants_on(operation.operation_id, day)  # the registry as it was that day
    participants = list(store.participants(operation.operation_id) if on_day is None else on_day)
    if not participants:
        raise SettlementError(
            f"the operation {operation.operation_id} has no participants: add them with "
            "`ledger participant add`"
        )
    meters: dict[str, list[Meter]] = {}
    for meter in store.operation_meters(operation.operation_id):
        if meter.commodity == ELECTRICITY and meter.wallet is not None:
            meters.setdefault(meter.wallet.lower(), []).append(meter)
    members: list[_Member] = []
    lacking: list[str] = []
    for participant in participants:
        own = meters.get(participant.wallet.lower(), [])
        if not own:
            lacking.append(participant.wallet)
        members += [_Member(m, participant) for m in sorted(own, key=lambda m: m.serial)]
    if lacking:
        raise SettlementError(
            f"the operation {operation.operation_id} has participants without an electricity meter "
            f"({', '.join(lacking)}): add their meters with `ledger meter add --operation "
            f"{operation.operation_id} --wallet ...`"
        )
    return members


def _key(operation: Operation, members: Sequence[_Member]) -> AllocationKey:
    consumers = [m for m in members if m.consumes]
    if operation.key is KeyKind.DEFAULT:
        return DefaultKey()
    if operation.key is KeyKind.STATIC:
        shares: dict[str, Fraction] = {}
        per_wallet: dict[str, int] = {}
        for m in consumers:
            per_wallet[m.participant.wallet] = per_wallet.get(m.participant.wallet, 0) + 1
            if m.participant.share is None:
                raise SettlementError(
                    f"{m.participant.wallet} has no static share in {operation.operation_id}"
                )
            shares[m.meter.serial_hash] = m.participant.share
        several = sorted(w for w, n in per_wallet.items() if n > 1)
        if several:
            raise SettlementError(
                f"under the static key a share belongs to one meter, but {', '.join(several)} "
                f"consume through several meters in {operation.operation_id}"
            )
        return StaticKey(shares)
    levels: dict[str, int] = {}
    for m in consumers:
        if m.participant.priority is None:
            raise SettlementError(
                f"{m.participant.wallet} has no priority level in {operation.operation_id}"
            )
        levels[m.meter.serial_hash] = m.participant.priority
    return PriorityKey(levels)


# --- the day ----------------------------------------------------------------------------------


def _ranges(starts: Sequence[datetime], step: StepLength) -> str:
    """'10:00-10:30, 14:15-14:30' in local time (end exclusive)."""
    parts: list[str] = []
    run_start = previous = None
    for start in sorted(starts):
        if previous is not None and start == previous + step.delta:
            previous = start
            continue
        if run_start is not None and previous is not None:
            parts.append(_span(run_start, previous + step.delta))
        run_start = previous = start
    if run_start is not None and previous is not None:
        parts.append(_span(run_start, previous + step.delta))
    if len(parts) > 6:
        parts = [*parts[:6], f"and {len(parts) - 6} more"]
    return ", ".join(parts)


def _span(start: datetime, end: datetime) -> str:
    return f"{start.astimezone(PARIS):%H:%M}-{end.astimezone(PARIS):%H:%M}"


def key_on(store: SettlementReadingStore, operation_id: str, day: date) -> AllocationKey:
    """The allocation key of the operation with its members of `day` (no readings needed)."""
    operation = store.operation(operation_id)
    if operation is None:
        raise SettlementError(
            f"no operation {operation_id} in the registry: add it with `ledger operation add`"
        )
    return _key(operation, _members(store, operation, day))


def day_inputs(store: SettlementReadingStore, operation_id: str, day: date) -> DayInputs:
    """The core's inputs for `day` of the operation, from the stored readings.

    Raises `DayOpenError` when a value is missing (naming the meters and steps), and
    `SettlementError` when the registry cannot describe the operation.
    """
    operation = store.operation(operation_id)
    if operation is None:
        raise SettlementError(
            f"no operation {operation_id} in the registry: add it with `ledger operation add`"
        )
    members = _members(store, operation, day)
    key = _key(operation, members)
    start, end = day_bounds(day)
    start_ts, end_ts = int(start.timestamp()), int(end.timestamp())
    serials = sorted({m.meter.serial for m in members})
    values = _latest(store.meter_readings(serials, start_ts, end_ts))
    halves = [int(s.timestamp()) for s in day_step_starts(day, StepLength.MIN30)]
    wanted: list[tuple[_Member, str]] = []
    for m in members:
        if m.produces:
            wanted.append((m, "export"))
        if m.consumes:
            wanted.append((m, "import"))
    gateway = operation.settle_on_gateway
    curves = {
        (m.meter.serial, d): _curve(values.get((m.meter.serial, d), {}), halves, gateway=gateway)
        for m, d in wanted
    }
    half_hourly = sorted({serial for (serial, _), c in curves.items() if c.halves})
    step = StepLength.MIN30 if half_hourly or operation.step_s == _HALF else StepLength.MIN15
    grid = day_step_starts(day, step)
    grid_ts = [int(s.timestamp()) for s in grid]
    injections: dict[str, list[Reading]] = {}
    withdrawals: dict[str, list[Reading]] = {}
    missing: dict[tuple[str, str], tuple[datetime, ...]] = {}
    sources: dict[str, int] = {}
    for m, direction in wanted:
        curve = curves[(m.meter.serial, direction)]
        series = _series(curve, grid_ts, step)
        gaps = tuple(s for s, v in zip(grid, series, strict=True) if v is MISSING)
        if gaps:
            missing[(m.meter.serial, direction)] = gaps
        (injections if direction == "export" else withdrawals)[m.meter.serial_hash] = series
        for source, n in curve.sources.items():
            sources[source] = sources.get(source, 0) + n
    if missing:
        described = "; ".join(
            f"meter {serial} ({direction}): "
            + ("the whole day" if len(gaps) == len(grid) else _ranges(gaps, step))
            for (serial, direction), gaps in sorted(missing.items())
        )
        total = sum(len(g) for g in missing.values())
        which = "values" if gateway else "distributor values (gateway readings do not settle " \
            "this operation)"
        raise DayOpenError(
            f"{day} of operation {operation_id} stays open: {total} of {len(grid) * len(wanted)} "
            f"{int(step)}-minute {which} are missing (never read as zero) - {described} "
            "(local time). Import or wait for the missing readings, then settle again.",
            missing,
        )
    reviews = store.open_reviews(serials, start_ts, end_ts)
    if reviews:
        listed = "; ".join(
            f"#{r.review_id} meter {r.meter_serial} ({r.direction}) at "
            f"{datetime.fromtimestamp(r.start_ts, UTC).astimezone(PARIS):%H:%M}: stored "
            f"{r.stored_value}, received {r.proposed_value}"
            for r in reviews[:6]
        ) + (f"; and {len(reviews) - 6} more" if len(reviews) > 6 else "")
        raise DayOpenError(
            f"{day} of operation {operation_id} stays open: {len(reviews)} conflicting reading(s) "
            f"await review - {listed}. Decide each with `ledger readings resolve ID --keep "
            "raw|corrected|VALUE` (list: `ledger readings reviews`), then settle again.",
            {(r.meter_serial, r.direction): (datetime.fromtimestamp(r.start_ts, UTC),)
             for r in reviews},
        )
    readings = {
        start: StepReadings(
            {meter: series[n] for meter, series in injections.items()},
            {meter: series[n] for meter, series in withdrawals.items()},
        )
        for n, start in enumerate(grid)
    }
    accounts = {m.meter.serial_hash: m.participant.wallet for m in members}
    return DayInputs(
        operation_id, day, step, readings, key, accounts, tuple(half_hourly), sources
    )


def store_compute(
    store: SettlementReadingStore,
    operation_id: str,
    day: date,
    book: Callable[[], TariffBook],
    social: Callable[[Iterable[str], date], SocialPrice | None] | None = None,
) -> Callable[[int, Mapping[tuple[str, str], int], Mapping[str, int]], DayLines]:
    """The `Compute` of `Settler.run` reading the store when (and only when) it is called: a
    day already committed but not fully paid is finished without reading anything. `social`
    gives the social price of the day for its accounts (read from the chain then), or None."""

    def compute(version: int, residues: Mapping[tuple[str, str], int], moved: Mapping[str, int]) -> DayLines:
        inputs = day_inputs(store, operation_id, day)
        return compute_day(
            operation_id=operation_number(operation_id),
            day=day,
            step=inputs.step,
            readings=inputs.readings,
            key=inputs.key,
            book=book(),
            accounts=inputs.accounts,
            residues=residues,
            version=version,
            already_transferred=moved,
            social=social(inputs.accounts.values(), day) if social is not None else None,
        )

    return compute


# --- what changed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DaysToSettle:
    """Local days whose settlement-grade data changed, and the cursor of the next call."""

    days: tuple[date, ...]
    cursor: int


def days_needing_settlement(
    store: ChangeFeed,
    operation_id: str,
    since_ts: int,
    *,
    now: Callable[[], float] = time.time,
    commit_lag_s: int = COMMIT_LAG_S,
) -> DaysToSettle:
    """The local days of `operation_id` that need a (re)settlement because their data changed at
    or after `since_ts` (Unix s of the store's write stamps): distributor readings stored or
    corrected (gateway readings too when the operation settles on them), or a review resolved.

    Pass the returned `cursor` as `since_ts` next time. The cursor never passes `now() -
    commit_lag_s`: a write stamped just before a slow transaction commits is still seen, so a day
    may be listed on a few consecutive calls (settling a day whose lines did not change does
    nothing), never missed. Days not yet ended are included: the caller settles complete days."""
    operation = store.operation(operation_id)
    if operation is None:
        return DaysToSettle((), since_ts)
    serials = [m.serial for m in store.operation_meters(operation_id) if m.commodity == ELECTRICITY]
    if not serials:
        return DaysToSettle((), since_ts)
    sources = (DISTRIBUTOR, GATEWAY) if operation.settle_on_gateway else (DISTRIBUTOR,)
    starts, latest = store.changed_since(serials, since_ts, sources)
    cursor = max(since_ts, min(latest + 1 if starts else since_ts, int(now()) - commit_lag_s))
    days = sorted({local_day_of(datetime.fromtimestamp(ts, UTC)) for ts in starts})
    return DaysToSettle(tuple(days), cursor)


# --- the watch --------------------------------------------------------------------------------

Emit = Callable[[dict[str, Any]], None]


@dataclass
class SettleWatcher:
    """Settles each complete past day with readings that the chain does not show as closed.

    `check()` is one pass (returns the events it emitted); `run()` loops with `interval_s`
    between passes. A day whose readings are incomplete stays open and is looked at again next
    pass; a chain or store failure is retried `retries` times per pass, `retry_delay_s` apart.
    Closed days are remembered so they are not asked again (the chain said so).
    """

    store: SettlementReadingStore
    chain: SettlementChain
    days: DayStore
    operation_id: str
    book: Callable[[], TariffBook]
    emit: Emit
    interval_s: float = 30.0
    retries: int = 3
    retry_delay_s: float = 2.0
    lookback_days: int = 31
    batch_size: int = 100
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    changes: ChangeFeed | None = None
    """When given (the SQL store), a settled day whose distributor data change or whose review is
    resolved is settled again: the correction version is committed without anyone asking."""
    social: Callable[[Iterable[str], date], SocialPrice | None] | None = None
    """When given, the social price of each day settled (see `store_compute`)."""
    _closed: set[date] = field(default_factory=set)
    _open: dict[date, int] = field(default_factory=dict)
    _recheck: set[date] = field(default_factory=set)
    _since: int | None = None

    def __post_init__(self) -> None:
        if self.retries < 1:
            raise SettlementError("settle-watch needs at least one attempt per day")
        self._op = operation_number(self.operation_id)

    def _event(self, event: str, **fields: Any) -> dict[str, Any]:
        line = {
            "ts": datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="seconds"),
            "event": event,
            "operation": self.operation_id,
            **fields,
        }
        self.emit(line)
        return line

    def candidate_days(self) -> list[date]:
        """Complete local days (ended before now) with readings, oldest first, not known closed."""
        operation = self.store.operation(self.operation_id)
        if operation is None:
            return []
        serials = [
            m.serial for m in self.store.operation_meters(self.operation_id) if m.commodity == ELECTRICITY
        ]
        span = self.store.reading_span(serials) if serials else None
        if span is None:
            return []
        now = datetime.fromtimestamp(self.clock(), UTC)
        today = local_day_of(now)
        first = max(local_day_of(datetime.fromtimestamp(span[0], UTC)),
                    today - timedelta(days=self.lookback_days))
        last = min(local_day_of(datetime.fromtimestamp(span[1], UTC)), today - timedelta(days=1))
        days: list[date] = []
        day = first
        while day <= last:
            if day not in self._closed and day_bounds(day)[1] <= now:
                days.append(day)
            day += timedelta(days=1)
        return days

    def check(self) -> list[dict[str, Any]]:
        """One pass over the candidate days."""
        events: list[dict[str, Any]] = []
        try:
            self._look_for_changes()
            days = self.candidate_days()
        except LedgerError as exc:
            return [self._event("store-unavailable", error=str(exc))]
        for day in days:
            event = self._settle(day)
            if event is not None:
                events.append(event)
        return events

    def _look_for_changes(self) -> None:
        """Days settled before whose data changed since the last pass are settled again."""
        if self.changes is None:
            return
        since = self._since
        if since is None:  # first pass: everything of the look-back window
            since = int(self.clock()) - (self.lookback_days + 1) * 86_400
        found = days_needing_settlement(self.changes, self.operation_id, since)
        self._since = found.cursor
        for day in found.days:  # (on a restart: the days that changed while it was down)
            self._closed.discard(day)
            self._recheck.add(day)

    def _settle(self, day: date) -> dict[str, Any] | None:
        for attempt in range(1, self.retries + 1):
            try:
                latest = self.chain.latest_version(self._op, day)
                recheck = day in self._recheck
                if latest and not recheck and self.chain.commitment(self._op, day, latest).closed:
                    self._closed.add(day)
                    return self._event("day-already-settled", day=day.isoformat(), version=latest)
                result = Settler(self.chain, self.days, batch_size=self.batch_size).run(
                    self._op, day, store_compute(self.store, self.operation_id, day, self.book, self.social)
                )
            except DayOpenError as exc:
                if self._open.get(day) == exc.missing_steps:
                    return None  # still waiting for the same readings: said already
                self._open[day] = exc.missing_steps
                return self._event("day-open", day=day.isoformat(), missing=exc.missing_steps,
                                   reason=str(exc))
            except LedgerError as exc:
                if attempt == self.retries:
                    return self._event("day-failed", day=day.isoformat(), attempts=attempt,
                                       error=str(exc))
                self._event("retry", day=day.isoformat(), attempt=attempt, error=str(exc))
                self.sleep(self.retry_delay_s)
                continue
            self._open.pop(day, None)
            self._closed.add(day)
            if recheck:
                self._recheck.discard(day)
                if result.nothing_to_do:
                    return None  # looked again after a change that did not move its lines
            if result.nothing_to_do:
                return self._event("day-already-settled", day=day.isoformat(), version=result.version)
            t = result.totals
            return self._event(
                "day-settled", day=day.isoformat(), version=result.version,
                root="0x" + result.root.hex(), committed_now=result.committed_now,
                produced_wh=t.produced_wh, consumed_wh=t.consumed_wh, allocated_wh=t.allocated_wh,
                surplus_wh=t.surplus_wh, transfers=t.transfers, paid=result.paid,
                shortfall=result.shortfall, batches=len(result.batches),
            )
        return None

    def run(self, *, cycles: int | None = None, stop: Callable[[], bool] = lambda: False) -> None:
        """Pass after pass, `interval_s` apart, until `stop()` or `cycles` passes."""
        self._event("watch-started", interval_s=self.interval_s)
        done = 0
        while not stop():
            self.check()
            done += 1
            if cycles is not None and done >= cycles:
                break
            self.sleep(self.interval_s)
