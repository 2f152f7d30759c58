"""One writer per database: a file lock next to a SQLite file, an advisory lock on PostgreSQL."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import filelock
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ledger.db.engine import sqlite_path
from ledger.db.errors import WriterBusy

_PG_LOCK_NAMESPACE = 69003


def _pg_key(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


@contextmanager
def writer_lock(
    engine: Engine, name: str = "ledger-indexer", *, wait: bool = False, poll: float = 0.5
) -> Iterator[None]:
    """Hold the single-writer lock for `engine`'s database while the block runs.

    Raises WriterBusy at once when another writer holds it, or waits when `wait` is true.
    """
    path = sqlite_path(engine)
    if engine.dialect.name == "sqlite":
        if path is None:  # in-memory: private to this process
            yield
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
            yield
        finally:
            lock.release()
        return
    key = _pg_key(name)
    conn = engine.connect()
    try:
        conn.commit()
        while True:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :k)"), {"ns": _PG_LOCK_NAMESPACE, "k": key}
            ).scalar_one()
            conn.commit()
            if got:
                break
            if not wait:
                raise WriterBusy(
                    "another `ledger index` is already writing to this PostgreSQL database "
                    "(advisory lock held); stop it first, or start this one with --wait"
                )
            time.sleep(poll)
        try:
            yield
        finally:
            try:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :k)"), {"ns": _PG_LOCK_NAMESPACE, "k": key}
                )
                conn.commit()
            except Exception:  # noqa: S110 - the session is gone: so is its lock
                pass
    finally:
        conn.close()
