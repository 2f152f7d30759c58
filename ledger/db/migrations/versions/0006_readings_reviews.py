"""readings: review resolutions, settle-on-gateway flag, half-Wh carries, register samples

- energy_reading_reviews gains its resolution: which value was kept (`stored`, `proposed` or
  `value`), the value, when and by whom (an open review has none and keeps its day open);
- energy_operations gains `settle_on_gateway` (false: only distributor data settle a day);
- energy_half_wh_carries: the half Wh an odd average power (W over 30 minutes) leaves at the end
  of a run of half-hours, carried to the next half-hour of the same meter when it arrives;
- energy_register_samples: cumulative register indexes as received (rollover and meter
  replacement are resolved against the previous sample of the same meter);
- the facts `ledger operation check` verifies: energy_operation_rules (perimeter, power cap),
  energy_meter_sites (coordinates in micro-degrees, installed power), energy_supply_contracts;
- membership over time (energy_memberships: periods of local days, never deleted) and the
  members' signed consents (energy_consents).

Revision ID: 0006_readings_reviews
Revises: 0004
Create Date: 2026-12-02 01:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_readings_reviews"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("energy_reading_reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("resolved_value", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("resolved_ts", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_energy_reading_reviews_status", ["status", "start_ts"], unique=False)
    with op.batch_alter_table("energy_operations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("settle_on_gateway", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "energy_half_wh_carries",
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("version", sa.String(length=10), nullable=False),
        sa.Column("at_ts", sa.BigInteger(), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["meter_id"], ["energy_meters.meter_id"]),
        sa.PrimaryKeyConstraint("source", "meter_id", "direction", "version", "at_ts"),
    )
    op.create_table(
        "energy_register_samples",
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("at_ts", sa.BigInteger(), nullable=False),
        sa.Column("register_index", sa.BigInteger(), nullable=False),
        sa.Column("serial", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=8), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["meter_id"], ["energy_meters.meter_id"]),
        sa.PrimaryKeyConstraint("source", "meter_id", "direction", "at_ts", "serial"),
    )


    op.create_table(
        "energy_operation_rules",
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("perimeter_m", sa.Integer(), nullable=False),
        sa.Column("power_cap_w", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["energy_operations.operation_id"]),
        sa.PrimaryKeyConstraint("operation_id"),
    )
    op.create_table(
        "energy_meter_sites",
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("lat_e6", sa.Integer(), nullable=False),
        sa.Column("lon_e6", sa.Integer(), nullable=False),
        sa.Column("installed_w", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["meter_id"], ["energy_meters.meter_id"]),
        sa.PrimaryKeyConstraint("meter_id"),
    )
    op.create_table(
        "energy_supply_contracts",
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("supplier", sa.Text(), nullable=False),
        sa.Column("contract_ref", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["energy_operations.operation_id"]),
        sa.PrimaryKeyConstraint("operation_id", "wallet"),
    )
    op.create_table(
        "energy_memberships",
        sa.Column("membership_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("share", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("start_day", sa.String(length=10), nullable=False),
        sa.Column("end_day", sa.String(length=10), nullable=True),
        sa.Column("recorded_ts", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["energy_operations.operation_id"]),
        sa.PrimaryKeyConstraint("membership_id"),
    )
    op.create_index("ix_energy_memberships_operation", "energy_memberships", ["operation_id"])
    op.create_table(
        "energy_consents",
        sa.Column("consent_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column("recorded_ts", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["energy_operations.operation_id"]),
        sa.PrimaryKeyConstraint("consent_id"),
    )


def downgrade() -> None:
    op.drop_table("energy_consents")
    op.drop_index("ix_energy_memberships_operation", table_name="energy_memberships")
    op.drop_table("energy_memberships")
    op.drop_table("energy_supply_contracts")
    op.drop_table("energy_meter_sites")
    op.drop_table("energy_operation_rules")
    op.drop_table("energy_register_samples")
    op.drop_table("energy_half_wh_carries")
    with op.batch_alter_table("energy_operations", schema=None) as batch_op:
        batch_op.drop_column("settle_on_gateway")
    with op.batch_alter_table("energy_reading_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_energy_reading_reviews_status")
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolved_ts")
        batch_op.drop_column("resolved_value")
        batch_op.drop_column("resolution")
