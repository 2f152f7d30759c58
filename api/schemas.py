"""Request and response bodies. Amounts are strings of integer micro-M3E with a display text."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
MICRO_PATTERN = r"^[0-9]{1,78}$"
# An amount a client sends: a whole number of micro-M3E above zero, no leading zero, at most 77
# digits (so it always fits a uint256, whose largest value has 78 digits).
POSITIVE_MICRO_PATTERN = r"^[1-9][0-9]{0,76}$"
REFERENCE_MAX_BYTES = 140
REFERENCE_PATTERN = r"^[ -~]+$"
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


class FundProgrammeOut(Out):
    programme_id: int
    name: str
    spender: str = Field(description="who the council allows to pay from this programme")
    monthly_budget: Amount
    active: bool
    spent_this_month: Amount
    left_this_month: Amount = Field(description="zero while the programme is closed")
    budget_spent: bool = Field(
        description="true when nothing is left this month: solidarity prices and free tiers it pays "
        "for stop until next month"
    )


class FundFlowOut(Out):
    month: str = Field(examples=["2025-06"], description="calendar month, UTC (the contract's rule)")
    amount: Amount
    count: int


class FundInflowOut(FundFlowOut):
    source: str = Field(examples=["REDEMPTION_FEES"])


class FundOutflowOut(FundFlowOut):
    programme_id: int


class FundSolidarityOut(Out):
    """What the settlement's lines moved through the fund in one month of settled days."""

    month: str = Field(examples=["2025-06"], description="the month of the settled days (local dates)")
    social_paid: Amount = Field(description="the social price the fund paid (SOLIDARITY lines)")
    surcharges_received: Amount = Field(description="peak surcharges paid to the fund (SURCHARGE lines)")
    discounts_paid: Amount = Field(description="off-peak discounts the fund paid (DISCOUNT lines)")


class FundOut(Indexed):
    address: str
    month: str = Field(description="the current calendar month, UTC")
    balance: Amount = Field(description="what the fund holds on chain, as indexed")
    recorded_in: Amount
    recorded_out: Amount
    not_yet_recorded: Amount = Field(
        description="fees that reached the fund by plain transfer and that its next record or "
        "payment will count as an inflow"
    )
    programmes: list[FundProgrammeOut]
    inflows: list[FundInflowOut] = Field(description="by month and source")
    outflows: list[FundOutflowOut] = Field(description="by month and programme")
    solidarity: list[FundSolidarityOut] = Field(
        default_factory=list,
        description="peak pays for off-peak and the social price, by month, from the lines of the "
        "latest settled days (the latest version of each day)",
    )


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
    street_address: str | None = Field(default=None, description="where to find it (set by a registrar)")


class MerchantAddressIn(In):
    street_address: str = Field(
        min_length=3,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="the street address shown in the directory (printable text, one line)",
        examples=["12 rue Moncey, 69003 Lyon"],
    )


class MerchantAddressOut(Out):
    merchant_id: int
    street_address: str


class MerchantsOut(Indexed):
    merchants: list[MerchantOut]


RefSource = Literal["request", "clear", "commitment"]


class PaymentOut(Out):
    kind: Literal["payment", "refund"]
    block: int
    log_index: int
    tx_hash: str
    merchant_id: int
    merchant: str | None
    amount: Amount
    ref: str = Field(
        description="the reference: its text when known (see ref_source), else the commitment"
    )
    ref_source: RefSource = Field(
        description="request: the text of a payment request made through this API that the "
        "commitment matches; clear: an old payment whose reference is plain text on chain; "
        "commitment: only the salted commitment is known here (your wallet keeps the text)"
    )
    commitment: str = Field(description="the bytes32 the chain records (0x + 64 hex)")
    day: str
    time: int | None = Field(default=None, description="the block's unix time (null if not indexed)")


class PublicPaymentOut(Out):
    """A payment as the public sees it: which merchant, how much, when; never who paid, the
    reference or the transaction."""

    kind: Literal["payment", "refund"]
    block: int
    log_index: int
    merchant_id: int
    merchant: str | None
    amount: Amount
    day: str
    time: int | None = Field(default=None, description="the block's unix time (null if not indexed)")


class PublicPaymentsOut(Indexed):
    payments: list[PublicPaymentOut]


class MerchantPaymentOut(PaymentOut):
    payer: str = Field(description="who paid (or was refunded)")


class MerchantPaymentsOut(Indexed):
    merchant_id: int
    payments: list[MerchantPaymentOut]
    next_cursor: str | None


