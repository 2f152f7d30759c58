"""powers events: signed-payment authorizations used or cancelled, freezes, minter allowances,
requested and cancelled payout changes, and a successor's carried-over reserve, decoded

The indexer kept these logs raw only; these tables hold them decoded, keyed like every event
table by (chain_id, block_number, log_index) and rolled back with them on a reorg. Allowances are
U256 (exact on SQLite and PostgreSQL). The upgrade decodes the matching logs a database already
holds in `raw_logs` (their topics are emitted by the district token, or for payout changes by
the payments contract, only), so an existing database needs no re-indexing.

Revision ID: 0014_powers_events
Revises: 0013_node_limits
Create Date: 2026-12-02 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import ledger.db.types

revision: str = "0014_powers_events"
down_revision: str | None = "0013_node_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# keccak of the event signatures, frozen here (ledger.indexer.events computes the same ones).
_T_USED = "0x98de503528ee59b575ef0c0a2576a82497bfc029a5685b209e9ec333479b10a5"
_T_CANCELED = "0x1cdd46ff242716cdaa72d159d339a485b3438398348d68f09d7c8c0a59353d81"
_T_FROZEN = "0xd2e26d564089e761d5eda6132eb7f93d849b164e47edb207a0fa57913a2be793"
_T_UNFROZEN = "0xa08614b90870743373bcc406908064f223460ebd5898296a9a67ca913d29e77c"
_T_MINTER = "0xe7a00a17be33b5031c76e0a0a0aec8eabeb2c768333ab8cee8893badf333ac65"
_T_REQUESTED = "0xcbd0b5542d3330317fc39cf4db447e7727a60d06f07c44e404e860881bcfd018"
_T_PAYOUT_CANCELED = "0xa9b69b65d278117be9d7cd4f70e9637ff8abda0f639a937a7dbd329813411422"
_KEY = ("chain_id", "block_number", "log_index", "tx_hash")


def _key() -> list[sa.Column[Any]]:
    return [
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
    ]


def _address(topic: str) -> str:
    return "0x" + topic[26:]


def _decode(t0: str, topics: list[str], data: str) -> tuple[str, dict[str, Any]]:
    """(table, fields) of a stored log (the indexer's decoder, frozen)."""
    if t0 in (_T_USED, _T_CANCELED):
        return "token_authorizations", {"authorizer": _address(topics[0]), "nonce": topics[1],
                                        "state": "used" if t0 == _T_USED else "canceled"}
    if t0 in (_T_FROZEN, _T_UNFROZEN):
        return "account_freezes", {"account": _address(topics[0]), "order_ref": topics[1],
                                   "frozen": t0 == _T_FROZEN}
    if t0 == _T_MINTER:
        return "minter_configs", {"minter": _address(topics[0]),
                                  "allowance": int(data[2:66], 16),
                                  "daily_limit": int(data[66:130], 16)}
    if t0 == _T_REQUESTED:
        return "payout_changes", {"merchant_id": int(topics[0], 16), "kind": "requested",
                                  "old_payout": _address(topics[1]),
                                  "new_payout": _address(topics[2]),
                                  "effective_at": int(data[2:66], 16)}
    return "payout_changes", {"merchant_id": int(topics[0], 16), "kind": "canceled",
                              "old_payout": None, "new_payout": _address(topics[1]),
                              "effective_at": None}


_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "chain_id": sa.Integer(), "block_number": sa.BigInteger(), "log_index": sa.Integer(),
    "tx_hash": sa.String(), "authorizer": sa.String(), "nonce": sa.String(), "state": sa.String(),
    "account": sa.String(), "order_ref": sa.String(), "frozen": sa.Boolean(),
    "minter": sa.String(), "allowance": ledger.db.types.U256(),
    "daily_limit": ledger.db.types.U256(), "merchant_id": sa.BigInteger(), "kind": sa.String(),
    "old_payout": sa.String(), "new_payout": sa.String(), "effective_at": sa.BigInteger(),
}


def _decode_stored_logs() -> None:
    raw = sa.table(
        "raw_logs", *(sa.column(c) for c in (*_KEY, "topic0", "topic1", "topic2", "topic3", "data"))
    )
    topics0 = [_T_USED, _T_CANCELED, _T_FROZEN, _T_UNFROZEN, _T_MINTER, _T_REQUESTED,
               _T_PAYOUT_CANCELED]
    found: dict[str, list[dict[str, Any]]] = {}
    conn = op.get_bind()
    for row in conn.execute(sa.select(raw).where(raw.c.topic0.in_(topics0))):
        topics = [str(t) for t in (row.topic1, row.topic2, row.topic3) if t is not None]
        table, fields = _decode(str(row.topic0), topics, str(row.data))
        found.setdefault(table, []).append({**{k: getattr(row, k) for k in _KEY}, **fields})
    for table, rows in found.items():
        columns = [sa.column(c, _TYPES[c]) for c in rows[0]]
        op.bulk_insert(sa.table(table, *columns), rows)


def upgrade() -> None:
    op.create_table(
        "token_authorizations",
        *_key(),
        sa.Column("authorizer", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.String(length=66), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    op.create_index("ix_token_authorizations_nonce", "token_authorizations",
                    ["chain_id", "authorizer", "nonce"])
    op.create_table(
        "account_freezes",
        *_key(),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("order_ref", sa.String(length=66), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    op.create_index("ix_account_freezes_account", "account_freezes",
                    ["chain_id", "account", "block_number", "log_index"])
    op.create_table(
        "minter_configs",
        *_key(),
        sa.Column("minter", sa.String(length=42), nullable=False),
        sa.Column("allowance", ledger.db.types.U256(), nullable=False),
        sa.Column("daily_limit", ledger.db.types.U256(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    op.create_index("ix_minter_configs_minter", "minter_configs", ["minter"])
    op.create_table(
        "payout_changes",
        *_key(),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("old_payout", sa.String(length=42), nullable=True),
        sa.Column("new_payout", sa.String(length=42), nullable=False),
        sa.Column("effective_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    op.create_index("ix_payout_changes_merchant_id", "payout_changes", ["merchant_id"])
    # Created empty: a reserve carried over before this revision is in the raw logs, and the
    # index of such a successor is rebuilt (`ledger index --rebuild-from`) to fold it in.
    op.create_table(
        "reserve_carries",
        *_key(),
        sa.Column("predecessor", sa.String(length=42), nullable=False),
        sa.Column("reserve", ledger.db.types.U256(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_number", "log_index"),
    )
    _decode_stored_logs()


def downgrade() -> None:
    for table in ("reserve_carries", "payout_changes", "minter_configs", "account_freezes",
                  "token_authorizations"):
        op.drop_table(table)
