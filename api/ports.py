"""The API's two ports: the indexed ledger (read-only) and the operator's chain access.

Real adapters: ledger.db.queries_api.ApiQueries (SQL) and api.chain_ops.ChainOperator (web3 via
ledger.chain). In-memory fakes for tests: api.fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from ledger.db.queries_api import (
    BalanceFigure,
    CursorInfo,
    MerchantItem,
    Page,
    PaymentItem,
    SupplyPoint,
    TokenFigures,
    TransferItem,
)

Role = Literal["registrar", "treasurer"]


class LedgerReader(Protocol):
    """What the API reads from the indexer's database; every answer states the indexed block."""

    def cursor(self) -> CursorInfo: ...

    def token_figures(self, since_time: int, exclude: Sequence[str]) -> TokenFigures: ...

    def supply_series(self, limit: int) -> Page[SupplyPoint]: ...

    def balance(self, account: str) -> BalanceFigure: ...

    def history(self, account: str, before: tuple[int, int] | None, limit: int) -> Page[TransferItem]: ...

    def merchants(self, category: int | None) -> Page[MerchantItem]: ...

    def payments(
        self,
        *,
        payer: str | None = None,
        after: tuple[int, int] | None = None,
        before: tuple[int, int] | None = None,
        day_from: str | None = None,
        day_to: str | None = None,
        until_block: int | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> Page[PaymentItem]: ...

    def blocks(self, numbers: Sequence[int]) -> dict[int, str]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class OperatorReceipt:
    tx_hash: str
    block_number: int
    merchant_id: int | None = None


class OperatorChain(Protocol):
    """Role checks and operator transactions, signed with the operator key of the settings."""

    def has_role(self, role: Role, address: str) -> bool: ...

    def register_merchant(self, name: str, category: int, payout: str) -> OperatorReceipt: ...

    def record_deposit(self, bank_ref: str, beneficiary: str, amount: int) -> OperatorReceipt: ...
