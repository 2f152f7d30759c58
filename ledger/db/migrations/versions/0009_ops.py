"""indexer chain identity: the genesis hash the index belongs to and the highest head ever seen

`indexer_chain` keeps, per chain id, the hash of block 0 the index was built from (a node serving
another genesis is refused before anything is read or deleted) and the highest head any node ever
reported (finality is measured from it, so a node that comes back lower cannot make final blocks
look reorganisable).

Revision ID: 0009_ops
Revises: 0004
Create Date: 2026-12-02 01:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_ops"
down_revision: str | None = "0007_shared_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indexer_chain",
        sa.Column("chain_id", sa.Integer(), primary_key=True),
        sa.Column("genesis_hash", sa.String(66), nullable=False),
        sa.Column("highest_head", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("indexer_chain")
