"""Backups of a ledger database: SQLite through its online backup API (a consistent copy while
the indexer writes), PostgreSQL through pg_dump / pg_restore (custom format).

Files are written 0600, atomically (a temporary file renamed). A restore goes only into an empty
database: it never overwrites an index. The password of a PostgreSQL URL goes to the tools in
their environment (PGPASSWORD), never on their command line.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url

from ledger.db.engine import make_engine, sqlite_path
from ledger.db.errors import DatabaseError

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


class BackupError(DatabaseError):
    """A backup or a restore could not be made; the message says what to do."""


def _private_tmp(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.unlink(missing_ok=True)
    tmp.touch(mode=0o600)
    os.chmod(tmp, 0o600)
    return tmp


def _pg_env(engine: Engine) -> dict[str, str]:
    url = engine.url
    env = dict(os.environ)
    for key, value in (("PGHOST", url.host), ("PGPORT", url.port), ("PGUSER", url.username),
                       ("PGDATABASE", url.database), ("PGPASSWORD", url.password)):
        if value is not None:
            env[key] = str(value)
    return env


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise BackupError(f"{name} is not installed: install the PostgreSQL client tools "
                          "(Debian: postgresql-client) of the server's major version")
    return tool


def backup(database_url: str, target: Path) -> str:
    """Write a backup of `database_url` to `target`; returns its kind ("sqlite" or "postgresql")."""
    if target.exists():
        raise BackupError(f"{target} exists already: choose a new file name (a backup never "
                          "overwrites another)")
    engine = make_engine(database_url)
    try:
        tmp = _private_tmp(target)
        try:
            if engine.dialect.name == "sqlite":
                source = sqlite_path(engine)
                if source is None or not source.exists():
                    raise BackupError(f"no SQLite database at {database_url}: nothing to back up")
                with sqlite3.connect(source) as src, sqlite3.connect(tmp) as dst:
                    src.backup(dst)
                dst.close()
                src.close()
                kind = "sqlite"
            else:
                done = subprocess.run(
                    [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(tmp)],
                    env=_pg_env(engine), capture_output=True, text=True, timeout=3600,
                )
                if done.returncode != 0:
                    raise BackupError(f"pg_dump failed: {done.stderr.strip()[:500]}")
                kind = "postgresql"
            os.replace(tmp, target)
            return kind
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        engine.dispose()


def _is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


def restore(source: Path, database_url: str) -> str:
    """Restore the backup `source` into the empty database `database_url`; returns its kind."""
    try:
        head = source.read_bytes()[:16]
    except FileNotFoundError:
        raise BackupError(f"no backup at {source}") from None
    engine = make_engine(database_url)
    try:
        if head.startswith(SQLITE_MAGIC):
            if engine.dialect.name != "sqlite":
                raise BackupError("this is a SQLite backup: restore it into a sqlite:/// URL")
            target = sqlite_path(engine)
            if target is None:
                raise BackupError("restore a SQLite backup into a file (sqlite:///path/ledger.db)")
            if target.exists() and target.stat().st_size > 0 and not _is_empty(engine):
                raise BackupError(f"{target} already holds tables: restore into a new file "
                                  "(nothing was changed)")
            engine.dispose()
            tmp = _private_tmp(target)
            try:
                with sqlite3.connect(source) as src, sqlite3.connect(tmp) as dst:
                    src.backup(dst)
                dst.close()
                src.close()
                for suffix in ("-wal", "-shm"):
                    Path(f"{target}{suffix}").unlink(missing_ok=True)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            return "sqlite"
        if head.startswith(PG_MAGIC):
            if engine.dialect.name != "postgresql":
                raise BackupError("this is a PostgreSQL backup (pg_dump): restore it into a "
                                  "postgresql+psycopg:// URL")
            if not _is_empty(engine):
                name = make_url(database_url).database
                raise BackupError(f"the database {name} already holds tables: restore into a new, "
                                  "empty database (createdb NAME); nothing was changed")
            done = subprocess.run(
                [_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction",
                 "--dbname", str(make_url(database_url).database), str(source)],
                env=_pg_env(engine), capture_output=True, text=True, timeout=3600,
            )
            if done.returncode != 0:
                raise BackupError(f"pg_restore failed (nothing was kept): {done.stderr.strip()[:500]}")
            return "postgresql"
        raise BackupError(f"{source} is neither a SQLite backup nor a pg_dump custom-format file")
    finally:
        engine.dispose()
