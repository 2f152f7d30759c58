"""Read-only queries for the HTTP API (the API's only way into the indexer's database).

Every answer is read inside one read transaction together with the indexer cursor, so the block
it states ("indexed up to block N") is the block its data belongs to. Amounts are exact ints
(micro-M3E); addresses are lowercase hex as the indexer stores them.

SQLite: the API opens its own engine with `PRAGMA query_only` and a DEFERRED transaction per
answer (a WAL snapshot that never takes the writer's lock, so readers never block the indexer).
PostgreSQL: REPEATABLE READ, read-only transactions.

Speed (bench/api.py): each worker thread keeps its own connection (no pool checkout per answer),
BEGIN goes straight to the driver, and the hot reads (cursor, balance, history) are fixed SQL
texts built once, so an answer costs a few hundred microseconds of Python. The history reads two
bounded index range scans (migration 0003: (chain_id, from|to_address, block_number, log_index))
joined to the block times in the same statement.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar, cast

from eth_utils.crypto import keccak
from sqlalchemy import and_, create_engine, event, literal, or_, select, text, union_all
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import TextClause

from ledger.db.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine
from ledger.db.errors import DatabaseUnavailable
from ledger.db.models import (
    Balance,
    Block,
    Booking,
    FundEvent,
    Merchant,
    Payment,
    RawLog,
    Redemption,
    Refund,
    SupplyHistory,
    Transfer,
)
from ledger.domain.fund import FundEvent as FundEventItem

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


class TransferItem(NamedTuple):
    """One line of an account's history. A named tuple, immutable like the other items, because a
    history page builds 50 of them per request and a frozen dataclass took three times as long to
    build (object.__setattr__ per field)."""

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
class RedemptionItem:
    """A merchant's M3E converted to euros: `fee` went to the commons fund, `euros` were wired."""

    block_number: int
    log_index: int
    block_time: int | None
    redemption_id: int
    merchant: str
    merchant_name: str | None
    amount: int
    fee: int
    euros: int


@dataclass(frozen=True, slots=True)
class CommonsFigures:
    """The commons fund (the account redemption fees go to) and whether the token is paused."""

    indexed: CursorInfo
    fund: str | None
    fund_since_block: int | None
    fund_balance: int
    fee_inflows: int
    redemptions: int
    euros_paid: int
    paused: bool
    paused_block: int | None
    recent: list[RedemptionItem]


@dataclass(frozen=True, slots=True)
class BookingItem:
    booking_id: int
    merchant_id: int
    merchant_name: str | None
    deposit: int
    expires_at: int
    state: str
    charged: int | None
    returned: int | None
    opened_block: int
    opened_time: int | None
    payer: str


@dataclass(frozen=True, slots=True)
class MandateItem:
    """The latest energy mandate event of a member in one operation (caps in micro-M3E)."""

    operation_id: int
    per_day: int
    per_month: int
    active: bool
    block_number: int
    block_time: int | None


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
        # Straight to the driver: the same statement, without a trip through execute().
        connection.connection.driver_connection.execute("BEGIN DEFERRED")

    return engine


