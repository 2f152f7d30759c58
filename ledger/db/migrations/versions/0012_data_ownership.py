"""data ownership: the district figures frozen when first published

A step's public district figure is stored the first time it is published and served as stored
from then on (every worker, after a restart), so a late home's reading never shows as the
difference between two answers.

Revision ID: 0012_data_ownership
Revises: 0010_treasury
Create Date: 2026-12-02 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_data_ownership"
down_revision: str | None = "0010_treasury"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "energy_district_published",
        sa.Column("start_ts", sa.BigInteger(), primary_key=True),
        sa.Column("step_s", sa.Integer(), primary_key=True),
        sa.Column("figure", sa.String(12), primary_key=True),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("homes", sa.Integer(), nullable=False),
        sa.Column("published_ts", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("energy_district_published")
