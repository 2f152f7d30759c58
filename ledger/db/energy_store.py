"""SQL adapter of the energy registry and the reading pipeline (SQLite or PostgreSQL).

`SqlEnergyStore(engine)` implements `ledger.energy.registry.RegistryStore` and
`ledger.energy.ingest.ReadingStore`. A reading batch is one transaction (on SQLite a
`BEGIN IMMEDIATE`, so batches are serialised); the device counter moves with a conditional
UPDATE and the idempotency key is a UNIQUE constraint, so two writers racing on the same input
make the second one fail with `StoreConflictError` (the pipeline retries) instead of storing twice.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from fractions import Fraction
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from ledger.db.energy_models import (
    EnergyConsent,
    EnergyGateway,
    EnergyHalfWhCarry,
    EnergyIngestCount,
    EnergyMembership,
    EnergyMeter,
    EnergyMeterSite,
    EnergyOperation,
    EnergyOperationRules,
    EnergyParticipant,
    EnergyRawInput,
    EnergyReading,
    EnergyReadingReview,
    EnergyRegisterSample,
    EnergySupplyContract,
)
from ledger.db.errors import DatabaseUnavailable
from ledger.energy.errors import RegistryError, StoreConflictError
from ledger.energy.ingest import (
    BaseKey,
    CarryKey,
    Changes,
    FullKey,
    NewReading,
    RawInput,
    Review,
    StoredSample,
)
from ledger.energy.membership import Consent, Membership, participants_on
from ledger.energy.operation_check import Rules
from ledger.energy.registry import Gateway, KeyKind, Meter, Operation, Participant, Role
from ledger.energy.reviews import (
    KEEP_PROPOSED,
    KEEP_STORED,
    Keep,
    ReviewError,
    ReviewItem,
    decision_bytes,
    decision_sha256,
)

_CHUNK = 500
R = cast(Table, EnergyReading.__table__)
M = cast(Table, EnergyMeter.__table__)
G = cast(Table, EnergyGateway.__table__)
RAW = cast(Table, EnergyRawInput.__table__)
REVIEWS = cast(Table, EnergyReadingReview.__table__)
COUNTS = cast(Table, EnergyIngestCount.__table__)
CARRIES = cast(Table, EnergyHalfWhCarry.__table__)
SAMPLES = cast(Table, EnergyRegisterSample.__table__)
RULES = cast(Table, EnergyOperationRules.__table__)
SITES = cast(Table, EnergyMeterSite.__table__)
CONTRACTS = cast(Table, EnergySupplyContract.__table__)
MEMBERS = cast(Table, EnergyMembership.__table__)
CONSENTS = cast(Table, EnergyConsent.__table__)
OPERATIONS = cast(Table, EnergyOperation.__table__)
PARTICIPANTS = cast(Table, EnergyParticipant.__table__)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for n in range(0, len(items), size):
        yield items[n : n + size]


def _meter(row: Any) -> Meter:
    return Meter(row.serial, row.serial_hash, row.commodity, row.max_rate, row.device_id,
                 row.operation_id, row.wallet)


class _SqlBatch:
    def __init__(self, store: SqlEnergyStore, conn: Connection) -> None:
        self._store = store
        self._conn = conn

    def last_counters(self, device_ids: Collection[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(device_ids)):
            rows = self._conn.execute(
                select(G.c.device_id, G.c.last_counter).where(G.c.device_id.in_(chunk))
            )
            found.update({d: c for d, c in rows if c is not None})
        return found

    def known_raw(self, hashes: Collection[str]) -> set[str]:
        raw = RAW
        found: set[str] = set()
        for chunk in _chunks(sorted(hashes)):
            found.update(self._conn.scalars(select(raw.c.sha256).where(raw.c.sha256.in_(chunk))))
        return found

    def existing(self, source: str, keys: Collection[BaseKey]) -> dict[FullKey, int]:
        if not keys:
            return {}
        ids = self._store.meter_ids({k[0] for k in keys}, self._conn)
        serial_of = {v: k for k, v in ids.items()}
        lo = min(k[1] for k in keys)
        hi = max(k[1] for k in keys)
        wanted = set(keys)
        found: dict[FullKey, int] = {}
        for chunk in _chunks(sorted(serial_of)):
            rows = self._conn.execute(
                select(R.c.meter_id, R.c.start_ts, R.c.step_s, R.c.direction, R.c.version, R.c.value)
                .where(R.c.source == source, R.c.meter_id.in_(chunk), R.c.start_ts.between(lo, hi))
            )
            for meter_id, start, step, direction, version, value in rows:
                base = (serial_of[meter_id], start, step, direction)
                if base in wanted:
                    found[(*base, version)] = value
        return found

    def write(self, changes: Changes) -> None:
        conn = self._conn
        now = int(time.time())
        try:
            if changes.counters:
                moved = _move_counters(conn, changes.counters)
                if moved != len(changes.counters):
                    raise StoreConflictError("a gateway counter moved meanwhile")
            if changes.raw_inputs:
                _insert_many(conn, RAW, [_raw_row(r, now) for r in changes.raw_inputs])
            serials = {r.meter_serial for r in changes.readings}
            serials |= {base[0] for _, base in changes.supersede}
            serials |= {r.meter_serial for r in changes.reviews}
            ids = self._store.meter_ids(serials, conn) if serials else {}
            if changes.supersede:
                conn.execute(
                    update(R)
                    .where(
                        and_(
                            R.c.source == bindparam("b_source"),
                            R.c.meter_id == bindparam("b_meter"),
                            R.c.start_ts == bindparam("b_start"),
                            R.c.step_s == bindparam("b_step"),
                            R.c.direction == bindparam("b_direction"),
                            R.c.version == "raw",
                        )
                    )
                    .values(current=False),
                    [
                        {"b_source": source, "b_meter": ids[serial], "b_start": start,
                         "b_step": step, "b_direction": direction}
                        for source, (serial, start, step, direction) in changes.supersede
                    ],
                )
            if changes.readings:
                _insert_many(conn, R, [_reading_row(r, ids, now) for r in changes.readings])
            if changes.reviews:
                conn.execute(
                    insert(REVIEWS),
                    [_review_row(r, ids, now) for r in changes.reviews],
                )
            if changes.carries:
                self._store.add_carries(conn, changes.carries)
            if changes.samples:
                self._store.insert_register_samples(conn, changes.samples)
            if changes.counts:
                self._store.add_counts(conn, changes.counts.items())
        except IntegrityError as exc:
            raise StoreConflictError("a reading or input was stored meanwhile by another writer") from exc


_MARKS = {"qmark": "?", "numeric": "?", "format": "%s", "pyformat": "%s"}


def _move_counters(conn: Connection, counters: dict[str, int]) -> int:
    """Raise each device's counter only if it is still below: the number of gateways moved (one
    driver-level executemany; a counter that moved meanwhile is not counted)."""
    mark = _MARKS.get(conn.dialect.paramstyle)
    if mark is None:  # pragma: no cover - make_engine builds sqlite3 or psycopg only
        result = conn.execute(
            update(G)
            .where(G.c.device_id == bindparam("b_device"))
            .where(G.c.last_counter.is_(None) | (G.c.last_counter < bindparam("b_counter")))
            .values(last_counter=bindparam("b_counter")),
            [{"b_device": d, "b_counter": c} for d, c in counters.items()],
        )
        return int(result.rowcount)
    # the table name and the driver's placeholder are constants: no input reaches the text
    sql = (f"UPDATE {G.name} SET last_counter = {mark} WHERE device_id = {mark} "  # noqa: S608
           f"AND (last_counter IS NULL OR last_counter < {mark})")
    moved = 0
    for device, counter in counters.items():  # rowcount of an executemany is not portable
        moved += conn.exec_driver_sql(sql, (counter, device, counter)).rowcount
    return moved


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One driver-level executemany of plain INSERTs: the rows are already typed (int, str, bool),
    so SQLAlchemy's per-row parameter processing (a third of the store's time at 10k readings/s)
    is skipped. Column names come from the table, never from input."""
    names = list(rows[0])
    mark = _MARKS.get(conn.dialect.paramstyle)
    if mark is None:  # pragma: no cover - make_engine builds sqlite3 or psycopg only
        conn.execute(insert(table), rows)
        return
    columns = ", ".join(table.c[n].name for n in names)
    placeholders = ", ".join([mark] * len(names))
    sql = f"INSERT INTO {table.name} ({columns}) VALUES ({placeholders})"  # noqa: S608 - constants
    conn.exec_driver_sql(sql, [tuple(row[n] for n in names) for row in rows])


