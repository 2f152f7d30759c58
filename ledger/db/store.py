"""The indexer's transactional store.

`apply(batch)` writes a batch of blocks, raw logs, decoded events and the projections they move,
with the cursor, in ONE transaction; `rollback_to(n)` undoes everything above block n, also in one
transaction. Bulk inserts go straight to the driver (executemany on SQLite, COPY on PostgreSQL);
balances are read, folded in Python with exact ints, and written back.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from itertools import chain
from operator import itemgetter
from typing import Any, cast

import orjson
from sqlalchemy import Index, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from ledger.db.engine import sqlite_path
from ledger.db.errors import DatabaseError, DatabaseUnavailable
from ledger.db.models import Base
from ledger.db.records import (
    Batch,
    BlockRow,
    Cursor,
    MerchantEventRow,
    NodeLimits,
    PaymentRow,
)
from ledger.db.types import require_u256

try:  # the compiled column packer (optional: built when a C compiler was there at install)
    from ledger.db import _columns  # type: ignore[attr-defined]
except ImportError:
    _columns = None

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_CHUNK = 500
_WAL_AUTOCHECKPOINT = 1000  # SQLite's default, in pages
_SQLITE_PARAMS = 999  # bound parameters per statement that every SQLite version accepts


class InconsistentData(DatabaseError):
    """The batch does not follow the stored state (a balance would go negative, a gap...)."""


# (table, columns) for bulk inserts; the first column is always chain_id.
_BULK: dict[str, tuple[str, ...]] = {
    "blocks": ("chain_id", "number", "hash", "parent_hash", "timestamp"),
    "raw_logs": (
        "chain_id", "block_number", "log_index", "tx_hash", "tx_index", "address",
        "topic0", "topic1", "topic2", "topic3", "data",
    ),
    "transfers": (
        "chain_id", "block_number", "log_index", "tx_hash", "from_address", "to_address", "value",
    ),
    "deposits": (
        "chain_id", "block_number", "log_index", "tx_hash", "bank_ref", "beneficiary", "amount",
        "reserve_after",
    ),
    "redemptions": (
        "chain_id", "block_number", "log_index", "tx_hash", "redemption_id", "merchant", "amount",
        "fee", "euros", "payout_ref", "reserve_after",
    ),
    "payments": (
        "chain_id", "block_number", "log_index", "tx_hash", "merchant_id", "payer", "ref",
        "amount", "day",
    ),
    "refunds": (
        "chain_id", "block_number", "log_index", "tx_hash", "merchant_id", "payer", "ref",
        "amount", "day",
    ),
    "merchant_events": (
        "chain_id", "block_number", "log_index", "tx_hash", "merchant_id", "kind", "payout",
        "category", "name", "active",
    ),
    "tariffs": (
        "chain_id", "block_number", "log_index", "tx_hash", "operation_id", "schedule_id",
        "effective_from", "solar_price", "peak_price", "off_peak_price",
    ),
    "settlement_days": (
        "chain_id", "block_number", "log_index", "tx_hash", "operation_id", "day", "version",
        "root", "produced_wh", "consumed_wh", "allocated_wh", "surplus_wh", "amount", "transfers",
    ),
    "settlement_payments": (
        "chain_id", "block_number", "log_index", "tx_hash", "operation_id", "day", "version",
        "from_index", "to_index", "paid", "shortfall",
    ),
    "settlement_shortfalls": (
        "chain_id", "block_number", "log_index", "tx_hash", "operation_id", "day", "version",
        "line_index", "payer", "payee", "amount",
    ),
    "fund_events": (
        "chain_id", "block_number", "log_index", "tx_hash", "kind", "programme_id", "month",
        "source", "account", "amount", "monthly_budget", "active", "name", "ref",
    ),
    "free_basics_events": (
        "chain_id", "block_number", "log_index", "tx_hash", "kind", "merchant_id", "payer", "ref",
        "booking_id", "month", "amount", "uses_per_month",
    ),
    "bookings": (
        "chain_id", "booking_id", "merchant_id", "payer", "deposit", "expires_at", "ref", "state",
        "opened_block", "opened_log_index", "opened_tx",
    ),
    "token_authorizations": (
        "chain_id", "block_number", "log_index", "tx_hash", "authorizer", "nonce", "state",
    ),
    "account_freezes": (
        "chain_id", "block_number", "log_index", "tx_hash", "account", "order_ref", "frozen",
    ),
    "minter_configs": (
        "chain_id", "block_number", "log_index", "tx_hash", "minter", "allowance", "daily_limit",
    ),
    "payout_changes": (
        "chain_id", "block_number", "log_index", "tx_hash", "merchant_id", "kind", "old_payout",
        "new_payout", "effective_at",
    ),
    "reserve_carries": ("chain_id", "block_number", "log_index", "tx_hash", "predecessor", "reserve"),
    "balances": ("chain_id", "account", "balance", "updated_block"),
    "balance_history": ("chain_id", "account", "block_number", "balance"),
    "supply_history": ("chain_id", "block_number", "block_time", "total_supply", "reserve"),
    "merchant_takings_daily": (
        "chain_id", "merchant_id", "day", "paid", "refunded", "payments", "refunds",
    ),
}

# Tables whose rows are keyed by block_number: a rollback deletes above the ancestor.
_BY_BLOCK = (
    "raw_logs", "transfers", "deposits", "redemptions", "payments", "refunds", "merchant_events",
    "tariffs", "settlement_days", "settlement_payments", "settlement_shortfalls", "fund_events",
    "free_basics_events", "token_authorizations", "account_freezes", "minter_configs", "payout_changes",
    "reserve_carries", "balance_history", "supply_history", "blocks",
)

# The tables holding one row per log (raw or decoded, a log may be in two: a rare event keeps its
# raw row beside its decoded one), and bookings by the log that opened them.
_LOG_KEYS = " UNION ".join(
    [f"SELECT block_number, log_index FROM {table} "  # noqa: S608
     "WHERE chain_id = :c AND block_number > :n"
     for table in _BY_BLOCK if table not in ("balance_history", "supply_history", "blocks")]
    + ["SELECT opened_block, opened_log_index FROM bookings "
       "WHERE chain_id = :c AND opened_block > :n"])

# How many logs the index holds, without listing them (the metrics read it at every scrape): the
# raw rows that no day-to-day table decodes whole, plus the rows of those tables (a log of an
# odd shape is in both: counted once). The tables below are keyed like raw_logs; a booking by
# the log that opened it, counted when that log has no raw row.
_KEPT_DECODED = ("transfers", "deposits", "redemptions", "payments", "refunds")
_NOT_DECODED = "".join(
    f" AND NOT EXISTS (SELECT 1 FROM {t} d WHERE d.chain_id = r.chain_id "  # noqa: S608
    "AND d.block_number = r.block_number AND d.log_index = r.log_index)" for t in _KEPT_DECODED)
_DECODED = "".join(f" + (SELECT COUNT(*) FROM {t} WHERE chain_id = :c)"  # noqa: S608
                   for t in _KEPT_DECODED)
LOGS_HELD_COUNT = (  # table names from the constants above only
    f"SELECT (SELECT COUNT(*) FROM raw_logs r WHERE r.chain_id = :c{_NOT_DECODED}){_DECODED}"  # noqa: S608
    " + (SELECT COUNT(*) FROM bookings b WHERE b.chain_id = :c AND NOT EXISTS (SELECT 1 FROM "
    "raw_logs r WHERE r.chain_id = b.chain_id AND r.block_number = b.opened_block "
    "AND r.log_index = b.opened_log_index))"
)

# Tables whose secondary indexes serve readers only (the API, reconcile, rollbacks): an initial
# backfill drops them and builds them in one sorted pass at its end, several times faster than
# maintaining them row by row. Primary keys (uniqueness, the indexer's own lookups) always stay.
_DEFERRED_INDEX_TABLES = (
    "transfers", "deposits", "redemptions", "payments", "refunds", "balance_history",
)


def deferred_indexes() -> list[Index]:
    """The secondary indexes an initial backfill may build at its end (names as in models.py)."""
    return [
        ix
        for table in _DEFERRED_INDEX_TABLES
        for ix in sorted(Base.metadata.tables[table].indexes, key=lambda i: str(i.name))
    ]


# Every table, with its order for the digest.
DIGEST_TABLES: dict[str, str] = {
    "blocks": "number",
    "raw_logs": "block_number, log_index",
    "transfers": "block_number, log_index",
    "deposits": "block_number, log_index",
    "redemptions": "block_number, log_index",
    "payments": "block_number, log_index",
    "refunds": "block_number, log_index",
    "merchant_events": "block_number, log_index",
    "tariffs": "block_number, log_index",
    "settlement_days": "block_number, log_index",
    "settlement_payments": "block_number, log_index",
    "settlement_shortfalls": "block_number, log_index",
    "token_authorizations": "block_number, log_index",
    "account_freezes": "block_number, log_index",
    "minter_configs": "block_number, log_index",
    "payout_changes": "block_number, log_index",
    "reserve_carries": "block_number, log_index",
    "fund_events": "block_number, log_index",
    "free_basics_events": "block_number, log_index",
    "bookings": "booking_id",
    "merchants": "merchant_id",
    "balances": "account",
    "balance_history": "account, block_number",
    "supply_history": "block_number",
    "merchant_takings_daily": "merchant_id, day",
    "indexer_cursor": "chain_id",
}


class _Checkpointer:
    """PASSIVE WAL checkpoints of a SQLite file on a thread of their own.

    During a backfill the writer's commits then only append to the WAL (its auto-checkpoint is
    off) while this thread copies committed pages into the database file and syncs it, in
    parallel (sqlite3 releases the GIL). Checkpoints never change what a transaction commits:
    crash safety is the WAL's, as before.
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:  # busy or gone: the next wake-up (or auto-checkpoint) retries
                pass
            if self._closing:
                return

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        """One last checkpoint of what is committed, then stop."""
        self._closing = True
        self._wake.set()
        self._thread.join()
        self._conn.close()


