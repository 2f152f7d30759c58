"""Read-only queries for the HTTP API (the API's only way into the indexer's database).

Every answer is read inside one read transaction together with the indexer cursor, so the block
it states ("indexed up to block N") is the block its data belongs to. Amounts are exact ints
(micro-M3E); addresses are lowercase hex as the indexer stores them.

SQLite: the API opens its own engine with `PRAGMA query_only` and a DEFERRED transaction per
answer (a WAL snapshot that never takes the writer's lock, so readers never block the indexer).
PostgreSQL: REPEATABLE READ, read-only transactions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, create_engine, event, literal, or_, select, union_all
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from ledger.db.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine
from ledger.db.errors import DatabaseUnavailable
from ledger.db.models import (
    Balance,
    Block,
    IndexerCursor,
    Merchant,
    Payment,
    Refund,
    SupplyHistory,
    Transfer,
)

T = TypeVar("T")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


# -- plain rows handed to the API (no SQLAlchemy types leave this module) -------------------


@dataclass(frozen=True, slots=True)
class CursorInfo:
    """The last block the indexer fully wrote (-1 and "" before anything was indexed)."""

    block_number: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class TokenFigures:
    indexed: CursorInfo
    total_supply: int
    reserve: int
    digital_payments_12m: int
    supply_block: int | None


@dataclass(frozen=True, slots=True)
class SupplyPoint:
    block_number: int
    block_time: int
    total_supply: int
    reserve: int


@dataclass(frozen=True, slots=True)
class BalanceFigure:
    indexed: CursorInfo
    account: str
    balance: int
    updated_block: int | None


@dataclass(frozen=True, slots=True)
class TransferItem:
    block_number: int
    log_index: int
    tx_hash: str
    from_address: str
    to_address: str
    value: int
    block_time: int | None


@dataclass(frozen=True, slots=True)
class PaymentItem:
    """A merchant payment or refund (kind "payment" / "refund"); `ref` is the bytes32 hex."""

    kind: str
    block_number: int
    log_index: int
    tx_hash: str
    merchant_id: int
    merchant_name: str | None
    payer: str
    ref: str
    amount: int
    day: str


@dataclass(frozen=True, slots=True)
class MerchantItem:
    merchant_id: int
    name: str
    category: int
    payout: str
    active: bool
    registered_block: int


@dataclass(frozen=True, slots=True)
class BlockItem:
    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    indexed: CursorInfo
    items: list[T]


# -- engine -----------------------------------------------------------------------------------


def make_read_engine(url: str) -> Engine:
    """An engine for reading only (see the module docstring)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = make_engine(url)
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    database = parsed.database or ""
    memory = database in ("", ":memory:")
    engine = create_engine(
        parsed,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        **({"poolclass": StaticPool} if memory else {"pool_size": 32, "max_overflow": 32}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not memory:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN DEFERRED")

    return engine


class ApiQueries:
    """The API's read-only view of one chain in the indexer's database."""

    def __init__(self, engine: Engine, chain_id: int) -> None:
        self.engine = engine
        self.chain_id = chain_id

    @classmethod
    def from_url(cls, url: str, chain_id: int) -> ApiQueries:
        return cls(make_read_engine(url), chain_id)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise DatabaseUnavailable(
                f"the ledger database cannot be read right now ({type(exc.orig).__name__})"
            ) from exc
        except sa_exc.ProgrammingError as exc:
            raise DatabaseUnavailable(
                "the ledger database has no indexed data yet (run `ledger index` first)"
            ) from exc

    def _cursor(self, conn: Connection) -> CursorInfo:
        row = conn.execute(
            select(IndexerCursor.block_number, IndexerCursor.block_hash).where(
                IndexerCursor.chain_id == self.chain_id
            )
        ).first()
        return CursorInfo(int(row[0]), str(row[1])) if row else CursorInfo(-1, "")

    # -- public figures ------------------------------------------------------------------------

    def cursor(self) -> CursorInfo:
        with self._read() as conn:
            return self._cursor(conn)

    def token_figures(self, since_time: int, exclude: Sequence[str]) -> TokenFigures:
        """Supply, reserve and digital payments since `since_time` (see `_digital_payments`)."""
        with self._read() as conn:
            cursor = self._cursor(conn)
            row = conn.execute(
                select(SupplyHistory.block_number, SupplyHistory.total_supply, SupplyHistory.reserve)
                .where(SupplyHistory.chain_id == self.chain_id)
                .order_by(SupplyHistory.block_number.desc())
                .limit(1)
            ).first()
            paid = self._digital_payments(conn, since_time, exclude)
        if row is None:
            return TokenFigures(cursor, 0, 0, paid, None)
        return TokenFigures(cursor, int(row[1]), int(row[2]), paid, int(row[0]))

    def _digital_payments(self, conn: Connection, since_time: int, exclude: Sequence[str]) -> int:
        """Token moved between two holders since `since_time`: every transfer that is neither a
        mint nor a burn nor a deposit into a district contract (booking escrow). Counting the
        escrow's release as well errs on the side of declaring early."""
        excluded = [ZERO_ADDRESS, *(a.lower() for a in exclude)]
        rows = conn.execute(
            select(Transfer.value)
            .join(
                Block,
                and_(Block.chain_id == Transfer.chain_id, Block.number == Transfer.block_number),
            )
            .where(
                Transfer.chain_id == self.chain_id,
                Block.timestamp >= since_time,
                Transfer.from_address != ZERO_ADDRESS,
                Transfer.to_address.not_in(excluded),
            )
        ).scalars()
        return sum(int(v) for v in rows)

    def supply_series(self, limit: int) -> Page[SupplyPoint]:
        with self._read() as conn:
            cursor = self._cursor(conn)
            rows = conn.execute(
                select(
                    SupplyHistory.block_number,
                    SupplyHistory.block_time,
                    SupplyHistory.total_supply,
                    SupplyHistory.reserve,
                )
                .where(SupplyHistory.chain_id == self.chain_id)
                .order_by(SupplyHistory.block_number.desc())
                .limit(limit)
            ).all()
        points = [SupplyPoint(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in reversed(rows)]
        return Page(cursor, points)

    def balance(self, account: str) -> BalanceFigure:
        account = account.lower()
        with self._read() as conn:
            cursor = self._cursor(conn)
            row = conn.execute(
                select(Balance.balance, Balance.updated_block).where(
                    Balance.chain_id == self.chain_id, Balance.account == account
                )
            ).first()
        if row is None:
            return BalanceFigure(cursor, account, 0, None)
        return BalanceFigure(cursor, account, int(row[0]), int(row[1]))

    def history(self, account: str, before: tuple[int, int] | None, limit: int) -> Page[TransferItem]:
        """Transfers in or out of `account`, newest first, strictly before (block, log index)."""
        account = account.lower()
        cols = (
            Transfer.block_number,
            Transfer.log_index,
            Transfer.tx_hash,
            Transfer.from_address,
            Transfer.to_address,
            Transfer.value,
        )
        position = (
            or_(
                Transfer.block_number < before[0],
                and_(Transfer.block_number == before[0], Transfer.log_index < before[1]),
            )
            if before is not None
            else None
        )

        def side(column: Any) -> Any:
            q = select(*cols).where(Transfer.chain_id == self.chain_id, column == account)
            if position is not None:
                q = q.where(position)
            return q.order_by(Transfer.block_number.desc(), Transfer.log_index.desc()).limit(limit)

        sent, received = side(Transfer.from_address).subquery(), side(Transfer.to_address).subquery()
        # SQLite refuses ORDER BY/LIMIT inside a compound select unless each side is a subquery.
        both = union_all(select(sent), select(received)).subquery()
        query = select(both).order_by(both.c.block_number.desc(), both.c.log_index.desc()).limit(limit)
        with self._read() as conn:
            cursor = self._cursor(conn)
            rows = conn.execute(query).all()
            numbers = sorted({int(r[0]) for r in rows})
            times = (
                dict(
                    conn.execute(
                        select(Block.number, Block.timestamp).where(
                            Block.chain_id == self.chain_id, Block.number.in_(numbers)
                        )
                    ).all()
                )
                if numbers
                else {}
            )
        items: list[TransferItem] = []
        seen: set[tuple[int, int]] = set()
        for r in rows:
            key = (int(r[0]), int(r[1]))
            if key in seen:  # a transfer to oneself appears on both sides
                continue
            seen.add(key)
            items.append(
                TransferItem(
                    key[0],
                    key[1],
                    str(r[2]),
                    str(r[3]),
                    str(r[4]),
                    _int(r[5]),
                    int(times[key[0]]) if key[0] in times else None,
                )
            )
        return Page(cursor, items)

    # -- merchants and payments ----------------------------------------------------------------

    def merchants(self, category: int | None) -> Page[MerchantItem]:
        query = select(
            Merchant.merchant_id,
            Merchant.name,
            Merchant.category,
            Merchant.payout,
            Merchant.active,
            Merchant.registered_block,
        ).where(Merchant.chain_id == self.chain_id)
        if category is not None:
            query = query.where(Merchant.category == category)
        with self._read() as conn:
            cursor = self._cursor(conn)
            rows = conn.execute(query.order_by(Merchant.merchant_id)).all()
        return Page(
            cursor,
            [MerchantItem(int(r[0]), str(r[1]), int(r[2]), str(r[3]), bool(r[4]), int(r[5])) for r in rows],
        )

    def payments(
        self,
        *,
        payer: str | None = None,
        after: tuple[int, int] | None = None,
        before: tuple[int, int] | None = None,
        day_from: str | None = None,
        day_to: str | None = None,
        until_block: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> Page[PaymentItem]:
        """Payments and refunds, in (block, log index) order, filtered as asked."""
        queries = []
        for kind, table in (("payment", Payment), ("refund", Refund)):
            q = (
                select(
                    literal(kind).label("kind"),
                    table.block_number,
                    table.log_index,
                    table.tx_hash,
                    table.merchant_id,
                    Merchant.name,
                    table.payer,
                    table.ref,
                    table.amount,
                    table.day,
                )
                .outerjoin(
                    Merchant,
                    and_(Merchant.chain_id == table.chain_id, Merchant.merchant_id == table.merchant_id),
                )
                .where(table.chain_id == self.chain_id)
            )
            if payer is not None:
                q = q.where(table.payer == payer.lower())
            if after is not None:
                q = q.where(
                    or_(
                        table.block_number > after[0],
                        and_(table.block_number == after[0], table.log_index > after[1]),
                    )
                )
            if before is not None:
                q = q.where(
                    or_(
                        table.block_number < before[0],
                        and_(table.block_number == before[0], table.log_index < before[1]),
                    )
                )
            if until_block is not None:
                q = q.where(table.block_number <= until_block)
            if day_from is not None:
                q = q.where(table.day >= day_from)
            if day_to is not None:
                q = q.where(table.day <= day_to)
            queries.append(q)
        both = union_all(*queries).subquery()
        order = (
            (both.c.block_number.desc(), both.c.log_index.desc())
            if newest_first
            else (both.c.block_number.asc(), both.c.log_index.asc())
        )
        with self._read() as conn:
            cursor = self._cursor(conn)
            rows = conn.execute(select(both).order_by(*order).limit(limit)).all()
        return Page(
            cursor,
            [
                PaymentItem(
                    str(r[0]),
                    int(r[1]),
                    int(r[2]),
                    str(r[3]),
                    int(r[4]),
                    str(r[5]) if r[5] is not None else None,
                    str(r[6]),
                    str(r[7]),
                    _int(r[8]),
                    str(r[9]),
                )
                for r in rows
            ],
        )

    # -- blocks (live feed, reorg detection) ---------------------------------------------------

    def blocks(self, numbers: Sequence[int]) -> dict[int, str]:
        """Stored hashes of the given block numbers (missing ones are absent)."""
        if not numbers:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                select(Block.number, Block.hash).where(
                    Block.chain_id == self.chain_id, Block.number.in_(list(numbers))
                )
            ).all()
        return {int(r[0]): str(r[1]) for r in rows}

    def block_times(self, numbers: Sequence[int]) -> dict[int, int]:
        if not numbers:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                select(Block.number, Block.timestamp).where(
                    Block.chain_id == self.chain_id, Block.number.in_(list(numbers))
                )
            ).all()
        return {int(r[0]): int(r[1]) for r in rows}


def _int(value: Any) -> int:
    if isinstance(value, bytes | bytearray | memoryview):
        return int.from_bytes(bytes(value), "big")
    return int(value)
