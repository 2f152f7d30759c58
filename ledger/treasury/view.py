"""What the API shows of the treasury: the operator's bank details, a resident's top-up (the
reference registered to the signed-in account) and the monthly attestation.

`TreasuryView` is the port; `SqlTreasuryView` the real adapter (SQL, and the chain for the
attestation); tests use `MemoryTreasuryView`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from ledger.domain.treasury import (
    MICRO_PER_CENT,
    MICRO_PER_EUR,
    TreasuryRuleError,
    format_eur,
    topup_reference,
)

MAX_TOPUP_MICRO = 999_999_999_99 * MICRO_PER_CENT  # the EPC QR code's amount field: EUR 999,999,999.99


@dataclass(frozen=True)
class BankDetails:
    iban: str
    name: str
    bic: str | None = None


def topup_instructions(bank: BankDetails, account: str, amount: int, reference: str) -> dict[str, Any]:
    """IBAN, amount, RF `reference` and the EPC069-12 payload for a top-up of `amount` micro-euro."""
    if amount <= 0 or amount % MICRO_PER_CENT:
        raise TreasuryRuleError("a top-up is a positive number of euros with at most two decimals (12.50)")
    if amount > MAX_TOPUP_MICRO:
        raise TreasuryRuleError("a top-up is at most 999999999.99 EUR (the limit of a SEPA QR code)")
    return {
        "iban": bank.iban,
        "name": bank.name,
        "bic": bank.bic,
        "amount": amount,
        "amount_eur": format_eur(amount),
        "reference": reference,
        "account": account.lower(),
    }


def epc_qr(bank: BankDetails, amount: int, reference: str) -> Any:
    """segno's EPC069-12 QR code ("GiroCode") for the transfer; the amount as an exact Decimal."""
    from segno import helpers

    euros = Decimal(amount) / MICRO_PER_EUR
    return helpers.make_epc_qr(
        name=bank.name[:70], iban=bank.iban, amount=euros, reference=reference, bic=bank.bic or None
    )


class TreasuryView(Protocol):
    def bank(self) -> BankDetails | None: ...

    def register(self, account: str) -> str: ...

    def attestation(self, month: str) -> dict[str, Any]: ...


@dataclass
class MemoryTreasuryView:
    details: BankDetails | None = None
    registered: dict[str, str] = field(default_factory=dict)
    attestations: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def bank(self) -> BankDetails | None:
        return self.details

    def register(self, account: str) -> str:
        reference = topup_reference(account, self.key)
        self.registered[reference] = account.lower()
        return reference

    def attestation(self, month: str) -> dict[str, Any]:
        if month not in self.attestations:
            raise KeyError(month)
        return self.attestations[month]


class SqlTreasuryView:
    def __init__(self, database_url: str, rpc_url: str, manifest_path: Any, reference_key: bytes) -> None:
        from ledger.db import make_engine, migrate

        self.engine = make_engine(database_url)
        migrate(self.engine)
        self.rpc_url = rpc_url
        self.manifest_path = manifest_path
        self._reference_key = reference_key

    def bank(self) -> BankDetails | None:
        from ledger.treasury.settings import TreasurySettings

        s = TreasurySettings()
        return BankDetails(s.iban, s.name, s.bic) if s.iban else None

    def register(self, account: str) -> str:
        from ledger.treasury.service import register_reference

        return register_reference(self.engine, account, "resident", self._reference_key)

    def attestation(self, month: str) -> dict[str, Any]:
        from eth_account import Account

        from ledger.chain.client import connect
        from ledger.chain.manifest import Manifest
        from ledger.treasury.chain import ChainTreasury
        from ledger.treasury.reconcile import attestation

        chain = ChainTreasury(
            connect(self.rpc_url), Account.create(), Manifest.load(self.manifest_path), index=self.engine
        )
        return attestation(self.engine, chain, month)
