"""The treasury's tables (migration 0010_treasury). Amounts are BIGINT micro-euro: exact on
SQLite (INTEGER affinity, 64-bit) and PostgreSQL, enough for 9.2 million million euros."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db.models import Base


class TreasuryStatement(Base):
    """One imported statement (camt.053 Stmt) or notification (camt.054 Ntfctn)."""

    __tablename__ = "treasury_statements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    statement_id: Mapped[str] = mapped_column(String(35), unique=True)
    message: Mapped[str] = mapped_column(String(20))
    account_iban: Mapped[str] = mapped_column(String(34))
    digest: Mapped[str] = mapped_column(String(64))  # of what the ledger read from it
    file_sha256: Mapped[str] = mapped_column(String(64))
    first_day: Mapped[date | None] = mapped_column(Date)
    last_day: Mapped[date | None] = mapped_column(Date)
    opening: Mapped[int | None] = mapped_column(BigInteger)
    closing: Mapped[int | None] = mapped_column(BigInteger)
    imported_at: Mapped[str] = mapped_column(String(32))


class TreasuryEntry(Base):
    """One booked movement, keyed by the bank's unique reference. `id` is what review shows."""

    __tablename__ = "treasury_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    statement_id: Mapped[str] = mapped_column(String(35))
    booking_date: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    credit: Mapped[bool] = mapped_column(Boolean)
    reversal: Mapped[bool] = mapped_column(Boolean)
    booked: Mapped[bool] = mapped_column(Boolean)
    is_return: Mapped[bool] = mapped_column(Boolean)
    return_reason: Mapped[str | None] = mapped_column(String(35))
    rf_reference: Mapped[str | None] = mapped_column(String(25))
    end_to_end_id: Mapped[str | None] = mapped_column(String(35))
    remittance: Mapped[str] = mapped_column(Text)
    counterparty_name: Mapped[str] = mapped_column(String(140))
    counterparty_iban: Mapped[str] = mapped_column(String(34))
    # what the ledger made of it: a domain Kind, and for credits a status
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    held_reason: Mapped[str | None] = mapped_column(String(24))
    account: Mapped[str | None] = mapped_column(String(42))
    bank_ref: Mapped[str] = mapped_column(String(66))
    redemption_id: Mapped[int | None] = mapped_column(BigInteger)
    returned_entry: Mapped[int | None] = mapped_column(Integer)
    mint_tx: Mapped[str | None] = mapped_column(String(66))
    minted_on: Mapped[date | None] = mapped_column(Date)
    returned_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class TreasuryAccountRef(Base):
    """A top-up reference registered to an account (by the resident signed in, or the operator)."""

    __tablename__ = "treasury_account_refs"
    reference: Mapped[str] = mapped_column(String(25), primary_key=True)
    account: Mapped[str] = mapped_column(String(42), index=True)
    registered_by: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[str] = mapped_column(String(32))


class TreasuryPayee(Base):
    """Where a merchant's redemptions are paid: off chain, entered by the merchant or the operator."""

    __tablename__ = "treasury_payees"
    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    iban: Mapped[str] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    holder: Mapped[str] = mapped_column(String(70))
    consent_date: Mapped[date] = mapped_column(Date)
    entered_by: Mapped[str] = mapped_column(String(16))  # "merchant" (signed) or "operator"
    signature: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[str] = mapped_column(String(32))


class TreasuryPayout(Base):
    """A redemption (DistrictToken.Redeemed) and its euro payout."""

    __tablename__ = "treasury_payouts"
    redemption_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    merchant: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(BigInteger)  # euros owed, micro-euro
    fee: Mapped[int] = mapped_column(BigInteger)
    payout_ref: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_day: Mapped[date] = mapped_column(Date)
    tx_hash: Mapped[str] = mapped_column(String(66))
    status: Mapped[str] = mapped_column(String(12), index=True)  # open, in-file, paid
    file_id: Mapped[int | None] = mapped_column(ForeignKey("treasury_payout_files.id"))


class TreasuryPayoutFile(Base):
    """A pain.001 file, kept whole: writing it again gives the same bytes, never a second file."""

    __tablename__ = "treasury_payout_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    msg_id: Mapped[str] = mapped_column(String(35), unique=True)
    created_at: Mapped[str] = mapped_column(String(32))
    xml: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(BigInteger)


class TreasuryPayoutItem(Base):
    """One transfer of a payout file: a redemption (`M3E-R<id>`) or a held credit sent back."""

    __tablename__ = "treasury_payout_items"
    __table_args__ = (UniqueConstraint("file_id", "end_to_end_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("treasury_payout_files.id"))
    end_to_end_id: Mapped[str] = mapped_column(String(35))
    redemption_id: Mapped[int | None] = mapped_column(BigInteger)
    entry_id: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
