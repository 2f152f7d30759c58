"""API shared state: sessions, spent sign-in nonces, rate windows, payment requests, naming opt-ins

The HTTP API kept these in one process's memory, so it could not run more than one worker. In the
database, every worker of `ledger serve --workers N` sees the same sessions and limits (see
ledger.db.api_models). Sessions keep only the sha256 of the token; payment requests keep the
reference, salt and commitment of the requests merchants create through the API.

Revision ID: 0007_shared_sessions
Revises: 0004
Create Date: 2026-12-02 01:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.db.types

revision: str = "0007_shared_sessions"
down_revision: str | None = "0006_readings_reviews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_api_sessions_expires", "api_sessions", ["expires_at"])
    op.create_table(
        "api_used_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_index("ix_api_used_nonces_expires", "api_used_nonces", ["expires_at"])
    op.create_table(
        "api_rate_windows",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window"),
    )
    op.create_table(
        "api_payment_requests",
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("commitment", sa.LargeBinary(length=32), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("amount", ledger.db.types.U256(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "commitment"),
    )
    op.create_index("ix_api_payment_requests_merchant", "api_payment_requests", ["chain_id", "merchant_id"])
    op.create_table(
        "api_named_accounts",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("named", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("address"),
    )


def downgrade() -> None:
    op.drop_table("api_named_accounts")
    op.drop_index("ix_api_payment_requests_merchant", table_name="api_payment_requests")
    op.drop_table("api_payment_requests")
    op.drop_table("api_rate_windows")
    op.drop_index("ix_api_used_nonces_expires", table_name="api_used_nonces")
    op.drop_table("api_used_nonces")
    op.drop_index("ix_api_sessions_expires", table_name="api_sessions")
    op.drop_table("api_sessions")
