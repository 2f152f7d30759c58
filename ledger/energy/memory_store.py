"""In-memory registry and reading store: the fake of `ledger.db.energy_store.SqlEnergyStore`.

Same contract (a batch writes all or nothing; a moved counter or a key stored meanwhile raises
`StoreConflictError`), no I/O: for unit tests and for trying the pipeline without a database.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from ledger.energy.errors import StoreConflictError
from ledger.energy.ingest import (
    DISTRIBUTOR,
    BaseKey,
    CarryKey,
    Changes,
    FullKey,
    NewReading,
    RawInput,
    Review,
    StoredSample,
)
from ledger.energy.registry import Gateway, Meter, Operation, Participant


@dataclass
class _State:
    counters: dict[str, int] = field(default_factory=dict)
    raw: dict[str, RawInput] = field(default_factory=dict)
    readings: dict[tuple[str, str, int, int, str, str], NewReading] = field(default_factory=dict)
    reviews: list[Review] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    carries: set[tuple[str, CarryKey]] = field(default_factory=set)
    samples: dict[tuple[str, str, str, int, str], StoredSample] = field(default_factory=dict)


class _Batch:
    def __init__(self, state: _State) -> None:
        self._state = state

    def last_counters(self, device_ids: Collection[str]) -> dict[str, int]:
        return {d: self._state.counters[d] for d in device_ids if d in self._state.counters}

    def known_raw(self, hashes: Collection[str]) -> set[str]:
        return {h for h in hashes if h in self._state.raw}

    def existing(self, source: str, keys: Collection[BaseKey]) -> dict[FullKey, int]:
        found: dict[FullKey, int] = {}
        for key in keys:
            for version in ("raw", "corrected"):
                row = self._state.readings.get((source, *key, version))
                if row is not None:
                    found[(*key, version)] = row.value
        return found

    def write(self, changes: Changes) -> None:
        state = self._state
        for device, counter in changes.counters.items():
            if state.counters.get(device, -1) >= counter:
                raise StoreConflictError(f"the counter of {device} moved")
        for raw in changes.raw_inputs:
            state.raw.setdefault(raw.sha256, raw)
        for source, base in changes.supersede:
            key = (source, *base, "raw")
            state.readings[key] = _replace_current(state.readings[key], False)
        for row in changes.readings:
            key = (row.source, row.meter_serial, row.start_ts, row.step_s, row.direction, row.version)
            if key in state.readings:
                raise StoreConflictError("a reading with this key was stored meanwhile")
            state.readings[key] = row
        state.reviews.extend(changes.reviews)
        state.carries.update((source, key) for source, key, _ in changes.carries)
        for source, _, sample in changes.samples:
            state.samples.setdefault(
                (source, sample.meter, sample.direction, sample.at_ts, sample.device), sample
            )
        state.counters.update(changes.counters)
        state.counts.update(changes.counts)


def _replace_current(row: NewReading, current: bool) -> NewReading:
    clone = copy.copy(row)
    object.__setattr__(clone, "current", current)
    return clone


class MemoryEnergyStore:
    """Registry + readings in dictionaries (implements RegistryStore and ReadingStore)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        self.operations: dict[str, Operation] = {}
        self._participants: dict[str, list[Participant]] = {}
        self._meters: dict[str, Meter] = {}
        self._gateways: dict[str, Gateway] = {}

    def half_wh_carries(self, source: str, keys: Collection[CarryKey]) -> set[CarryKey]:
        return {k for k in keys if (source, k) in self._state.carries}

    def register_samples(
        self, meters: Collection[str], start_ts: int, end_ts: int, source: str = DISTRIBUTOR
    ) -> list[StoredSample]:
        found = [s for (src, *_), s in self._state.samples.items()
                 if src == source and s.meter in meters and start_ts <= s.at_ts < end_ts]
        return sorted(found, key=lambda s: s.at_ts)

    # RegistryStore
    def operation(self, operation_id: str) -> Operation | None:
        return self.operations.get(operation_id)

    def participants(self, operation_id: str) -> Sequence[Participant]:
        return tuple(self._participants.get(operation_id, ()))

    def gateway(self, device_id: str) -> Gateway | None:
        return self._gateways.get(device_id)

    def meter(self, serial: str) -> Meter | None:
        return self._meters.get(serial)

    def add_operation(self, operation: Operation) -> None:
        self.operations[operation.operation_id] = operation

    def add_participant(self, participant: Participant) -> None:
        self._participants.setdefault(participant.operation_id, []).append(participant)

    def add_meter(self, meter: Meter) -> None:
        self._meters[meter.serial] = meter

    def add_gateway(self, gateway: Gateway) -> None:
        self._gateways[gateway.device_id] = gateway

    # ReadingStore
    def gateways(self, device_ids: Collection[str]) -> dict[str, Gateway]:
        return {d: self._gateways[d] for d in device_ids if d in self._gateways}

    def meters(self, serials: Collection[str]) -> dict[str, Meter]:
        return {s: self._meters[s] for s in serials if s in self._meters}

    @contextmanager
    def batch(self) -> Iterator[_Batch]:
        with self._lock:
            working = copy.deepcopy(self._state)
            yield _Batch(working)
            self._state = working  # committed only when the block ends without an exception

    def counts(self) -> dict[str, int]:
        return dict(self._state.counts)

    # Views for tests
    def readings(self) -> list[NewReading]:
        return sorted(
            self._state.readings.values(),
            key=lambda r: (r.source, r.meter_serial, r.start_ts, r.direction, r.version),
        )

    def reviews(self) -> list[Review]:
        return list(self._state.reviews)

    def raw_inputs(self) -> list[RawInput]:
        return list(self._state.raw.values())

    def last_counter(self, device_id: str) -> int | None:
        return self._state.counters.get(device_id)
