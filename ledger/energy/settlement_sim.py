"""A synthetic day of readings for tests, benchmarks and the demo: solar bells and load curves.

Deterministic (no randomness): producer k injects a bell centred on solar noon scaled by k, and
consumer i withdraws a base load with a morning and an evening peak scaled by i. Integers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from ledger.chain.client import ChainClient
from ledger.chain.deploy import decoder_for_manifest
from ledger.chain.district import District
from ledger.chain.manifest import Manifest
from ledger.domain.energy.allocation import StepReadings
from ledger.domain.energy.steps import PARIS, StepLength, day_step_starts
from ledger.energy.settlement_chain import ChainSettlement


def _solar(minute_of_day: int, peak_wh: int) -> int:
    """A bell from 07:00 to 21:00 local, peaking at 14:00 (solar noon in Lyon, summer time)."""
    start, end = 7 * 60, 21 * 60
    if not start <= minute_of_day < end:
        return 0
    x = minute_of_day - start
    half = (end - start) // 2
    return peak_wh * x * (2 * half - x) // (half * half)


def _load(minute_of_day: int, base_wh: int) -> int:
    hour = minute_of_day // 60
    factor = 3 if hour in (7, 8, 19, 20, 21) else 2 if 9 <= hour < 19 else 1
    return base_wh * factor


def synthetic_day(
    day: date,
    producers: Sequence[str],
    consumers: Sequence[str],
    step: StepLength = StepLength.MIN15,
    peak_wh: int = 900,
    base_wh: int = 60,
) -> dict[datetime, StepReadings]:
    """Readings of every step of `day` (UTC step starts) for these meters."""
    out: dict[datetime, StepReadings] = {}
    for start in day_step_starts(day, step):
        local = start.astimezone(PARIS)
        minute = local.hour * 60 + local.minute
        scale = int(step) // 15
        out[start] = StepReadings(
            {p: _solar(minute, peak_wh * (k + 1)) * scale for k, p in enumerate(producers)},
            {c: _load(minute, base_wh + 7 * i) * scale for i, c in enumerate(consumers)},
        )
    return out


# --- a small district on a real chain (tests, benchmarks, demo) -------------------------------


DEMO_MANDATE = (20_000_000, 200_000_000)
"""A home's energy mandate in the demo and the tests: 20 M3E per day, 200 M3E per month."""


def sign_mandate(
    resident: District, settlement: str, operation_id: int, per_day: int, per_month: int
) -> bool:
    """The resident's energy mandate for the operation (the resident's own transactions) and an
    allowance of a year of monthly caps to the settlement contract: bounded, never unlimited.
    False when the same mandate is already there."""
    from eth_utils.address import to_checksum_address

    contract = resident.client.contract(
        to_checksum_address(settlement), resident.manifest.contract("EnergySettlement").abi
    )
    address = resident.client.address
    current = resident.client.call(contract.functions.mandate(operation_id, address))
    if tuple(current)[:3] == (per_day, per_month, True):
        return False
    resident.client.transact(contract.functions.setMandate(operation_id, per_day, per_month))
    spender = to_checksum_address(settlement)
    resident.client.transact(resident.token.functions.approve(spender, per_month * 12))
    return True


def world_account(operation_id: int, meter: str) -> LocalAccount:
    """A deterministic account for a meter of an operation (no ether needed: zero gas price)."""
    account: LocalAccount = Account.from_key(keccak(text=f"district-sim/{operation_id}/{meter}"))
    return account


@dataclass
class SettlementWorld:
    """An operation with funded, pre-authorised consumers and a tariff on chain."""

    operator: District
    chain: ChainSettlement
    operation_id: int
    producers: dict[str, LocalAccount]
    consumers: dict[str, LocalAccount]

    @property
    def accounts(self) -> dict[str, str]:
        return {m: str(a.address) for m, a in {**self.producers, **self.consumers}.items()}

    def balance(self, meter_or_address: str) -> int:
        address = self.accounts.get(meter_or_address, meter_or_address)
        return self.operator.balance_of(address)


def build_world(
    w3: Any,
    manifest: Manifest,
    operation_id: int,
    producers: Sequence[str],
    consumers: Sequence[str],
    *,
    operator: LocalAccount,
    tariff_from: date,
    fund: int = 100_000_000,
    approve: bool = True,
    prices: tuple[int, int, int] = (80_000, 100_000, 60_000),
    mandate: tuple[int, int] = DEMO_MANDATE,
) -> SettlementWorld:
    """Deploy nothing: enrol the meters' accounts (deposit `fund` micro-M3E to each consumer; with
    `approve`, every member, producers included, signs `mandate`), give the operator the
    settlement roles, set a tariff (the chain's clock must be before `tariff_from`)."""
    district = District(w3, operator, manifest)
    chain = ChainSettlement(ChainClient(w3, operator, decoder_for_manifest(manifest)), manifest)
    chain.ensure_roles()
    if not chain.tariffs(operation_id):
        chain.set_tariff(operation_id, tariff_from, *prices)
    prod = {m: world_account(operation_id, m) for m in producers}
    cons = {m: world_account(operation_id, m) for m in consumers}
    for meter, account in cons.items():
        if fund:
            # A bank reference is at most 32 bytes: a short hash of the operation keeps it unique
            # when the operation id is a 256-bit hash of a text id.
            short = keccak(text=str(operation_id)).hex()[:8]
            district.record_deposit(f"SIM-{short}-{meter}"[:32], account.address, fund)
    if approve:
        for account in [*cons.values(), *prod.values()]:
            sign_mandate(District(w3, account, manifest), chain.address, operation_id, *mandate)
    return SettlementWorld(district, chain, operation_id, prod, cons)
