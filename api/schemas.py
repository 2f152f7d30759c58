"""Request and response bodies. Amounts are strings of integer micro-M3E with a display text."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
MICRO_PATTERN = r"^[0-9]{1,78}$"
CATEGORIES = ("co-working", "car-sharing", "parking", "concierge", "food", "retail", "other")
Category = Literal["co-working", "car-sharing", "parking", "concierge", "food", "retail", "other"]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ErrorDetail(Out):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["No such merchant."])


class ErrorBody(Out):
    error: ErrorDetail


class Amount(Out):
    micro: str = Field(pattern=MICRO_PATTERN, description="integer micro-M3E (1 M3E = 1,000,000)")
    display: str = Field(examples=["12.50 M3E"])


class Indexed(Out):
    indexed_block: int = Field(description="the last block the indexer fully wrote (-1 before any)")


class Health(Indexed):
    status: Literal["ok"]
    chain_id: int


class DeclarationOut(Out):
    window_days: int
    digital_payments: Amount
    threshold: Amount
    share_of_threshold: str = Field(description="digital payments / threshold, as a decimal string")
    above_threshold: bool
    basis: str


class TokenOut(Indexed):
    symbol: str
    decimals: int
    chain_id: int
    address: str | None
    total_supply: Amount
    reserve: Amount
    backing_ratio: str | None = Field(
        description="reserve / supply as a decimal string; null when supply is 0"
    )
    fully_backed: bool
    declaration: DeclarationOut


class SupplyPointOut(Out):
    block: int
    time: int
    total_supply: Amount
    reserve: Amount


class SupplySeriesOut(Indexed):
    points: list[SupplyPointOut]


class BalanceOut(Indexed):
    account: str
    balance: Amount
    updated_block: int | None


class HistoryItemOut(Out):
    block: int
    log_index: int
    tx_hash: str
    time: int | None
    direction: Literal["in", "out", "self"]
    kind: Literal["transfer", "mint", "burn"]
    counterparty: str
    amount: Amount


class HistoryOut(Indexed):
    account: str
    items: list[HistoryItemOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


class MerchantOut(Out):
    id: int
    name: str
    category: Category
    payout: str
    active: bool


class MerchantsOut(Indexed):
    merchants: list[MerchantOut]


class PaymentOut(Out):
    kind: Literal["payment", "refund"]
    block: int
    log_index: int
    tx_hash: str
    merchant_id: int
    merchant: str | None
    amount: Amount
    ref: str
    day: str


class PublicPaymentsOut(Indexed):
    payments: list[PaymentOut]


class AccountPaymentsOut(Indexed):
    account: str
    payments: list[PaymentOut]
    next_cursor: str | None


class PaymentRequestOut(Out):
    uri: str = Field(examples=["ethereum:0xToken@69003/transfer?address=0xTo&uint256=12500000"])
    to: str
    amount: Amount
    chain_id: int
    token: str
    qr_svg: str
    qr_png: str


class NonceOut(Out):
    nonce: str
    expires_at: int
    domain: str
    uri: str
    chain_id: int
    message: str | None = Field(
        default=None, description="the EIP-4361 text to sign, when an address was given"
    )


class SiweIn(In):
    message: str = Field(min_length=1, max_length=4096)
    signature: str = Field(min_length=1, max_length=200)


class SessionOut(Out):
    address: str
    expires_at: int
    token: str | None = Field(default=None, description="bearer token (also set as an HttpOnly cookie)")


class MerchantIn(In):
    name: str = Field(min_length=1, max_length=64)
    category: Category
    payout: str = Field(pattern=ADDRESS_PATTERN)


class DepositIn(In):
    bank_ref: str = Field(
        min_length=1, max_length=32, description="the bank transfer's reference (1-32 bytes)"
    )
    beneficiary: str = Field(pattern=ADDRESS_PATTERN)
    amount: str = Field(pattern=MICRO_PATTERN, description="integer micro-M3E")


class OperatorTxOut(Out):
    tx_hash: str
    block: int
    merchant_id: int | None = None
