"""Engine factory: SQLite (embedded default, WAL) or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url

from ledger.db.errors import DatabaseConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`.

    SQLite at a file path: WAL journal, synchronous=NORMAL (durable at each checkpoint, never
    corrupt), a busy timeout, and real transactions (BEGIN issued by SQLAlchemy, so a batch and
    its cursor commit together or not at all). PostgreSQL: `postgresql+psycopg://...`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        _sqlite_transactions(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, echo=echo, pool_pre_ping=True)
    raise DatabaseConfigError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path/to/ledger.db or postgresql+psycopg://user@host/db"
    )


def display_url(url: str) -> str:
    """The URL with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(engine: Engine) -> Path | None:
    """The database file of a SQLite engine (None for PostgreSQL or in-memory)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    query = {k: [v] if isinstance(v, str) else list(v) for k, v in engine.url.query.items()}
    if database and database.startswith("file:") and "true" in query.get("uri", []):
        # An SQLite URI (`sqlite:///file:path?uri=true`) names the same file as its plain
        # spelling: the locks kept next to the file must be the same for both.
        uri = urlsplit(database)
        query |= parse_qs(uri.query)
        if "memory" in query.get("mode", []) or uri.path in ("", ":memory:"):
            return None
        database = unquote(uri.path)
    if not database or database == ":memory:":
        return None
    return Path(database).resolve()


def _sqlite_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy drive BEGIN/COMMIT itself (pysqlite's legacy mode would not open a
        # transaction before a SELECT or DDL).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: index inserts stay in memory
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
