"""Offline signed payments: an EIP-2612 permit plus an EIP-712 PaymentIntent, as pure functions.

A resident signs at home (no network); a merchant's terminal later submits
`ServicePayments.payWithPermit(payer, merchantId, amount, ref, deadline, v, r, s, intentSig)`.
Both signatures use the same nonce, the payer's current permit nonce on the token (the
contract checks the intent against `nonces(payer)` before the permit consumes it).

Domains (chain id 69003):
- permit: the token's ERC20Permit domain, name = the token name ("Monnaie du 3e"), version "1",
  verifyingContract = the token; `Permit(owner, spender = ServicePayments, value = amount,
  nonce, deadline)`.
- intent: name "District ServicePayments", version "1", verifyingContract = ServicePayments;
  `PaymentIntent(address payer,uint256 merchantId,uint256 amount,bytes32 ref,uint256 nonce,
  uint256 deadline)`.

eth-account is imported lazily (inside the functions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wallet_cli.errors import UsageError, WalletError
from wallet_cli.names import keccak256, to_checksum_address

TOKEN_NAME = "Monnaie du 3e"
FILE_KIND = "m3e-signed-payment"
FILE_VERSION = 1

@dataclass(frozen=True)
class PaymentTerms:
    """What the payer agrees to; everything the two signatures cover."""

    token: str
    service_payments: str
    chain_id: int
    payer: str
    merchant_id: int
    amount: int
    ref: bytes
    nonce: int
    deadline: int
    token_name: str = TOKEN_NAME

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise UsageError("A signed payment needs an amount above zero.")
        if self.merchant_id <= 0:
            raise UsageError("Merchant ids start at 1.")
        if len(self.ref) != 32:
            raise UsageError("The reference must be exactly 32 bytes.")
        if self.nonce < 0 or self.deadline <= 0:
            raise UsageError("The nonce and the deadline must be positive numbers.")


def permit_typed_data(terms: PaymentTerms) -> dict[str, Any]:
    """The EIP-712 message of the EIP-2612 permit (spender = ServicePayments, value = amount)."""
    from ledger.chain import typed_data

    return typed_data.permit_typed_data(
        chain_id=terms.chain_id, token=terms.token, token_name=terms.token_name, owner=terms.payer,
        spender=terms.service_payments, value=terms.amount, nonce=terms.nonce, deadline=terms.deadline,
    )


def intent_typed_data(terms: PaymentTerms) -> dict[str, Any]:
    """The EIP-712 message of the payment intent."""
    from ledger.chain import typed_data

    return typed_data.intent_typed_data(
        chain_id=terms.chain_id, payments=terms.service_payments, payer=terms.payer,
        merchant_id=terms.merchant_id, amount=terms.amount, ref=terms.ref, nonce=terms.nonce,
        deadline=terms.deadline,
    )


@dataclass(frozen=True)
class SignedPayment:
    terms: PaymentTerms
    permit_v: int
    permit_r: bytes
    permit_s: bytes
    intent_signature: bytes
    permit_digest: bytes
    intent_digest: bytes

    def pay_with_permit_args(self) -> list[Any]:
        """The arguments of ServicePayments.payWithPermit, in order."""
        t = self.terms
        return [
            to_checksum_address(t.payer),
            t.merchant_id,
            t.amount,
            "0x" + t.ref.hex(),
            t.deadline,
            self.permit_v,
            "0x" + self.permit_r.hex(),
            "0x" + self.permit_s.hex(),
            "0x" + self.intent_signature.hex(),
        ]

    def to_json(self) -> dict[str, Any]:
        """The file handed to the merchant's terminal (integers as decimal strings)."""
        t = self.terms
        return {
            "kind": FILE_KIND,
            "version": FILE_VERSION,
            "chain_id": t.chain_id,
            "token": to_checksum_address(t.token),
            "token_name": t.token_name,
            "service_payments": to_checksum_address(t.service_payments),
            "payer": to_checksum_address(t.payer),
            "merchant_id": str(t.merchant_id),
            "amount": str(t.amount),
            "ref": "0x" + t.ref.hex(),
            "nonce": str(t.nonce),
            "deadline": str(t.deadline),
            "permit": {
                "v": self.permit_v,
                "r": "0x" + self.permit_r.hex(),
                "s": "0x" + self.permit_s.hex(),
                "digest": "0x" + self.permit_digest.hex(),
            },
            "intent": {
                "signature": "0x" + self.intent_signature.hex(),
                "digest": "0x" + self.intent_digest.hex(),
            },
        }


def sign_payment(private_key: bytes, terms: PaymentTerms) -> SignedPayment:
    """Sign the permit and the intent with the payer's key (no network)."""
    from eth_account import Account

    account = Account.from_key(private_key)
    if account.address.lower() != terms.payer.lower():
        raise WalletError("The key does not belong to the payer of these terms.")
    permit = Account.sign_typed_data(private_key, full_message=permit_typed_data(terms))
    intent = Account.sign_typed_data(private_key, full_message=intent_typed_data(terms))
    return SignedPayment(
        terms=terms,
        permit_v=int(permit.v),
        permit_r=int(permit.r).to_bytes(32, "big"),
        permit_s=int(permit.s).to_bytes(32, "big"),
        intent_signature=bytes(intent.signature),
        permit_digest=bytes(permit.message_hash),
        intent_digest=bytes(intent.message_hash),
    )


def load_signed_payment(data: dict[str, Any]) -> SignedPayment:
    """Read a signed-payment file back and check both signatures are the payer's."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    if data.get("kind") != FILE_KIND or data.get("version") != FILE_VERSION:
        raise UsageError(f"This is not a signed M3E payment file ({FILE_KIND} v{FILE_VERSION}).")
    try:
        terms = PaymentTerms(
            token=str(data["token"]),
            service_payments=str(data["service_payments"]),
            chain_id=int(data["chain_id"]),
            payer=str(data["payer"]),
            merchant_id=int(data["merchant_id"]),
            amount=int(data["amount"]),
            ref=bytes.fromhex(str(data["ref"]).removeprefix("0x")),
            nonce=int(data["nonce"]),
            deadline=int(data["deadline"]),
            token_name=str(data.get("token_name", TOKEN_NAME)),
        )
        permit = data["permit"]
        v, r, s = int(permit["v"]), _hex32(permit["r"]), _hex32(permit["s"])
        intent_sig = bytes.fromhex(str(data["intent"]["signature"]).removeprefix("0x"))
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"The signed payment file is malformed ({exc}).") from exc
    permit_msg = encode_typed_data(full_message=permit_typed_data(terms))
    intent_msg = encode_typed_data(full_message=intent_typed_data(terms))
    permit_signer = Account.recover_message(permit_msg, vrs=(v, r, s))
    intent_signer = Account.recover_message(intent_msg, signature=intent_sig)
    for what, signer in (("permit", permit_signer), ("payment intent", intent_signer)):
        if signer.lower() != terms.payer.lower():
            raise WalletError(
                f"The {what} was not signed by the payer {terms.payer} (signed by {signer}): "
                "the file was changed after signing."
            )
    return SignedPayment(
        terms, v, r, s, intent_sig, _digest(permit_msg), _digest(intent_msg)
    )


def _digest(message: Any) -> bytes:
    """keccak256(0x19 || version || header || body): the EIP-712 digest that is signed."""
    return keccak256(b"\x19" + bytes(message.version) + bytes(message.header) + bytes(message.body))


def _hex32(value: Any) -> bytes:
    raw = bytes.fromhex(str(value).removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError("a signature component is not 32 bytes")
    return raw
