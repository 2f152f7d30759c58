"""Plain rows the indexer hands to the store (no SQLAlchemy here).

Each decoded row starts with (block_number, log_index, tx_hash). Amounts are Python ints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class BlockRow(NamedTuple):
    number: int
    hash: str
    parent_hash: str | None  # None: a final block known from its logs alone
    timestamp: int


class NodeLimits(NamedTuple):
    """A node's eth_getLogs limits as learned by the indexer (block spans, logs per answer)."""

    max_span: int | None  # the cap the node stated in a refusal
    refused_span: int | None  # the smallest span it refused without stating a cap
    served_span: int  # the largest span it answered below that
    target_logs: int  # the most logs per answer it accepts


class LogRow(NamedTuple):
    """A raw log, with its chain id first (it goes to the database as is). Its block hash is
    the `blocks` row of its block number (stored in the same batch, checked equal)."""

    chain_id: int
    block_number: int
    log_index: int
    tx_hash: str
    tx_index: int
    address: str
    topic0: str | None
    topic1: str | None
    topic2: str | None
    topic3: str | None
    data: str


class TransferRow(NamedTuple):
    block_number: int
    log_index: int
    tx_hash: str
    from_address: str
    to_address: str
    value: int


class DepositRow(NamedTuple):
    block_number: int
    log_index: int
    tx_hash: str
    bank_ref: str
    beneficiary: str
    amount: int
    reserve_after: int


class RedemptionRow(NamedTuple):
    block_number: int
    log_index: int
    tx_hash: str
    redemption_id: int
    merchant: str
    amount: int
    fee: int
    euros: int
    payout_ref: str
    reserve_after: int


class PaymentRow(NamedTuple):
    """A payment (PaymentMade) or a refund (PaymentRefunded); `day` is the local date."""

    block_number: int
    log_index: int
    tx_hash: str
    merchant_id: int
    payer: str
    ref: str
    amount: int
    day: str


class RefundRow(PaymentRow):
    """A refund (PaymentRefunded): a payment's row under a class of its own, so that a list
    mixing rows of several kinds says which list each belongs to (`Decoder.decode_into`)."""

    __slots__ = ()


class BookingOpenRow(NamedTuple):
    block_number: int
    log_index: int
    tx_hash: str
    booking_id: int
    merchant_id: int
    payer: str
    deposit: int
    expires_at: int
    ref: str


class BookingEndRow(NamedTuple):
    """BookingClosed (kind "closed") or BookingReclaimed (kind "reclaimed", charged 0)."""

    block_number: int
    log_index: int
    tx_hash: str
    booking_id: int
    kind: str
    charged: int
    returned: int


class MerchantEventRow(NamedTuple):
    """kind: registered (payout, category, name), payout (payout), status (active)."""

    block_number: int
    log_index: int
    tx_hash: str
    merchant_id: int
    kind: str
    payout: str | None
    category: int | None
    name: str | None
    active: bool | None


class TariffRow(NamedTuple):
    """EnergySettlementTariffSet: prices in micro-euro per kWh; `effective_from` is YYYYMMDD."""

    block_number: int
    log_index: int
    tx_hash: str
    operation_id: int
    schedule_id: int
    effective_from: int
    solar_price: int
    peak_price: int
    off_peak_price: int


class SettlementDayRow(NamedTuple):
    """EnergySettlementDayCommitted: `day` is YYYYMMDD (local), energy in Wh, `amount` in
    micro-M3E, `transfers` the number of transfer lines of this version."""

    block_number: int
    log_index: int
    tx_hash: str
    operation_id: int
    day: int
    version: int
    root: str
    produced_wh: int
    consumed_wh: int
    allocated_wh: int
    surplus_wh: int
    amount: int
    transfers: int


class SettlementPaymentRow(NamedTuple):
    """EnergySettlementBatchPaid: transfer lines [from_index, to_index) processed."""

    block_number: int
    log_index: int
    tx_hash: str
    operation_id: int
    day: int
    version: int
    from_index: int
    to_index: int
    paid: int
    shortfall: int


class SettlementShortfallRow(NamedTuple):
    """EnergySettlementShortfall: transfer line `line_index` could not be pulled from `payer`."""

    block_number: int
    log_index: int
    tx_hash: str
    operation_id: int
    day: int
    version: int
    line_index: int
    payer: str
    payee: str
    amount: int


