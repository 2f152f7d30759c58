"""The API's shared state in SQL (SQLite for the embedded default, PostgreSQL in production).

One `SqlApiState` per API worker process; all of them over the same database see the same
sessions, spent nonces, rate windows, payment requests and naming choices (tables in
ledger.db.api_models, migration 0007_shared_sessions). Writes are short transactions; the hot
read (a session, on every private request) is one primary-key lookup straight through the driver
(no pool checkout, no SQLAlchemy execution layer), as the API's ledger reads do: on SQLite on a
per-thread connection; on PostgreSQL (psycopg) on a few autocommit connections kept for it, so the
read is one round trip (through the pool it was three: BEGIN, the SELECT, the ROLLBACK on return,
and ten times the CPU).

Errors: any database failure becomes ledger.db.errors.DatabaseUnavailable.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from ledger.db.api_models import (
    ApiMerchantAddress,
    ApiNamedAccount,
    ApiPaymentRequest,
    ApiRateWindow,
    ApiSession,
    ApiUsedNonce,
)
from ledger.db.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine, sqlite_path
from ledger.db.errors import DatabaseUnavailable

T = TypeVar("T")
_SESSION_SQL = "SELECT address, expires_at FROM api_sessions WHERE token_hash = ? AND expires_at > ?"
_SESSION_PG_SQL = "SELECT address, expires_at FROM api_sessions WHERE token_hash = %s AND expires_at > %s"
# PostgreSQL connections this process keeps for session reads at most (more readers at once wait).
SESSION_READ_CONNECTIONS = 8


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A payment request a merchant created through the API."""

    commitment: bytes
    merchant_id: int
    reference: str
    salt: bytes
    amount: int
    created_at: int


