"""settlement events: EnergySettlement tariffs, committed days, paid batches and shortfalls, decoded

The indexer kept EnergySettlement logs raw only; these tables hold them decoded, keyed like every
event table by (chain_id, block_number, log_index) and rolled back with them on a reorg. Amounts
and Wh totals are U256 (exact on SQLite and PostgreSQL); uint32 fields are BIGINT (PostgreSQL's
INTEGER is signed 32-bit). The upgrade decodes the EnergySettlement logs a database already holds
in `raw_logs` (topics are unique to the contract), so an existing database needs no re-indexing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import ledger.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key() -> list[sa.Column[int] | sa.Column[str]]:
    return [
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
    ]


# keccak of the event signatures, frozen here (ledger.indexer.events computes the same ones).
_T_TARIFF = "0xea33b615b8d2750a440f55c08d7730d66888007c48b013d720b9384a2f4c1994"
_T_COMMITTED = "0xe7c2590bac9619395554ae2b11c63d4aa6d71c3224b357d77c8dc9a2b30fd1e8"
_T_PAID = "0xbc9e08531142aade2e447c0874ac46619d6f98d13d51e82e994c8cfafb07c310"
_T_SHORTFALL = "0x1126f64c7b092a300fa62fab1e3092eb7d3f320be1fbbe59ef1300d909735a27"
_KEY = ("chain_id", "block_number", "log_index", "tx_hash")
_COLUMNS: dict[str, tuple[str, ...]] = {
    _T_TARIFF: (
        "operation_id",
        "schedule_id",
        "effective_from",
        "solar_price",
        "peak_price",
        "off_peak_price",
    ),
    _T_COMMITTED: (
        "operation_id",
        "day",
        "version",
        "root",
        "produced_wh",
        "consumed_wh",
        "allocated_wh",
        "surplus_wh",
        "amount",
        "transfers",
    ),
    _T_PAID: ("operation_id", "day", "version", "from_index", "to_index", "paid", "shortfall"),
    _T_SHORTFALL: ("operation_id", "day", "version", "line_index", "payer", "payee", "amount"),
}
_TABLES = {
    _T_TARIFF: "tariffs",
    _T_COMMITTED: "settlement_days",
    _T_PAID: "settlement_payments",
    _T_SHORTFALL: "settlement_shortfalls",
}
_U256 = {
    "operation_id",
    "schedule_id",
    "produced_wh",
    "consumed_wh",
    "allocated_wh",
    "surplus_wh",
    "amount",
    "paid",
    "shortfall",
}
_TEXT = {"root", "payer", "payee", "tx_hash"}


def _decode(t0: str, topics: list[str], data: str) -> list[Any]:
    """The fields of an EnergySettlement log, in _COLUMNS order (the indexer's decoder, frozen)."""
    words = [data[2 + 64 * i : 2 + 64 * (i + 1)] for i in range((len(data) - 2) // 64)]

    def n(h: str) -> int:
        return int(h, 16)

    if t0 == _T_TARIFF:
        return [n(topics[0]), n(topics[1]), *(n(w) for w in words[:4])]
    if t0 == _T_COMMITTED:
        return [n(topics[0]), n(topics[1]), n(topics[2]), "0x" + words[0], *(n(w) for w in words[1:7])]
    if t0 == _T_PAID:
        return [n(topics[0]), n(topics[1]), n(topics[2]), *(n(w) for w in words[:4])]
    return [
        n(topics[0]),
        n(topics[1]),
        n(words[0]),
        n(words[1]),
        "0x" + topics[2][26:],
        "0x" + words[2][24:],
        n(words[3]),
    ]


def _decode_stored_logs() -> None:
    raw = sa.table(
        "raw_logs", *(sa.column(c) for c in (*_KEY, "topic0", "topic1", "topic2", "topic3", "data"))
    )
    conn = op.get_bind()
    found: dict[str, list[dict[str, Any]]] = {t: [] for t in _TABLES}
    for row in conn.execute(sa.select(raw).where(raw.c.topic0.in_(list(_TABLES)))):
        t0 = str(row.topic0)
        topics = [str(t) for t in (row.topic1, row.topic2, row.topic3) if t is not None]
        fields = _decode(t0, topics, str(row.data))
        found[t0].append(
            {**{k: getattr(row, k) for k in _KEY}, **dict(zip(_COLUMNS[t0], fields, strict=True))}
        )
    for t0, rows in found.items():
        if not rows:
            continue
        columns = [
            sa.column(
                c, ledger.db.types.U256() if c in _U256 else sa.String() if c in _TEXT else sa.BigInteger()
            )
            for c in (*_KEY, *_COLUMNS[t0])
        ]
        op.bulk_insert(sa.table(_TABLES[t0], *columns), rows)


def upgrade() -> None:
    op.create_table(
        "tariffs",
        *_key(),
        sa.Column("operation_id", ledger.db.types.U256(), nullable=False),
        sa.Column("schedule_id", ledger.db.types.U256(), nullable=False),
        sa.Column("effective_from", sa.BigInteger(), nullable=False),
        sa.Column("solar_price", sa.BigInteger(), nullable=False),
        sa.Column("peak_price", sa.BigInteger(), nullable=False),
        sa.Column("off_peak_price", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    with op.batch_alter_table("tariffs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tariffs_operation_id"), ["operation_id"], unique=False)

    op.create_table(
        "settlement_days",
        *_key(),
        sa.Column("operation_id", ledger.db.types.U256(), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("produced_wh", ledger.db.types.U256(), nullable=False),
        sa.Column("consumed_wh", ledger.db.types.U256(), nullable=False),
        sa.Column("allocated_wh", ledger.db.types.U256(), nullable=False),
        sa.Column("surplus_wh", ledger.db.types.U256(), nullable=False),
        sa.Column("amount", ledger.db.types.U256(), nullable=False),
        sa.Column("transfers", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    with op.batch_alter_table("settlement_days", schema=None) as batch_op:
        batch_op.create_index(
            "ix_settlement_days_day", ["chain_id", "day", "operation_id", "version"], unique=False
        )

    op.create_table(
        "settlement_payments",
        *_key(),
        sa.Column("operation_id", ledger.db.types.U256(), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("from_index", sa.BigInteger(), nullable=False),
        sa.Column("to_index", sa.BigInteger(), nullable=False),
        sa.Column("paid", ledger.db.types.U256(), nullable=False),
        sa.Column("shortfall", ledger.db.types.U256(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    with op.batch_alter_table("settlement_payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_settlement_payments_day", ["chain_id", "day", "operation_id", "version"], unique=False
        )

    op.create_table(
        "settlement_shortfalls",
        *_key(),
        sa.Column("operation_id", ledger.db.types.U256(), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("line_index", sa.BigInteger(), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("payee", sa.String(length=42), nullable=False),
        sa.Column("amount", ledger.db.types.U256(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    with op.batch_alter_table("settlement_shortfalls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlement_shortfalls_payer"), ["payer"], unique=False)
        batch_op.create_index(batch_op.f("ix_settlement_shortfalls_payee"), ["payee"], unique=False)

    _decode_stored_logs()


def downgrade() -> None:
    with op.batch_alter_table("settlement_shortfalls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlement_shortfalls_payee"))
        batch_op.drop_index(batch_op.f("ix_settlement_shortfalls_payer"))
    op.drop_table("settlement_shortfalls")
    with op.batch_alter_table("settlement_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_payments_day")
    op.drop_table("settlement_payments")
    with op.batch_alter_table("settlement_days", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_days_day")
    op.drop_table("settlement_days")
    with op.batch_alter_table("tariffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tariffs_operation_id"))
    op.drop_table("tariffs")