class Store:
    """Reads and atomic writes of the indexed data of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._checkpointer: _Checkpointer | None = None
        self._backfilling = False
        # to_bytes raises OverflowError outside [0, 2^256 - 1]: no separate check needed here.
        self._u: Callable[[int], Any] = (lambda v: v) if self.postgres else _blob
        # Called first inside every write transaction (the writer lock's re-check on
        # PostgreSQL: see ledger.db.lock.writer_lock); it raises to keep the write out.
        self.write_guard: Callable[[Connection], None] | None = None
        # SQLite writes each bulk list in one statement (see _columnar_insert); json_each, which
        # numbers its rows, is built in since SQLite 3.38.
        self.columnar = not self.postgres and sqlite3.sqlite_version_info >= (3, 38, 0)
        self._columnar_checked = False

    def _columnar_insert_ok(self, conn: Connection) -> bool:
        """The one-statement insert, once the database's text is known to be UTF-8: it cuts text
        out of blobs, which SQLite reads in the database's encoding (a UTF-16 file would get
        other characters). Checked once, on the first write."""
        if self.columnar and not self._columnar_checked:
            encoding = conn.exec_driver_sql("PRAGMA encoding").scalar()
            self.columnar = str(encoding).upper() == "UTF-8"
            self._columnar_checked = True
        return self.columnar

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One transaction; driver errors become DatabaseUnavailable after the rollback."""
        with self._unavailable("nothing of this batch was kept"):
            with self.engine.begin() as conn:
                if self.write_guard is not None:
                    self.write_guard(conn)
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reads; a database gone away is DatabaseUnavailable here too, so a
        follower whose next access is a read waits for it instead of ending."""
        with self._unavailable("nothing was changed"), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _unavailable(self, consequence: str) -> Iterator[None]:
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise DatabaseUnavailable(
                f"the database refused the request or went away ({exc.orig!r}); {consequence}"
            ) from exc
        except sa_exc.DBAPIError as exc:
            if self.postgres and _is_connection_error(exc):
                raise DatabaseUnavailable(
                    f"the database connection was lost ({exc.orig!r}); {consequence}"
                ) from exc
            raise

    @staticmethod
    def _int(value: Any) -> int:
        if isinstance(value, bytes | bytearray | memoryview):
            return int.from_bytes(bytes(value), "big")
        if isinstance(value, Decimal):
            return int(value)
        return int(value)

    def _bulk(self, conn: Connection, table: str, rows: Sequence[Sequence[Any]],
              u256: tuple[int, ...] = ()) -> None:
        """Insert `rows`; the `u256` columns hold amounts as ints (a U256 blob on SQLite, packed
        with the columns instead of converted row by row)."""
        if not rows:
            return
        columns = _BULK[table]
        if self.postgres:
            raw = conn.connection.driver_connection
            if raw is None:  # pragma: no cover - the pool always has one
                raise DatabaseUnavailable("no database connection")
            text_rows = _copy_text(table, rows, len(columns))
            with raw.cursor() as cur, cur.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            ) as copy:
                if text_rows is not None:
                    copy.write(text_rows)
                else:
                    for row in rows:
                        copy.write_row(row)
            return
        if self._columnar_insert_ok(conn) and _columnar_insert(conn, table, columns, rows,
                                                                u256=u256):
            return
        if u256:
            rows = [tuple(_blob(v) if i in u256 else v for i, v in enumerate(r)) for r in rows]
        # SQLite: multi-row VALUES, each statement as many rows as 999 parameters hold (the
        # oldest SQLite limit): ~30% less work than one row per statement.
        one = "(" + ", ".join("?" * len(columns)) + ")"
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608
        per = max(1, _SQLITE_PARAMS // len(columns))
        full = len(rows) - len(rows) % per
        if full:
            flat = chain.from_iterable
            conn.exec_driver_sql(
                insert + ", ".join([one] * per),
                [tuple(flat(rows[i : i + per])) for i in range(0, full, per)],
            )
        if full < len(rows):
            conn.exec_driver_sql(insert + one, list(rows[full:]))

    # -- reads --------------------------------------------------------------------------------

    def cursor(self, chain_id: int) -> Cursor | None:
        with self._read() as conn:
            row = conn.execute(
                text("SELECT block_number, block_hash FROM indexer_cursor WHERE chain_id = :c"),
                {"c": chain_id},
            ).first()
        return Cursor(int(row[0]), str(row[1])) if row else None

    def chain_identity(self, chain_id: int) -> tuple[str, int] | None:
        """(genesis hash, highest head ever seen) recorded for `chain_id`, if any."""
        with self._read() as conn:
            row = conn.execute(
                text("SELECT genesis_hash, highest_head FROM indexer_chain WHERE chain_id = :c"),
                {"c": chain_id},
            ).first()
        return (str(row[0]), int(row[1])) if row else None

    def record_chain_identity(self, chain_id: int, genesis_hash: str, highest_head: int) -> None:
        """Record (or replace) the genesis hash and the highest head of `chain_id`."""
        with self._tx() as conn:
            conn.execute(text("DELETE FROM indexer_chain WHERE chain_id = :c"), {"c": chain_id})
            conn.execute(
                text("INSERT INTO indexer_chain (chain_id, genesis_hash, highest_head) "
                     "VALUES (:c, :g, :h)"),
                {"c": chain_id, "g": genesis_hash, "h": highest_head},
            )

    def note_head(self, chain_id: int, head: int) -> None:
        """Raise the highest head seen to `head` (never lowers it)."""
        with self._tx() as conn:
            conn.execute(
                text("UPDATE indexer_chain SET highest_head = :h "
                     "WHERE chain_id = :c AND highest_head < :h"),
                {"c": chain_id, "h": head},
            )

    def node_limits(self, chain_id: int, node: str) -> NodeLimits | None:
        """The eth_getLogs limits learned earlier from `node` (a hash of its URL), if any."""
        with self._read() as conn:
            row = conn.execute(
                text("SELECT max_span, refused_span, served_span, target_logs "
                     "FROM indexer_node_limits WHERE chain_id = :c AND node = :n"),
                {"c": chain_id, "n": node},
            ).first()
        if row is None:
            return None
        return NodeLimits(
            None if row[0] is None else int(row[0]), None if row[1] is None else int(row[1]),
            int(row[2]), int(row[3]),
        )

    def save_node_limits(self, chain_id: int, node: str, limits: NodeLimits) -> None:
        """Record (or replace) what was learned of `node`'s eth_getLogs limits."""
        values = {"c": chain_id, "n": node, "m": limits.max_span, "r": limits.refused_span,
                  "s": limits.served_span, "t": limits.target_logs}
        with self._tx() as conn:
            conn.execute(text("DELETE FROM indexer_node_limits WHERE chain_id = :c AND node = :n"),
                         values)
            conn.execute(
                text("INSERT INTO indexer_node_limits (chain_id, node, max_span, refused_span, "
                     "served_span, target_logs) VALUES (:c, :n, :m, :r, :s, :t)"),
                values,
            )

    def stored_blocks_desc(self, chain_id: int, at_most: int, limit: int) -> list[tuple[int, str]]:
        """Stored block (number, hash) at or below `at_most`, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                text(
                    "SELECT number, hash FROM blocks WHERE chain_id = :c AND number <= :n "
                    "ORDER BY number DESC LIMIT :l"
                ),
                {"c": chain_id, "n": at_most, "l": limit},
            ).all()
        return [(int(r[0]), str(r[1])) for r in rows]

    def balances(self, chain_id: int, block: int | None = None) -> dict[str, int]:
        """Balances now, or after block `block` (from the balance history)."""
        with self._read() as conn:
            if block is None:
                rows = conn.execute(
                    text("SELECT account, balance FROM balances WHERE chain_id = :c"),
                    {"c": chain_id},
                ).all()
            else:
                rows = conn.execute(
                    text(
                        "SELECT h.account, h.balance FROM balance_history h JOIN ("
                        " SELECT account, MAX(block_number) AS b FROM balance_history"
                        " WHERE chain_id = :c AND block_number <= :n GROUP BY account) last"
                        " ON h.account = last.account AND h.block_number = last.b"
                        " WHERE h.chain_id = :c"
                    ),
                    {"c": chain_id, "n": block},
                ).all()
        return {str(r[0]): self._int(r[1]) for r in rows}

    def supply(self, chain_id: int, block: int | None = None) -> tuple[int, int]:
        """(total supply, reserve) after `block` (latest when None); (0, 0) before any."""
        with self._read() as conn:
            row = conn.execute(
                text(
                    "SELECT total_supply, reserve FROM supply_history WHERE chain_id = :c "
                    "AND block_number <= :n ORDER BY block_number DESC LIMIT 1"
                ),
                {"c": chain_id, "n": block if block is not None else 2**62},
            ).first()
        return (self._int(row[0]), self._int(row[1])) if row else (0, 0)

    def count(self, table: str, chain_id: int) -> int:
        if table not in DIGEST_TABLES:
            raise ValueError(table)
        with self._read() as conn:
            value = conn.execute(
                text(f"SELECT COUNT(*) FROM {table} WHERE chain_id = :c"), {"c": chain_id}  # noqa: S608
            ).scalar_one()
        return int(value)

    def digest(self, chain_id: int, tables: Iterable[str] | None = None) -> str:
        """SHA-256 over every row of every table, in key order (amounts as ints)."""
        h = hashlib.sha256()
        with self._read() as conn:
            for table in tables or DIGEST_TABLES:
                order = DIGEST_TABLES[table]
                h.update(f"#{table}\n".encode())
                result = conn.execute(
                    text(f"SELECT * FROM {table} WHERE chain_id = :c ORDER BY {order}"),  # noqa: S608
                    {"c": chain_id},
                )
                keys = list(result.keys())
                # a block's parent hash is known only when its header was read (a range's last block),
                # not when it is dated from its logs: where ranges end depends on when a run was
                # stopped, so it is left out (nothing reads it; reorg checks compare block hashes)
                kept = [i for i, k in enumerate(keys) if not (table == "blocks" and k == "parent_hash")]
                for row in result:
                    h.update(repr([self._norm(keys[i], row[i]) for i in kept]).encode())
                    h.update(b"\n")
        return h.hexdigest()

    @staticmethod
    def _norm(_key: str, value: Any) -> Any:
        if isinstance(value, bytes | bytearray | memoryview):
            return int.from_bytes(bytes(value), "big")
        if isinstance(value, Decimal):
            return int(value)
        if isinstance(value, bool):
            return int(value)
        return value

    # -- backfill mode ------------------------------------------------------------------------

    @contextmanager
    def backfilling(self) -> Iterator[None]:
        """Bulk writes of final blocks follow (SQLite file: WAL checkpoints move to a background
        thread; PostgreSQL: commits without waiting for the WAL flush, see `apply`)."""
        path = sqlite_path(self.engine)
        if self._backfilling:
            yield
            return
        self._backfilling = True
        self._checkpointer = _Checkpointer(str(path)) if path is not None else None
        try:
            yield
        finally:
            self._backfilling = False
            checkpointer, self._checkpointer = self._checkpointer, None
            if checkpointer is not None:
                checkpointer.close()

    # -- secondary indexes during an initial backfill ------------------------------------------

    def drop_deferred_indexes_if_empty(self) -> bool:
        """Before a backfill: drop the readers' secondary indexes when their tables hold no row
        (of any chain); True when dropped (or already missing)."""
        with self._tx() as conn:
            # the tables' names are this module's own
            held = " OR ".join(f"EXISTS (SELECT 1 FROM {t})"  # noqa: S608
                               for t in _DEFERRED_INDEX_TABLES)
            if conn.exec_driver_sql(f"SELECT {held}").scalar_one():
                return False
            found = _present_indexes(conn)
            present = [found[_key(ix)] for ix in deferred_indexes() if _key(ix) in found]
            if present and self.postgres:
                conn.exec_driver_sql(f"DROP INDEX {', '.join(present)}")
            else:
                for name in present:
                    conn.exec_driver_sql(f"DROP INDEX {name}")
        return True

    def build_deferred_indexes(self) -> int:
        """Create the readers' secondary indexes that are missing; returns how many were built.

        One transaction: a crash leaves them all missing, and the next backfill's end builds them.
        """
        with self._tx() as conn:
            present = _present_indexes(conn)
            missing = [ix for ix in deferred_indexes() if _key(ix) not in present]
            for ix in missing:
                ix.create(conn)
        return len(missing)

    # -- writes -------------------------------------------------------------------------------

    def apply(self, batch: Batch) -> None:
        """Write the batch and move the cursor, atomically."""
        c = batch.chain_id
        u = self._u
        checkpointer = self._checkpointer
        with self._tx() as conn:
            if not self.postgres:  # off while a checkpointer thread does it (see backfilling)
                conn.exec_driver_sql(
                    f"PRAGMA wal_autocheckpoint={0 if checkpointer else _WAL_AUTOCHECKPOINT}"
                )
            elif self._backfilling:
                # Final blocks: a server crash may lose the last commits (well under a second),
                # each whole with its cursor, so they are read again from the node; nothing is
                # lost or counted twice. The WAL flush no longer holds up every range.
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            row = conn.execute(
                text("SELECT block_number FROM indexer_cursor WHERE chain_id = :c"), {"c": c}
            ).first()
            if row is not None and int(row[0]) != batch.first_block - 1:
                raise InconsistentData(
                    f"batch starts at block {batch.first_block} but the cursor is at {row[0]}"
                )
            self._bulk(conn, "blocks", [(c, *b) for b in batch.blocks])
            self._bulk(conn, "raw_logs", batch.logs)
            # the amount packed as a U256 blob with the column (SQLite): the hottest row of all
            self._bulk(conn, "transfers", [(c, *t) for t in batch.transfers], u256=(6,))
            self._bulk(
                conn,
                "deposits",
                [(c, d[0], d[1], d[2], d[3], d[4], u(d[5]), u(d[6])) for d in batch.deposits],
            )
            self._bulk(
                conn,
                "redemptions",
                [
                    (c, r[0], r[1], r[2], r[3], r[4], u(r[5]), u(r[6]), u(r[7]), r[8], u(r[9]))
                    for r in batch.redemptions
                ],
            )
            for table, prow in (("payments", batch.payments), ("refunds", batch.refunds)):
                self._bulk(
                    conn, table, [(c, *p[:6], u(p[6]), p[7]) for p in prow]
                )
            self._bulk(conn, "merchant_events", [(c, *m) for m in batch.merchant_events])
            if (batch.tariffs or batch.settlement_days or batch.settlement_payments
                    or batch.settlement_shortfalls):
                self._apply_settlement(conn, batch)
            if batch.authorizations or batch.freezes or batch.minter_configs or batch.payout_changes:
                self._apply_powers(conn, batch)
            if batch.fund_events:
                self._bulk(
                    conn,
                    "fund_events",
                    [(c, *f[:8], None if f[8] is None else u(f[8]),
                      None if f[9] is None else u(f[9]), *f[10:]) for f in batch.fund_events],
                )
            if batch.free_basics:
                self._bulk(conn, "free_basics_events",
                           [(c, *f[:9], u(f[9]), f[10]) for f in batch.free_basics])
            self._apply_balances_and_supply(conn, batch)
            self._apply_takings(conn, c, batch.payments, batch.refunds, self._payment_covers(batch))
            self._apply_bookings(conn, batch)
            self._apply_merchants(conn, c, batch.merchant_events)
            self._set_cursor(conn, c, batch.cursor)
        if checkpointer is not None:
            checkpointer.wake()

    def _apply_settlement(self, conn: Connection, batch: Batch) -> None:
        """EnergySettlement rows (rare: a few per settled day), amounts as U256."""
        c = batch.chain_id
        u = self._u
        # Operation ids (and schedule ids) are uint256 hashes on chain: U256 like amounts.
        self._bulk(conn, "tariffs", [(c, *t[:3], u(t[3]), u(t[4]), *t[5:]) for t in batch.tariffs])
        self._bulk(
            conn,
            "settlement_days",
            [(c, *d[:3], u(d[3]), *d[4:7], u(d[7]), u(d[8]), u(d[9]), u(d[10]), u(d[11]), d[12])
             for d in batch.settlement_days],
        )
        self._bulk(
            conn,
            "settlement_payments",
            [(c, *p[:3], u(p[3]), *p[4:8], u(p[8]), u(p[9])) for p in batch.settlement_payments],
        )
        self._bulk(
            conn,
            "settlement_shortfalls",
            [(c, *s[:3], u(s[3]), *s[4:9], u(s[9])) for s in batch.settlement_shortfalls],
        )

    def _apply_powers(self, conn: Connection, batch: Batch) -> None:
        """Authorizations spent or cancelled, freezes, minter allowances, payout changes (rare:
        the signed-payment path adds one authorization row per payment)."""
        c = batch.chain_id
        u = self._u
        self._bulk(conn, "token_authorizations", [(c, *a) for a in batch.authorizations])
        self._bulk(conn, "account_freezes", [(c, *f) for f in batch.freezes])
        self._bulk(conn, "minter_configs",
                   [(c, *m[:4], u(m[4]), u(m[5])) for m in batch.minter_configs])
        self._bulk(conn, "payout_changes", [(c, *p) for p in batch.payout_changes])

    def _set_cursor(self, conn: Connection, chain_id: int, cursor: Cursor) -> None:
        updated = conn.execute(
            text("UPDATE indexer_cursor SET block_number = :n, block_hash = :h WHERE chain_id = :c"),
            {"c": chain_id, "n": cursor.block_number, "h": cursor.block_hash},
        ).rowcount
        if not updated:
            conn.execute(
                text("INSERT INTO indexer_cursor (chain_id, block_number, block_hash) "
                     "VALUES (:c, :n, :h)"),
                {"c": chain_id, "n": cursor.block_number, "h": cursor.block_hash},
            )

    def _read_balances(self, conn: Connection, chain_id: int, accounts: list[str]) -> dict[str, int]:
        if self.columnar:
            # One row out: a row per account would hand the GIL over once per account (each
            # step of a result releases it, see _columnar_insert).
            packed = conn.exec_driver_sql(
                "SELECT json_group_array(json_array(account, hex(balance))) FROM balances "
                "WHERE chain_id = ? AND account IN (SELECT value FROM json_each(?))",
                (chain_id, orjson.dumps(accounts)),
            ).scalar_one()
            return {a: int(h, 16) if h else 0 for a, h in orjson.loads(packed)}
        found: dict[str, int] = {}
        for i in range(0, len(accounts), _CHUNK):
            chunk = accounts[i : i + _CHUNK]
            params: dict[str, Any] = {f"a{j}": a for j, a in enumerate(chunk)}
            params["c"] = chain_id
            marks = ", ".join(f":a{j}" for j in range(len(chunk)))
            for account, balance in conn.execute(
                text(f"SELECT account, balance FROM balances WHERE chain_id = :c "  # noqa: S608
                     f"AND account IN ({marks})"),
                params,
            ):
                found[str(account)] = self._int(balance)
        return found

    def _apply_balances_and_supply(self, conn: Connection, batch: Batch) -> None:
        c = batch.chain_id
        u = self._u
        supply_changes = bool(batch.deposits or batch.redemptions or batch.reserve_carries)
        if not batch.transfers and not supply_changes:
            return
        zero = ZERO_ADDRESS
        accounts = {t[3] for t in batch.transfers} | {t[4] for t in batch.transfers}
        accounts.discard(zero)
        existing = self._read_balances(conn, c, sorted(accounts))
        balances = dict(existing)
        history: dict[tuple[str, int], int] = {}
        start_supply, reserve = self._latest_supply(conn, c)
        supply = start_supply
        supply_after: dict[int, int] = {}
        get = balances.get
        for block, _li, tx, sender, receiver, value in batch.transfers:
            if sender == zero:
                supply += value
                supply_after[block] = supply
            else:
                left = get(sender, 0) - value
                if left < 0:
                    raise InconsistentData(
                        f"the balance of {sender} would go negative at block {block} (tx {tx})"
                    )
                balances[sender] = left
                history[(sender, block)] = left
            if receiver == zero:
                supply -= value
                if supply < 0:
                    raise InconsistentData(f"the supply would go negative at block {block}")
                supply_after[block] = supply
            else:
                got = get(receiver, 0) + value
                balances[receiver] = got
                history[(receiver, block)] = got
        reserve_after: dict[int, int] = {}
        if batch.reserve_carries:
            # A carried reserve is added to the reserve as it stands (deposits and redemptions
            # state the reserve after them): fold all three in log order.
            self._bulk(conn, "reserve_carries",
                       [(c, *k[:4], u(k[4])) for k in batch.reserve_carries])
            running = reserve
            for block, _li, relative, value in sorted(
                [(d[0], d[1], False, d[6]) for d in batch.deposits]
                + [(r[0], r[1], False, r[9]) for r in batch.redemptions]
                + [(k[0], k[1], True, k[4]) for k in batch.reserve_carries]
            ):
                running = running + value if relative else value
                reserve_after[block] = running
        else:
            for d in batch.deposits:
                reserve_after[d[0]] = d[6]
            for r in batch.redemptions:
                reserve_after[r[0]] = r[9]
        # One supply row per block where supply or reserve changed, carrying the other forward.
        rows = []
        supply = start_supply
        for b in sorted(set(supply_after) | set(reserve_after)):
            supply = supply_after.get(b, supply)
            reserve = reserve_after.get(b, reserve)
            rows.append((c, b, batch.block_times.get(b, 0), u(supply), u(reserve)))
        self._bulk(conn, "supply_history", rows)
        self._bulk(
            conn,
            "balance_history",
            [(c, account, block, value) for (account, block), value in history.items()],
            u256=(3,),
        )
        last_block: dict[str, int] = {}
        for account, block in history:
            if block > last_block.get(account, -1):
                last_block[account] = block
        if self._columnar_insert_ok(conn) and _columnar_insert(  # updates and new rows in one
            conn, "balances", _BULK["balances"],
            [(c, a, balances[a], n) for a, n in last_block.items()], upsert=("chain_id", "account"),
            u256=(2,),
        ):
            return
        updates = [
            {"c": c, "a": a, "b": u(balances[a]), "n": last_block[a]}
            for a in last_block
            if a in existing
        ]
        if updates:
            conn.execute(
                text("UPDATE balances SET balance = :b, updated_block = :n "
                     "WHERE chain_id = :c AND account = :a"),
                updates,
            )
        self._bulk(
            conn,
            "balances",
            [(c, a, u(balances[a]), last_block[a]) for a in last_block if a not in existing],
        )

    def _latest_supply(self, conn: Connection, chain_id: int) -> tuple[int, int]:
        row = conn.execute(
            text("SELECT total_supply, reserve FROM supply_history WHERE chain_id = :c "
                 "ORDER BY block_number DESC LIMIT 1"),
            {"c": chain_id},
        ).first()
        return (self._int(row[0]), self._int(row[1])) if row else (0, 0)

    def _apply_takings(
        self,
        conn: Connection,
        chain_id: int,
        payments: Sequence[PaymentRow],
        refunds: Sequence[PaymentRow],
        covers: Sequence[tuple[int, str, int]] = (),
    ) -> None:
        if not payments and not refunds:
            return
        delta: dict[tuple[int, str], list[int]] = {}
        for p in payments:
            d = delta.setdefault((p.merchant_id, p.day), [0, 0, 0, 0])
            d[0] += p.amount
            d[2] += 1
        # The fund's part of a payment is part of what the merchant took (PaymentMade carries only
        # the payer's part); it is the same payment, so it adds to the amount, not the count.
        for merchant_id, day, covered in covers:
            delta.setdefault((merchant_id, day), [0, 0, 0, 0])[0] += covered
        for r in refunds:
            d = delta.setdefault((r.merchant_id, r.day), [0, 0, 0, 0])
            d[1] += r.amount
            d[3] += 1
        self._add_takings(conn, chain_id, delta)

    @staticmethod
    def _payment_covers(batch: Batch) -> list[tuple[int, str, int]]:
        """(merchant, Paris day, amount) of the fund's covers of payments in the batch. A cover is
        followed by its PaymentMade in the same transaction, so it takes that block's day. A
        booking's cover is left out, as its charge is: takings count payments only."""
        day_of_block = {p.block_number: p.day for p in batch.payments}
        return [
            (f.merchant_id, day_of_block[f.block_number], f.amount)
            for f in batch.free_basics
            if f.kind == "covered" and f.booking_id is None and f.block_number in day_of_block
        ]

    def _add_takings(
        self, conn: Connection, chain_id: int, delta: dict[tuple[int, str], list[int]]
    ) -> None:
        u = self._u
        # The stored rows of the batch's days in one read per chunk of days (a handful of
        # merchants a day), then one UPDATE executemany: a round trip per (merchant, day)
        # was a third of a realistic batch's time on PostgreSQL.
        days = sorted({day for _merchant, day in delta})
        stored: dict[tuple[int, str], Any] = {}
        for i in range(0, len(days), _CHUNK):
            chunk = days[i : i + _CHUNK]
            params: dict[str, Any] = {f"d{j}": d for j, d in enumerate(chunk)}
            params["c"] = chain_id
            marks = ", ".join(f":d{j}" for j in range(len(chunk)))
            for found in conn.execute(
                text("SELECT merchant_id, day, paid, refunded, payments, refunds "  # noqa: S608
                     f"FROM merchant_takings_daily WHERE chain_id = :c AND day IN ({marks})"),
                params,
            ):
                key = (int(found[0]), str(found[1]))
                if key in delta:
                    stored[key] = found
        new_rows: list[tuple[Any, ...]] = []
        updates: list[dict[str, Any]] = []
        for (merchant_id, day), (paid, refunded, n_paid, n_refunded) in sorted(delta.items()):
            row = stored.get((merchant_id, day))
            if row is None:
                new_rows.append((chain_id, merchant_id, day, u(paid), u(refunded), n_paid, n_refunded))
                continue
            updates.append({
                "c": chain_id, "m": merchant_id, "d": day,
                "p": u(self._int(row[2]) + paid), "r": u(self._int(row[3]) + refunded),
                "np": int(row[4]) + n_paid, "nr": int(row[5]) + n_refunded,
            })
        if updates:
            conn.execute(
                text("UPDATE merchant_takings_daily SET paid = :p, refunded = :r, payments = :np, "
                     "refunds = :nr WHERE chain_id = :c AND merchant_id = :m AND day = :d"),
                updates,
            )
        self._bulk(conn, "merchant_takings_daily", new_rows)

    def _apply_bookings(self, conn: Connection, batch: Batch) -> None:
        c = batch.chain_id
        u = self._u
        self._bulk(
            conn,
            "bookings",
            [
                (c, b.booking_id, b.merchant_id, b.payer, u(b.deposit), b.expires_at, b.ref, "open",
                 b.block_number, b.log_index, b.tx_hash)
                for b in batch.booking_opens
            ],
        )
        if not batch.booking_ends:
            return
        # A booking ends once on chain; should a batch end one twice, the last end stands, as
        # it did when each end was its own UPDATE.
        ends = list({e.booking_id: e for e in batch.booking_ends}.values())
        if self.postgres:  # one statement over arrays, where each end was an UPDATE of its own
            conn.exec_driver_sql(
                "UPDATE bookings AS b SET state = v.state, charged = v.charged::numeric, "
                "returned = v.returned::numeric, ended_block = v.ended_block, "
                "ended_log_index = v.ended_log_index, ended_tx = v.ended_tx "
                "FROM unnest(%(id)s::bigint[], %(state)s::varchar[], %(charged)s::text[], "
                "%(returned)s::text[], %(block)s::bigint[], %(li)s::int[], %(tx)s::varchar[]) "
                "AS v(booking_id, state, charged, returned, ended_block, ended_log_index, "
                "ended_tx) WHERE b.chain_id = %(c)s AND b.booking_id = v.booking_id",
                {"c": c, "id": [e.booking_id for e in ends], "state": [e.kind for e in ends],
                 # amounts as decimal text, read back as NUMERIC: exact at any size
                 "charged": [str(require_u256(e.charged)) for e in ends],
                 "returned": [str(require_u256(e.returned)) for e in ends],
                 "block": [e.block_number for e in ends], "li": [e.log_index for e in ends],
                 "tx": [e.tx_hash for e in ends]},
            )
            return
        if self._columnar_insert_ok(conn) and _columnar_update(
            conn, "bookings", ("chain_id", "booking_id"),
            ("state", "charged", "returned", "ended_block", "ended_log_index", "ended_tx"),
            [(c, e.booking_id, e.kind, e.charged, e.returned, e.block_number, e.log_index,
              e.tx_hash) for e in ends], u256=(3, 4),
        ):
            return
        # one executemany: a statement per booking was a round trip each
        conn.execute(
            text("UPDATE bookings SET state = :s, charged = :ch, returned = :rt, "
                 "ended_block = :b, ended_log_index = :li, ended_tx = :tx "
                 "WHERE chain_id = :c AND booking_id = :id"),
            [{"s": e.kind, "ch": u(e.charged), "rt": u(e.returned), "b": e.block_number,
              "li": e.log_index, "tx": e.tx_hash, "c": c, "id": e.booking_id} for e in ends],
        )

    def _apply_merchants(
        self, conn: Connection, chain_id: int, events: Sequence[MerchantEventRow]
    ) -> None:
        for e in events:
            if e.kind == "registered":
                conn.execute(
                    text("INSERT INTO merchants (chain_id, merchant_id, payout, category, name, "
                         "active, registered_block, updated_block) VALUES (:c, :m, :p, :cat, :n, "
                         ":a, :b, :b)"),
                    {"c": chain_id, "m": e.merchant_id, "p": e.payout, "cat": e.category,
                     "n": e.name, "a": True, "b": e.block_number},
                )
            elif e.kind == "payout":
                conn.execute(
                    text("UPDATE merchants SET payout = :p, updated_block = :b "
                         "WHERE chain_id = :c AND merchant_id = :m"),
                    {"c": chain_id, "m": e.merchant_id, "p": e.payout, "b": e.block_number},
                )
            elif e.kind == "status":
                conn.execute(
                    text("UPDATE merchants SET active = :a, updated_block = :b "
                         "WHERE chain_id = :c AND merchant_id = :m"),
                    {"c": chain_id, "m": e.merchant_id, "a": bool(e.active), "b": e.block_number},
                )

    # -- rollback -----------------------------------------------------------------------------

    def log_keys(self, chain_id: int, above: int = -1) -> list[tuple[int, int]]:
        """(block, log index) of every log the index holds above block `above`, in chain order:
        raw, decoded, or both (a day-to-day event is kept only decoded)."""
        with self._read() as conn:
            return [(int(b), int(i)) for b, i in conn.execute(
                text(_LOG_KEYS + " ORDER BY 1, 2"), {"c": chain_id, "n": above})]

    def rollback_to(self, chain_id: int, ancestor: Cursor) -> int:
        """Undo every row above block `ancestor.block_number`; returns the logs removed."""
        c = chain_id
        n = ancestor.block_number
        u = self._u
        p = {"c": c, "n": n}
        with self._tx() as conn:
            removed = int(conn.execute(
                text(f"SELECT COUNT(*) FROM ({_LOG_KEYS}) AS logs"), p  # noqa: S608
            ).scalar_one())
            accounts = [str(r[0]) for r in conn.execute(
                text("SELECT DISTINCT account FROM balance_history "
                     "WHERE chain_id = :c AND block_number > :n"), p)]
            takings_keys = sorted({(int(r[0]), str(r[1])) for table in ("payments", "refunds")
                                   for r in conn.execute(text(
                                       f"SELECT DISTINCT merchant_id, day FROM {table} "  # noqa: S608
                                       "WHERE chain_id = :c AND block_number > :n"), p)})
            merchants = [int(r[0]) for r in conn.execute(
                text("SELECT DISTINCT merchant_id FROM merchant_events "
                     "WHERE chain_id = :c AND block_number > :n"), p)]
            for table in _BY_BLOCK:
                column = "number" if table == "blocks" else "block_number"
                conn.execute(text(f"DELETE FROM {table} WHERE chain_id = :c AND {column} > :n"), p)  # noqa: S608
            # Balances: back to the last remaining history row (or gone).
            for account in accounts:
                row = conn.execute(
                    text("SELECT balance, block_number FROM balance_history WHERE chain_id = :c "
                         "AND account = :a ORDER BY block_number DESC LIMIT 1"),
                    {"c": c, "a": account},
                ).first()
                if row is None:
                    conn.execute(text("DELETE FROM balances WHERE chain_id = :c AND account = :a"),
                                 {"c": c, "a": account})
                else:
                    conn.execute(
                        text("UPDATE balances SET balance = :b, updated_block = :n "
                             "WHERE chain_id = :c AND account = :a"),
                        {"c": c, "a": account, "b": u(self._int(row[0])), "n": int(row[1])},
                    )
            # Takings: recompute the touched (merchant, day) from the remaining rows.
            for merchant_id, day in takings_keys:
                k = {"c": c, "m": merchant_id, "d": day}
                conn.execute(text("DELETE FROM merchant_takings_daily WHERE chain_id = :c "
                                  "AND merchant_id = :m AND day = :d"), k)
                sums = [0, 0, 0, 0]
                for i, table in enumerate(("payments", "refunds")):
                    for (amount,) in conn.execute(text(
                            f"SELECT amount FROM {table} WHERE chain_id = :c AND merchant_id = :m "  # noqa: S608
                            "AND day = :d"), k):
                        sums[i] += self._int(amount)
                        sums[i + 2] += 1
                # A payment's cover sits in the block of its PaymentMade, hence on the same day.
                for (amount,) in conn.execute(text(
                        "SELECT amount FROM free_basics_events WHERE chain_id = :c AND merchant_id = :m "
                        "AND kind = 'covered' AND booking_id IS NULL AND block_number IN ("
                        "SELECT block_number FROM payments WHERE chain_id = :c AND merchant_id = :m "
                        "AND day = :d)"), k):
                    sums[0] += self._int(amount)
                if sums[2] or sums[3]:
                    self._add_takings(conn, c, {(merchant_id, day): sums})
            # Bookings: forget those opened above n, reopen those ended above n.
            conn.execute(text("DELETE FROM bookings WHERE chain_id = :c AND opened_block > :n"), p)
            conn.execute(
                text("UPDATE bookings SET state = 'open', charged = NULL, returned = NULL, "
                     "ended_block = NULL, ended_log_index = NULL, ended_tx = NULL "
                     "WHERE chain_id = :c AND ended_block > :n"), p)
            # Merchants: fold the remaining registry events again.
            for merchant_id in merchants:
                conn.execute(text("DELETE FROM merchants WHERE chain_id = :c AND merchant_id = :m"),
                             {"c": c, "m": merchant_id})
                events = [
                    MerchantEventRow(int(r[0]), int(r[1]), str(r[2]), int(r[3]), str(r[4]), r[5],
                                     r[6], r[7], None if r[8] is None else bool(r[8]))
                    for r in conn.execute(text(
                        "SELECT block_number, log_index, tx_hash, merchant_id, kind, payout, "
                        "category, name, active FROM merchant_events WHERE chain_id = :c "
                        "AND merchant_id = :m ORDER BY block_number, log_index"),
                        {"c": c, "m": merchant_id})
                ]
                self._apply_merchants(conn, c, events)
            self._set_cursor(conn, c, ancestor)
        return removed

    def record_blocks(self, chain_id: int, blocks: Sequence[BlockRow]) -> None:
        """Test helper: store headers outside a batch."""
        with self._tx() as conn:
            self._bulk(conn, "blocks", [(chain_id, *b) for b in blocks])


