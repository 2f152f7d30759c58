"""The EIP-712 messages a payer signs offline: ERC-3009 payment authorizations and cancellations.

One definition for the service (`ledger.chain.district`) and the wallet (`wallet_cli.signing`),
so that what the wallet signs is what the contracts check. No web3 here: the wallet imports it.

A signed payment is one `ReceiveWithAuthorization` on the token's domain (name = the token name,
version "1", the chain id, the token address) with from = the payer, to = ServicePayments,
value = the amount, a validity window, and as its nonce the payment witness

    keccak256(abi.encode(PAYMENT_WITNESS_TYPEHASH, merchantId, payout, ref, payerNonce))

where payerNonce is 32 random bytes drawn by the wallet. ServicePayments recomputes the witness
from the merchant, its current payout address and the reference it is given, so a terminal can
change none of payee, amount, reference or validity; the token uses each nonce once ever and lets
its signer cancel an unused one (`CancelAuthorization(authorizer, nonce)`, the witness nonce).
"""

from __future__ import annotations

import secrets
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

DOMAIN_VERSION = "1"  # the token's EIP-712 domain (ERC20Permit's "1")

DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
AUTHORIZATION_TYPE = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]
CANCEL_AUTHORIZATION_TYPE = [
    {"name": "authorizer", "type": "address"},
    {"name": "nonce", "type": "bytes32"},
]
PAYMENT_WITNESS_TYPE = "PaymentWitness(uint256 merchantId,address payout,bytes32 ref,bytes32 payerNonce)"
TRANSFER_TYPES = ("TransferWithAuthorization", "ReceiveWithAuthorization")


def random_nonce() -> bytes:
    """32 random bytes from the operating system's CSPRNG: a payer nonce used once, ever."""
    return secrets.token_bytes(32)


def payment_authorization_nonce(merchant_id: int, payout: str, ref: bytes, payer_nonce: bytes) -> bytes:
    """ServicePayments.paymentAuthorizationNonce: the ERC-3009 nonce of a payment, binding the
    merchant, its payout address and the reference."""
    if len(ref) != 32 or len(payer_nonce) != 32:
        raise ValueError("the reference and the payer nonce are 32 bytes each")
    return keccak(
        abi_encode(
            ["bytes32", "uint256", "address", "bytes32", "bytes32"],
            [keccak(text=PAYMENT_WITNESS_TYPE), merchant_id, to_checksum_address(payout), ref, payer_nonce],
        )
    )


def _domain(chain_id: int, token: str, token_name: str) -> dict[str, Any]:
    return {
        "name": token_name,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(token),
    }


def authorization_typed_data(
    *, primary_type: str, chain_id: int, token: str, token_name: str, sender: str, to: str, value: int,
    valid_after: int, valid_before: int, nonce: bytes,
) -> dict[str, Any]:
    """An ERC-3009 TransferWithAuthorization or ReceiveWithAuthorization in the token's domain."""
    if primary_type not in TRANSFER_TYPES:
        raise ValueError(f"not an ERC-3009 transfer type: {primary_type}")
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, primary_type: AUTHORIZATION_TYPE},
        "primaryType": primary_type,
        "domain": _domain(chain_id, token, token_name),
        "message": {
            "from": to_checksum_address(sender),
            "to": to_checksum_address(to),
            "value": value,
            "validAfter": valid_after,
            "validBefore": valid_before,
            "nonce": nonce,
        },
    }


def cancel_authorization_typed_data(
    *, chain_id: int, token: str, token_name: str, authorizer: str, nonce: bytes
) -> dict[str, Any]:
    """An ERC-3009 CancelAuthorization of `nonce` (the witness nonce of a signed payment)."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, "CancelAuthorization": CANCEL_AUTHORIZATION_TYPE},
        "primaryType": "CancelAuthorization",
        "domain": _domain(chain_id, token, token_name),
        "message": {"authorizer": to_checksum_address(authorizer), "nonce": nonce},
    }