def _review_item(r: Any) -> ReviewItem:
    return ReviewItem(
        r.review_id, r.status, r.source, r.serial, r.commodity, r.start_ts, r.step_s, r.direction,
        r.version, r.stored_value, r.proposed_value, r.reason, r.raw_sha256, r.received_ts,
        r.resolution, r.resolved_value, r.resolved_ts, r.resolved_by,
    )


def _raw_row(r: RawInput, now: int) -> dict[str, Any]:
    return {"sha256": r.sha256, "source": r.source, "channel": r.channel, "size": r.size,
            "device_id": r.device_id, "counter": r.counter, "received_ts": now}


def _reading_row(r: NewReading, ids: dict[str, int], now: int) -> dict[str, Any]:
    return {"source": r.source, "meter_id": ids[r.meter_serial], "start_ts": r.start_ts,
            "step_s": r.step_s, "direction": r.direction, "version": r.version, "value": r.value,
            "current": r.current, "raw_sha256": r.raw_sha256, "device_id": r.device_id,
            "counter": r.counter, "clock_status": r.clock_status, "received_ts": now}


def _review_row(r: Review, ids: dict[str, int], now: int) -> dict[str, Any]:
    return {"source": r.source, "meter_id": ids[r.meter_serial], "start_ts": r.start_ts,
            "step_s": r.step_s, "direction": r.direction, "version": r.version,
            "stored_value": r.stored_value, "proposed_value": r.proposed_value,
            "reason": r.reason, "raw_sha256": r.raw_sha256, "status": "open", "received_ts": now}