_NULL = "\\N"


def _copy_text(table: str, rows: Sequence[Sequence[Any]], width: int) -> str | None:
    """COPY's text format of `rows` in one string (several times cheaper than psycopg's row by
    row writer), or None when a value would need escaping: then the caller writes row by row.

    Exact by counting: every NULL adds one backslash, each row `width - 1` tabs and one newline;
    any other backslash, tab, newline or carriage return inside a value changes a count."""
    if table == "raw_logs":  # topics 1 to 3 may be NULL; every other column is set
        nulls = 0
        lines = []
        for r in rows:
            t1, t2, t3 = r[7], r[8], r[9]
            if t1 is None or t2 is None or t3 is None:
                nulls += (t1 is None) + (t2 is None) + (t3 is None)
            lines.append(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5]}\t{r[6]}\t"
                         f"{_NULL if t1 is None else t1}\t{_NULL if t2 is None else t2}\t"
                         f"{_NULL if t3 is None else t3}\t{r[10]}\n")
        text = "".join(lines)
    elif table == "blocks":  # the parent hash is NULL for a block known from its logs alone
        nulls = sum(r[3] is None for r in rows)
        text = "".join([f"{r[0]}\t{r[1]}\t{r[2]}\t{_NULL if r[3] is None else r[3]}\t{r[4]}\n"
                        for r in rows])
    else:
        if any(None in r for r in rows):
            return None
        nulls = 0
        line = "\t".join(["%s"] * width) + "\n"
        text = "".join([line % tuple(r) for r in rows])
    if (text.count("\\") != nulls or text.count("\t") != len(rows) * (width - 1)
            or text.count("\n") != len(rows) or "\r" in text):
        return None
    return text


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_INT_WIDTH = 20  # an int64 in decimal, sign included
_SQLITE_MAX_LENGTH = 1_000_000_000  # SQLITE_MAX_LENGTH's default: the longest blob bound


