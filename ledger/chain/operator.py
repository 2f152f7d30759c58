"""Operator actions on the district contracts, each checking the signer's role first.

A refusal says which role is missing and who holds the power instead, before anything is sent.
Admin actions (role grants, minter allowances) are sent directly when the signer is the default
admin (a local dev chain), or proposed to the TimelockController when the admin is one and the
signer is one of its proposers: `execute=True` later sends the same operation once its delay has
passed. A Safe admin signs in the Safe's own interface; the command then says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from ledger.chain.client import ChainClient, SentTx
from ledger.chain.deploy import decoder_for_manifest
from ledger.chain.district import deposit_reference, ref32
from ledger.chain.governance import abi_items
from ledger.chain.manifest import Manifest
from ledger.domain.treasury import bank_ref_encodings
from ledger.errors import ChainError, InputError

CONTRACT_ALIASES = {
    "token": "DistrictToken",
    "payments": "ServicePayments",
    "settlement": "EnergySettlement",
}


class RoleMissing(ChainError):
    """The signer does not hold the role the action needs (checked before sending)."""


@dataclass(frozen=True)
class AdminOutcome:
    """What an admin action did: sent at once, proposed to the timelock, or executed from it."""

    status: str  # "sent" | "scheduled" | "executed"
    tx_hash: str
    operation_id: str | None = None
    ready_at: int | None = None


class Operator:
    """The district contracts seen from an operator key."""

    def __init__(self, w3: Web3, account: LocalAccount, manifest: Manifest) -> None:
        self.manifest = manifest
        self.client = ChainClient(w3, account, decoder_for_manifest(manifest))
        self.contracts: dict[str, Contract] = {
            name: self.client.contract(info.address, info.abi) for name, info in manifest.contracts.items()
        }
        tl = manifest.governance.get("TimelockController")
        self.timelock = self.client.contract(tl.address, tl.abi) if tl is not None else None

    @property
    def address(self) -> str:
        return self.client.address

    def name_of(self, contract: Contract) -> str:
        return next((n for n, c in self.contracts.items() if c.address == contract.address), contract.address)

    def contract(self, alias: str) -> Contract:
        name = CONTRACT_ALIASES.get(alias, alias)
        if name not in self.contracts:
            raise InputError(f"no contract {alias!r} in the manifest: use {', '.join(CONTRACT_ALIASES)}")
        return self.contracts[name]

    # --- roles -------------------------------------------------------------------------------
    def role_id(self, contract: Contract, role: str) -> bytes:
        constant = role_constant(role)
        if constant == "DEFAULT_ADMIN_ROLE":
            return bytes(32)
        if not any(i.get("name") == constant and i.get("type") == "function" for i in abi_items(contract)):
            raise InputError(f"{self.name_of(contract)} has no {constant}")
        return bytes(self.client.call(getattr(contract.functions, constant)()))

    def has_role(self, contract: Contract, role: str, account: str) -> bool:
        return bool(
            self.client.call(
                contract.functions.hasRole(self.role_id(contract, role), Web3.to_checksum_address(account))
            )
        )

    def require_role(self, contract: Contract, role: str) -> None:
        if not self.has_role(contract, role, self.address):
            constant = role_constant(role)
            raise RoleMissing(
                f"{self.address} does not hold {constant} on {self.name_of(contract)}: sign with the key "
                f"that holds it (`ledger role list` shows who does)"
            )

    def roles(self) -> dict[str, dict[str, list[str]]]:
        """Holders of every role, from the role events on chain (grants minus revocations)."""
        out: dict[str, dict[str, list[str]]] = {}
        for name, contract in self.contracts.items():
            names = {self.role_id(contract, r): r for r in _role_names(contract)}
            names[bytes(32)] = "DEFAULT_ADMIN_ROLE"
            holders: dict[str, set[str]] = {r: set() for r in names.values()}
            first = self.manifest.contracts[name].deploy_block
            for event, add in (("RoleGranted", True), ("RoleRevoked", False)):
                for log in getattr(contract.events, event)().get_logs(from_block=first):
                    role = names.get(bytes(log["args"]["role"]))
                    if role is None:
                        continue
                    (holders[role].add if add else holders[role].discard)(str(log["args"]["account"]))
            out[name] = {
                r: sorted(a for a in hs if self.has_role(contract, r, a)) for r, hs in sorted(holders.items())
            }
        return out

    def grant(
        self, alias: str, role: str, account: str, *, revoke: bool = False, execute: bool = False
    ) -> AdminOutcome:
        contract = self.contract(alias)
        role_id = self.role_id(contract, role)
        account = checksum(account, "the account")
        fn = contract.functions.revokeRole if revoke else contract.functions.grantRole
        return self.admin_call(contract, fn(role_id, account), execute=execute)

    # --- admin calls: directly, or through the timelock ------------------------------------
    def admin_call(self, contract: Contract, call: Any, *, execute: bool = False) -> AdminOutcome:
        admin = str(self.client.call(contract.functions.defaultAdmin()))
        if admin == self.address:
            return AdminOutcome("sent", self.client.transact(call).tx_hash)
        timelock = self.timelock
        if timelock is None or admin != timelock.address:
            code = self.client.w3.eth.get_code(Web3.to_checksum_address(admin))
            kind = "a Safe or another contract" if code else "another key"
            raise RoleMissing(
                f"the admin of {self.name_of(contract)} is {admin} ({kind}), not {self.address}: "
                "the admin must make this change"
            )
        data = bytes.fromhex(call._encode_transaction_data()[2:])
        target = contract.address
        salt = bytes(32)
        predecessor = bytes(32)
        op_id = bytes(self.client.call(timelock.functions.hashOperation(target, 0, data, predecessor, salt)))
        if execute:
            if not self._timelock_role("EXECUTOR_ROLE"):
                raise RoleMissing(f"{self.address} may not execute timelock operations (EXECUTOR_ROLE)")
            ready_at = int(self.client.call(timelock.functions.getTimestamp(op_id)))
            if ready_at == 0:
                raise InputError("this change was never proposed: run the command without --execute first")
            if ready_at == 1:
                raise InputError("this change was already executed")
            now = int(self.client.w3.eth.get_block("latest")["timestamp"])
            if now < ready_at:
                raise InputError(
                    f"the timelock delay has not passed: this change can be executed in {ready_at - now} s"
                )
            sent = self.client.transact(timelock.functions.execute(target, 0, data, predecessor, salt))
            return AdminOutcome("executed", sent.tx_hash, "0x" + op_id.hex(), ready_at)
        if not self._timelock_role("PROPOSER_ROLE"):
            raise RoleMissing(
                f"the admin of {self.name_of(contract)} is the timelock {timelock.address}, and "
                f"{self.address} is not one of its proposers: a proposer must propose this change"
            )
        delay = int(self.client.call(timelock.functions.getMinDelay()))
        sent = self.client.transact(timelock.functions.schedule(target, 0, data, predecessor, salt, delay))
        ready_at = int(self.client.call(timelock.functions.getTimestamp(op_id)))
        return AdminOutcome("scheduled", sent.tx_hash, "0x" + op_id.hex(), ready_at)

    def _timelock_role(self, role: str) -> bool:
        timelock = self.timelock
        if timelock is None:
            return False
        role_id = bytes(self.client.call(getattr(timelock.functions, role)()))
        return bool(
            self.client.call(timelock.functions.hasRole(role_id, self.address))
            or self.client.call(timelock.functions.hasRole(role_id, "0x" + "00" * 20))
        )

    # --- minters -----------------------------------------------------------------------------
    def set_minter_allowance(
        self, minter: str, allowance: int, daily_limit: int, *, execute: bool = False
    ) -> AdminOutcome:
        token = self.contract("token")
        call = token.functions.configureMinter(Web3.to_checksum_address(minter), allowance, daily_limit)
        return self.admin_call(token, call, execute=execute)

    def minter(self, account: str) -> tuple[int, int, int]:
        allowance, daily, today = self.client.call(
            self.contract("token").functions.minter(Web3.to_checksum_address(account))
        )
        return int(allowance), int(daily), int(today)

    # --- freezes -----------------------------------------------------------------------------
    def freeze(self, account: str, order_ref: str, *, unfreeze: bool = False) -> SentTx:
        token = self.contract("token")
        self.require_role(token, "freezer")
        fn = token.functions.unfreeze if unfreeze else token.functions.freeze
        return self.client.transact(fn(checksum(account, "the account"), ref32(order_ref)))

    def is_frozen(self, account: str) -> bool:
        return bool(
            self.client.call(self.contract("token").functions.isFrozen(Web3.to_checksum_address(account)))
        )

    # --- pause -------------------------------------------------------------------------------
    def pausable(self) -> list[str]:
        """The contracts of the manifest that can be paused, by name."""
        return [
            name
            for name, contract in self.contracts.items()
            if any(i.get("name") == "pause" and i.get("type") == "function" for i in abi_items(contract))
        ]

    def is_paused(self, alias: str) -> bool:
        return bool(self.client.call(self.contract(alias).functions.paused()))

    def set_paused(self, alias: str, paused: bool) -> SentTx | None:
        """Pause or unpause one contract (PAUSER_ROLE); None when it already is in that state
        (OpenZeppelin would revert: nothing to send)."""
        contract = self.contract(alias)
        self.require_role(contract, "pauser")
        if self.is_paused(alias) == paused:
            return None
        fn = contract.functions.pause if paused else contract.functions.unpause
        return self.client.transact(fn())

    # --- deposits ----------------------------------------------------------------------------
    def record_deposit(self, bank_ref: str, beneficiary: str, amount: int) -> SentTx:
        """Mint `amount` micro-M3E to `beneficiary` for the euro deposit `bank_ref` (TREASURER_ROLE,
        within the key's allowance); every refusal the contract would make is said before sending."""
        from ledger.domain.money import format_micro

        if amount <= 0:
            raise InputError("the amount of a deposit must be more than 0 M3E")
        reference = deposit_reference(bank_ref)
        beneficiary = checksum(beneficiary, "the beneficiary")
        token = self.contract("token")
        self.require_role(token, "treasurer")
        # every encoding the reference ever minted under is checked, so it never mints again
        if any(self.client.call(token.functions.depositRecorded(r)) for r in bank_ref_encodings(bank_ref)):
            raise InputError(
                f"the bank reference {bank_ref!r} was already recorded (a reference mints once, ever): "
                "check the bank statement; nothing was sent"
            )
        if self.is_paused("token"):
            raise InputError("the token is paused: `ledger unpause` first (PAUSER_ROLE); nothing was sent")
        allowance, daily, today = self.minter(self.address)
        if amount > allowance:
            raise RoleMissing(
                f"{self.address} may still mint {format_micro(allowance)}, less than "
                f"{format_micro(amount)}: the admin raises it with `ledger minter set-allowance`"
            )
        if daily and today + amount > daily:
            raise RoleMissing(
                f"{self.address} may mint {format_micro(daily)} a day and minted "
                f"{format_micro(today)} today: record this deposit tomorrow (UTC) or ask the admin "
                "for a higher daily limit"
            )
        return self.client.transact(
            token.functions.recordDeposit(reference, beneficiary, amount)
        )

    # --- merchant registry -------------------------------------------------------------------
    def register_merchant(self, name: str, category: int, payout: str) -> tuple[int, SentTx]:
        """Register a merchant (REGISTRAR_ROLE); names that read like another merchant's are
        refused by the District's own check before sending."""
        from ledger.chain.district import Category, District

        payout = checksum(payout, "the payout")
        self.require_role(self.contract("payments"), "registrar")
        district = District(self.client.w3, self.client.account, self.manifest)
        return district.register_merchant(name, Category(category), payout)

    def merchant(self, merchant_id: int) -> dict[str, Any]:
        payments = self.contract("payments")
        count = int(self.client.call(payments.functions.merchantCount()))
        if not 1 <= merchant_id <= count:
            raise InputError(
                f"there is no merchant #{merchant_id} (ids run from 1 to {count}): `ledger merchant list`"
            )
        record = self.client.call(payments.functions.merchant(merchant_id))
        name = self.client.call_text(payments.functions.merchantName(merchant_id))
        return {"id": merchant_id, "name": name, "payout": str(record[0]), "active": bool(record[2])}

    def set_merchant_active(self, merchant_id: int, active: bool) -> SentTx | None:
        """Suspend or resume a merchant (REGISTRAR_ROLE); None when it already is in that state."""
        payments = self.contract("payments")
        self.require_role(payments, "registrar")
        if self.merchant(merchant_id)["active"] == active:
            return None
        return self.client.transact(payments.functions.setMerchantActive(merchant_id, active))

    # --- merchant payouts --------------------------------------------------------------------
    def request_payout_change(self, merchant_id: int, payout: str) -> tuple[int, SentTx]:
        payments = self.contract("payments")
        self.require_role(payments, "registrar")
        sent = self.client.transact(
            payments.functions.requestPayoutChange(merchant_id, checksum(payout, "the payout"))
        )
        _, effective_at = self.pending_payout(merchant_id)
        return effective_at, sent

    def complete_payout_change(self, merchant_id: int) -> SentTx:
        return self.client.transact(self.contract("payments").functions.completePayoutChange(merchant_id))

    def cancel_payout_change(self, merchant_id: int) -> SentTx:
        payments = self.contract("payments")
        if not (
            self.has_role(payments, "registrar", self.address)
            or self.has_role(payments, "DEFAULT_ADMIN_ROLE", self.address)
        ):
            raise RoleMissing(
                f"{self.address} holds neither REGISTRAR_ROLE nor the admin role on ServicePayments: "
                "only they may cancel a payout change"
            )
        return self.client.transact(payments.functions.cancelPayoutChange(merchant_id))

    def pending_payout(self, merchant_id: int) -> tuple[str, int]:
        payout, effective_at = self.client.call(
            self.contract("payments").functions.pendingPayout(merchant_id)
        )
        return str(payout), int(effective_at)


def checksum(address: str, what: str) -> str:
    """`address` in checksum form, or an InputError naming `what` (a typo never reaches a send)."""
    text = address.strip()
    if not Web3.is_address(text):
        raise InputError(f"{what} {address!r} is not an address: give 0x followed by 40 hex digits")
    return str(Web3.to_checksum_address(text))


def role_constant(role: str) -> str:
    name = role.strip().upper().replace("-", "_")
    if name in ("ADMIN", "DEFAULT_ADMIN", "DEFAULT_ADMIN_ROLE"):
        return "DEFAULT_ADMIN_ROLE"
    if not name or not name.replace("_", "").isalnum():
        raise InputError(f"{role!r} is not a role name (treasurer, pauser, freezer, registrar, ...)")
    return name if name.endswith("_ROLE") else f"{name}_ROLE"


def _role_names(contract: Contract) -> list[str]:
    return sorted(
        str(i["name"])
        for i in abi_items(contract)
        if i.get("type") == "function"
        and str(i.get("name", "")).endswith("_ROLE")
        and not i.get("inputs")
        and i["name"] != "DEFAULT_ADMIN_ROLE"
    )
