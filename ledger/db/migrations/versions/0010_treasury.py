"""treasury: bank statements and entries, top-up references, payees, payouts and payout files

Amounts are BIGINT micro-euro (exact on SQLite and PostgreSQL). Entries are keyed by the bank's
unique reference (`key`, unique); a redemption's payout row is keyed by its redemption id.

Revision ID: 0010_treasury
Revises: 0004
Create Date: 2026-12-02 01:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_treasury"
down_revision: str | None = "0009_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "treasury_statements",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("statement_id", sa.String(35), nullable=False, unique=True),
        sa.Column("message", sa.String(20), nullable=False),
        sa.Column("account_iban", sa.String(34), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("first_day", sa.Date()),
        sa.Column("last_day", sa.Date()),
        sa.Column("opening", sa.BigInteger()),
        sa.Column("closing", sa.BigInteger()),
        sa.Column("imported_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "treasury_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(120), nullable=False, unique=True),
        sa.Column("statement_id", sa.String(35), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False, index=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("credit", sa.Boolean(), nullable=False),
        sa.Column("reversal", sa.Boolean(), nullable=False),
        sa.Column("booked", sa.Boolean(), nullable=False),
        sa.Column("is_return", sa.Boolean(), nullable=False),
        sa.Column("return_reason", sa.String(35)),
        sa.Column("rf_reference", sa.String(25)),
        sa.Column("end_to_end_id", sa.String(35)),
        sa.Column("remittance", sa.Text(), nullable=False),
        sa.Column("counterparty_name", sa.String(140), nullable=False),
        sa.Column("counterparty_iban", sa.String(34), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("held_reason", sa.String(24)),
        sa.Column("account", sa.String(42)),
        sa.Column("bank_ref", sa.String(66), nullable=False),
        sa.Column("redemption_id", sa.BigInteger()),
        sa.Column("returned_entry", sa.Integer()),
        sa.Column("mint_tx", sa.String(66)),
        sa.Column("minted_on", sa.Date()),
        sa.Column("returned_on", sa.Date()),
        sa.Column("note", sa.Text()),
    )
    op.create_table(
        "treasury_account_refs",
        sa.Column("reference", sa.String(25), primary_key=True),
        sa.Column("account", sa.String(42), nullable=False, index=True),
        sa.Column("registered_by", sa.String(16), nullable=False),
        sa.Column("registered_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "treasury_payees",
        sa.Column("merchant", sa.String(42), primary_key=True),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("bic", sa.String(11)),
        sa.Column("holder", sa.String(70), nullable=False),
        sa.Column("consent_date", sa.Date(), nullable=False),
        sa.Column("entered_by", sa.String(16), nullable=False),
        sa.Column("signature", sa.Text()),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "treasury_payout_files",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("msg_id", sa.String(35), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "treasury_payouts",
        sa.Column("redemption_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("merchant", sa.String(42), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("payout_ref", sa.String(66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_day", sa.Date(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, index=True),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("treasury_payout_files.id")),
    )
    op.create_table(
        "treasury_payout_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("treasury_payout_files.id"), nullable=False),
        sa.Column("end_to_end_id", sa.String(35), nullable=False),
        sa.Column("redemption_id", sa.BigInteger()),
        sa.Column("entry_id", sa.Integer()),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("file_id", "end_to_end_id"),
    )


def downgrade() -> None:
    for table in (
        "treasury_payout_items",
        "treasury_payouts",
        "treasury_payout_files",
        "treasury_payees",
        "treasury_account_refs",
        "treasury_entries",
        "treasury_statements",
    ):
        op.drop_table(table)
