"""Errors of the database adapter.

DatabaseError (ledger.errors.LedgerError)
├── DatabaseConfigError    the URL is not one we support
├── DatabaseUnavailable    the database went away or refused a write (nothing half-written)
└── WriterBusy             another indexer holds the single-writer lock
    └── WriterLockLost     this indexer's lock dropped with its connection and another took it
"""

from __future__ import annotations

from ledger.errors import LedgerError


class DatabaseError(LedgerError):
    """Root of the database adapter's errors."""


class DatabaseConfigError(DatabaseError):
    """The database URL is not supported."""


class DatabaseUnavailable(DatabaseError):
    """The database went away or refused the request; a write's transaction was rolled back."""


class WriterBusy(DatabaseError):
    """Another indexer is writing to this database."""


class WriterLockLost(WriterBusy):
    """The writer lock of this process was lost and another writer holds it now."""
