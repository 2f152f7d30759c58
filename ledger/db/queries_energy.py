"""Read-only energy queries for the HTTP API: district aggregates, a resident's own readings,
and the settlement commitments the indexer stored as raw logs.

Readings: only current rows (a superseded raw value is history). When the distributor's data
covers an interval, the gateway's reading of that interval is left out (the distributor is the
metering authority), so no interval counts twice. A *home* is the meter's wallet (lowercase) or,
for a meter without one, its gateway; a meter with neither is counted in the sums but never as a
home, so a group is never reported larger than it is.

Settlement events: `EnergySettlementDayCommitted` and `EnergySettlementBatchPaid` logs are read
from `raw_logs` (the indexer keeps them undecoded) and decoded here by topic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from eth_utils.crypto import keccak
from sqlalchemy import Table, and_, case, exists, func, literal, or_, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from ledger.db.energy_models import EnergyMeter, EnergyReading
from ledger.db.errors import DatabaseUnavailable
from ledger.db.models import Block, IndexerCursor, RawLog
from ledger.db.queries_api import CursorInfo, make_read_engine

DISTRIBUTOR = "distributor"
FIGURES = ("production", "consumption", "gas", "water")

COMMITTED_SIGNATURE = (
    "EnergySettlementDayCommitted(uint256,uint32,uint32,bytes32,"
    "(uint64,uint64,uint64,uint64,uint128,uint32))"
)
PAID_SIGNATURE = "EnergySettlementBatchPaid(uint256,uint32,uint32,uint32,uint32,uint256,uint256)"
T_COMMITTED = "0x" + keccak(text=COMMITTED_SIGNATURE).hex()
T_PAID = "0x" + keccak(text=PAID_SIGNATURE).hex()
R = cast(Table, EnergyReading.__table__)
M = cast(Table, EnergyMeter.__table__)


@dataclass(frozen=True, slots=True)
class StepFigure:
    """One figure of one step for the whole district: the sum and how many homes it covers."""

    start_ts: int
    figure: str  # production | consumption | gas | water
    total: int
    homes: int


@dataclass(frozen=True, slots=True)
class DistrictRows:
    step_s: int
    """900, or 1800 when any reading of the day is a 30-minute one (15 is summed into 30)."""
    figures: list[StepFigure]


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


def _word(data: bytes, n: int) -> int:
    return int.from_bytes(data[32 * n : 32 * n + 32], "big")


class EnergyQueries:
    """The API's read-only view of the energy tables and of the settlement logs of one chain."""

    def __init__(self, engine: Engine, chain_id: int) -> None:
        self.engine = engine
        self.chain_id = chain_id

    @classmethod
    def from_url(cls, url: str, chain_id: int) -> EnergyQueries:
        return cls(make_read_engine(url), chain_id)

    def close(self) -> None:
        self.engine.dispose()

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
        with self._read() as conn:
            widest = conn.execute(select(func.max(r.c.step_s)).where(*where)).scalar()
            step = 1800 if widest is not None and int(widest) >= 1800 else 900
            bucket = (r.c.start_ts - r.c.start_ts % step).label("bucket")
            figure = case(
                (and_(m.c.commodity == "electricity", r.c.direction == "export"), literal("production")),
                (m.c.commodity == "electricity", literal("consumption")),
                (m.c.commodity == "gas", literal("gas")),
                else_=literal("water"),
            ).label("figure")
            home = func.coalesce(func.lower(m.c.wallet), literal("gw:") + m.c.device_id)
            rows = conn.execute(
                select(bucket, figure, func.sum(r.c.value), func.count(func.distinct(home)))
                .where(*where)
                .group_by(bucket, figure)
                .order_by(bucket, figure)
            ).all()
        return DistrictRows(step, [StepFigure(int(b), str(f), int(t), int(h)) for b, f, t, h in rows])

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
        """Every committed (operation, day, version) in the indexed logs, with what was paid."""
        query = (
            select(
                RawLog.block_number, RawLog.log_index, RawLog.tx_hash, RawLog.topic0, RawLog.topic1,
                RawLog.topic2, RawLog.topic3, RawLog.data, Block.timestamp,
            )
            .outerjoin(Block, and_(Block.chain_id == RawLog.chain_id, Block.number == RawLog.block_number))
            .where(RawLog.chain_id == self.chain_id, RawLog.topic0.in_([T_COMMITTED, T_PAID]))
            .order_by(RawLog.block_number, RawLog.log_index)
        )
        if day_numbers is not None:
            query = query.where(RawLog.topic2.in_(["0x" + f"{n:064x}" for n in day_numbers]))
        found: dict[tuple[int, int, int], OnChainSettlement] = {}
        with self._read() as conn:
            rows = conn.execute(query).all()
        for block, _index, tx, t0, t1, t2, t3, data_hex, when in rows:
            if t1 is None or t2 is None or t3 is None:
                continue
            key = (int(t1, 16), int(t2, 16), int(t3, 16))
            data = bytes.fromhex(str(data_hex).removeprefix("0x"))
            if t0 == T_COMMITTED and len(data) >= 32 * 7:
                totals = (
                    _word(data, 1), _word(data, 2), _word(data, 3), _word(data, 4), _word(data, 5),
                    _word(data, 6),
                )
                found[key] = OnChainSettlement(
                    *key, "0x" + data[:32].hex(), totals,
                    int(block), str(tx), None if when is None else int(when),
                )
            elif t0 == T_PAID and len(data) >= 32 * 4 and key in found:
                known = found[key]
                found[key] = OnChainSettlement(
                    known.operation_id, known.day_number, known.version, known.root, known.totals,
                    known.block_number, known.tx_hash, known.block_time,
                    known.paid + _word(data, 2), known.shortfall + _word(data, 3),
                    max(known.paid_up_to, _word(data, 1)),
                )
        return list(found.values())
