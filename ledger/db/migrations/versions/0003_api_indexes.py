"""api indexes: an account's transfers in (block, log index) order, for the history endpoint

The API reads an account's history as two index range scans, newest first:
`WHERE chain_id = ? AND from_address = ? ORDER BY block_number DESC, log_index DESC LIMIT n`
(and the same on to_address). With only the single-column address indexes, SQLite preferred the
primary key (a scan of the whole chain) and sorted; these composite indexes make each page a
bounded seek whatever the table size. They replace the single-column address indexes of 0001,
which served nothing else: keeping both made the indexer's inserts about 40 % slower.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 17:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_from_address")
        batch_op.drop_index("ix_transfers_to_address")
        batch_op.create_index(
            "ix_transfers_from_history", ["chain_id", "from_address", "block_number", "log_index"]
        )
        batch_op.create_index(
            "ix_transfers_to_history", ["chain_id", "to_address", "block_number", "log_index"]
        )


def downgrade() -> None:
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_transfers_to_history")
        batch_op.drop_index("ix_transfers_from_history")
        batch_op.create_index("ix_transfers_from_address", ["from_address"])
        batch_op.create_index("ix_transfers_to_address", ["to_address"])
