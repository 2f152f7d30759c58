"""settlement residues digest: an altered residue row is refused on reading

The residues carried from day to day are not leaves of a version's Merkle root, so the root
check did not cover them. Each version row now keeps a digest of its residues; versions stored
before this migration get the digest of the residues they hold now.

Revision ID: 0020_settlement_residues_hash
Revises: 0019_free_basics
Create Date: 2026-12-02 06:00:00.000000
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_settlement_residues_hash"
down_revision: str | None = "0019_free_basics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _digest(held: dict[str, dict[tuple[str, str], int]]) -> str:
    # The same digest as `ledger.db.settlement_store.residues_digest`, frozen here so that this
    # migration keeps its meaning whatever the store becomes.
    rows = sorted((side, p, c, r) for side, residues in held.items() for (p, c), r in residues.items())
    return "0x" + hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy): on SQLite a copied settle_versions would be dropped, and
    # the drop would cascade to the lines, batches and residues of every version.
    op.add_column("settle_versions", sa.Column("residues_hash", sa.String(66), nullable=True))
    conn = op.get_bind()
    versions = conn.execute(sa.text("SELECT operation_id, day, version FROM settle_versions")).all()
    for operation_id, day, version in versions:
        key = {"o": operation_id, "d": day, "v": version}
        held: dict[str, dict[tuple[str, str], int]] = {"before": {}, "after": {}}
        for side, producer, consumer, residue in conn.execute(
            sa.text(
                "SELECT side, producer, consumer, residue FROM settle_residues "
                "WHERE operation_id = :o AND day = :d AND version = :v"
            ),
            key,
        ):
            held[side][(producer, consumer)] = int(residue)
        conn.execute(
            sa.text(
                "UPDATE settle_versions SET residues_hash = :h "
                "WHERE operation_id = :o AND day = :d AND version = :v"
            ),
            {**key, "h": _digest(held)},
        )
    # The column stays nullable in the schema for the same reason; the store reads a NULL digest
    # as an altered version.


def downgrade() -> None:
    op.drop_column("settle_versions", "residues_hash")
