"""Readings in: one pipeline for signed gateway envelopes (HTTP, MQTT) and distributor files (CSV).

For each input, in order (the first failure rejects the whole input, nothing is stored)::

    size (64 KiB) -> JSON -> signature present -> device registered
    -> payload fields (<= 500 readings, step 900/1800 on its boundary, integers in range)
    -> signature valid -> meter registered and read by this device -> commodity of the meter
    -> value <= the meter's physical maximum per step -> interval ended (clock skew allowed)
    -> counter strictly above the last accepted one of the device

then, reading by reading, with the idempotency key (source, meter, interval start UTC, step,
direction, version):

- a new key is stored with the sha256 of the raw input it came in;
- the same value again is an exact duplicate: dropped and counted, not an error;
- another value for a stored key is held in the review table with the reason;
- a `corrected` reading supersedes the `raw` one of the same interval: both rows are kept, the
  raw one is no longer current (a late raw under a correction is stored as history, not current);
- nothing is invented: a missing interval has no row (never a zero).

Resending the very envelope already accepted (same bytes, e.g. an MQTT redelivery) is a duplicate,
not a replay. Gateway data has source "gateway", distributor data "distributor": both are kept.

Rejections are `IngestResult`s with a stable `code` and a sentence the sender can act on; every
outcome is counted (`IngestPipeline.metrics()` for this process, the store keeps the totals).
The storage behind it is the `ReadingStore` protocol: `ledger.db.energy_store.SqlEnergyStore`,
or `ledger.energy.memory_store.MemoryEnergyStore` in tests.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.energy.envelope import (
    UNITS,
    Code,
    Envelope,
    IntervalReading,
    PublicKey,
    RegisterBlock,
    Rejected,
    format_utc,
    load_public_key,
    open_wire,
    parse_payload,
    verify_signature,
)
from ledger.energy.errors import StoreConflictError
from ledger.energy.registry import Gateway, Meter
from ledger.errors import LedgerError

log = logging.getLogger(__name__)

GATEWAY = "gateway"
DISTRIBUTOR = "distributor"
MAX_CLOCK_SKEW_S = 120

BaseKey = tuple[str, int, int, str]
"""(meter serial, interval start Unix s UTC, step s, direction)."""
FullKey = tuple[str, int, int, str, str]
"""BaseKey + version."""
CarryKey = tuple[str, str, str, int]
"""(meter serial, direction, version, start of the half-hour a carried half Wh belongs to)."""


# --- what the pipeline writes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewReading:
    source: str
    meter_serial: str
    start_ts: int
    step_s: int
    direction: str
    version: str
    value: int
    current: bool
    raw_sha256: str
    device_id: str | None
    counter: int | None
    clock_status: str


@dataclass(frozen=True, slots=True)
class Review:
    source: str
    meter_serial: str
    start_ts: int
    step_s: int
    direction: str
    version: str
    stored_value: int
    proposed_value: int
    reason: str
    raw_sha256: str


@dataclass(frozen=True, slots=True)
class RawInput:
    sha256: str
    source: str
    channel: str
    size: int
    device_id: str | None
    counter: int | None


@dataclass(slots=True)
class Changes:
    raw_inputs: list[RawInput] = field(default_factory=list)
    readings: list[NewReading] = field(default_factory=list)
    supersede: list[tuple[str, BaseKey]] = field(default_factory=list)
    """(source, base key) whose raw row stops being current."""
    reviews: list[Review] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    carries: list[tuple[str, CarryKey, str]] = field(default_factory=list)
    """(source, carry key, sha256 of the file): half Wh left for a half-hour not yet received."""
    samples: list[tuple[str, str, StoredSample]] = field(default_factory=list)
    """(source, sha256 of the input, sample): register samples of the inputs accepted."""


class ReadingBatch(Protocol):
    """One transaction: reads see the committed state, `write` lands all or nothing."""

    def last_counters(self, device_ids: Collection[str]) -> dict[str, int]: ...
    def known_raw(self, hashes: Collection[str]) -> set[str]: ...
    def existing(self, source: str, keys: Collection[BaseKey]) -> dict[FullKey, int]: ...
    def write(self, changes: Changes) -> None:
        """Store everything; raise StoreConflictError if a counter moved or a key appeared."""


class ReadingStore(Protocol):
    def gateways(self, device_ids: Collection[str]) -> dict[str, Gateway]: ...
    def meters(self, serials: Collection[str]) -> dict[str, Meter]: ...
    def batch(self) -> AbstractContextManager[ReadingBatch]: ...
    def counts(self) -> dict[str, int]: ...
    def half_wh_carries(self, source: str, keys: Collection[CarryKey]) -> set[CarryKey]:
        """The keys among `keys` for which a half Wh was recorded (written by `Changes.carries`)."""
        ...
    def register_samples(
        self, meters: Collection[str], start_ts: int, end_ts: int, source: str = DISTRIBUTOR
    ) -> list[StoredSample]:
        """Stored register samples of these meters from `source`, start_ts <= at < end_ts."""
        ...


# --- results -------------------------------------------------------------------------------------

_HTTP_STATUS = {
    Code.TOO_LARGE: 413,
    Code.TOO_MANY_READINGS: 413,
    Code.UNSIGNED: 401,
    Code.BAD_SIGNATURE: 401,
    Code.UNKNOWN_DEVICE: 403,
    Code.DEVICE_MISMATCH: 403,
    Code.METER_NOT_ON_DEVICE: 403,
    Code.REPLAYED_COUNTER: 409,
    Code.INTERNAL: 503,
}


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one input; `to_json()` is what the sender receives."""

    status: str  # "accepted" | "duplicate" | "rejected"
    sha256: str
    code: str | None = None
    message: str | None = None
    device_id: str | None = None
    counter: int | None = None
    stored: int = 0
    duplicates: int = 0
    held: int = 0
    superseded: int = 0
    held_reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "rejected"

    @property
    def http_status(self) -> int:
        """Suggested HTTP status: 200 stored or duplicate, 4xx by code, 503 store unavailable."""
        if self.ok:
            return 200
        return _HTTP_STATUS.get(Code(self.code), 422) if self.code else 422

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "sha256": self.sha256}
        for name in ("code", "message", "device_id", "counter"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.ok:
            out |= {
                "stored": self.stored,
                "duplicates": self.duplicates,
                "held": self.held,
                "superseded": self.superseded,
            }
            if self.held_reasons:
                out["held_reasons"] = list(self.held_reasons)
        return out


def _rejected(
    sha: str, exc: Rejected, device_id: str | None = None, counter: int | None = None
) -> IngestResult:
    return IngestResult("rejected", sha, exc.code.value, exc.message, device_id, counter)


@dataclass(slots=True)
class _Prepared:
    """An input that passed every check not needing the transaction."""

    index: int
    sha256: str
    size: int
    source: str
    channel: str
    meter: Meter
    readings: tuple[IntervalReading, ...]
    device_id: str | None = None
    counter: int | None = None
    clock_status: str = "unknown"
    samples: tuple[StoredSample, ...] = ()


# --- the pipeline -------------------------------------------------------------------------------


class IngestPipeline:
    """Verify, validate, deduplicate and store readings. Thread-safe for one writer per store
    transaction (the store serialises batches)."""

    def __init__(
        self,
        store: ReadingStore,
        *,
        clock: Callable[[], float] = time.time,
        max_clock_skew_s: int = MAX_CLOCK_SKEW_S,
    ) -> None:
        self._store = store
        self._clock = clock
        self._skew = max_clock_skew_s
        self._keys: dict[tuple[str, bytes], PublicKey] = {}
        self._metrics: Counter[str] = Counter()

    # Entry points ------------------------------------------------------------------------------

    def ingest_http(self, body: bytes, gateway_id: str | None = None) -> IngestResult:
        """The HTTP service: one signed envelope. `gateway_id` (from the route or the client's
        authentication), when given, must be the envelope's device id."""
        return self.ingest_signed([(body, gateway_id)], channel="http")[0]

    def ingest_signed(
        self, items: Sequence[tuple[bytes, str | None]], *, channel: str = "mqtt"
    ) -> list[IngestResult]:
        """A batch of signed envelopes (body, expected device id or None), in arrival order;
        one transaction for the whole batch. Returns one result per item, in order."""
        results: list[IngestResult | None] = [None] * len(items)
        opened: list[tuple[int, str, int, Any]] = []
        for n, (body, expected) in enumerate(items):
            sha = hashlib.sha256(body).hexdigest()
            try:
                message = open_wire(body)
                if expected is not None and message.device_id != expected:
                    raise Rejected(
                        Code.DEVICE_MISMATCH,
                        f"the envelope is from {message.device_id[:64]!r} but was sent as gateway "
                        f"{expected[:64]!r}: publish on your own topic or route",
                    )
            except Rejected as exc:
                results[n] = _rejected(sha, exc)
                continue
            opened.append((n, sha, len(body), message))
        gateways = self._store.gateways({m.device_id for _, _, _, m in opened}) if opened else {}
        serials = {
            s for _, _, _, m in opened if isinstance(s := m.payload.get("meter_serial"), str)
        }
        meters = self._store.meters(serials) if serials else {}
        prepared: list[_Prepared] = []
        # register samples of earlier envelopes of this batch, not stored yet: a later envelope
        # of the same meter continues them
        pending: dict[tuple[str, str], list[StoredSample]] = {}
        for n, sha, size, message in opened:
            try:
                gateway = gateways.get(message.device_id)
                if gateway is None:
                    raise Rejected(
                        Code.UNKNOWN_DEVICE,
                        f"the gateway {message.device_id[:64]!r} is not registered: ask the "
                        "operator to register it with its public key",
                    )
                envelope = parse_payload(message.payload)  # integers and strings only, or refused
                if not verify_signature(
                    self._key(gateway), message.signature, message.signed_bytes_of_parsed()
                ):
                    raise Rejected(
                        Code.BAD_SIGNATURE,
                        "the signature does not match the canonical payload and the key registered "
                        "for this gateway",
                    )
                meter = self._check_meter(meters.get(envelope.meter_serial), envelope)
                self._check_readings(meter, envelope.readings)
                readings = envelope.readings
                samples: tuple[StoredSample, ...] = ()
                if envelope.registers is not None:
                    derived, samples = self._register_readings(meter, envelope.registers, pending)
                    readings = (*readings, *derived)
                    self._check_readings(meter, readings)
            except Rejected as exc:
                counter = message.payload.get("counter")
                results[n] = _rejected(
                    sha, exc, message.device_id, counter if type(counter) is int else None
                )
                continue
            for sample in samples:
                pending.setdefault((sample.meter, sample.direction), []).append(sample)
            prepared.append(
                _Prepared(
                    n, sha, size, GATEWAY, channel, meter, readings,
                    envelope.device_id, envelope.counter, envelope.clock_status, samples,
                )
            )
        for n, result in self._commit_each_alone_if_needed(prepared, results).items():
            results[n] = result
        done = [r for r in results if r is not None]
        if len(done) != len(items):  # every branch above fills its slot
            raise RuntimeError("ingest lost track of an input")
        return done

    def ingest_distributor(
        self,
        rows: Sequence[tuple[str, IntervalReading]],
        raw: bytes,
        *,
        channel: str = "csv",
        refused_before: Sequence[Code] = (),
        carries: Sequence[CarryKey] = (),
    ) -> tuple[IngestResult, list[tuple[int, IngestResult]]]:
        """Settlement-grade rows (meter serial, reading) from one distributor file.

        Returns the result for the file (counts) and the rejected rows (row index, result);
        a bad row is refused alone, the others are stored. `refused_before`: codes of rows the
        caller refused while parsing (counted with the others).
        """
        sha = hashlib.sha256(raw).hexdigest()
        meters = self._store.meters({serial for serial, _ in rows})
        by_meter: dict[str, list[IntervalReading]] = {}
        rejected: list[tuple[int, IngestResult]] = []
        for n, (serial, reading) in enumerate(rows):
            try:
                meter = meters.get(serial)
                if meter is None:
                    raise Rejected(
                        Code.UNKNOWN_METER,
                        "this meter is not registered: add it with `ledger meter add` first",
                    )
                self._check_readings(meter, (reading,))
            except Rejected as exc:
                rejected.append((n, _rejected(sha, exc)))
                continue
            by_meter.setdefault(serial, []).append(reading)
        prepared = [
            _Prepared(n, sha, len(raw), DISTRIBUTOR, channel, meters[serial], tuple(readings))
            for n, (serial, readings) in enumerate(by_meter.items())
        ]
        early = [r for _, r in rejected]
        early += [IngestResult("rejected", sha, code.value) for code in refused_before]
        kept = {serial for serial in by_meter}
        outcome = self._commit(
            prepared, early, [(DISTRIBUTOR, c, sha) for c in carries if c[0] in kept]
        )
        total = IngestResult(
            "accepted" if prepared or not rejected else "rejected",
            sha,
            stored=sum(r.stored for r in outcome.values()),
            duplicates=sum(r.duplicates for r in outcome.values()),
            held=sum(r.held for r in outcome.values()),
            superseded=sum(r.superseded for r in outcome.values()),
            held_reasons=tuple(x for r in outcome.values() for x in r.held_reasons),
        )
        return total, rejected

    def half_wh_carries(self, keys: Collection[CarryKey]) -> set[CarryKey]:
        """Which of these half-hours of distributor data have a half Wh carried into them."""
        return self._store.half_wh_carries(DISTRIBUTOR, keys) if keys else set()

    def meters(self, serials: Collection[str]) -> dict[str, Meter]:
        return self._store.meters(serials)

    def metrics(self) -> dict[str, int]:
        """Outcomes counted by this process: accepted, duplicate.*, held, rejected.<code>..."""
        return dict(self._metrics)

    # Checks ------------------------------------------------------------------------------------

    def _key(self, gateway: Gateway) -> PublicKey:
        cache_key = (gateway.device_id, gateway.public_key_der)
        key = self._keys.get(cache_key)
        if key is None:
            _, key = load_public_key(gateway.public_key_der)
            self._keys[cache_key] = key
        return key

    @staticmethod
    def _check_meter(meter: Meter | None, envelope: Envelope) -> Meter:
        if meter is None:
            raise Rejected(
                Code.UNKNOWN_METER,
                "the meter of this envelope is not registered: ask the operator to add it",
            )
        if meter.device_id != envelope.device_id:
            raise Rejected(
                Code.METER_NOT_ON_DEVICE,
                "this meter is not attached to this gateway in the registry: ask the operator to "
                "attach it",
            )
        return meter

    def _check_readings(self, meter: Meter, readings: Iterable[IntervalReading]) -> None:
        latest_end = int(self._clock()) + self._skew
        seen: dict[tuple[int, int, str, str], int] = {}
        for n, r in enumerate(readings):
            if r.commodity != meter.commodity:
                raise Rejected(
                    Code.WRONG_COMMODITY,
                    f"readings[{n}] is {r.commodity} but the meter measures {meter.commodity}",
                )
            limit = meter.max_per_step(r.step_s)
            if r.value > limit:
                raise Rejected(
                    Code.ABOVE_PHYSICAL_MAX,
                    f"readings[{n}].value {r.value} {UNITS[r.commodity]} is above what the "
                    f"connection can carry in {r.step_s // 60} minutes ({limit} {UNITS[r.commodity]})",
                )
            if r.start_ts + r.step_s > latest_end:
                raise Rejected(
                    Code.FUTURE_TIMESTAMP,
                    f"readings[{n}] ({format_utc(r.start_ts)}) ends in the future: send an interval "
                    "once it is over, and check the gateway clock",
                )
            key = (r.start_ts, r.step_s, r.direction, r.version)
            if seen.setdefault(key, r.value) != r.value:
                raise Rejected(
                    Code.MALFORMED,
                    f"readings[{n}] gives a second, different value for {format_utc(r.start_ts)}",
                )

    def _register_readings(
        self,
        meter: Meter,
        block: RegisterBlock,
        pending: Mapping[tuple[str, str], Sequence[StoredSample]],
    ) -> tuple[tuple[IntervalReading, ...], tuple[StoredSample, ...]]:
        """The step energies the envelope's register samples complete, with the gateway's samples
        stored before (and those of earlier envelopes of the batch): the CSV's conversion."""
        latest = int(self._clock()) + self._skew
        for n, sample in enumerate(block.samples):
            where = f"payload.registers.samples[{n}]"
            if meter.commodity != "electricity" and sample.direction != "import":
                raise Rejected(Code.WRONG_COMMODITY,
                               f"{where}: {meter.commodity} is only ever measured as import")
            if sample.at_ts > latest:
                raise Rejected(Code.FUTURE_TIMESTAMP,
                               f"{where}.at ({format_utc(sample.at_ts)}) is in the future: check "
                               "the gateway clock")
        mine = tuple(StoredSample(meter.serial, s.direction, s.at_ts, s.index, s.device, s.event)
                     for s in block.samples)
        step = block.step_s
        lo, hi = min(s.at_ts for s in mine) - step, max(s.at_ts for s in mine) + step + 1
        stored = self._store.register_samples({meter.serial}, lo, hi, source=GATEWAY)
        limit = meter.max_per_step(step)
        readings: list[IntervalReading] = []
        for direction in sorted({s.direction for s in mine}):
            # one sample per (instant, physical meter), as the table keeps it: the stored one wins
            near: dict[tuple[int, str], StoredSample] = {}
            for s in (*mine, *pending.get((meter.serial, direction), ()), *stored):
                if s.direction == direction and lo <= s.at_ts < hi:
                    near[(s.at_ts, s.device)] = s
            intervals, _gaps = intervals_of(list(near.values()), step, block.modulus, limit)
            readings += [IntervalReading(start, step, meter.commodity, direction, wh, "raw")
                         for start, wh in intervals]
        return tuple(readings), mine

    # The transaction ---------------------------------------------------------------------------

    def _commit_each_alone_if_needed(
        self, prepared: list[_Prepared], rejected: Iterable[IngestResult | None]
    ) -> dict[int, IngestResult]:
        """One transaction for the batch; if the store refuses it for a reason the checks did not
        foresee, each envelope is committed alone, so one bad message never costs another its
        place: the one the store still refuses is answered `internal_error` (nothing of it
        stored), the others are stored. A store that is down (`LedgerError` other than a
        conflict) refuses them all alike: that error goes up, nothing is stored."""
        early = [r for r in rejected if r is not None]
        if not prepared:
            return self._commit(prepared, early)
        try:
            return self._commit(prepared, early)
        except Exception as exc:
            _reraise_if_store_down(exc)
            log.warning("the store refused a batch of %d envelope(s) (%s); committing each alone",
                        len(prepared), type(exc).__name__)
        outcome = self._commit([], early) if early else {}
        for p in prepared:
            try:
                outcome |= self._commit([p], [])
            except Exception as exc:
                _reraise_if_store_down(exc)
                log.error("the store refused the envelope %s; answered internal_error", p.sha256,
                          exc_info=exc)
                outcome[p.index] = self._store_refused(p)
        return outcome

    def _store_refused(self, p: _Prepared) -> IngestResult:
        result = _rejected(
            p.sha256,
            Rejected(
                Code.INTERNAL,
                "the reading store could not store this envelope (nothing of it was kept); the "
                "operator has the details in the log: send it again later",
            ),
            p.device_id,
            p.counter,
        )
        self._metrics[_count_name(result)] += 1
        return result

    def _commit(
        self,
        prepared: list[_Prepared],
        rejected: Iterable[IngestResult | None],
        carries: Sequence[tuple[str, CarryKey, str]] = (),
    ) -> dict[int, IngestResult]:
        early = [r for r in rejected if r is not None]
        for attempt in (1, 2, 3):
            try:
                outcome, changes = self._apply(prepared, early, carries)
            except StoreConflictError:
                if attempt == 3:
                    raise
                log.info("a concurrent writer stored the same readings first; retrying the batch")
                continue
            self._metrics.update(changes.counts)
            return outcome
        raise RuntimeError("unreachable")

    def _apply(
        self,
        prepared: list[_Prepared],
        early: list[IngestResult],
        carries: Sequence[tuple[str, CarryKey, str]] = (),
    ) -> tuple[dict[int, IngestResult], Changes]:
        outcome: dict[int, IngestResult] = {}
        changes = Changes(carries=list(carries))
        with self._store.batch() as batch:
            devices = {p.device_id for p in prepared if p.device_id is not None}
            last = batch.last_counters(devices) if devices else {}
            known = batch.known_raw({p.sha256 for p in prepared}) if prepared else set()
            existing: dict[str, dict[FullKey, int]] = {}
            for source in {p.source for p in prepared}:
                keys = {
                    (p.meter.serial, r.start_ts, r.step_s, r.direction)
                    for p in prepared if p.source == source for r in p.readings
                }
                existing[source] = batch.existing(source, keys)
            for p in prepared:
                outcome[p.index] = self._apply_one(p, last, known, existing[p.source], changes)
            for result in [*outcome.values(), *early]:
                changes.counts[_count_name(result)] += 1
                changes.counts.update(
                    {
                        "readings.stored": result.stored,
                        "readings.duplicate": result.duplicates,
                        "readings.held": result.held,
                        "readings.superseded": result.superseded,
                    }
                )
            changes.counts = Counter({k: v for k, v in changes.counts.items() if v})
            batch.write(changes)
        return outcome, changes

    def _apply_one(
        self,
        p: _Prepared,
        last: dict[str, int],
        known: set[str],
        existing: dict[FullKey, int],
        changes: Changes,
    ) -> IngestResult:
        if p.device_id is not None and p.counter is not None:
            previous = last.get(p.device_id, -1)
            if p.counter <= previous:
                if p.sha256 in known:
                    return IngestResult("duplicate", p.sha256, device_id=p.device_id, counter=p.counter)
                return _rejected(
                    p.sha256,
                    Rejected(
                        Code.REPLAYED_COUNTER,
                        f"counter {p.counter} is not above the last accepted ({previous}): "
                        "increase the counter for every new envelope",
                    ),
                    p.device_id,
                    p.counter,
                )
            last[p.device_id] = p.counter
            changes.counters[p.device_id] = p.counter
        changes.samples += [(p.source, p.sha256, sample) for sample in p.samples]
        stored = duplicates = superseded = 0
        reasons: list[str] = []
        serial = p.meter.serial
        for r in p.readings:
            full = (serial, r.start_ts, r.step_s, r.direction, r.version)
            have = existing.get(full)
            if have is not None:
                if have == r.value:
                    duplicates += 1
                    continue
                reason = (
                    f"{r.version} {r.direction} value for {format_utc(r.start_ts)} "
                    f"({r.step_s // 60} min): stored {have}, received {r.value}"
                )
                reasons.append(reason)
                changes.reviews.append(
                    Review(p.source, serial, r.start_ts, r.step_s, r.direction, r.version,
                           have, r.value, reason, p.sha256)
                )
                continue
            base = (serial, r.start_ts, r.step_s, r.direction)
            current = True
            if r.version == "corrected":
                if (*base, "raw") in existing:
                    changes.supersede.append((p.source, base))
                    superseded += 1
            elif (*base, "corrected") in existing:
                current = False  # a late raw under a correction: history only
            existing[full] = r.value
            stored += 1
            changes.readings.append(
                NewReading(p.source, serial, r.start_ts, r.step_s, r.direction, r.version, r.value,
                           current, p.sha256, p.device_id, p.counter, p.clock_status)
            )
        if p.sha256 not in known:
            known.add(p.sha256)
            changes.raw_inputs.append(
                RawInput(p.sha256, p.source, p.channel, p.size, p.device_id, p.counter)
            )
        return IngestResult(
            "accepted", p.sha256, device_id=p.device_id, counter=p.counter, stored=stored,
            duplicates=duplicates, held=len(reasons), superseded=superseded,
            held_reasons=tuple(reasons),
        )


def _reraise_if_store_down(exc: Exception) -> None:
    if isinstance(exc, LedgerError) and not isinstance(exc, StoreConflictError):
        raise exc


def _count_name(result: IngestResult) -> str:
    if result.status == "rejected":
        return f"rejected.{result.code}"
    if result.status == "duplicate":
        return "duplicate.envelope"
    return "accepted"


def count_readings(results: Iterable[IngestResult]) -> Counter[str]:
    """Totals of reading outcomes over results (stored, duplicates, held, superseded)."""
    total: Counter[str] = Counter()
    for r in results:
        total.update(stored=r.stored, duplicates=r.duplicates, held=r.held, superseded=r.superseded)
    return total


# --- cumulative registers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterSample:
    """A cumulative index (Wh or L) read at `at_ts` (Unix s UTC) on the meter `serial`."""

    at_ts: int
    index: int
    serial: str


@dataclass(frozen=True, slots=True)
class Gap:
    start_ts: int
    end_ts: int
    reason: str


def registers_to_intervals(
    samples: Sequence[RegisterSample],
    step_s: int,
    *,
    modulus: int,
    max_per_step: int,
    replacements: Mapping[int, tuple[int, int]] | None = None,
) -> tuple[list[tuple[int, int]], list[Gap]]:
    """Interval energy from cumulative register samples taken at step boundaries.

    - consecutive samples exactly one step apart on the same meter give (start, index delta);
    - an index lower than the previous one on the same meter is a rollover of a `modulus` register
      (delta = modulus - previous + current) if that fits the physical maximum, else a reset: gap;
    - a meter replaced between two samples (serial changed): the interval is computed only if
      `replacements[swap_ts] = (old final index, new initial index)` is known for a swap inside
      it; otherwise a gap, never a guess;
    - samples further apart than one step leave the steps between them missing (energy over
      several steps is never split).

    Returns (intervals [(start_ts, energy)], gaps with the reason).
    """
    if step_s <= 0 or modulus <= 0:
        raise ValueError("step and modulus must be positive")
    swaps = replacements or {}
    ordered = sorted(samples, key=lambda s: s.at_ts)
    intervals: list[tuple[int, int]] = []
    gaps: list[Gap] = []
    for before, after in itertools.pairwise(ordered):
        start, end = before.at_ts, after.at_ts
        if start % step_s or end % step_s:
            gaps.append(Gap(start, end, "a sample is not on a step boundary"))
            continue
        if end - start != step_s:
            if end > start:
                gaps.append(Gap(start, end, "samples more than one step apart"))
            continue
        if before.serial != after.serial:
            swap = [ts for ts in swaps if start <= ts <= end]
            if len(swap) != 1:
                gaps.append(Gap(start, end, "meter replaced without its final and initial indexes"))
                continue
            old_final, new_initial = swaps[swap[0]]
            if old_final < before.index or after.index < new_initial:
                gaps.append(Gap(start, end, "replacement indexes do not fit the samples"))
                continue
            delta = (old_final - before.index) + (after.index - new_initial)
        elif after.index >= before.index:
            delta = after.index - before.index
        else:
            delta = modulus - before.index + after.index
            if delta > max_per_step:
                gaps.append(Gap(start, end, "register went backwards: reset, not a rollover"))
                continue
        if delta > max_per_step:
            gaps.append(Gap(start, end, f"{delta} is above the physical maximum per step"))
            continue
        intervals.append((start, delta))
    return intervals, gaps


@dataclass(frozen=True, slots=True)
class StoredSample:
    """A cumulative register index of the registered meter `meter`, read on the physical meter
    `device`; `event` is "" or "final" / "initial" at a replacement."""

    meter: str
    direction: str
    at_ts: int
    index: int
    device: str
    event: str


def intervals_of(
    samples: Sequence[StoredSample], step_s: int, modulus: int, max_per_step: int
) -> tuple[list[tuple[int, int]], list[Gap]]:
    """Step energies of one meter and direction from its samples: the one conversion of the
    register-index CSV and of the envelope's registers (rules: `ledger.energy.register_import`)."""
    plain = [s for s in samples if not s.event]
    finals = {s.at_ts: s for s in samples if s.event == "final"}
    initials = {s.at_ts: s for s in samples if s.event == "initial"}
    swaps = {at: (finals[at].index, initials[at].index) for at in finals if at in initials}
    for at in swaps:
        if at % step_s == 0:  # a swap on a step boundary: each side is an ordinary sample
            plain += [finals[at], initials[at]]
    ordered = sorted(plain, key=lambda s: (s.at_ts, s.event != "final"))
    as_samples = [RegisterSample(s.at_ts, s.index, s.device) for s in ordered]
    on_boundary = {at: v for at, v in swaps.items() if at % step_s}
    return registers_to_intervals(
        as_samples, step_s, modulus=modulus, max_per_step=max_per_step, replacements=on_boundary
    )
