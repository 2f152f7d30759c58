"""The API's ports: the indexed ledger (read-only), the operator's chain access, the gateway
reading pipeline (writes), the energy readings (read-only) and the settlement days.

Real adapters: ledger.db.queries_api.ApiQueries (SQL), api.chain_ops.ChainOperator (web3 via
ledger.chain), ledger.energy.ingest.IngestPipeline over ledger.db.energy_store.SqlEnergyStore,
ledger.db.queries_energy.EnergyQueries, api.energy_sources.SettlementRecords (the settlement records
and the commitments and payments the indexer decoded). In-memory fakes for tests: api.fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from ledger.db.queries_api import (
    BalanceFigure,
    BookingItem,
    CommonsFigures,
    CursorInfo,
    FundFigures,
    MandateItem,
    MerchantItem,
    Page,
    PaymentItem,
    SupplyPoint,
    TokenFigures,
    TransferItem,
)
from ledger.db.queries_energy import (
    DistrictRows,
    OnChainSettlement,
    OwnReading,
    Published,
    SettlementEvent,
    StepFigure,
)
from ledger.energy.ingest import IngestResult
from ledger.energy.reviews import Keep, ReviewItem
from ledger.energy.settlement import DayLines

Role = Literal["registrar", "treasurer"]


class LedgerReader(Protocol):
    """What the API reads from the indexer's database; every answer states the indexed block."""

    # True when cursor(), balance() and history() are bounded index reads of a local database
    # (SQLite: well under a millisecond, never waiting on the indexer in WAL mode), which the API
    # then runs on the event loop: cheaper than a worker-thread round trip and its GIL hand-offs.
    # False (PostgreSQL over the network): every read goes to a worker thread.
    inline_reads: bool

    def cursor(self) -> CursorInfo: ...

    def token_figures(self, since_time: int, exclude: Sequence[str]) -> TokenFigures: ...

    def supply_series(self, limit: int) -> Page[SupplyPoint]: ...

    def fund_figures(self, fund: str) -> FundFigures: ...

    def balance(self, account: str) -> BalanceFigure: ...

    def history(self, account: str, before: tuple[int, int] | None, limit: int) -> Page[TransferItem]: ...

    def merchants(self, category: int | None) -> Page[MerchantItem]: ...

    def payments(
        self,
        *,
        payer: str | None = None,
        merchant_id: int | None = None,
        after: tuple[int, int] | None = None,
        before: tuple[int, int] | None = None,
        day_from: str | None = None,
        day_to: str | None = None,
        until_block: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> Page[PaymentItem]: ...

    def blocks(self, numbers: Sequence[int]) -> dict[int, str]: ...

    def block_times(self, numbers: Sequence[int]) -> dict[int, int]: ...

    def commons(self, token: str | None, recent: int = 20) -> CommonsFigures: ...

    def bookings(
        self, payer: str | None = None, limit: int = 100, *, merchant_id: int | None = None
    ) -> Page[BookingItem]: ...

    def mandates(self, member: str) -> Page[MandateItem]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class OperatorReceipt:
    tx_hash: str
    block_number: int
    merchant_id: int | None = None


@dataclass(frozen=True)
class SignedPaymentTerms:
    """A payment a resident signed offline (ERC-3009), as a merchant's terminal hands it in."""

    payer: str
    merchant_id: int
    amount: int
    ref: bytes
    valid_after: int
    valid_before: int
    payer_nonce: bytes
    signature: bytes


class OperatorChain(Protocol):
    """Role checks and operator transactions, signed with the operator key of the settings."""

    def has_role(self, role: Role, address: str) -> bool: ...

    def register_merchant(self, name: str, category: int, payout: str) -> OperatorReceipt: ...

    def record_deposit(self, bank_ref: str, beneficiary: str, amount: int) -> OperatorReceipt: ...

    def submit_signed_payment(self, payment: SignedPaymentTerms) -> OperatorReceipt: ...


class ReviewDesk(Protocol):
    """The review queue of conflicting readings (ledger.db.energy_store.SqlEnergyStore)."""

    def review_queue(self, status: str | None = "open") -> list[ReviewItem]: ...

    def resolve_review(self, review_id: int, keep: Keep, by: str) -> ReviewItem: ...


class ReadingIngest(Protocol):
    """The reading pipeline (ledger.energy.ingest.IngestPipeline): verifies, validates, stores."""

    def ingest_http(self, body: bytes, gateway_id: str | None = None) -> IngestResult: ...


class EnergyReader(Protocol):
    """Stored meter readings, read-only (current values, one source per interval)."""

    def district(self, start_ts: int, end_ts: int) -> DistrictRows: ...

    def freeze(self, step_s: int, figures: Sequence[StepFigure], now: int) -> Published:
        """Keep `figures` as published (the first stored wins); what is stored for each."""
        ...

    def own_readings(self, account: str, start_ts: int, end_ts: int) -> list[OwnReading]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SettledDay:
    """One (operation, day, version): its stored lines and proofs, and what the chain holds."""

    operation_id: int
    day: date
    version: int
    lines: DayLines | None
    chain: OnChainSettlement | None


class SettlementSource(Protocol):
    """Settlement days: the lines kept by `ledger settle` and the indexed on-chain commitments."""

    def cursor(self) -> CursorInfo: ...

    def recent(self, limit: int) -> list[SettledDay]:
        """Every version of the `limit` latest settled days, newest day first."""
        ...

    def day(self, day: date) -> list[SettledDay]: ...

    def events(
        self,
        *,
        after: tuple[int, int] | None = None,
        until_block: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[SettlementEvent]:
        """Indexed commitments and paid batches in (block, log index) order, for the live feed."""
        ...

    def close(self) -> None: ...
