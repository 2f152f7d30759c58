"""The database adapter: the only package importing SQLAlchemy.

`make_engine(url)` (SQLite WAL or PostgreSQL), `migrate(url)` (Alembic upgrade head),
`Store` (the indexer's transactional writes and reads), `writer_lock` (one indexer per database).
"""

from ledger.db.engine import make_engine, sqlite_path
from ledger.db.errors import DatabaseConfigError, DatabaseError, DatabaseUnavailable, WriterBusy
from ledger.db.migrate import migrate

__all__ = [
    "DatabaseConfigError",
    "DatabaseError",
    "DatabaseUnavailable",
    "WriterBusy",
    "make_engine",
    "migrate",
    "sqlite_path",
]