class MerchantRequestIn(In):
    amount: str = Field(
        pattern=POSITIVE_MICRO_PATTERN,
        description="integer micro-M3E above zero (2.40 M3E is 2400000)",
        examples=["2400000"],
    )
    # Printable ASCII only: the schema can then say exactly what the API takes (a character is a
    # byte, and no format or separator character slips past the pattern); banks transliterate the
    # rest of a SEPA remittance text anyway.
    reference: str = Field(
        min_length=1,
        max_length=REFERENCE_MAX_BYTES,
        pattern=REFERENCE_PATTERN,
        description="your reference: 1 to 140 printable ASCII characters (space to ~); only its "
        "salted commitment goes on chain",
        examples=["DESK-2026-11-CHLOE"],
    )


class NamingIn(In):
    named: bool = Field(description="true: the prosumers you buy from see your address")


class NamingOut(Out):
    account: str
    named: bool


class AccountPaymentsOut(Indexed):
    account: str
    payments: list[PaymentOut]
    next_cursor: str | None


class RedemptionOut(Out):
    """A merchant's M3E converted to euros: `fee` went to the commons fund, `euros` were wired."""

    block: int
    time: int | None
    redemption_id: int
    merchant: str | None = Field(description="the merchant's name, when its payout address is registered")
    amount: Amount
    fee: Amount
    euros: Amount = Field(description="euros wired, in micro-euros (1 M3E redeems 1 euro)")


class CommonsFundOut(Out):
    address: str | None = Field(description="the account redemption fees are paid to")
    since_block: int | None = Field(description="the block this account became the fund")
    balance: Amount
    fee_inflows: Amount = Field(description="redemption fees this account received as the fund")


class CommonsOut(Indexed):
    """The commons fund, the euro payouts (redemptions) and whether the token is paused."""

    paused: bool = Field(description="true while the token is paused: no transfer, mint or burn")
    paused_block: int | None
    fund: CommonsFundOut
    redemptions: int
    euros_paid: Amount
    recent_redemptions: list[RedemptionOut]


class BookingOut(Out):
    booking_id: int
    merchant_id: int
    merchant: str | None
    deposit: Amount
    expires_at: int
    state: str = Field(description="open (deposit held in escrow), closed or reclaimed")
    charged: Amount | None
    returned: Amount | None
    opened_block: int
    opened_time: int | None


class BookingsOut(Indexed):
    account: str
    held: Amount = Field(description="deposits of open bookings, held in escrow")
    bookings: list[BookingOut]


class MerchantBookingOut(BookingOut):
    payer: str = Field(description="who booked (and paid the deposit)")


class MerchantBookingsOut(Indexed):
    merchant_id: int
    held: Amount = Field(
        description="deposits of the open bookings listed, held in escrow until you close them"
    )
    charged: Amount = Field(
        description="what the closed bookings listed charged: paid to your payout account"
    )
    bookings: list[MerchantBookingOut]


class MandateOut(Out):
    operation_id: str
    per_day: Amount
    per_month: Amount
    active: bool
    block: int
    time: int | None


class MandatesOut(Indexed):
    account: str
    mandates: list[MandateOut]


class PaymentRequestOut(Out):
    uri: str = Field(examples=["ethereum:0xToken@69003/transfer?address=0xTo&uint256=12500000"])
    to: str
    amount: Amount
    chain_id: int
    token: str
    qr_svg: str
    qr_png: str


class MerchantRequestOut(Out):
    """A payment request with a reference: the URI carries the reference and its salt to the
    payer (`&ref=...&refsalt=0x...`, as the wallet reads them); the chain will only see the
    commitment."""

    uri: str
    merchant_id: int
    to: str
    amount: Amount
    chain_id: int
    token: str
    reference: str
    salt: str = Field(description="32 random bytes (0x + 64 hex), kept by this server")
    commitment: str = Field(description="keccak256(domain || salt || reference), what the payment records")


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
    amount: str = Field(pattern=POSITIVE_MICRO_PATTERN, description="integer micro-M3E above zero")

    @field_validator("bank_ref")
    @classmethod
    def _exactly_as_printed(cls, bank_ref: str) -> str:
        # a pasted blank or newline would be another bankRef on chain: the same euros mint twice
        if bank_ref != bank_ref.strip() or not bank_ref.isprintable():
            raise ValueError("blanks around it or a control character")
        return bank_ref


HEX32_PATTERN = r"^0x[0-9a-fA-F]{64}$"


