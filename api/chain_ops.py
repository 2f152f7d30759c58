"""The real OperatorChain: roles read on chain, transactions signed with the operator key.

Goes through ledger.chain (the only package importing web3). The node and the key are loaded at
first use, so the API starts even when the node is down (public reads keep working).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from api.ports import OperatorReceipt, Role, SignedPaymentTerms
from api.settings import ApiSettings
from ledger.errors import ConfigError, ManifestError

_ROLES: dict[Role, tuple[str, str]] = {
    "registrar": ("payments", "REGISTRAR_ROLE"),
    "treasurer": ("token", "TREASURER_ROLE"),
}


class ChainOperator:
    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._district: Any = None
        self._roles: dict[Role, bytes] = {}
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        with self._lock:
            if self._district is None:
                from ledger.chain.client import connect, load_signer
                from ledger.chain.district import District
                from ledger.chain.manifest import Manifest
                from ledger.settings import LedgerSettings

                if self.settings.manifest is None:
                    raise ManifestError("no deployment manifest configured (LEDGER_MANIFEST)")
                manifest = Manifest.load(Path(self.settings.manifest))
                w3 = connect(self.settings.rpc_url, timeout=10.0)
                shared = LedgerSettings(
                    rpc_url=self.settings.rpc_url,
                    deployer_key=self.settings.operator_key,
                    keystore=self.settings.keystore,
                    keystore_password_file=self.settings.keystore_password_file,
                )
                if int(w3.eth.chain_id) != self.settings.chain_id:
                    raise ConfigError(
                        f"the node at {self.settings.rpc_url} is not chain {self.settings.chain_id}"
                    )
                self._district = District(w3, load_signer(shared, w3, prompt=None), manifest)
            return self._district

    def _role(self, district: Any, role: Role) -> tuple[Any, bytes]:
        contract_attr, constant = _ROLES[role]
        contract = getattr(district, contract_attr)
        if role not in self._roles:
            self._roles[role] = bytes(district.client.call(getattr(contract.functions, constant)()))
        return contract, self._roles[role]

    def has_role(self, role: Role, address: str) -> bool:
        district = self._connect()
        contract, role_id = self._role(district, role)
        return bool(district.client.call(contract.functions.hasRole(role_id, to_checksum_address(address))))

    def register_merchant(self, name: str, category: int, payout: str) -> OperatorReceipt:
        from ledger.chain.district import Category

        district = self._connect()
        merchant_id, sent = district.register_merchant(name, Category(category), payout)
        return OperatorReceipt(sent.tx_hash, sent.block_number, int(merchant_id))

    def record_deposit(self, bank_ref: str, beneficiary: str, amount: int) -> OperatorReceipt:
        district = self._connect()
        sent = district.record_deposit(bank_ref, beneficiary, amount)
        return OperatorReceipt(sent.tx_hash, sent.block_number)

    def submit_signed_payment(self, payment: SignedPaymentTerms) -> OperatorReceipt:
        """Relay a resident's signed payment (`payWithAuthorization`); the contract checks
        everything, and a refusal is decoded before anything is sent (gas estimation)."""
        from ledger.chain.district import SignedPayment

        district = self._connect()
        sent = district.submit_signed_payment(
            SignedPayment(
                chain_id=district.client.chain_id, token=district.token.address,
                payments=district.payments.address, payer=to_checksum_address(payment.payer),
                merchant_id=payment.merchant_id, payout=district.payout_of(payment.merchant_id),
                amount=payment.amount, ref=payment.ref, valid_after=payment.valid_after,
                valid_before=payment.valid_before, payer_nonce=payment.payer_nonce,
                signature=payment.signature,
            )
        )
        return OperatorReceipt(sent.tx_hash, sent.block_number)