Packed = tuple[Any, ...] | None  # one column, see _pack_columns_py


def _pack_columns_py(rows: Sequence[Sequence[Any]], width: int, u256: tuple[int, ...] = ()
                     ) -> list[Packed] | None:
    """Each column of `rows` packed at a fixed width, or None when one does not fit (see
    `_columnar_insert`): None (every value NULL), ("const", value) (the same int or str in every
    row), ("int", blob, nullable) (int64 as 20-character decimal text, a NULL as spaces),
    ("str", width, blob, nullable) (ASCII text of one width without NUL, a NULL as spaces, which
    no value may be), ("bytes", width, blob). The `u256` columns hold amounts: ints written as
    32-byte big-endian blobs, unfit unless every value is an int. `ledger/db/_columns.c` does the
    same in C."""
    n = len(rows)
    packed: list[Packed] = []
    for p in range(width):
        column = list(map(itemgetter(p), rows))
        if p in u256:
            if any(type(v) is not int for v in column):
                return None
            packed.append(("bytes", 32, b"".join([v.to_bytes(32, "big") for v in column])))
            continue
        kinds = set(map(type, column))
        nullable = type(None) in kinds
        kinds.discard(type(None))
        if not kinds:
            packed.append(None)
            continue
        if len(kinds) != 1:
            return None
        kind = kinds.pop()
        present = [v for v in column if v is not None] if nullable else column
        if not nullable and kind in (int, str) and column.count(column[0]) == n:
            packed.append(("const", column[0]))  # the chain id: bound once
            continue
        if kind is int or kind is bool:
            if min(present) < _I64_MIN or max(present) > _I64_MAX:
                return None  # the executemany path says which value does not fit
            blank = " " * _INT_WIDTH
            text_ = "".join([blank if v is None else f"{v:020d}" for v in column]) if nullable \
                else ("%020d" * n) % tuple(column)
            packed.append(("int", text_.encode("ascii"), nullable))
            continue
        if kind is str:
            widths = set(map(len, present))
            if len(widths) != 1:
                return None
            w = widths.pop()
            joined = "".join(present)
            # ASCII without NUL (one byte per character, and text functions stop at a NUL),
            # and a NULL's blank never a value's text
            if (w == 0 or not joined.isascii() or "\x00" in joined
                    or (nullable and " " * w in present)):
                return None
            if nullable:
                joined = "".join([" " * w if v is None else v for v in column])
            packed.append(("str", w, joined.encode("ascii"), nullable))
            continue
        if kind is bytes:
            widths = set(map(len, present))
            if len(widths) != 1 or nullable:
                return None
            w = widths.pop()
            if w == 0:  # substr() of an empty blob is NULL, where binding stores x''
                return None
            packed.append(("bytes", w, b"".join(column)))
            continue
        return None
    return packed