class SignedPaymentIn(BaseModel):
    """The file `wallet sign payment` writes, as is (its other fields are ignored: the contract
    recomputes what the signature covers)."""

    model_config = ConfigDict(extra="ignore")
    kind: Literal["m3e-signed-payment"]
    version: Literal[2]
    chain_id: int
    payer: str = Field(pattern=ADDRESS_PATTERN)
    merchant_id: str = Field(pattern=r"^[1-9][0-9]{0,18}$")
    amount: str = Field(pattern=POSITIVE_MICRO_PATTERN, description="integer micro-M3E, above zero")
    ref: str = Field(pattern=HEX32_PATTERN)
    valid_after: str = Field(pattern=r"^[0-9]{1,20}$", description="unix time")
    valid_before: str = Field(pattern=r"^[0-9]{1,20}$", description="unix time")
    payer_nonce: str = Field(pattern=HEX32_PATTERN)
    signature: str = Field(pattern=r"^0x([0-9a-fA-F]{2}){65,1024}$",
                           description="65 bytes for a key, more for a contract wallet (EIP-1271)")


class OperatorTxOut(Out):
    tx_hash: str
    block: int
    merchant_id: int | None = None


# -- energy --------------------------------------------------------------------------------------

# A real calendar day of the years 2000 to 2199, leap days included (the schema says exactly what
# the API takes: other years and days such as 2026-02-30 do not match).
_YEAR = "2[01][0-9]{2}"
_LEAP = "(?:2000|20(?:0[48]|[2468][048]|[13579][26])|21(?:0[48]|[2468][048]|[13579][26]))"
DAY_PATTERN = (
    f"^(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    f"|02-(?:0[1-9]|1[0-9]|2[0-8]))|{_LEAP}-02-29)$"
)
DEVICE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
DistrictFigure = Literal["production", "consumption", "gas", "water"]


class IngestOut(Out):
    """What the reading pipeline did with one signed envelope (its own words, passed through)."""

    status: Literal["accepted", "duplicate", "rejected"]
    sha256: str = Field(description="sha256 of the body as received")
    code: str | None = Field(default=None, description="why it was rejected (a stable code)")
    message: str | None = None
    device_id: str | None = None
    counter: int | None = None
    stored: int | None = None
    duplicates: int | None = None
    held: int | None = Field(default=None, description="readings held back for review")
    superseded: int | None = None
    held_reasons: list[str] | None = None


class GatewayErrorOut(Out):
    """The API's error shape; `ingest` carries the pipeline's answer when it refused the input."""

    error: ErrorDetail
    ingest: IngestOut | None = None


class WithheldOut(Out):
    figure: DistrictFigure
    reason: Literal["fewer_than_5_homes", "no_readings", "not_final", "published_at_another_step"]


class DistrictStepOut(Out):
    start: str = Field(description="step start, ISO 8601 UTC")
    production_wh: int | None = Field(description="solar energy injected (electricity export)")
    consumption_wh: int | None = Field(description="electricity withdrawn (import)")
    self_consumed_wh: int | None = Field(description="min(production, consumption)")
    self_consumption_rate: str | None = Field(description="self-consumed / production (decimal string)")
    self_sufficiency_rate: str | None = Field(description="self-consumed / consumption (decimal string)")
    gas_wh: int | None
    water_l: int | None
    withheld: list[WithheldOut] = Field(description="the figures left null, and why")


class DistrictTotalsOut(Out):
    production_wh: int
    consumption_wh: int
    self_consumed_wh: int
    self_consumption_rate: str | None
    gas_wh: int
    water_l: int
    steps_withheld: int = Field(description="steps with at least one figure withheld or missing")


class DistrictEnergyOut(Out):
    day: str
    step_minutes: Literal[15, 30]
    min_homes: int = Field(description="no figure covers fewer homes than this")
    as_of: int = Field(description="Unix time this answer was computed")
    latest_step: str | None = Field(description="the latest step with published figures")
    self_consumption_rate: str | None = Field(description="the day's rate over the published steps")
    totals: DistrictTotalsOut = Field(description="sums of the published steps only")
    steps: list[DistrictStepOut]


class SettlementTotalsOut(Out):
    """What a settled day moved. No energy figure: a day's energy may be that of a handful of
    homes (the district's energy is published by /v1/energy/district, from at least 5 homes);
    each member reads its own in its energy days and proofs."""

    amount: Amount = Field(description="the day's member debits")
    transfers: int = Field(description="member lines")


class SettlementOut(Out):
    operation_id: str
    day: str
    version: int
    root: str = Field(description="Merkle root of the day's lines (0x + 64 hex)")
    committed: bool = Field(description="the root is committed on chain (indexed)")
    onchain_root: str | None
    block: int | None = Field(description="block of the commitment")
    tx_hash: str | None = Field(description="transaction of the commitment")
    totals: SettlementTotalsOut
    paid: Amount | None = Field(description="moved on chain so far (indexed)")
    shortfall: Amount | None = Field(description="not pulled, billed in euros")
    paid_lines: int | None = Field(description="transfer lines processed on chain")


