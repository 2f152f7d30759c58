"""What the treasury needs from the chain, with one in-memory fake for tests.

The real adapter is `ledger.treasury.chain.ChainTreasury`. `record_deposit` raises
`ContractRuleError` with the contract's custom error name when the contract refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from ledger.errors import ContractRuleError


@dataclass(frozen=True)
class Redemption:
    redemption_id: int
    merchant: str
    amount: int
    fee: int
    euros: int
    payout_ref: str
    block_number: int
    block_day: date
    tx_hash: str


class TreasuryChain(Protocol):
    def deposit_recorded(self, bank_ref: bytes) -> bool: ...

    def record_deposit(self, bank_ref: bytes, beneficiary: str, amount: int) -> str:
        """Send recordDeposit and wait for it; the transaction hash."""
        ...

    def today(self) -> date:
        """The UTC day of the latest block."""
        ...

    def reserve(self, day: date | None = None) -> int:
        """The reserve at the end of `day` (UTC), or now."""
        ...

    def total_supply(self, day: date | None = None) -> int: ...

    def redemptions(self) -> list[Redemption]: ...


@dataclass
class FakeTreasuryChain:
    """The DistrictToken's deposit rules in memory: a bankRef mints once; an optional allowance."""

    minted: dict[bytes, tuple[str, int]] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    supply: int = 0
    reserve_now: int = 0
    allowance: int | None = None
    day: date = date(2026, 11, 30)
    crash_after_send: bool = False
    sent: int = 0
    redeemed: list[Redemption] = field(default_factory=list)

    def deposit_recorded(self, bank_ref: bytes) -> bool:
        return bank_ref in self.minted

    def record_deposit(self, bank_ref: bytes, beneficiary: str, amount: int) -> str:
        if bank_ref in self.minted:
            raise ContractRuleError(
                "This bank reference already minted; a deposit mints once, ever.",
                "DistrictTokenDepositAlreadyRecorded",
                {"bankRef": bank_ref},
            )
        if amount == 0:
            raise ContractRuleError(
                "An amount of zero was given where value must move.", "DistrictTokenZeroAmount"
            )
        if int(beneficiary, 16) == 0:
            raise ContractRuleError(
                "The zero address was given where an account is needed.", "DistrictTokenZeroAddress"
            )
        if self.allowance is not None and amount > self.allowance:
            raise ContractRuleError(
                "The treasurer's minting allowance is too low for this deposit.",
                "DistrictTokenMintAboveAllowance",
                {"amount": amount, "allowance": self.allowance},
            )
        if self.allowance is not None:
            self.allowance -= amount
        self.minted[bank_ref] = (beneficiary, amount)
        self.balances[beneficiary] = self.balances.get(beneficiary, 0) + amount
        self.supply += amount
        self.reserve_now += amount
        self.sent += 1
        if self.crash_after_send:
            raise KeyboardInterrupt("simulated crash after the transaction was mined")
        return "0x" + bank_ref.hex()

    def today(self) -> date:
        return self.day

    def reserve(self, day: date | None = None) -> int:
        return self.reserve_now

    def total_supply(self, day: date | None = None) -> int:
        return self.supply

    def redemptions(self) -> list[Redemption]:
        return list(self.redeemed)

    def redeem(self, merchant: str, amount: int, fee: int, ref: str = "") -> Redemption:
        """A merchant converts `amount`: `fee` to the commons fund, the rest leaves the reserve."""
        euros = amount - fee
        self.supply -= euros
        self.reserve_now -= euros
        r = Redemption(len(self.redeemed) + 1, merchant, amount, fee, euros, ref, 1, self.day, "0x")
        self.redeemed.append(r)
        return r