def _pack_columns(rows: Sequence[Sequence[Any]], width: int, u256: tuple[int, ...] = ()
                  ) -> list[Packed] | None:
    if _columns is not None and type(rows) is list:
        packed = _columns.pack(rows, width, u256)
        if packed is not NotImplemented:
            return cast(list[Packed] | None, packed)
    return _pack_columns_py(rows, width, u256)


def _columns_sql(rows: Sequence[Sequence[Any]], width: int, u256: tuple[int, ...] = ()
                 ) -> tuple[list[str], list[bytes | str | int]] | None:
    """Each column of `rows` as one parameter and the SQL that reads a row's value from it, or
    None when a column does not fit (see `_columnar_insert`). Row i's value sits at a fixed
    offset: substr() of a blob is a jump, where a text's would count characters."""
    packed = _pack_columns(rows, width, u256)
    if packed is None:
        return None
    # a packed column above SQLite's length limit: bound row by row instead
    blobs = [c[1] if c[0] == "int" else c[2] for c in packed if c is not None and c[0] != "const"]
    if any(len(blob) > _SQLITE_MAX_LENGTH for blob in blobs):
        return None
    exprs: list[str] = []
    params: list[bytes | str | int] = []
    for column in packed:
        if column is None:
            exprs.append("NULL")
            continue
        at = f"?{len(params) + 2}"
        kind = column[0]
        if kind == "const":
            exprs.append(at)
            params.append(column[1])
        elif kind == "int":
            blank = " " * _INT_WIDTH
            field = f"CAST(substr({at}, j.key * {_INT_WIDTH} + 1, {_INT_WIDTH}) AS TEXT)"
            if column[2]:
                field = f"NULLIF({field}, '{blank}')"
            exprs.append(f"CAST({field} AS INTEGER)")
            params.append(column[1])
        elif kind == "str":
            w = column[1]
            field = f"CAST(substr({at}, j.key * {w} + 1, {w}) AS TEXT)"
            exprs.append(f"NULLIF({field}, '{' ' * w}')" if column[3] else field)
            params.append(column[2])
        else:
            w = column[1]
            exprs.append(f"substr({at}, j.key * {w} + 1, {w})")
            params.append(column[2])
    return exprs, params


