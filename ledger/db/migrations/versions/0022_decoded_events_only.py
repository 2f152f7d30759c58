"""the day-to-day events are kept only decoded

Transfers, payments, refunds, bookings opened, deposits and redemptions each have a row of
their own holding every field of their log; the indexer no longer writes a raw copy of them (it
was 40 % of a backfill's writes). This removes the copies an earlier indexer wrote, so an index
holds the same rows however it was built: only where the decoded row exists, and only for logs
the indexer now keeps decoded (the same topics, data length, and text its row rebuilds). The
other events keep their raw row, so a later migration can still decode them without indexing
again.

Revision ID: 0022_decoded_events_only
Revises: 0021_block_parent_optional
Create Date: 2026-12-02 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from eth_utils.crypto import keccak

revision: str = "0022_decoded_events_only"
down_revision: str | None = "0021_block_parent_optional"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (signature, topics after topic0, the topics holding an address, data hex length with "0x",
# decoded table, its key columns)
_KEPT_DECODED = (
    ("Transfer(address,address,uint256)", 2, (1, 2), 66, "transfers", "block_number",
     "log_index"),
    ("DepositRecorded(bytes32,address,uint256,uint256)", 2, (2,), 130, "deposits",
     "block_number", "log_index"),
    ("Redeemed(uint256,address,uint256,uint256,uint256,bytes32,uint256)", 2, (2,), 322,
     "redemptions", "block_number", "log_index"),
    ("PaymentMade(uint256,address,bytes32,uint256)", 3, (2,), 66, "payments", "block_number",
     "log_index"),
    ("PaymentRefunded(uint256,address,bytes32,uint256)", 3, (2,), 66, "refunds", "block_number",
     "log_index"),
    ("BookingOpened(uint256,uint256,address,uint256,uint64,bytes32)", 3, (3,), 194, "bookings",
     "opened_block", "opened_log_index"),
)
_HEX = "0123456789abcdef"


def upgrade() -> None:
    # Only a copy its decoded row rebuilds exactly, as the indexer now checks (events.py,
    # `_whole`): each topic 32 bytes of lowercase hex, an address topic padded with zeros, the
    # data lowercase hex. Any other copy (an odd node's) stays.
    trim = "btrim" if op.get_bind().dialect.name == "postgresql" else "trim"

    def hex_only(column: str) -> str:
        return f"substr({column}, 1, 2) = '0x' AND {trim}(substr({column}, 3), '{_HEX}') = ''"

    for signature, topics, addresses, data_length, table, block, index in _KEPT_DECODED:
        topic0 = "0x" + keccak(text=signature).hex()
        shape = " AND ".join(
            [f"topic{i} IS NOT NULL AND length(topic{i}) = 66 AND {hex_only(f'topic{i}')}"
             for i in range(1, topics + 1)]
            + [f"substr(topic{i}, 3, 24) = '{'0' * 24}'" for i in addresses]
            + [f"topic{i} IS NULL" for i in range(topics + 1, 4)]
            + [hex_only("data")]
        )
        op.execute(
            f"DELETE FROM raw_logs WHERE topic0 = '{topic0}' AND {shape} "  # noqa: S608
            f"AND length(data) = {data_length} AND EXISTS (SELECT 1 FROM {table} d "
            f"WHERE d.chain_id = raw_logs.chain_id AND d.{block} = raw_logs.block_number "
            f"AND d.{index} = raw_logs.log_index)"
        )


def downgrade() -> None:
    # The older indexer reads no raw copy of these events (their tables serve every reader);
    # the copies are not written back.
    pass