_CURSOR_SQL = text("SELECT block_number, block_hash FROM indexer_cursor WHERE chain_id = :chain")
_BALANCE_SQL = text(
    "SELECT balance, updated_block FROM balances WHERE chain_id = :chain AND account = :account"
)
# An account's transfers, newest first, read as two sides (sent, received), each a bounded range
# scan of migration 0003's (chain_id, from|to_address, block_number, log_index) indexes joined to
# its block times; a transfer to oneself is read on the sending side only. On SQLite one compound
# statement merges the two newest-first scans itself ("MERGE (UNION ALL)" in its query plan) and
# stops stepping them once the page is full: no sort, about `limit` rows read, no Python per row
# to merge. PostgreSQL reads the two sides with their own limits, merged in Python (its planner
# may sort a whole side under a UNION ALL). Written out whole (first page, then pages after a
# cursor) so that no SQL is ever assembled at run time.
_HISTORY_SQLITE_SQL = text(
    "SELECT t.block_number, t.log_index, t.tx_hash, t.from_address, t.to_address, t.value, b.timestamp"
    " FROM transfers AS t LEFT JOIN blocks AS b ON b.chain_id = t.chain_id AND b.number = t.block_number"
    " WHERE t.chain_id = :chain AND t.from_address = :account"
    " UNION ALL"
    " SELECT t.block_number, t.log_index, t.tx_hash, t.from_address, t.to_address, t.value, b.timestamp"
    " FROM transfers AS t LEFT JOIN blocks AS b ON b.chain_id = t.chain_id AND b.number = t.block_number"
    " WHERE t.chain_id = :chain AND t.to_address = :account AND t.from_address <> :account"
    " ORDER BY 1 DESC, 2 DESC LIMIT :limit"
)
_HISTORY_SQLITE_PAGE_SQL = text(
    "SELECT t.block_number, t.log_index, t.tx_hash, t.from_address, t.to_address, t.value, b.timestamp"
    " FROM transfers AS t LEFT JOIN blocks AS b ON b.chain_id = t.chain_id AND b.number = t.block_number"
    " WHERE t.chain_id = :chain AND t.from_address = :account"
    " AND (t.block_number, t.log_index) < (:before_block, :before_log)"
    " UNION ALL"
    " SELECT t.block_number, t.log_index, t.tx_hash, t.from_address, t.to_address, t.value, b.timestamp"
    " FROM transfers AS t LEFT JOIN blocks AS b ON b.chain_id = t.chain_id AND b.number = t.block_number"
    " WHERE t.chain_id = :chain AND t.to_address = :account AND t.from_address <> :account"
    " AND (t.block_number, t.log_index) < (:before_block, :before_log)"
    " ORDER BY 1 DESC, 2 DESC LIMIT :limit"
)
_SENT_SQL = text(
    "SELECT t.block_number, t.log_index, t.tx_hash, t.from_address, t.to_address, t.value, b.timestamp"
    " FROM transfers AS t LEFT JOIN blocks AS b ON b.chain_id = t.chain_id AND b.number = t.block_number"
    " WHERE t.chain_id = :chain AND t.from_address = :account"
    " ORDER BY t.block_number DESC, t.log_index DESC LIMIT :limit"
)
_RECEIVED_SQL = text(
    "SELECT t.block_number, t.log_index, t.tx_hash, t.from_address, t.to_address, t.value, b.timestamp"
    " FROM transfers AS t LEFT JOIN blocks AS b ON b.chain_id = t.chain_id AND b.number = t.block_number"
    " WHERE t.chain_id = :chain AND t.to_address = :account AND t.from_address <> :account"
    " ORDER BY t.block_number DESC, t.log_index DESC LIMIT :limit"
)
_SENT_PAGE_SQL = text(
    "SELECT t.block_number, t.log_index, t.tx_hash, t.from_address, t.to_address, t.value, b.timestamp"
    " FROM transfers AS t LEFT JOIN blocks AS b ON b.chain_id = t.chain_id AND b.number = t.block_number"
    " WHERE t.chain_id = :chain AND t.from_address = :account"
    " AND (t.block_number, t.log_index) < (:before_block, :before_log)"
    " ORDER BY t.block_number DESC, t.log_index DESC LIMIT :limit"
)
_RECEIVED_PAGE_SQL = text(
    "SELECT t.block_number, t.log_index, t.tx_hash, t.from_address, t.to_address, t.value, b.timestamp"
    " FROM transfers AS t LEFT JOIN blocks AS b ON b.chain_id = t.chain_id AND b.number = t.block_number"
    " WHERE t.chain_id = :chain AND t.to_address = :account AND t.from_address <> :account"
    " AND (t.block_number, t.log_index) < (:before_block, :before_log)"
    " ORDER BY t.block_number DESC, t.log_index DESC LIMIT :limit"
)

