"""Merchant street addresses for the directory (off chain: the registry holds none)

Revision ID: 0016_merchant_addresses
Revises: 0015_commons_fund
Create Date: 2026-12-02 05:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_merchant_addresses"
down_revision: str | None = "0015_commons_fund"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_merchant_addresses",
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("street_address", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "merchant_id"),
    )


def downgrade() -> None:
    op.drop_table("api_merchant_addresses")
