"""One writer per database: a file lock next to a SQLite file, an advisory lock on PostgreSQL.

PostgreSQL's session advisory lock lives as long as the connection that took it: when that
connection drops (a restart, `pg_terminate_backend`, a network cut), the lock is gone and a second
indexer may take it. So the lock is re-checked inside every write transaction (`WriterLock.guard`,
installed as the store's `write_guard`): the transaction first takes a transaction-level advisory
lock on a second key, which serialises the writes of any two processes, then checks that its own
session still holds the writer lock. A writer that lost it takes it again when nobody else did,
and otherwise stops with WriterLockLost before writing anything: two writers never interleave.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import filelock
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ledger.db.engine import sqlite_path
from ledger.db.errors import WriterBusy, WriterLockLost

_PG_LOCK_NAMESPACE = 69003

_HELD = text(
    "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns "
    "AND objid = :k AND objsubid = 2 AND pid = :pid AND granted"
)


def _pg_key(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


class WriterLock:
    """The held writer lock; `guard(conn)` re-checks it inside a write transaction."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.key = _pg_key(name)
        self.write_key = _pg_key(f"{name}:write")
        self.conn: Connection | None = None
        self.pid = 0
        self.retaken = 0

    def _try_take(self) -> bool:
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :k)"), {"ns": _PG_LOCK_NAMESPACE, "k": self.key}
            ).scalar_one())
            pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self.conn, self.pid = conn, pid
        return True

    def guard(self, conn: Connection) -> None:
        """Inside a write transaction: serialise with other writers, then prove the lock is
        still ours (take it again if it was dropped and is free); else raise WriterLockLost."""
        conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :k)"),
                     {"ns": _PG_LOCK_NAMESPACE, "k": self.write_key})
        held = conn.execute(
            _HELD, {"ns": _PG_LOCK_NAMESPACE, "k": self.key, "pid": self.pid}
        ).scalar_one()
        if held:
            return
        self._release_connection()
        if self._try_take():
            self.retaken += 1
            return
        raise WriterLockLost(
            "this indexer lost its PostgreSQL writer lock (its database connection dropped) and "
            "another `ledger index` holds it now; nothing more was written by this one. Keep "
            "one indexer per database: stop the other one, or let it continue and stop this one"
        )

    def _release_connection(self) -> None:
        if self.conn is None:
            return
        with suppress(Exception):  # the session may be gone: so is its lock
            self.conn.execute(text("SELECT pg_advisory_unlock(:ns, :k)"),
                              {"ns": _PG_LOCK_NAMESPACE, "k": self.key})
            self.conn.commit()
        with suppress(Exception):
            self.conn.close()
        self.conn = None


@contextmanager
def writer_lock(
    engine: Engine, name: str = "ledger-indexer", *, wait: bool = False, poll: float = 0.5
) -> Iterator[WriterLock | None]:
    """Hold the single-writer lock for `engine`'s database while the block runs.

    Raises WriterBusy at once when another writer holds it, or waits when `wait` is true. Yields
    the PostgreSQL lock (whose `guard` the store must call in each write transaction), or None on
    SQLite, where the file lock cannot be lost while the process lives.
    """
    path = sqlite_path(engine)
    if engine.dialect.name == "sqlite":
        if path is None:  # in-memory: private to this process
            yield None
            return
        lock_path = f"{path}.lock"
        lock = filelock.FileLock(lock_path)
        try:
            lock.acquire(timeout=-1 if wait else 0)
        except filelock.Timeout:
            raise WriterBusy(
                f"another `ledger index` is already writing to {path} (lock {lock_path}); "
                "stop it first, or start this one with --wait"
            ) from None
        try:
            yield None
        finally:
            lock.release()
        return
    held = WriterLock(engine, name)
    while not held._try_take():
        if not wait:
            raise WriterBusy(
                "another `ledger index` is already writing to this PostgreSQL database "
                "(advisory lock held); stop it first, or start this one with --wait"
            )
        time.sleep(poll)
    try:
        yield held
    finally:
        held._release_connection()
