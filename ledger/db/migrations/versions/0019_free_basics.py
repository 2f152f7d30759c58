"""free basics: what the commons fund covered of shared services' payments, and free tiers

One table keyed like every event table by (chain_id, block_number, log_index) and rolled back
with them on a reorg. `kind` is covered (payer, ref or booking, month, amount the fund paid) or
tier (amount per use, uses per month). A database indexed before free tiers existed holds no
such logs: nothing to decode here.

Revision ID: 0019_free_basics
Revises: 0018_settlement_state
Create Date: 2026-12-02 05:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.db.types

revision: str = "0019_free_basics"
down_revision: str | None = "0018_settlement_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "free_basics_events",
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=True),
        sa.Column("ref", sa.String(length=66), nullable=True),
        sa.Column("booking_id", sa.BigInteger(), nullable=True),
        sa.Column("month", sa.BigInteger(), nullable=True),
        sa.Column("amount", ledger.db.types.U256(), nullable=False),
        sa.Column("uses_per_month", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    with op.batch_alter_table("free_basics_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_free_basics_events_merchant_month", ["chain_id", "merchant_id", "month"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("free_basics_events", schema=None) as batch_op:
        batch_op.drop_index("ix_free_basics_events_merchant_month")
    op.drop_table("free_basics_events")