def _columnar_insert(conn: Connection, table: str, columns: tuple[str, ...],
                     rows: Sequence[Sequence[Any]], upsert: tuple[str, ...] = (),
                     u256: tuple[int, ...] = ()) -> bool:
    """All `rows` in one INSERT ... SELECT: each column goes as one fixed-width blob, and SQLite
    cuts the rows out of them in C. Binding every value instead (executemany) handed the GIL
    over once per statement of 90 rows, and each time the writer waited for the decode thread's
    switch interval: a third of a backfill. Returns False (nothing written) when a column does
    not fit: an integer outside int64, text of several widths or not ASCII, a float, a NULL
    amount; the caller then binds the values. The `u256` columns hold amounts as ints, written
    as U256 blobs (32 bytes big-endian)."""
    if not rows:
        return True
    found = _columns_sql(rows, len(columns), u256)
    if found is None:
        return False
    exprs, params = found
    # The rows' driver: a JSON array of n zeros gives j.key = 0..n-1 (parsed once, in C).
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} "  # noqa: S608
           "FROM json_each(?1) AS j")
    if upsert:
        changed = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in upsert)
        sql += f" WHERE true ON CONFLICT ({', '.join(upsert)}) DO UPDATE SET {changed}"
    conn.exec_driver_sql(sql, (_zeros(len(rows)), *params))
    return True


