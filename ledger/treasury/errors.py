"""Errors of the treasury (euros in and out of the operator's bank account).

TreasuryError (ledger.errors.LedgerError)
├── StatementError       a bank statement that is unreadable, invalid or conflicts with one imported
├── PayoutError          a payout file cannot be made (no IBAN, an invalid file)
└── ReviewError          a review action that does not apply to this entry (assign a minted credit...)

Bad input is refused whole: nothing of a refused statement is stored.
"""

from __future__ import annotations

from ledger.errors import InputError, LedgerError


class TreasuryError(LedgerError):
    """Root of the treasury's errors."""


class StatementError(TreasuryError, InputError):
    """The statement cannot be imported; the message says why and what to do."""


class PayoutError(TreasuryError):
    """A payout file cannot be made; the message says what is missing."""


class ReviewError(TreasuryError, InputError):
    """A review action that does not apply."""
