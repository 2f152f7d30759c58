"""commons fund: the CommonsFund's inflows, outflows and programmes, decoded

One table keyed like every event table by (chain_id, block_number, log_index) and rolled back
with them on a reorg. `kind` is inflow, outflow, opened or changed; amounts and budgets are U256
(exact on SQLite and PostgreSQL); `month` is year * 12 + month - 1 in UTC, the contract's rule.
A database indexed before the fund existed holds no fund logs: nothing to decode here.

Revision ID: 0015_commons_fund
Revises: 0014_powers_events
Create Date: 2026-12-02 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.db.types

revision: str = "0015_commons_fund"
down_revision: str | None = "0014_powers_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fund_events",
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("programme_id", sa.BigInteger(), nullable=True),
        sa.Column("month", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("account", sa.String(length=42), nullable=True),
        sa.Column("amount", ledger.db.types.U256(), nullable=True),
        sa.Column("monthly_budget", ledger.db.types.U256(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("ref", sa.String(length=66), nullable=True),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    with op.batch_alter_table("fund_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fund_events_programme_month", ["chain_id", "programme_id", "month"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fund_events", schema=None) as batch_op:
        batch_op.drop_index("ix_fund_events_programme_month")
    op.drop_table("fund_events")