class SettlementsOut(Indexed):
    settlements: list[SettlementOut]


class SettlementDayOut(Indexed):
    day: str
    settlements: list[SettlementOut]


class OwnStepOut(Out):
    start: str
    step_s: int
    electricity_import_wh: int | None
    electricity_export_wh: int | None
    gas_wh: int | None
    water_l: int | None


class AllocationOut(Out):
    to: str = Field(
        description="the consumer: a pseudonym (stable for you, unlinkable across prosumers) unless "
        "they chose to be named to the prosumers they buy from, then their account"
    )
    named: bool
    wh: int
    amount: Amount


class OwnDayOut(Out):
    day: str
    produced_wh: int | None = Field(description="your meters' export readings (null: none stored)")
    allocated: list[AllocationOut] = Field(description="your production allocated, per neighbour")
    allocated_wh: int
    earned: Amount
    bought_wh: int
    owed: Amount = Field(description="what your neighbours' solar cost at the full price")
    fund_paid: Amount = Field(
        description="what the commons fund paid of `owed` (the social price, its SOLIDARITY lines)"
    )
    peak_surcharge: Amount = Field(
        default_factory=lambda: Amount(micro="0", display="0.00 M3E"),
        description="what you paid the commons fund on top of `owed` for your peak-hour solar "
        "(a tariff's solidarity component, its SURCHARGE line)",
    )
    off_peak_discount: Amount = Field(
        default_factory=lambda: Amount(micro="0", display="0.00 M3E"),
        description="what the commons fund paid of `owed` for your off-peak solar (its DISCOUNT line)",
    )
    paid: Amount = Field(
        description="what you paid yourself: owed minus fund_paid minus off_peak_discount plus peak_surcharge"
    )
    version: int | None = Field(description="settlement version these figures come from")
    committed: bool


class AccountEnergyOut(Out):
    account: str
    day: str
    as_of: int
    steps: list[OwnStepOut] = Field(description="your load curves of `day` (missing steps absent)")
    days: list[OwnDayOut] = Field(description="per day: production, allocations, earnings")


class ProofLineOut(Out):
    line: int = Field(description="the line number (leaf position) in the day's tree")
    kind: Literal["day", "step", "pair", "transfer", "bought", "sold", "solidarity", "surcharge", "discount"]
    index: int
    time: int
    payer: str
    payee: str
    wh: int
    value: str = Field(description="integer (micro-M3E; 1/1000 micro-M3E for step lines)")
    leaf: str | None = Field(
        description="the leaf hash; null (and proof empty) when a line of the set has a "
        "counterparty shown by pseudonym (the leaf hashes the real address)"
    )
    proof: list[str]
    verified: bool = Field(description="the proof leads to the root committed on chain")


class ProofSetOut(Out):
    operation_id: str
    version: int
    root: str
    onchain_root: str | None
    committed: bool
    lines: list[ProofLineOut]


class ProofsOut(Indexed):
    account: str
    day: str
    settlements: list[ProofSetOut]


# -- the live feed (text/event-stream): the `data` of each event, by event name ---------------------


class FeedBlock(Out):
    """`event: block`: the indexed head moved."""

    number: int
    hash: str


class FeedPayment(Out):
    """`event: payment` or `refund`: which merchant, how much, when (never payer or reference)."""

    block: int
    log_index: int
    merchant_id: int
    merchant: str | None
    amount: Amount
    day: str
    time: int | None = Field(default=None, description="the block's unix time")


class FeedSettlementTotals(Out):
    """What the committed day moves; no energy figure (see SettlementTotalsOut)."""

    amount: Amount
    transfers: int


class FeedSettlementLines(Out):
    from_index: int
    to_index: int


class FeedSettlement(Out):
    """`event: settlement`: a day committed (root, totals) or a batch of its lines paid."""

    event: Literal["committed", "paid"]
    block: int
    log_index: int
    tx_hash: str
    operation_id: int
    day: str | None
    day_number: int
    version: int
    root: str | None = None
    totals: FeedSettlementTotals | None = None
    lines: FeedSettlementLines | None = None
    paid: Amount | None = None
    shortfall: Amount | None = None


class FeedReorg(Out):
    """`event: reorg`: blocks already announced were replaced; what they said no longer holds."""

    from_block: int
    to_block: int | None
    reload: bool
    message: str


FEED_EVENTS: dict[str, type[Out]] = {
    "block": FeedBlock,
    "payment": FeedPayment,
    "refund": FeedPayment,
    "settlement": FeedSettlement,
    "reorg": FeedReorg,
}