_PAGED = (_SENT_PAGE_SQL, _RECEIVED_PAGE_SQL)

Rows = Iterator[Sequence[Any]]
Run = Callable[[TextClause, Mapping[str, Any]], Rows]


def _newest_first(sent: Rows, received: Rows, limit: int) -> list[Sequence[Any]]:
    """Merge two (block, log index)-descending streams, taking no more rows than needed."""
    out: list[Sequence[Any]] = []
    a, b = next(sent, None), next(received, None)
    while len(out) < limit:
        if a is not None and (b is None or (a[0], a[1]) > (b[0], b[1])):
            out.append(a)
            a = next(sent, None)
        elif b is not None:
            out.append(b)
            b = next(received, None)
        else:
            break
    return out


@dataclass(frozen=True)
class FundFigures:
    """The commons fund's events as indexed, and its token balance (which also counts the fees
    that arrived by plain transfer and that the fund has not recorded yet)."""

    indexed: CursorInfo
    events: list[FundEventItem]
    balance: int


class ApiQueries:
    """The API's read-only view of one chain in the indexer's database."""

    def __init__(self, engine: Engine, chain_id: int) -> None:
        self.engine = engine
        self.chain_id = chain_id
        # See api.ports.LedgerReader.inline_reads: SQLite's bounded reads are run on the event loop.
        self.inline_reads = engine.dialect.name == "sqlite"
        self._raw_sqlite = engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite"
        # Open connections not in use, most recent last: a read takes one (or opens one) and puts
        # it back, so there are never more than the peak number of concurrent reads, and no pool
        # checkout/reset per answer.
        self._idle: list[Connection] = []
        self._idle_lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_url(cls, url: str, chain_id: int) -> ApiQueries:
        return cls(make_read_engine(url), chain_id)

    def close(self) -> None:
        with self._idle_lock:
            idle, self._idle, self._closed = self._idle, [], True
        for conn in idle:
            conn.close()
        self.engine.dispose()

    def _take(self) -> Connection:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        return self.engine.connect()

    def _give_back(self, conn: Connection) -> None:
        with self._idle_lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            conn = self._take()
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                conn.close()  # back to the engine's pool, which checks it on the next checkout
                raise
            self._give_back(conn)
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise DatabaseUnavailable(
                f"the ledger database cannot be read right now ({type(exc.orig).__name__})"
            ) from exc
        except sa_exc.ProgrammingError as exc:
            raise DatabaseUnavailable(
                "the ledger database has no indexed data yet (run `ledger index` first)"
            ) from exc

    @contextmanager
    def _snapshot(self) -> Iterator[Run]:
        """`run(query, params)` for queries all read in one transaction (one snapshot).

        SQLite: straight through the driver (BEGIN, the statements, ROLLBACK), skipping
        SQLAlchemy's execution layer, which cost more than the reads themselves; the statements
        are the same `text()` SQL, whose `:name` parameters sqlite3 takes as they are, and rows are
        stepped lazily. PostgreSQL: through SQLAlchemy like every other read."""
        if not self._raw_sqlite:
            with self._read() as conn:
                yield lambda query, params: iter(conn.execute(query, params).all())
            return
        try:
            conn = self._take()
            raw = cast(sqlite3.Connection, conn.connection.driver_connection)
            try:
                raw.execute("BEGIN DEFERRED")
                cursors: list[sqlite3.Cursor] = []

                def run(query: TextClause, params: Mapping[str, Any]) -> Rows:
                    cursors.append(raw.execute(query.text, params))
                    return cursors[-1]

                try:
                    yield run
                finally:
                    for cursor in cursors:  # a merge may stop before the end of a side
                        cursor.close()
                    if raw.in_transaction:
                        raw.rollback()  # a read-only transaction: ending it is all that is needed
            except BaseException:
                conn.invalidate()
                conn.close()
                raise
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise DatabaseUnavailable(
                    "the ledger database has no indexed data yet (run `ledger index` first)"
                ) from exc
            raise DatabaseUnavailable(
                f"the ledger database cannot be read right now ({type(exc).__name__})"
            ) from exc
        except (sqlite3.DatabaseError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise DatabaseUnavailable(
                f"the ledger database cannot be read right now ({type(exc).__name__})"
            ) from exc
        self._give_back(conn)

    def _quick_cursor(self, run: Run) -> CursorInfo:
        row = next(run(_CURSOR_SQL, {"chain": self.chain_id}), None)
        return CursorInfo(int(row[0]), str(row[1])) if row is not None else CursorInfo(-1, "")

    def _cursor(self, conn: Connection) -> CursorInfo:
        row = conn.execute(_CURSOR_SQL, {"chain": self.chain_id}).first()
        return CursorInfo(int(row[0]), str(row[1])) if row else CursorInfo(-1, "")

    # -- public figures ------------------------------------------------------------------------

    def cursor(self) -> CursorInfo:
        with self._snapshot() as run:
            return self._quick_cursor(run)

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

    def fund_figures(self, fund: str) -> FundFigures:
        """Every CommonsFund event (a few a day) and the fund's balance, in one snapshot."""
        with self._read() as conn:
            cursor = self._cursor(conn)
            rows = conn.execute(
                select(
                    FundEvent.block_number, FundEvent.log_index, FundEvent.kind, FundEvent.programme_id,
                    FundEvent.month, FundEvent.source, FundEvent.account, FundEvent.amount,
                    FundEvent.monthly_budget, FundEvent.active, FundEvent.name,
                )
                .where(FundEvent.chain_id == self.chain_id)
                .order_by(FundEvent.block_number, FundEvent.log_index)
            ).all()
            balance = conn.execute(
                select(Balance.balance).where(
                    Balance.chain_id == self.chain_id, Balance.account == fund.lower()
                )
            ).scalar()
        events = [
            FundEventItem(
                int(r[0]), int(r[1]), str(r[2]), None if r[3] is None else int(r[3]),
                None if r[4] is None else int(r[4]), r[5], r[6], None if r[7] is None else _int(r[7]),
                None if r[8] is None else _int(r[8]), None if r[9] is None else bool(r[9]), r[10],
            )
            for r in rows
        ]
        return FundFigures(cursor, events, 0 if balance is None else _int(balance))

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
        with self._snapshot() as run:
            cursor = self._quick_cursor(run)
            row = next(run(_BALANCE_SQL, {"chain": self.chain_id, "account": account}), None)
        if row is None:
            return BalanceFigure(cursor, account, 0, None)
        return BalanceFigure(cursor, account, _int(row[0]), int(row[1]))

    def history(self, account: str, before: tuple[int, int] | None, limit: int) -> Page[TransferItem]:
        """Transfers in or out of `account`, newest first, strictly before (block, log index)."""
        params: dict[str, Any] = {"chain": self.chain_id, "account": account.lower(), "limit": limit}
        if before is not None:
            params["before_block"], params["before_log"] = before
        with self._snapshot() as run:
            cursor = self._quick_cursor(run)
            rows: Iterable[Sequence[Any]]
            if self._raw_sqlite:
                rows = run(_HISTORY_SQLITE_SQL if before is None else _HISTORY_SQLITE_PAGE_SQL, params)
            else:
                sent, received = (_SENT_SQL, _RECEIVED_SQL) if before is None else _PAGED
                rows = _newest_first(run(sent, params), run(received, params), limit)
            # Stepped inside the snapshot, which `cursor` shares. Both drivers give int block
            # numbers, log indexes and times and str hashes and addresses: only amounts need
            # decoding (SQLite's fixed-width bytes inline: a call per line cost a third as much).
            make = TransferItem._make
            items = [
                make((n, i, h, f, t, _from_bytes(v, "big") if type(v) is bytes else _int(v), ts))
                for n, i, h, f, t, v, ts in rows
            ]
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
        merchant_id: int | None = None,
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
            if merchant_id is not None:
                q = q.where(table.merchant_id == merchant_id)
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

    # -- the page: commons fund, pause, bookings, mandates -------------------------------------

    def commons(self, token: str | None, recent: int = 20) -> CommonsFigures:
        """The fund named by the token's last CommonsFundChanged, its balance, the redemption fees
        it received since (every redemption pays its fee to the fund of that moment), the
        redemptions (euro payouts) and the token's pause state from its last Paused/Unpaused."""
        with self._read() as conn:
            cursor = self._cursor(conn)
            fund: str | None = None
            since: int | None = None
            paused = False
            paused_block: int | None = None
            if token is not None:
                changed = conn.execute(
                    self._last_log(token.lower(), [TOPIC_COMMONS_FUND_CHANGED])
                ).first()
                if changed is not None and changed[2] is not None:
                    fund, since = "0x" + str(changed[2])[-40:].lower(), int(changed[0])
                switch = conn.execute(self._last_log(token.lower(), [TOPIC_PAUSED, TOPIC_UNPAUSED])).first()
                if switch is not None and str(switch[1]).lower() == TOPIC_PAUSED:
                    paused, paused_block = True, int(switch[0])
            balance = 0
            if fund is not None:
                row = conn.execute(
                    select(Balance.balance).where(Balance.chain_id == self.chain_id, Balance.account == fund)
                ).first()
                balance = int(row[0]) if row is not None else 0
            rows = conn.execute(
                select(
                    Redemption.block_number,
                    Redemption.log_index,
                    Block.timestamp,
                    Redemption.redemption_id,
                    Redemption.merchant,
                    Redemption.amount,
                    Redemption.fee,
                    Redemption.euros,
                )
                .outerjoin(
                    Block,
                    and_(Block.chain_id == Redemption.chain_id, Block.number == Redemption.block_number),
                )
                .where(Redemption.chain_id == self.chain_id)
                .order_by(Redemption.block_number.desc(), Redemption.log_index.desc())
            ).all()
            names = {
                str(r[0]): str(r[1])
                for r in conn.execute(
                    select(Merchant.payout, Merchant.name)
                    .where(Merchant.chain_id == self.chain_id)
                    .order_by(Merchant.merchant_id.desc())
                ).all()
            }
        items = [
            RedemptionItem(
                int(r[0]), int(r[1]), int(r[2]) if r[2] is not None else None, int(r[3]), str(r[4]),
                names.get(str(r[4])), _int(r[5]), _int(r[6]), _int(r[7]),
            )
            for r in rows
        ]
        # Python sums: amounts are exact up to 2^256 - 1, which SQLite's text columns cannot add.
        inflows = sum(i.fee for i in items if since is not None and i.block_number >= since)
        return CommonsFigures(
            cursor,
            fund,
            since,
            balance,
            inflows,
            len(items),
            sum(i.euros for i in items),
            paused,
            paused_block,
            items[:recent],
        )

    def _last_log(self, address: str, topics: Sequence[str]) -> Any:
        return (
            select(RawLog.block_number, RawLog.topic0, RawLog.topic2)
            .where(
                RawLog.chain_id == self.chain_id,
                RawLog.address == address,
                RawLog.topic0.in_(list(topics)),
            )
            .order_by(RawLog.block_number.desc(), RawLog.log_index.desc())
            .limit(1)
        )

    def bookings(
        self, payer: str | None = None, limit: int = 100, *, merchant_id: int | None = None
    ) -> Page[BookingItem]:
        """The bookings of one payer, or made with one merchant, newest first: open ones hold
        their deposit in escrow."""
        if (payer is None) == (merchant_id is None):
            raise ValueError("bookings are read by payer or by merchant, one of the two")
        whose = Booking.payer == payer.lower() if payer is not None else Booking.merchant_id == merchant_id
        with self._read() as conn:
            cursor = self._cursor(conn)
            rows = conn.execute(
                select(
                    Booking.booking_id,
                    Booking.merchant_id,
                    Merchant.name,
                    Booking.deposit,
                    Booking.expires_at,
                    Booking.state,
                    Booking.charged,
                    Booking.returned,
                    Booking.opened_block,
                    Block.timestamp,
                    Booking.payer,
                )
                .outerjoin(
                    Merchant,
                    and_(Merchant.chain_id == Booking.chain_id, Merchant.merchant_id == Booking.merchant_id),
                )
                .outerjoin(
                    Block, and_(Block.chain_id == Booking.chain_id, Block.number == Booking.opened_block)
                )
                .where(Booking.chain_id == self.chain_id, whose)
                .order_by(Booking.opened_block.desc(), Booking.opened_log_index.desc())
                .limit(limit)
            ).all()
        return Page(
            cursor,
            [
                BookingItem(
                    int(r[0]),
                    int(r[1]),
                    str(r[2]) if r[2] is not None else None,
                    _int(r[3]),
                    int(r[4]),
                    str(r[5]),
                    _int(r[6]) if r[6] is not None else None,
                    _int(r[7]) if r[7] is not None else None,
                    int(r[8]),
                    int(r[9]) if r[9] is not None else None,
                    str(r[10]),
                )
                for r in rows
            ],
        )

    def mandates(self, member: str) -> Page[MandateItem]:
        """The member's energy mandates, one per operation: its latest set or revoke event."""
        word = "0x" + member.lower()[2:].rjust(64, "0")
        with self._read() as conn:
            cursor = self._cursor(conn)
            rows = conn.execute(
                select(RawLog.block_number, RawLog.topic0, RawLog.topic1, RawLog.data, Block.timestamp)
                .outerjoin(
                    Block, and_(Block.chain_id == RawLog.chain_id, Block.number == RawLog.block_number)
                )
                .where(
                    RawLog.chain_id == self.chain_id,
                    RawLog.topic0.in_([TOPIC_MANDATE_SET, TOPIC_MANDATE_REVOKED]),
                    RawLog.topic2 == word,
                )
                .order_by(RawLog.block_number.asc(), RawLog.log_index.asc())
            ).all()
        latest: dict[int, MandateItem] = {}
        for r in rows:
            operation = int(str(r[2]), 16)
            when = int(r[4]) if r[4] is not None else None
            if str(r[1]).lower() == TOPIC_MANDATE_SET:
                data = str(r[3])[2:]
                per_day, per_month = int(data[0:64], 16), int(data[64:128], 16)
                latest[operation] = MandateItem(operation, per_day, per_month, True, int(r[0]), when)
            else:
                latest[operation] = MandateItem(operation, 0, 0, False, int(r[0]), when)
        return Page(cursor, sorted(latest.values(), key=lambda m: m.operation_id))


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


# Events the indexer keeps raw only (ledger.indexer.events): the page reads them from raw_logs.
TOPIC_COMMONS_FUND_CHANGED = _topic("CommonsFundChanged(address,address)")
TOPIC_PAUSED = _topic("Paused(address)")
TOPIC_UNPAUSED = _topic("Unpaused(address)")
TOPIC_MANDATE_SET = _topic("EnergySettlementMandateSet(uint256,address,uint48,uint48)")
TOPIC_MANDATE_REVOKED = _topic("EnergySettlementMandateRevoked(uint256,address)")


_from_bytes = int.from_bytes


def _int(value: Any) -> int:
    if type(value) is bytes:  # SQLite's fixed-width amounts, the common case first
        return int.from_bytes(value, "big")
    if isinstance(value, bytearray | memoryview):
        return int.from_bytes(bytes(value), "big")
    return int(value)
