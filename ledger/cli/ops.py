"""`ledger backup` and `ledger restore`: a copy of the ledger database, and back.

SQLite: the online backup API (consistent while the indexer writes). PostgreSQL: pg_dump and
pg_restore in custom format (the client tools must be installed). A restore goes only into an
empty database; then `ledger index` resumes from the restored cursor and `ledger reconcile`
checks it against the chain. Exit codes: 0 done, 1 refused or failed (the message says why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DbOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (env LEDGER_DATABASE_URL; default "
                 "sqlite file .state/ledger.db)"),
]


def _db_url(database_url: str | None) -> str:
    from ledger.settings import LedgerSettings

    if database_url:
        return database_url
    return LedgerSettings().db_url


def backup(
    target: Annotated[Path, typer.Argument(help="the backup file to write (must not exist)")],
    database_url: DbOpt = None,
) -> None:
    """Back up the ledger database into TARGET (0600)."""
    from ledger.db.backup import backup as run_backup

    kind = run_backup(_db_url(database_url), target)
    typer.echo(f"backed up the {kind} database into {target}")


def restore(
    source: Annotated[Path, typer.Argument(help="a file written by `ledger backup`")],
    database_url: DbOpt = None,
) -> None:
    """Restore SOURCE into an empty database, then run `ledger index` to resume."""
    from ledger.db.backup import restore as run_restore

    kind = run_restore(source, _db_url(database_url))
    typer.echo(f"restored the {kind} backup {source}; now run `ledger index` (it resumes from the "
               "restored cursor) and `ledger reconcile`")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
