"""Operations reads of one database: what the health checks and the metrics report."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ledger.db.errors import DatabaseUnavailable
from ledger.db.store import LOGS_HELD_COUNT


@dataclass(frozen=True)
class OpsFigures:
    cursor: int | None  # the last indexed block (None: nothing indexed yet)
    genesis_hash: str | None  # the genesis the index was built from
    highest_head: int | None
    events: int  # logs indexed (raw or decoded)
    readings: dict[str, int] = field(default_factory=dict)  # ingest outcome -> count
    settled_days: int = 0  # (day, version) commitments indexed
    last_settled_day: int | None = None


def _scalar(engine: Engine, sql: str, params: dict[str, object]) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def ops_figures(engine: Engine, chain_id: int) -> OpsFigures:
    """One consistent read of the figures; DatabaseUnavailable when the database does not answer
    (a table missing because a migration did not run reads as zero)."""
    p = {"c": chain_id}
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            names = set(engine.dialect.get_table_names(conn))
            cursor = identity = None
            events = 0
            if "indexer_cursor" in names:
                cursor = conn.execute(text(
                    "SELECT block_number FROM indexer_cursor WHERE chain_id = :c"), p).scalar()
                events = int(conn.execute(text(LOGS_HELD_COUNT), p).scalar() or 0)
            if "indexer_chain" in names:
                identity = conn.execute(text(
                    "SELECT genesis_hash, highest_head FROM indexer_chain WHERE chain_id = :c"),
                    p).first()
            readings: dict[str, int] = {}
            if "energy_ingest_counts" in names:
                readings = {str(o): int(n) for o, n in conn.execute(text(
                    "SELECT outcome, count FROM energy_ingest_counts"))}
            days, last = 0, None
            if "settlement_days" in names:
                row = conn.execute(text(
                    "SELECT COUNT(*), MAX(day) FROM settlement_days WHERE chain_id = :c"), p).one()
                days, last = int(row[0] or 0), (int(row[1]) if row[1] is not None else None)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"the database does not answer ({type(exc).__name__})") from exc
    return OpsFigures(
        cursor=int(cursor) if cursor is not None else None,
        genesis_hash=str(identity[0]) if identity else None,
        highest_head=int(identity[1]) if identity else None,
        events=events, readings=readings, settled_days=days, last_settled_day=last,
    )