class AuthorizationRow(NamedTuple):
    """AuthorizationUsed (state "used") or AuthorizationCanceled (state "canceled")."""

    block_number: int
    log_index: int
    tx_hash: str
    authorizer: str
    nonce: str
    state: str


class FreezeRow(NamedTuple):
    """AccountFrozen (frozen True) or AccountUnfrozen (frozen False)."""

    block_number: int
    log_index: int
    tx_hash: str
    account: str
    order_ref: str
    frozen: bool


class MinterConfigRow(NamedTuple):
    block_number: int
    log_index: int
    tx_hash: str
    minter: str
    allowance: int
    daily_limit: int


class PayoutChangeRow(NamedTuple):
    """MerchantPayoutChangeRequested (kind "requested") or ...Canceled (kind "canceled": no old
    payout, no effective time)."""

    block_number: int
    log_index: int
    tx_hash: str
    merchant_id: int
    kind: str
    old_payout: str | None
    new_payout: str
    effective_at: int | None


class ReserveCarryRow(NamedTuple):
    """ReserveCarriedOver: a successor token took over its retired predecessor's reserve (added
    to its own: the indexed reserve follows it)."""

    block_number: int
    log_index: int
    tx_hash: str
    predecessor: str
    reserve: int


class FundEventRow(NamedTuple):
    """A CommonsFund event. `kind` is "inflow" (source, from, amount), "outflow" (programme,
    month, to, amount, ref), "opened" or "changed" (programme, spender, monthly budget, active,
    name when opened). `month` is year * 12 + month - 1 in UTC, the contract's rule (an inflow's
    is its block's)."""

    block_number: int
    log_index: int
    tx_hash: str
    kind: str
    programme_id: int | None
    month: int | None
    source: str | None
    account: str | None
    amount: int | None
    monthly_budget: int | None
    active: bool | None
    name: str | None
    ref: str | None


class FreeBasicsRow(NamedTuple):
    """A ServicePayments free-basics event. `kind` "covered": the commons fund paid `amount` of
    what `payer` owed merchant `merchant_id` (of the payment `ref`, or of booking `booking_id`),
    in `month` (year * 12 + month - 1, UTC). `kind` "tier": the merchant's free tier became
    `amount` per use, `uses_per_month` times a month (both 0: removed)."""

    block_number: int
    log_index: int
    tx_hash: str
    kind: str
    merchant_id: int
    payer: str | None
    ref: str | None
    booking_id: int | None
    month: int | None
    amount: int
    uses_per_month: int | None


class Cursor(NamedTuple):
    block_number: int
    block_hash: str


@dataclass(slots=True)
class Batch:
    """Everything found in blocks [first_block, cursor.block_number], applied atomically."""

    chain_id: int
    first_block: int
    cursor: Cursor
    block_times: dict[int, int] = field(default_factory=dict)
    blocks: list[BlockRow] = field(default_factory=list)
    logs: list[LogRow] = field(default_factory=list)
    transfers: list[TransferRow] = field(default_factory=list)
    deposits: list[DepositRow] = field(default_factory=list)
    redemptions: list[RedemptionRow] = field(default_factory=list)
    payments: list[PaymentRow] = field(default_factory=list)
    refunds: list[RefundRow] = field(default_factory=list)
    booking_opens: list[BookingOpenRow] = field(default_factory=list)
    booking_ends: list[BookingEndRow] = field(default_factory=list)
    merchant_events: list[MerchantEventRow] = field(default_factory=list)
    tariffs: list[TariffRow] = field(default_factory=list)
    settlement_days: list[SettlementDayRow] = field(default_factory=list)
    settlement_payments: list[SettlementPaymentRow] = field(default_factory=list)
    settlement_shortfalls: list[SettlementShortfallRow] = field(default_factory=list)
    authorizations: list[AuthorizationRow] = field(default_factory=list)
    freezes: list[FreezeRow] = field(default_factory=list)
    minter_configs: list[MinterConfigRow] = field(default_factory=list)
    payout_changes: list[PayoutChangeRow] = field(default_factory=list)
    reserve_carries: list[ReserveCarryRow] = field(default_factory=list)
    fund_events: list[FundEventRow] = field(default_factory=list)
    free_basics: list[FreeBasicsRow] = field(default_factory=list)