class SqlEnergyStore:
    """Registry and readings in SQL. Create with an engine from `ledger.db.make_engine`, on a
    database migrated with `ledger.db.migrate` (revision 0002 or later)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._meter_ids: dict[str, int] = {}

    @property
    def engine(self) -> Engine:
        return self._engine

    # --- ReadingStore ----------------------------------------------------------------------

    def gateways(self, device_ids: Collection[str]) -> dict[str, Gateway]:
        found: dict[str, Gateway] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(device_ids)):
                rows = conn.execute(
                    select(G.c.device_id, G.c.algorithm, G.c.public_key).where(G.c.device_id.in_(chunk))
                )
                found.update({d: Gateway(d, a, bytes(k)) for d, a, k in rows})
        return found

    def meters(self, serials: Collection[str]) -> dict[str, Meter]:
        found: dict[str, Meter] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(serials)):
                for row in conn.execute(select(M).where(M.c.serial.in_(chunk))):
                    found[row.serial] = _meter(row)
                    self._meter_ids[row.serial] = row.meter_id
        return found

    def meter_ids(self, serials: Iterable[str], conn: Connection) -> dict[str, int]:
        wanted = set(serials)
        missing = sorted(wanted - self._meter_ids.keys())
        for chunk in _chunks(missing):
            rows = conn.execute(select(M.c.serial, M.c.meter_id).where(M.c.serial.in_(chunk)))
            self._meter_ids.update({s: i for s, i in rows})
        return {s: self._meter_ids[s] for s in wanted if s in self._meter_ids}

    @contextmanager
    def batch(self) -> Iterator[_SqlBatch]:
        try:
            with self._engine.begin() as conn:
                yield _SqlBatch(self, conn)
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the reading store refused the batch: {exc.orig}") from exc

    def counts(self) -> dict[str, int]:
        table = COUNTS
        with self._read() as conn:
            return {k: int(v) for k, v in conn.execute(select(table.c.outcome, table.c.count))}

    def half_wh_carries(self, source: str, keys: Collection[CarryKey]) -> set[CarryKey]:
        if not keys:
            return set()
        found: set[CarryKey] = set()
        with self._read() as conn:
            ids = self.meter_ids({k[0] for k in keys}, conn)
            serial_of = {v: k for k, v in ids.items()}
            wanted = set(keys)
            for chunk in _chunks(sorted(serial_of)):
                rows = conn.execute(
                    select(CARRIES.c.meter_id, CARRIES.c.direction, CARRIES.c.version,
                           CARRIES.c.at_ts)
                    .where(CARRIES.c.source == source, CARRIES.c.meter_id.in_(chunk))
                )
                for meter_id, direction, version, at_ts in rows:
                    key = (serial_of[meter_id], direction, version, int(at_ts))
                    if key in wanted:
                        found.add(key)
        return found

    def add_carries(self, conn: Connection, carries: Sequence[tuple[str, CarryKey, str]]) -> None:
        ids = self.meter_ids({key[0] for _, key, _ in carries}, conn)
        rows = [
            {"source": source, "meter_id": ids[serial], "direction": direction,
             "version": version, "at_ts": at_ts, "raw_sha256": sha}
            for source, (serial, direction, version, at_ts), sha in carries
        ]
        stmt: Any = (sqlite.insert(CARRIES) if conn.dialect.name == "sqlite"
                     else postgresql.insert(CARRIES))
        conn.execute(stmt.on_conflict_do_nothing(), rows)

    def add_counts(self, conn: Connection, counts: Iterable[tuple[str, int]]) -> None:
        table = COUNTS
        rows = [{"outcome": k, "count": v} for k, v in counts if v]
        if not rows:
            return
        dialect = conn.dialect.name
        stmt: Any
        if dialect == "sqlite":
            stmt = sqlite.insert(table)
        elif dialect == "postgresql":
            stmt = postgresql.insert(table)
        else:  # pragma: no cover - make_engine only builds these two
            raise DatabaseUnavailable(f"unsupported database {dialect}")
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.outcome], set_={"count": table.c.count + stmt.excluded.count}
        )
        conn.execute(stmt, rows)

    # --- RegistryStore ---------------------------------------------------------------------

    def operation(self, operation_id: str) -> Operation | None:
        table = OPERATIONS
        with self._read() as conn:
            row = conn.execute(select(table).where(table.c.operation_id == operation_id)).first()
        if row is None:
            return None
        return Operation(row.operation_id, row.name, KeyKind(row.key), row.step_s,
                         bool(row.settle_on_gateway))

    def participants(self, operation_id: str) -> Sequence[Participant]:
        table = PARTICIPANTS
        with self._read() as conn:
            rows = conn.execute(
                select(table).where(table.c.operation_id == operation_id).order_by(table.c.wallet)
            ).all()
        return tuple(
            Participant(r.operation_id, r.wallet, Role(r.role),
                        None if r.share is None else Fraction(r.share), r.priority)
            for r in rows
        )

    def gateway(self, device_id: str) -> Gateway | None:
        return self.gateways({device_id}).get(device_id)

    def meter(self, serial: str) -> Meter | None:
        return self.meters({serial}).get(serial)

    def add_operation(self, operation: Operation) -> None:
        self._add(OPERATIONS, {
            "operation_id": operation.operation_id, "name": operation.name,
            "key": operation.key.value, "step_s": operation.step_s,
            "settle_on_gateway": operation.settle_on_gateway,
        }, f"the operation {operation.operation_id}")

    def add_participant(self, participant: Participant) -> None:
        self._add(PARTICIPANTS, {
            "operation_id": participant.operation_id, "wallet": participant.wallet,
            "role": participant.role.value, "share": participant.share_text,
            "priority": participant.priority,
        }, f"the participant {participant.wallet}")

    def add_meter(self, meter: Meter) -> None:
        self._add(M, {
            "serial": meter.serial, "serial_hash": meter.serial_hash, "commodity": meter.commodity,
            "max_rate": meter.max_rate, "device_id": meter.device_id,
            "operation_id": meter.operation_id, "wallet": meter.wallet,
        }, "this meter")

    def add_gateway(self, gateway: Gateway) -> None:
        self._add(G, {
            "device_id": gateway.device_id, "algorithm": gateway.algorithm,
            "public_key": gateway.public_key_der, "last_counter": None,
        }, f"the gateway {gateway.device_id}")

    def _add(self, table: Table, row: dict[str, Any], what: str) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(table), [row])
        except IntegrityError as exc:
            raise RegistryError(f"{what} is already registered or refers to a missing entry") from exc
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the registry could not be written: {exc.orig}") from exc

    # --- views -----------------------------------------------------------------------------

    def readings(
        self,
        *,
        source: str | None = None,
        current_only: bool = False,
        start_ts: int | None = None,
        end_ts: int | None = None,
    ) -> list[NewReading]:
        """Stored readings (history included unless `current_only`), ordered by key."""
        query = select(R, M.c.serial).join(M, M.c.meter_id == R.c.meter_id)
        if source is not None:
            query = query.where(R.c.source == source)
        if current_only:
            query = query.where(R.c.current.is_(True))
        if start_ts is not None:
            query = query.where(R.c.start_ts >= start_ts)
        if end_ts is not None:
            query = query.where(R.c.start_ts < end_ts)
        query = query.order_by(R.c.source, M.c.serial, R.c.start_ts, R.c.direction, R.c.version)
        with self._read() as conn:
            return [
                NewReading(r.source, r.serial, r.start_ts, r.step_s, r.direction, r.version,
                           r.value, bool(r.current), r.raw_sha256, r.device_id, r.counter,
                           r.clock_status)
                for r in conn.execute(query)
            ]

    def operation_meters(self, operation_id: str) -> tuple[Meter, ...]:
        """The meters registered in an operation (every commodity), by serial."""
        with self._read() as conn:
            rows = conn.execute(select(M).where(M.c.operation_id == operation_id).order_by(M.c.serial))
            return tuple(_meter(row) for row in rows)

    def meter_readings(self, serials: Collection[str], start_ts: int, end_ts: int) -> list[NewReading]:
        """Every stored reading (both sources, every version, history included) of these meters
        whose interval starts in [start_ts, end_ts), ordered by key."""
        out: list[NewReading] = []
        with self._read() as conn:
            for chunk in _chunks(sorted(set(serials))):
                query = (
                    select(R, M.c.serial)
                    .join(M, M.c.meter_id == R.c.meter_id)
                    .where(M.c.serial.in_(chunk), R.c.start_ts >= start_ts, R.c.start_ts < end_ts)
                    .order_by(M.c.serial, R.c.start_ts, R.c.direction, R.c.source, R.c.version)
                )
                out += [
                    NewReading(r.source, r.serial, r.start_ts, r.step_s, r.direction, r.version,
                               r.value, bool(r.current), r.raw_sha256, r.device_id, r.counter,
                               r.clock_status)
                    for r in conn.execute(query)
                ]
        return out

    def reading_span(self, serials: Collection[str]) -> tuple[int, int] | None:
        """(first, last) interval start of the stored readings of these meters, or None."""
        first: int | None = None
        last: int | None = None
        with self._read() as conn:
            for chunk in _chunks(sorted(set(serials))):
                lo, hi = conn.execute(
                    select(func.min(R.c.start_ts), func.max(R.c.start_ts))
                    .join(M, M.c.meter_id == R.c.meter_id)
                    .where(M.c.serial.in_(chunk))
                ).one()
                if lo is not None:
                    first = lo if first is None else min(first, lo)
                    last = hi if last is None else max(last, hi)
        return None if first is None or last is None else (int(first), int(last))

    def reviews(self) -> list[Review]:
        table = REVIEWS
        query = (select(table, M.c.serial).join(M, M.c.meter_id == table.c.meter_id)
                 .order_by(table.c.review_id))
        with self._read() as conn:
            return [
                Review(r.source, r.serial, r.start_ts, r.step_s, r.direction, r.version,
                       r.stored_value, r.proposed_value, r.reason, r.raw_sha256)
                for r in conn.execute(query)
            ]

    # --- the review queue (ledger.energy.reviews) -------------------------------------------

    def review_queue(self, status: str | None = "open") -> list[ReviewItem]:
        """Reviews by id (`status` "open", "resolved", or None for all)."""
        query = (select(REVIEWS, M.c.serial, M.c.commodity)
                 .join(M, M.c.meter_id == REVIEWS.c.meter_id).order_by(REVIEWS.c.review_id))
        if status is not None:
            query = query.where(REVIEWS.c.status == status)
        with self._read() as conn:
            return [_review_item(r) for r in conn.execute(query)]

    def resolve_review(self, review_id: int, keep: Keep, by: str) -> ReviewItem:
        now = int(time.time())
        try:
            with self._engine.begin() as conn:
                row = conn.execute(
                    select(REVIEWS, M.c.serial, M.c.commodity, M.c.max_rate)
                    .join(M, M.c.meter_id == REVIEWS.c.meter_id)
                    .where(REVIEWS.c.review_id == review_id)
                ).first()
                if row is None:
                    raise ReviewError(
                        f"there is no review {review_id}: list them with `ledger readings reviews`"
                    )
                if row.status != "open":
                    raise ReviewError(
                        f"review {review_id} is already resolved (kept {row.resolution}, "
                        f"{row.resolved_value}, by {row.resolved_by}); nothing was changed"
                    )
                key = and_(
                    R.c.source == row.source, R.c.meter_id == row.meter_id,
                    R.c.start_ts == row.start_ts, R.c.step_s == row.step_s,
                    R.c.direction == row.direction, R.c.version == row.version,
                )
                current = conn.execute(select(R.c.value).where(key)).scalar_one()
                if keep.what == KEEP_STORED:
                    value = int(current)
                else:
                    chosen = row.proposed_value if keep.what == KEEP_PROPOSED else keep.value
                    if chosen is None:
                        raise ReviewError("--keep VALUE needs a whole number")
                    value = int(chosen)
                    limit = row.max_rate * row.step_s // 3600
                    if value > limit:
                        raise ReviewError(
                            f"{value} is above what the meter can carry in {row.step_s // 60} "
                            f"minutes ({limit}); nothing was changed"
                        )
                    if value != current:
                        data = decision_bytes(review_id, value, by)
                        sha = decision_sha256(review_id, value, by)
                        if conn.execute(select(RAW.c.sha256).where(RAW.c.sha256 == sha)).first() is None:
                            conn.execute(insert(RAW), [{
                                "sha256": sha, "source": "review", "channel": "review",
                                "size": len(data), "device_id": None, "counter": None,
                                "received_ts": now,
                            }])
                        conn.execute(update(R).where(key).values(
                            value=value, raw_sha256=sha, received_ts=now))
                conn.execute(
                    update(REVIEWS).where(REVIEWS.c.review_id == review_id).values(
                        status="resolved", resolution=keep.what, resolved_value=value,
                        resolved_ts=now, resolved_by=by,
                    )
                )
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the review could not be resolved: {exc.orig}") from exc
        done = [r for r in self.review_queue(None) if r.review_id == review_id]
        return done[0]

    def open_reviews(self, serials: Collection[str], start_ts: int, end_ts: int) -> list[ReviewItem]:
        """Open reviews of these meters whose interval starts in [start_ts, end_ts)."""
        out: list[ReviewItem] = []
        with self._read() as conn:
            for chunk in _chunks(sorted(set(serials))):
                out += [
                    _review_item(r)
                    for r in conn.execute(
                        select(REVIEWS, M.c.serial, M.c.commodity)
                        .join(M, M.c.meter_id == REVIEWS.c.meter_id)
                        .where(M.c.serial.in_(chunk), REVIEWS.c.status == "open",
                               REVIEWS.c.start_ts >= start_ts, REVIEWS.c.start_ts < end_ts)
                        .order_by(REVIEWS.c.review_id)
                    )
                ]
        return out

    def changed_since(
        self, serials: Collection[str], since_ts: int, sources: Collection[str]
    ) -> tuple[list[int], int]:
        """Interval starts of these meters whose readings (of `sources`) were stored or replaced
        at or after `since_ts`, or whose review was resolved then; and the latest such stamp
        (`since_ts` when none): the cursor of the next call."""
        starts: set[int] = set()
        cursor = since_ts
        with self._read() as conn:
            for chunk in _chunks(sorted(set(serials))):
                ids = select(M.c.meter_id).where(M.c.serial.in_(chunk))
                for start, stamp in conn.execute(
                    select(R.c.start_ts, R.c.received_ts).where(
                        R.c.meter_id.in_(ids), R.c.received_ts >= since_ts,
                        R.c.source.in_(sorted(sources)),
                    )
                ):
                    starts.add(int(start))
                    cursor = max(cursor, int(stamp))
                for start, stamp in conn.execute(
                    select(REVIEWS.c.start_ts, REVIEWS.c.resolved_ts).where(
                        REVIEWS.c.meter_id.in_(ids), REVIEWS.c.resolved_ts >= since_ts
                    )
                ):
                    starts.add(int(start))
                    cursor = max(cursor, int(stamp))
        return sorted(starts), cursor

    # --- cumulative register samples (ledger.energy.register_import) ---------------------

    def add_register_samples(self, samples: Sequence[StoredSample], raw_sha256: str) -> None:
        try:
            with self._engine.begin() as conn:
                self.insert_register_samples(
                    conn, [("distributor", raw_sha256, s) for s in samples]
                )
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the register samples could not be stored: {exc.orig}") from exc

    def insert_register_samples(
        self, conn: Connection, samples: Sequence[tuple[str, str, StoredSample]]
    ) -> None:
        """(source, sha256 of the input, sample); an identical sample already stored is kept once."""
        ids = self.meter_ids({s.meter for _, _, s in samples}, conn)
        rows = [
            {"source": source, "meter_id": ids[s.meter], "direction": s.direction,
             "at_ts": s.at_ts, "serial": s.device, "register_index": s.index,
             "event": s.event, "raw_sha256": sha}
            for source, sha, s in samples
        ]
        stmt: Any = (sqlite.insert(SAMPLES) if conn.dialect.name == "sqlite"
                     else postgresql.insert(SAMPLES))
        conn.execute(stmt.on_conflict_do_nothing(), rows)

    def register_samples(
        self, meters: Collection[str], start_ts: int, end_ts: int, source: str = "distributor"
    ) -> list[StoredSample]:
        out: list[StoredSample] = []
        with self._read() as conn:
            for chunk in _chunks(sorted(set(meters))):
                query = (
                    select(SAMPLES, M.c.serial.label("meter"))
                    .join(M, M.c.meter_id == SAMPLES.c.meter_id)
                    .where(M.c.serial.in_(chunk), SAMPLES.c.source == source,
                           SAMPLES.c.at_ts >= start_ts, SAMPLES.c.at_ts < end_ts)
                    .order_by(SAMPLES.c.at_ts)
                )
                out += [StoredSample(r.meter, r.direction, int(r.at_ts), int(r.register_index),
                                     r.serial, r.event) for r in conn.execute(query)]
        return out

    # --- facts of `ledger operation check` (ledger.energy.operation_check) -----------------

    def set_settle_on_gateway(self, operation_id: str, on_gateway: bool) -> bool:
        """Set the operation's flag; False when there is no such operation."""
        try:
            with self._engine.begin() as conn:
                done = conn.execute(update(OPERATIONS).where(
                    OPERATIONS.c.operation_id == operation_id).values(settle_on_gateway=on_gateway))
                return bool(done.rowcount)
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the registry could not be written: {exc.orig}") from exc

    def operation_rules(self, operation_id: str) -> Rules | None:
        with self._read() as conn:
            row = conn.execute(select(RULES).where(RULES.c.operation_id == operation_id)).first()
        return None if row is None else Rules(row.perimeter_m, row.power_cap_w)

    def set_operation_rules(self, operation_id: str, rules: Rules) -> None:
        self._upsert(RULES, {"operation_id": operation_id, "perimeter_m": rules.perimeter_m,
                             "power_cap_w": rules.power_cap_w}, ["operation_id"])

    def meter_sites(self, serials: Sequence[str]) -> dict[str, tuple[int, int, int | None]]:
        found: dict[str, tuple[int, int, int | None]] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(set(serials))):
                rows = conn.execute(
                    select(M.c.serial, SITES.c.lat_e6, SITES.c.lon_e6, SITES.c.installed_w)
                    .join(M, M.c.meter_id == SITES.c.meter_id).where(M.c.serial.in_(chunk))
                )
                found.update({r.serial: (r.lat_e6, r.lon_e6, r.installed_w) for r in rows})
        return found

    def set_meter_site(self, serial: str, lat_e6: int, lon_e6: int, installed_w: int | None) -> None:
        with self._read() as conn:
            meter_id = self.meter_ids({serial}, conn)[serial]
        self._upsert(SITES, {"meter_id": meter_id, "lat_e6": lat_e6, "lon_e6": lon_e6,
                             "installed_w": installed_w}, ["meter_id"])

    def supply_contracts(self, operation_id: str) -> dict[str, tuple[str, str]]:
        with self._read() as conn:
            rows = conn.execute(select(CONTRACTS).where(CONTRACTS.c.operation_id == operation_id))
            return {r.wallet: (r.supplier, r.contract_ref) for r in rows}

    def set_supply_contract(self, operation_id: str, wallet: str, supplier: str, ref: str) -> None:
        self._upsert(CONTRACTS, {"operation_id": operation_id, "wallet": wallet,
                                 "supplier": supplier, "contract_ref": ref},
                     ["operation_id", "wallet"])

    def _upsert(self, table: Table, row: dict[str, Any], keys: list[str]) -> None:
        try:
            with self._engine.begin() as conn:
                stmt: Any = (sqlite.insert(table) if conn.dialect.name == "sqlite"
                             else postgresql.insert(table)).values(**row)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=keys, set_={k: v for k, v in row.items() if k not in keys}))
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the registry could not be written: {exc.orig}") from exc

    # --- membership over time and consents (ledger.energy.membership) --------------------

    def memberships(self, operation_id: str) -> list[Membership]:
        with self._read() as conn:
            rows = conn.execute(select(MEMBERS).where(MEMBERS.c.operation_id == operation_id)
                                .order_by(MEMBERS.c.wallet, MEMBERS.c.start_day))
            return [
                Membership(r.operation_id, r.wallet, Role(r.role),
                           None if r.share is None else Fraction(r.share), r.priority,
                           date.fromisoformat(r.start_day),
                           None if r.end_day is None else date.fromisoformat(r.end_day))
                for r in rows
            ]

    def participants_on(self, operation_id: str, day: date) -> list[Participant] | None:
        """The members on `day` (None when the operation has no recorded period)."""
        periods = self.memberships(operation_id)
        return participants_on(periods, day) if periods else None

    def save_membership(self, membership: Membership, close_open_at: date | None) -> None:
        try:
            with self._engine.begin() as conn:
                if close_open_at is not None:
                    self._close(conn, membership.operation_id, membership.wallet, close_open_at)
                conn.execute(insert(MEMBERS), [{
                    "operation_id": membership.operation_id, "wallet": membership.wallet,
                    "role": membership.role.value,
                    "share": None if membership.share is None else str(membership.share),
                    "priority": membership.priority, "start_day": membership.start.isoformat(),
                    "end_day": None, "recorded_ts": int(time.time()),
                }])
        except IntegrityError as exc:
            raise RegistryError("the operation of this membership is not registered") from exc
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the membership could not be written: {exc.orig}") from exc

    def close_membership(self, operation_id: str, wallet: str, end: date) -> None:
        try:
            with self._engine.begin() as conn:
                self._close(conn, operation_id, wallet, end)
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the membership could not be written: {exc.orig}") from exc

    @staticmethod
    def _close(conn: Connection, operation_id: str, wallet: str, end: date) -> None:
        conn.execute(update(MEMBERS).where(
            MEMBERS.c.operation_id == operation_id, func.lower(MEMBERS.c.wallet) == wallet.lower(),
            MEMBERS.c.end_day.is_(None),
        ).values(end_day=end.isoformat()))

    def add_consent(self, consent: Consent) -> None:
        self._add(CONSENTS, {
            "operation_id": consent.operation_id, "wallet": consent.wallet, "kind": consent.kind,
            "document_sha256": consent.document_sha256, "message": consent.message,
            "signature": consent.signature, "recorded_ts": int(time.time()),
        }, "this consent")

    def consents(self, operation_id: str) -> list[Consent]:
        with self._read() as conn:
            rows = conn.execute(select(CONSENTS).where(CONSENTS.c.operation_id == operation_id)
                                .order_by(CONSENTS.c.consent_id))
            return [Consent(r.operation_id, r.wallet, r.kind, r.document_sha256, r.message,
                            r.signature) for r in rows]

    def raw_input_count(self) -> int:
        table = RAW
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            raise DatabaseUnavailable(f"the energy store cannot be read: {exc.orig}") from exc
