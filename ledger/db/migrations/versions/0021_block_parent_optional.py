"""blocks.parent_hash optional: a final block known from its logs alone

Nodes that put `blockTimestamp` in every log (Hardhat 3 and anvil do) give the indexer
each final block's number, hash and time with its logs, so the backfill no longer reads those
blocks' headers; their parent hash is then unknown (NULL). Nothing reads it: reorg checks
compare block hashes. Blocks above finality still come from their headers, parent included.

Revision ID: 0021_block_parent_optional
Revises: 0020_settlement_residues_hash
Create Date: 2026-12-02 06:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_block_parent_optional"
down_revision: str | None = "0020_settlement_residues_hash"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.alter_column("parent_hash", existing_type=sa.String(length=66), nullable=True)


def downgrade() -> None:
    # The older schema needs a value: an empty string says "unknown" without inventing a hash.
    op.execute("UPDATE blocks SET parent_hash = '' WHERE parent_hash IS NULL")
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.alter_column("parent_hash", existing_type=sa.String(length=66), nullable=False)
