"""Read-only energy queries for the HTTP API: district aggregates, a resident's own readings,
and the settlement commitments and payments the indexer decoded.

Readings: only current rows (a superseded raw value is history). When the distributor's data
covers an interval, the gateway's reading of that interval is left out (the distributor is the
metering authority), so no interval counts twice. A *home* is the meter's wallet (lowercase) or,
for a meter without one, its gateway; a meter with neither is left out of the figures (neither
summed nor counted: summed but not counted, it could be published alone behind others). A
figure of a step counts only the homes with a non-zero contribution to that figure: a home
reporting 0 (an import-only meter's export register) adds nothing to the sum, so it must not
make the group look larger than it is. A figure whose sum is 0 (every home reported 0: no
production at night) is the one exception: it reveals nothing a home alone contributed, so its
group is every home that reported (`group_size`).

Settlement events: the indexer decodes `EnergySettlementDayCommitted` and
`EnergySettlementBatchPaid` into `settlement_days` and `settlement_payments` (rolled back with
the rest on a reorg); they are read from there, in (block, log index) order, for the settlement
days and for the live feed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, and_, case, exists, func, literal, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from ledger.db.energy_models import EnergyDistrictPublished, EnergyMeter, EnergyReading
from ledger.db.errors import DatabaseUnavailable
from ledger.db.models import Block, IndexerCursor, SettlementDay, SettlementPayment
from ledger.db.queries_api import CursorInfo, make_read_engine
from ledger.db.resident_data import aggregates_refused

DISTRIBUTOR = "distributor"
FIGURES = ("production", "consumption", "gas", "water")

R = cast(Table, EnergyReading.__table__)
M = cast(Table, EnergyMeter.__table__)
P = cast(Table, EnergyDistrictPublished.__table__)


def group_size(total: int, contributing: int, reporting: int) -> int:
    """How many homes a step's figure stands for: those adding a non-zero value to it, or, when
    the figure is 0 (all of them reported 0), every home that reported."""
    return reporting if total == 0 else contributing


@dataclass(frozen=True, slots=True)
class StepFigure:
    """One figure of one step for the whole district: the sum and how many homes it covers."""

    start_ts: int
    figure: str  # production | consumption | gas | water
    total: int
    homes: int
    reporting: int = 0
    """Homes with a reading of this figure in the step (zero values included)."""


# Published district figures by (step start, figure).
Published = dict[tuple[int, str], StepFigure]

# A step's figure is expected from every home that reported that figure in this window before it.
EXPECTED_WINDOW_S = 7 * 86_400


@dataclass(frozen=True, slots=True)
class DistrictRows:
    step_s: int
    """900, or 1800 when any reading of the day is a 30-minute one (15 is summed into 30)."""
    figures: list[StepFigure]
    expected: dict[str, int] = field(default_factory=dict)
    """Per figure, the homes that reported it in the week before the day or during it."""
    frozen: Published = field(default_factory=dict)
    """Figures published before at this step length, as they were published."""
    frozen_other_step: Published = field(default_factory=dict)
    """Figures of the day published before at the other step length (15 when the day is now
    shown in 30 minutes, or the reverse): a figure at this length must never differ from them."""


@dataclass(frozen=True, slots=True)
class OwnReading:
    start_ts: int
    step_s: int
    commodity: str
    direction: str
    value: int
    source: str


@dataclass(frozen=True, slots=True)
class OnChainSettlement:
    """What the chain says about one (operation, day, version), from the indexed logs."""

    operation_id: int
    day_number: int
    version: int
    root: str
    totals: tuple[int, int, int, int, int, int]
    block_number: int
    tx_hash: str
    block_time: int | None
    paid: int = 0
    shortfall: int = 0
    paid_up_to: int = 0


@dataclass(frozen=True, slots=True)
class SettlementEvent:
    """One decoded settlement event for the live feed: a (day, version) `committed` (root and
    totals set) or a batch of its transfer lines `paid` (indexes, paid and shortfall set)."""

    kind: str  # committed | paid
    block_number: int
    log_index: int
    tx_hash: str
    operation_id: int
    day_number: int
    version: int
    root: str | None = None
    totals: tuple[int, int, int, int, int, int] | None = None
    from_index: int | None = None
    to_index: int | None = None
    paid: int | None = None
    shortfall: int | None = None


def _by_step_length(frozen: Sequence[Row[Any, Any, Any, Any, Any]], step: int) -> tuple[Published, Published]:
    """Published figures split into those at `step` and those at the other step length."""
    same: Published = {}
    other: Published = {}
    for start, name, total, homes, step_s in frozen:
        into = same if int(step_s) == step else other
        into[(int(start), str(name))] = StepFigure(int(start), str(name), int(total), int(homes))
    return same, other


class EnergyQueries:
    """The API's read-only view of the energy tables and of the settlement logs of one chain."""

    def __init__(self, engine: Engine, chain_id: int, write_engine: Engine | None = None) -> None:
        self.engine = engine
        self.chain_id = chain_id
        # Only `freeze` writes (the published district figures): a read engine may be read-only.
        self._write_engine = write_engine

    @classmethod
    def from_url(cls, url: str, chain_id: int) -> EnergyQueries:
        return cls(make_read_engine(url), chain_id)

    def close(self) -> None:
        self.engine.dispose()
        if self._write_engine is not None and self._write_engine is not self.engine:
            self._write_engine.dispose()

    def _writer(self) -> Engine:
        if self._write_engine is None:
            from ledger.db.engine import make_engine

            url = self.engine.url
            if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
                self._write_engine = self.engine  # one in-memory database, not query_only
            else:
                self._write_engine = make_engine(url.render_as_string(hide_password=False))
        return self._write_engine

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.ProgrammingError) as exc:
            raise DatabaseUnavailable(
                f"the energy data cannot be read right now ({type(exc.orig).__name__})"
            ) from exc

    # -- readings -------------------------------------------------------------------------------

    @staticmethod
    def _current(start_ts: int, end_ts: int) -> list[ColumnElement[bool]]:
        """Current readings starting in [start_ts, end_ts), gateway ones only where the
        distributor has nothing for the same meter, direction and time."""
        r = R
        d = aliased(EnergyReading)
        covered = exists().where(
            d.meter_id == r.c.meter_id,
            d.source == DISTRIBUTOR,
            d.current.is_(True),
            d.direction == r.c.direction,
            d.start_ts <= r.c.start_ts,
            d.start_ts + d.step_s > r.c.start_ts,
        )
        return [
            r.c.current.is_(True),
            r.c.start_ts >= start_ts,
            r.c.start_ts < end_ts,
            or_(r.c.source == DISTRIBUTOR, ~covered),
        ]

    def district(self, start_ts: int, end_ts: int) -> DistrictRows:
        r, m = R, M
        where = [*self._current(start_ts, end_ts), m.c.meter_id == r.c.meter_id]
        figure = case(
            (and_(m.c.commodity == "electricity", r.c.direction == "export"), literal("production")),
            (m.c.commodity == "electricity", literal("consumption")),
            (m.c.commodity == "gas", literal("gas")),
            else_=literal("water"),
        ).label("figure")
        home = func.coalesce(func.lower(m.c.wallet), literal("gw:") + m.c.device_id)
        # A home that refused the district aggregates is neither summed nor expected, from the
        # moment it refused (figures already published stay as they were).
        has_home = and_(
            or_(m.c.wallet.is_not(None), m.c.device_id.is_not(None)),
            or_(m.c.wallet.is_(None), func.lower(m.c.wallet).not_in(aggregates_refused())),
        )
        with self._read() as conn:
            widest = conn.execute(select(func.max(r.c.step_s)).where(*where)).scalar()
            step = 1800 if widest is not None and int(widest) >= 1800 else 900
            bucket = (r.c.start_ts - r.c.start_ts % step).label("bucket")
            where.append(has_home)
            contributing = case((r.c.value != 0, home), else_=None)
            rows = conn.execute(
                select(
                    bucket, figure, func.sum(r.c.value), func.count(func.distinct(contributing)),
                    func.count(func.distinct(home)),
                )
                .where(*where)
                .group_by(bucket, figure)
                .order_by(bucket, figure)
            ).all()
            expected = conn.execute(
                select(figure, func.count(func.distinct(home)))
                .where(
                    *self._current(start_ts - EXPECTED_WINDOW_S, end_ts),
                    m.c.meter_id == r.c.meter_id,
                    has_home,
                )
                .group_by(figure)
            ).all()
            p = P
            frozen = conn.execute(
                select(p.c.start_ts, p.c.figure, p.c.total, p.c.homes, p.c.step_s).where(
                    p.c.start_ts >= start_ts, p.c.start_ts < end_ts
                )
            ).all()
        figures = [
            StepFigure(int(b), str(f), int(t), group_size(int(t), int(h), int(a)), int(a))
            for b, f, t, h, a in rows
        ]
        return DistrictRows(
            step,
            figures,
            {str(f): int(n) for f, n in expected},
            *_by_step_length(frozen, step),
        )

    def freeze(self, step_s: int, figures: Sequence[StepFigure], now: int) -> Published:
        """Store `figures` as published unless a figure of the same step was stored first (by
        another worker): returns what is stored for each, the first one winning."""
        if not figures:
            return {}
        p = P
        engine = self._writer()
        insert = sqlite_insert if engine.dialect.name == "sqlite" else pg_insert
        with engine.begin() as conn:
            conn.execute(
                insert(p)
                .values([
                    {"start_ts": f.start_ts, "step_s": step_s, "figure": f.figure, "total": f.total,
                     "homes": f.homes, "published_ts": now}
                    for f in figures
                ])
                .on_conflict_do_nothing()
            )
            stored = conn.execute(
                select(p.c.start_ts, p.c.figure, p.c.total, p.c.homes).where(
                    p.c.step_s == step_s,
                    p.c.start_ts >= min(f.start_ts for f in figures),
                    p.c.start_ts <= max(f.start_ts for f in figures),
                )
            ).all()
        return {(int(b), str(f)): StepFigure(int(b), str(f), int(t), int(h)) for b, f, t, h in stored}

    def own_readings(self, account: str, start_ts: int, end_ts: int) -> list[OwnReading]:
        """The readings of the meters of `account` (its wallet), by time."""
        r, m = R, M
        query = (
            select(r.c.start_ts, r.c.step_s, m.c.commodity, r.c.direction, r.c.value, r.c.source)
            .where(
                *self._current(start_ts, end_ts),
                m.c.meter_id == r.c.meter_id,
                func.lower(m.c.wallet) == account.lower(),
            )
            .order_by(r.c.start_ts, m.c.commodity, r.c.direction)
        )
        with self._read() as conn:
            return [
                OwnReading(int(a), int(b), str(c), str(d), int(e), str(f))
                for a, b, c, d, e, f in conn.execute(query)
            ]

    # -- settlement logs -------------------------------------------------------------------------

    def cursor(self) -> CursorInfo:
        with self._read() as conn:
            row = conn.execute(
                select(IndexerCursor.block_number, IndexerCursor.block_hash).where(
                    IndexerCursor.chain_id == self.chain_id
                )
            ).first()
        return CursorInfo(int(row[0]), str(row[1])) if row else CursorInfo(-1, "")

    def settlements(self, day_numbers: Sequence[int] | None = None) -> list[OnChainSettlement]:
        """Every committed (operation, day, version) indexed, with what was paid."""
        d, p = SettlementDay, SettlementPayment
        days = (
            select(
                d.operation_id, d.day, d.version, d.root, d.produced_wh, d.consumed_wh,
                d.allocated_wh, d.surplus_wh, d.amount, d.transfers, d.block_number, d.tx_hash,
                Block.timestamp,
            )
            .outerjoin(Block, and_(Block.chain_id == d.chain_id, Block.number == d.block_number))
            .where(d.chain_id == self.chain_id)
            .order_by(d.block_number, d.log_index)
        )
        paid = (
            select(p.operation_id, p.day, p.version, p.to_index, p.paid, p.shortfall)
            .where(p.chain_id == self.chain_id)
            .order_by(p.block_number, p.log_index)
        )
        if day_numbers is not None:
            wanted = sorted(set(day_numbers))
            days = days.where(d.day.in_(wanted))
            paid = paid.where(p.day.in_(wanted))
        with self._read() as conn:
            day_rows = conn.execute(days).all()
            paid_rows = conn.execute(paid).all()
        found: dict[tuple[int, int, int], OnChainSettlement] = {}
        for op, day, version, root, w1, w2, w3, w4, amount, transfers, block, tx, when in day_rows:
            key = (int(op), int(day), int(version))
            found[key] = OnChainSettlement(
                *key, str(root), (int(w1), int(w2), int(w3), int(w4), int(amount), int(transfers)),
                int(block), str(tx), None if when is None else int(when),
            )
        for op, day, version, to_index, paid_now, short in paid_rows:
            key = (int(op), int(day), int(version))
            known = found.get(key)
            if known is None:  # a payment always follows its commitment; never seen alone
                continue
            found[key] = OnChainSettlement(
                known.operation_id, known.day_number, known.version, known.root, known.totals,
                known.block_number, known.tx_hash, known.block_time,
                known.paid + int(paid_now), known.shortfall + int(short),
                max(known.paid_up_to, int(to_index)),
            )
        return list(found.values())

    def settlement_events(
        self,
        *,
        after: tuple[int, int] | None = None,
        until_block: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[SettlementEvent]:
        """Commitments and paid batches in (block, log index) order (newest first on request),
        after the `after` position and up to `until_block`, at most `limit`."""
        d, p = SettlementDay, SettlementPayment
        committed = select(
            d.block_number, d.log_index, d.tx_hash, d.operation_id, d.day, d.version, d.root,
            d.produced_wh, d.consumed_wh, d.allocated_wh, d.surplus_wh, d.amount, d.transfers,
        )
        batches = select(
            p.block_number, p.log_index, p.tx_hash, p.operation_id, p.day, p.version,
            p.from_index, p.to_index, p.paid, p.shortfall,
        )

        def where(table: type[SettlementDay] | type[SettlementPayment]) -> list[ColumnElement[bool]]:
            conditions = [table.chain_id == self.chain_id]
            if after is not None:
                conditions.append(or_(
                    table.block_number > after[0],
                    and_(table.block_number == after[0], table.log_index > after[1]),
                ))
            if until_block is not None:
                conditions.append(table.block_number <= until_block)
            return conditions

        def order(table: type[SettlementDay] | type[SettlementPayment]) -> list[ColumnElement[int]]:
            columns = [table.block_number, table.log_index]
            return [c.desc() if newest_first else c.asc() for c in columns]

        with self._read() as conn:
            day_rows = conn.execute(committed.where(*where(d)).order_by(*order(d)).limit(limit)).all()
            paid_rows = conn.execute(batches.where(*where(p)).order_by(*order(p)).limit(limit)).all()
        events = [
            SettlementEvent(
                "committed", int(b), int(li), str(tx), int(op), int(day), int(v), str(root),
                (int(w1), int(w2), int(w3), int(w4), int(amount), int(n)),
            )
            for b, li, tx, op, day, v, root, w1, w2, w3, w4, amount, n in day_rows
        ] + [
            SettlementEvent(
                "paid", int(b), int(li), str(tx), int(op), int(day), int(v),
                from_index=int(f), to_index=int(t), paid=int(pd), shortfall=int(sh),
            )
            for b, li, tx, op, day, v, f, t, pd, sh in paid_rows
        ]
        events.sort(key=lambda e: (e.block_number, e.log_index), reverse=newest_first)
        return events[:limit]
