"""The indexer's tables (SQLAlchemy 2 declarative models).

Every row carries `chain_id`. Decoded event tables are keyed like the raw logs, by
(chain_id, block_number, log_index), so undoing a reorg is `DELETE ... WHERE block_number > n`.
EnergySettlement events land in tariffs, settlement_days, settlement_payments and
settlement_shortfalls, CommonsFund events in fund_events (same key, rolled back the same way).
Projections (balances, balance_history, merchant_takings_daily, supply_history, merchants,
bookings) are derived from the decoded rows and rolled back with them. The `indexer_cursor` row
is written in the same transaction as the data it covers.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledger.db.types import U256

Hash = String(66)
Address = String(42)


class Base(DeclarativeBase):
    pass


class Block(Base):
    """Blocks the indexer relied on: every block holding our logs (final ones from their logs'
    hash and time when the node gives it), every block above finality it walked, and each
    cursor block."""

    __tablename__ = "blocks"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(Hash)
    # NULL for a final block known from its logs alone (their blockTimestamp): no header read.
    parent_hash: Mapped[str | None] = mapped_column(Hash, nullable=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)


class RawLog(Base):
    """A log exactly as the node served it, but for the day-to-day events (transfers, deposits,
    redemptions, payments, refunds, bookings opened), kept only decoded when their row rebuilds
    them (ledger.indexer.events, migration 0022). Its block hash is not repeated here: it is the
    `blocks` row of the same (chain_id, block_number), written in the same batch after the log's
    blockHash was checked equal to that header (join on it to read it)."""

    __tablename__ = "raw_logs"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    tx_index: Mapped[int] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(Address)
    topic0: Mapped[str | None] = mapped_column(Hash)
    topic1: Mapped[str | None] = mapped_column(Hash)
    topic2: Mapped[str | None] = mapped_column(Hash)
    topic3: Mapped[str | None] = mapped_column(Hash)
    data: Mapped[str] = mapped_column(Text)


class Transfer(Base):
    __tablename__ = "transfers"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    from_address: Mapped[str] = mapped_column(Address)
    to_address: Mapped[str] = mapped_column(Address)
    value: Mapped[int] = mapped_column(U256)

    # An account's history, newest first, is one bounded range scan per side (migration 0003).
    __table_args__ = (
        Index("ix_transfers_from_history", "chain_id", "from_address", "block_number", "log_index"),
        Index("ix_transfers_to_history", "chain_id", "to_address", "block_number", "log_index"),
    )


class Deposit(Base):
    __tablename__ = "deposits"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    bank_ref: Mapped[str] = mapped_column(Hash, index=True)
    beneficiary: Mapped[str] = mapped_column(Address, index=True)
    amount: Mapped[int] = mapped_column(U256)
    reserve_after: Mapped[int] = mapped_column(U256)


class Redemption(Base):
    __tablename__ = "redemptions"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    redemption_id: Mapped[int] = mapped_column(BigInteger, index=True)
    merchant: Mapped[str] = mapped_column(Address, index=True)
    amount: Mapped[int] = mapped_column(U256)
    fee: Mapped[int] = mapped_column(U256)
    euros: Mapped[int] = mapped_column(U256)
    payout_ref: Mapped[str] = mapped_column(Hash)
    reserve_after: Mapped[int] = mapped_column(U256)


class Payment(Base):
    __tablename__ = "payments"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    merchant_id: Mapped[int] = mapped_column(BigInteger, index=True)
    payer: Mapped[str] = mapped_column(Address, index=True)
    ref: Mapped[str] = mapped_column(Hash)
    amount: Mapped[int] = mapped_column(U256)
    day: Mapped[str] = mapped_column(String(10))


class Refund(Base):
    __tablename__ = "refunds"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    merchant_id: Mapped[int] = mapped_column(BigInteger, index=True)
    payer: Mapped[str] = mapped_column(Address, index=True)
    ref: Mapped[str] = mapped_column(Hash)
    amount: Mapped[int] = mapped_column(U256)
    day: Mapped[str] = mapped_column(String(10))


class Booking(Base):
    """One row per booking; `state` is open, closed or reclaimed."""

    __tablename__ = "bookings"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    booking_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigInteger, index=True)
    payer: Mapped[str] = mapped_column(Address, index=True)
    deposit: Mapped[int] = mapped_column(U256)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    ref: Mapped[str] = mapped_column(Hash)
    state: Mapped[str] = mapped_column(String(10))
    charged: Mapped[int | None] = mapped_column(U256, nullable=True)
    returned: Mapped[int | None] = mapped_column(U256, nullable=True)
    opened_block: Mapped[int] = mapped_column(BigInteger, index=True)
    opened_log_index: Mapped[int] = mapped_column(Integer)
    opened_tx: Mapped[str] = mapped_column(Hash)
    ended_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    ended_log_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ended_tx: Mapped[str | None] = mapped_column(Hash, nullable=True)


class MerchantEvent(Base):
    """Registry changes, in order: the `merchants` projection is their fold."""

    __tablename__ = "merchant_events"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    merchant_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    payout: Mapped[str | None] = mapped_column(Address, nullable=True)
    category: Mapped[int | None] = mapped_column(Integer, nullable=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    active: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class Tariff(Base):
    """EnergySettlementTariffSet: an operation's tariff schedule (micro-euro per kWh by band),
    in force from `effective_from` (YYYYMMDD, local) until the next schedule."""

    __tablename__ = "tariffs"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    operation_id: Mapped[int] = mapped_column(U256, index=True)
    schedule_id: Mapped[int] = mapped_column(U256)
    effective_from: Mapped[int] = mapped_column(BigInteger)
    solar_price: Mapped[int] = mapped_column(BigInteger)
    peak_price: Mapped[int] = mapped_column(BigInteger)
    off_peak_price: Mapped[int] = mapped_column(BigInteger)


class SettlementDay(Base):
    """EnergySettlementDayCommitted: a committed (operation, day, version), its Merkle root and
    totals (Wh, and the micro-M3E its transfer lines move)."""

    __tablename__ = "settlement_days"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    operation_id: Mapped[int] = mapped_column(U256)
    day: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(Hash)
    produced_wh: Mapped[int] = mapped_column(U256)
    consumed_wh: Mapped[int] = mapped_column(U256)
    allocated_wh: Mapped[int] = mapped_column(U256)
    surplus_wh: Mapped[int] = mapped_column(U256)
    amount: Mapped[int] = mapped_column(U256)
    transfers: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_settlement_days_day", "chain_id", "day", "operation_id", "version"),
    )


class SettlementPayment(Base):
    """EnergySettlementBatchPaid: transfer lines [from_index, to_index) of a (day, version)
    processed; `paid` moved, `shortfall` billed in euros."""

    __tablename__ = "settlement_payments"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    operation_id: Mapped[int] = mapped_column(U256)
    day: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    from_index: Mapped[int] = mapped_column(BigInteger)
    to_index: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(U256)
    shortfall: Mapped[int] = mapped_column(U256)

    __table_args__ = (
        Index("ix_settlement_payments_day", "chain_id", "day", "operation_id", "version"),
    )


class SettlementShortfall(Base):
    """EnergySettlementShortfall: transfer line `line_index` could not be pulled from `payer`."""

    __tablename__ = "settlement_shortfalls"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    operation_id: Mapped[int] = mapped_column(U256)
    day: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    line_index: Mapped[int] = mapped_column(BigInteger)
    payer: Mapped[str] = mapped_column(Address, index=True)
    payee: Mapped[str] = mapped_column(Address, index=True)
    amount: Mapped[int] = mapped_column(U256)


class TokenAuthorization(Base):
    """AuthorizationUsed / AuthorizationCanceled: an ERC-3009 nonce of `authorizer` is spent
    (`state` "used") or revoked by its signer ("canceled"); either way it can never pay."""

    __tablename__ = "token_authorizations"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    authorizer: Mapped[str] = mapped_column(Address)
    nonce: Mapped[str] = mapped_column(Hash)
    state: Mapped[str] = mapped_column(String(8))

    __table_args__ = (
        Index("ix_token_authorizations_nonce", "chain_id", "authorizer", "nonce"),
    )


class AccountFreeze(Base):
    """AccountFrozen / AccountUnfrozen under a court or anti-money-laundering order."""

    __tablename__ = "account_freezes"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    account: Mapped[str] = mapped_column(Address)
    order_ref: Mapped[str] = mapped_column(Hash)
    frozen: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_account_freezes_account", "chain_id", "account", "block_number", "log_index"),
    )


class MinterConfig(Base):
    """MinterConfigured: what a treasurer key may still mint, and at most per UTC day (0: none)."""

    __tablename__ = "minter_configs"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    minter: Mapped[str] = mapped_column(Address, index=True)
    allowance: Mapped[int] = mapped_column(U256)
    daily_limit: Mapped[int] = mapped_column(U256)


class PayoutChange(Base):
    """MerchantPayoutChangeRequested ("requested", effective at `effective_at`, unix seconds) and
    MerchantPayoutChangeCanceled ("canceled"); the change itself is a `merchant_events` row."""

    __tablename__ = "payout_changes"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    merchant_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(10))
    old_payout: Mapped[str | None] = mapped_column(Address, nullable=True)
    new_payout: Mapped[str] = mapped_column(Address)
    effective_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ReserveCarry(Base):
    """ReserveCarriedOver: the reserve a successor token took over from its retired predecessor;
    `supply_history` adds it to the reserve."""

    __tablename__ = "reserve_carries"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    predecessor: Mapped[str] = mapped_column(Address)
    reserve: Mapped[int] = mapped_column(U256)


class FundEvent(Base):
    """CommonsFund events: inflows (by source), outflows (by programme and month), programmes
    opened or changed by the council (see records.FundEventRow)."""

    __tablename__ = "fund_events"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    kind: Mapped[str] = mapped_column(String(8))
    programme_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    month: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    account: Mapped[str | None] = mapped_column(Address, nullable=True)
    amount: Mapped[int | None] = mapped_column(U256, nullable=True)
    monthly_budget: Mapped[int | None] = mapped_column(U256, nullable=True)
    active: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    ref: Mapped[str | None] = mapped_column(Hash, nullable=True)

    __table_args__ = (Index("ix_fund_events_programme_month", "chain_id", "programme_id", "month"),)


class FreeBasicsEvent(Base):
    """ServicePayments free basics: what the commons fund covered of a payment or a booking, and
    the free tiers declared (see records.FreeBasicsRow)."""

    __tablename__ = "free_basics_events"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    kind: Mapped[str] = mapped_column(String(8))
    merchant_id: Mapped[int] = mapped_column(BigInteger)
    payer: Mapped[str | None] = mapped_column(Address, nullable=True)
    ref: Mapped[str | None] = mapped_column(Hash, nullable=True)
    booking_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    month: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    amount: Mapped[int] = mapped_column(U256)
    uses_per_month: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_free_basics_events_merchant_month", "chain_id", "merchant_id", "month"),
    )


class Merchant(Base):
    __tablename__ = "merchants"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payout: Mapped[str] = mapped_column(Address, index=True)
    category: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    registered_block: Mapped[int] = mapped_column(BigInteger)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class Balance(Base):
    __tablename__ = "balances"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(Address, primary_key=True)
    balance: Mapped[int] = mapped_column(U256)
    updated_block: Mapped[int] = mapped_column(BigInteger)


class BalanceHistory(Base):
    """The balance of an account after each block that changed it (undo log and history)."""

    __tablename__ = "balance_history"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(Address, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    balance: Mapped[int] = mapped_column(U256)

    __table_args__ = (Index("ix_balance_history_block", "chain_id", "block_number"),)


class MerchantTakingsDaily(Base):
    """Payments and refunds per merchant and local (Europe/Paris) day."""

    __tablename__ = "merchant_takings_daily"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    paid: Mapped[int] = mapped_column(U256)
    refunded: Mapped[int] = mapped_column(U256)
    payments: Mapped[int] = mapped_column(Integer)
    refunds: Mapped[int] = mapped_column(Integer)


class SupplyHistory(Base):
    """Total supply and euro reserve after each block that changed either."""

    __tablename__ = "supply_history"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_time: Mapped[int] = mapped_column(BigInteger)
    total_supply: Mapped[int] = mapped_column(U256)
    reserve: Mapped[int] = mapped_column(U256)


class IndexerCursor(Base):
    """The last block fully indexed, written in the same transaction as its data."""

    __tablename__ = "indexer_cursor"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(Hash)


class IndexerChain(Base):
    """The chain an index belongs to: block 0's hash, and the highest head ever reported."""

    __tablename__ = "indexer_chain"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    genesis_hash: Mapped[str] = mapped_column(Hash)
    highest_head: Mapped[int] = mapped_column(BigInteger)


class IndexerNodeLimits(Base):
    """What the indexer learned of a node's eth_getLogs limits, so a restart starts at them.

    `node` is the SHA-256 of the node's URL (a provider's URL may carry its API key)."""

    __tablename__ = "indexer_node_limits"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    max_span: Mapped[int | None] = mapped_column(BigInteger)  # a cap the node stated
    refused_span: Mapped[int | None] = mapped_column(BigInteger)  # the smallest span refused
    served_span: Mapped[int] = mapped_column(BigInteger)  # the largest span served below it
    target_logs: Mapped[int] = mapped_column(BigInteger)  # logs per answer the node accepts