def _columnar_update(conn: Connection, table: str, keys: tuple[str, ...],
                     columns: tuple[str, ...], rows: Sequence[Sequence[Any]],
                     u256: tuple[int, ...] = ()) -> bool:
    """Set `columns` of the rows matching `keys` (each row: the keys' values, then the
    columns'), in one UPDATE over the packed columns (see `_columnar_insert`: an executemany
    hands the GIL over once per row). The keys must be unique among `rows`. False (nothing
    written) when a column does not fit."""
    if not rows:
        return True
    found = _update_sql(table, keys, columns, rows, u256)
    if found is None:
        return False
    conn.exec_driver_sql(*found)
    return True


def _update_sql(table: str, keys: tuple[str, ...], columns: tuple[str, ...],
                rows: Sequence[Sequence[Any]], u256: tuple[int, ...] = ()
                ) -> tuple[str, tuple[Any, ...]] | None:
    """The statement of `_columnar_update` and its parameters. The new values are materialized
    once; the table's rows are found by their key through its index, each new value by the
    key in an automatic index (an UPDATE ... FROM let SQLite scan the table's rows of the
    chain and read every new value for each: its time grew with the table)."""
    found = _columns_sql(rows, len(keys) + len(columns), u256)
    if found is None:
        return None
    exprs, params = found
    values = ", ".join(f"{e} AS {n}" for e, n in zip(exprs, (*keys, *columns), strict=True))
    matched = " AND ".join(f"v.{k} = {table}.{k}" for k in keys)
    sql = (f"WITH v AS MATERIALIZED (SELECT {values} FROM json_each(?1) AS j) "  # noqa: S608
           f"UPDATE {table} SET ({', '.join(columns)}) = "
           f"(SELECT {', '.join(columns)} FROM v WHERE {matched}) "
           f"WHERE ({', '.join(keys)}) IN (SELECT {', '.join(keys)} FROM v)")
    return sql, (_zeros(len(rows)), *params)


