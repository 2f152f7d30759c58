"""settlement state: computed versions, their lines, batches mined and residues carried

Moves what `ledger settle` keeps off chain from JSON files into the database, so two processes
and a restored backup see the same versions. Operation ids and line values are uint256 (U256);
residues are 0..999 (1/1000 micro-euro) in BIGINT.

Revision ID: 0018_settlement_state
Revises: 0017_data_ownership
Create Date: 2026-12-02 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.db.types import U256

revision: str = "0018_settlement_state"
down_revision: str | None = "0017_data_ownership"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ["operation_id", "day", "version"]
_VERSION_KEY = [f"settle_versions.{c}" for c in _KEY]


def _key_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("operation_id", U256(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("version", sa.BigInteger(), primary_key=True),
    ]


def upgrade() -> None:
    op.create_table(
        "settle_versions",
        *_key_columns(),
        sa.Column("step_minutes", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(66), nullable=False),
        sa.Column("transfers_hash", sa.String(66), nullable=False),
        sa.Column("produced_wh", U256(), nullable=False),
        sa.Column("consumed_wh", U256(), nullable=False),
        sa.Column("allocated_wh", U256(), nullable=False),
        sa.Column("surplus_wh", U256(), nullable=False),
        sa.Column("amount", U256(), nullable=False),
        sa.Column("transfers", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("commit_tx", sa.String(66)),
    )
    op.create_table(
        "settle_lines",
        *_key_columns(),
        sa.Column("line_number", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("index", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("payer", sa.String(42), nullable=False),
        sa.Column("payee", sa.String(42), nullable=False),
        sa.Column("wh", U256(), nullable=False),
        sa.Column("value", U256(), nullable=False),
        sa.ForeignKeyConstraint(_KEY, _VERSION_KEY, ondelete="CASCADE"),
    )
    op.create_table(
        "settle_batches",
        *_key_columns(),
        sa.Column("batch", sa.BigInteger(), primary_key=True),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(_KEY, _VERSION_KEY, ondelete="CASCADE"),
    )
    op.create_table(
        "settle_residues",
        *_key_columns(),
        sa.Column("side", sa.String(6), primary_key=True),
        sa.Column("producer", sa.String(128), primary_key=True),
        sa.Column("consumer", sa.String(128), primary_key=True),
        sa.Column("residue", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(_KEY, _VERSION_KEY, ondelete="CASCADE"),
    )


def downgrade() -> None:
    for table in ("settle_residues", "settle_batches", "settle_lines", "settle_versions"):
        op.drop_table(table)