class SqlApiState:
    """Sessions, single-use nonces, rate windows, payment requests, naming opt-ins."""

    def __init__(self, engine: Engine, *, sweep_every: int = 500) -> None:
        self.engine = engine
        self._path = sqlite_path(engine)
        # SQLite: quick local statements, run by the API on its event loop (see api.state).
        self.inline = engine.dialect.name == "sqlite"
        self._local = threading.local()
        self._counter = itertools.count(1)
        self._sweep_every = sweep_every
        self._raw: list[sqlite3.Connection] = []
        self._raw_lock = threading.Lock()
        # PostgreSQL through psycopg: idle autocommit connections for session reads (see above).
        self._pg_idle: list[Any] = []
        self._pg_slots = threading.BoundedSemaphore(SESSION_READ_CONNECTIONS)
        self._pg_closed = False
        self._pg_connect: Callable[[], Any] | None = None
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            cargs, cparams = engine.dialect.create_connect_args(engine.url)
            self._pg_connect = lambda: _psycopg().connect(*cargs, **{**cparams, "autocommit": True})

    @classmethod
    def from_url(cls, url: str) -> SqlApiState:
        return cls(make_engine(url))

    def close(self) -> None:
        with self._raw_lock:
            raw, self._raw = self._raw, []
            pg, self._pg_idle, self._pg_closed = self._pg_idle, [], True
        for conn in raw:
            conn.close()
        for conn in pg:
            conn.close()
        self.engine.dispose()

    # -- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.ProgrammingError) as exc:
            raise DatabaseUnavailable(
                f"the API's session store cannot be written right now ({type(exc.orig).__name__})"
            ) from exc

    def _read(self, run: Callable[[Connection], T]) -> T:
        try:
            with self.engine.connect() as conn:
                return run(conn)
        except (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.ProgrammingError) as exc:
            raise DatabaseUnavailable(
                f"the API's session store cannot be read right now ({type(exc.orig).__name__})"
            ) from exc

    def _sqlite(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                str(self._path),
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False,
                isolation_level=None,
            )
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._raw_lock:
                self._raw.append(conn)
        return conn

    def _pg_session(self, token_hash: str, now: int) -> Any:
        with self._pg_slots:
            return self._pg_read(token_hash, now, retry=True)

    def _pg_read(self, token_hash: str, now: int, *, retry: bool) -> Any:
        """The session row, read on an idle autocommit connection (a new one when none is idle).
        A lost connection is dropped with the others idle (a database restart loses them all)
        and the read is tried once more on a new one, so a restart costs no request."""
        psycopg = _psycopg()
        assert self._pg_connect is not None
        with self._raw_lock:
            conn = self._pg_idle.pop() if self._pg_idle else None
        try:
            if conn is None:
                conn = self._pg_connect()
            row = conn.execute(_SESSION_PG_SQL, (token_hash, now)).fetchone()
        except psycopg.Error as exc:
            if conn is not None:
                conn.close()
            if retry and isinstance(exc, psycopg.OperationalError):
                with self._raw_lock:
                    stale, self._pg_idle = self._pg_idle, []
                for old in stale:
                    old.close()
                return self._pg_read(token_hash, now, retry=False)
            raise DatabaseUnavailable(
                f"the API's session store cannot be read right now ({type(exc).__name__})"
            ) from exc
        with self._raw_lock:
            if self._pg_closed:
                conn.close()
            else:
                self._pg_idle.append(conn)
        return row

    def _sweep_due(self) -> bool:
        return next(self._counter) % self._sweep_every == 0

    def _insert(self, table: Any) -> Any:
        return (postgresql if self.engine.dialect.name == "postgresql" else sqlite).insert(table)

    # -- sessions --------------------------------------------------------------------------------

    def create_session(self, token_hash: str, address: str, expires_at: int, now: int) -> None:
        with self._write() as conn:
            conn.execute(
                self._insert(ApiSession).values(token_hash=token_hash, address=address, expires_at=expires_at)
            )
            if self._sweep_due():
                conn.execute(delete(ApiSession).where(ApiSession.expires_at <= now))

    def session(self, token_hash: str, now: int) -> tuple[str, int] | None:
        """(address, expires_at) of a live session, else None."""
        if self._path is not None:
            try:
                row = self._sqlite().execute(_SESSION_SQL, (token_hash, now)).fetchone()
            except sqlite3.Error as exc:
                raise DatabaseUnavailable(
                    f"the API's session store cannot be read right now ({type(exc).__name__})"
                ) from exc
        elif self._pg_connect is not None:
            row = self._pg_session(token_hash, now)
        else:
            row = self._read(
                lambda conn: conn.execute(
                    select(ApiSession.address, ApiSession.expires_at).where(
                        ApiSession.token_hash == token_hash, ApiSession.expires_at > now
                    )
                ).first()
            )
        return (str(row[0]), int(row[1])) if row is not None else None

    def revoke_session(self, token_hash: str) -> None:
        with self._write() as conn:
            conn.execute(delete(ApiSession).where(ApiSession.token_hash == token_hash))

    def revoke_sessions_of(self, address: str) -> None:
        """End every session of `address` (its erasure)."""
        with self._write() as conn:
            conn.execute(delete(ApiSession).where(func.lower(ApiSession.address) == address.lower()))

    # -- single-use nonces -----------------------------------------------------------------------

    def spend_nonce(self, nonce: str, expires_at: int, now: int) -> bool:
        """True the first time `nonce` is spent; False when it was spent already."""
        with self._write() as conn:
            if self._sweep_due():
                conn.execute(delete(ApiUsedNonce).where(ApiUsedNonce.expires_at <= now))
            inserted = conn.execute(
                self._insert(ApiUsedNonce)
                .values(nonce=nonce, expires_at=expires_at)
                .on_conflict_do_nothing(index_elements=["nonce"])
                .returning(ApiUsedNonce.nonce)
            ).first()
            return inserted is not None

    # -- rate windows ----------------------------------------------------------------------------

    def hit(self, key: str, window: int, keep_after: int) -> tuple[int, int]:
        """Count one request of `key` in window `window`: (count in it so far, count in the
        window before). Windows older than `keep_after` are swept now and then."""
        statement = self._insert(ApiRateWindow).values(key=key, window=window, hits=1)
        statement = statement.on_conflict_do_update(
            index_elements=["key", "window"], set_={"hits": ApiRateWindow.hits + 1}
        ).returning(ApiRateWindow.hits)
        with self._write() as conn:
            count = int(conn.execute(statement).scalar_one())
            previous = conn.execute(
                select(ApiRateWindow.hits).where(ApiRateWindow.key == key, ApiRateWindow.window == window - 1)
            ).scalar()
            if self._sweep_due():
                conn.execute(delete(ApiRateWindow).where(ApiRateWindow.window < keep_after))
        return count, int(previous or 0)

    # -- payment requests ------------------------------------------------------------------------

    def save_request(self, chain_id: int, request: StoredRequest) -> None:
        with self._write() as conn:
            conn.execute(
                self._insert(ApiPaymentRequest).values(
                    chain_id=chain_id,
                    commitment=request.commitment,
                    merchant_id=request.merchant_id,
                    reference=request.reference,
                    salt=request.salt,
                    amount=request.amount,
                    created_at=request.created_at,
                )
            )

    def requests(self, chain_id: int, commitments: Sequence[bytes]) -> dict[bytes, StoredRequest]:
        """The stored requests among `commitments`, by commitment."""
        wanted = sorted({bytes(c) for c in commitments if len(c) == 32})
        if not wanted:
            return {}

        def run(conn: Connection) -> dict[bytes, StoredRequest]:
            found: dict[bytes, StoredRequest] = {}
            for start in range(0, len(wanted), 500):
                rows = conn.execute(
                    select(
                        ApiPaymentRequest.commitment,
                        ApiPaymentRequest.merchant_id,
                        ApiPaymentRequest.reference,
                        ApiPaymentRequest.salt,
                        ApiPaymentRequest.amount,
                        ApiPaymentRequest.created_at,
                    ).where(
                        ApiPaymentRequest.chain_id == chain_id,
                        ApiPaymentRequest.commitment.in_(wanted[start : start + 500]),
                    )
                ).all()
                for r in rows:
                    found[bytes(r[0])] = StoredRequest(
                        bytes(r[0]), int(r[1]), str(r[2]), bytes(r[3]), int(r[4]), int(r[5])
                    )
            return found

        return self._read(run)

    # -- naming opt-ins --------------------------------------------------------------------------

    def set_named(self, address: str, named: bool, now: int) -> None:
        address = address.lower()
        with self._write() as conn:
            changed = conn.execute(
                update(ApiNamedAccount)
                .where(ApiNamedAccount.address == address)
                .values(named=named, updated_at=now)
            )
            if changed.rowcount == 0:
                conn.execute(
                    self._insert(ApiNamedAccount)
                    .values(address=address, named=named, updated_at=now)
                    .on_conflict_do_update(
                        index_elements=["address"], set_={"named": named, "updated_at": now}
                    )
                )

    def set_merchant_address(self, chain_id: int, merchant_id: int, street_address: str, now: int) -> None:
        with self._write() as conn:
            conn.execute(
                self._insert(ApiMerchantAddress)
                .values(
                    chain_id=chain_id, merchant_id=merchant_id, street_address=street_address, updated_at=now
                )
                .on_conflict_do_update(
                    index_elements=["chain_id", "merchant_id"],
                    set_={"street_address": street_address, "updated_at": now},
                )
            )

    def merchant_addresses(self, chain_id: int) -> dict[int, str]:
        def run(conn: Connection) -> dict[int, str]:
            rows = conn.execute(
                select(ApiMerchantAddress.merchant_id, ApiMerchantAddress.street_address).where(
                    ApiMerchantAddress.chain_id == chain_id
                )
            ).all()
            return {int(r[0]): str(r[1]) for r in rows}

        return self._read(run)

    def named(self, addresses: Sequence[str]) -> set[str]:
        """Those of `addresses` (lowercase) whose owner chose to be named."""
        wanted = sorted({a.lower() for a in addresses})
        if not wanted:
            return set()

        def run(conn: Connection) -> set[str]:
            out: set[str] = set()
            for start in range(0, len(wanted), 500):
                out.update(
                    str(a)
                    for a in conn.execute(
                        select(ApiNamedAccount.address).where(
                            ApiNamedAccount.address.in_(wanted[start : start + 500]),
                            ApiNamedAccount.named.is_(True),
                        )
                    ).scalars()
                )
            return out

        return self._read(run)


def _psycopg() -> Any:
    import psycopg  # the PostgreSQL driver, present only where PostgreSQL is used

    return psycopg
