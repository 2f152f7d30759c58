"""indexer node limits: the eth_getLogs range cap learned from a node, kept across restarts

`indexer_node_limits` keeps, per chain id and node (the SHA-256 of its URL, which may carry a
provider's key), the block span the node stated or was found to refuse, the largest span it
served, and the number of logs per answer it accepts. Without it every restart learned the cap
again from refusals.

Revision ID: 0013_node_limits
Revises: 0010_treasury
Create Date: 2026-12-02 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_node_limits"
down_revision: str | None = "0010_treasury"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indexer_node_limits",
        sa.Column("chain_id", sa.Integer(), primary_key=True),
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("max_span", sa.BigInteger()),
        sa.Column("refused_span", sa.BigInteger()),
        sa.Column("served_span", sa.BigInteger(), nullable=False),
        sa.Column("target_logs", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("indexer_node_limits")
