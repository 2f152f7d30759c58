"""data ownership: residents' consents per purpose; the district figures frozen when published

`resident_consents` holds each resident's current choice per purpose (whether their readings
count in the district aggregates; whether they are shared with a named third party).

A step's public district figure is stored the first time it is published and served as stored
from then on (every worker, after a restart), so a late home's reading never shows as the
difference between two answers.

Revision ID: 0017_data_ownership
Revises: 0016_merchant_addresses
Create Date: 2026-12-02 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_data_ownership"
down_revision: str | None = "0016_merchant_addresses"
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


    op.create_table(
        "resident_consents",
        sa.Column("account", sa.String(42), primary_key=True),
        sa.Column("purpose", sa.String(32), primary_key=True),
        sa.Column("party", sa.String(32), primary_key=True),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("changed_ts", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resident_consents")
    op.drop_table("energy_district_published")