def _zeros(n: int) -> str:
    return "[" + ",".join("0" * n) + "]" if n else "[]"


def _present_indexes(conn: Connection) -> dict[tuple[str, str], str]:
    """The indexes of the tables this connection sees (PostgreSQL: the first table of each name
    on its search path), keyed by (table, index) with the name to drop each by (qualified by
    its schema on PostgreSQL, where another index of that name may sit earlier on the path),
    in one catalog query: the dialect's `has_index` is a query per index, 2 ms each on
    PostgreSQL, which held up a backfill's first and last batches."""
    if conn.dialect.name == "postgresql":
        sql = ("SELECT t.relname, i.relname, "
               "quote_ident(n.nspname) || '.' || quote_ident(i.relname) "
               "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
               "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = i.relnamespace "
               "WHERE pg_table_is_visible(t.oid)")
    else:
        sql = "SELECT tbl_name, name, name FROM sqlite_master WHERE type = 'index'"
    return {(str(t), str(i)): str(q) for t, i, q in conn.exec_driver_sql(sql)}


def _key(index: Index) -> tuple[str, str]:
    return index.table.name, str(index.name)  # type: ignore[union-attr]


def _blob(value: int) -> bytes:
    return value.to_bytes(32, "big")



def _is_connection_error(exc: sa_exc.DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    name = type(exc.orig).__name__
    return name in {"OperationalError", "InterfaceError", "AdminShutdown"}
