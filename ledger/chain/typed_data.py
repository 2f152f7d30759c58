"""The EIP-712 messages a payer signs offline: the EIP-2612 permit and the payment intent.

One definition for the service (`ledger.chain.district`) and the wallet (`wallet_cli.signing`),
so that what the wallet signs is what the contracts check. No web3 here: the wallet imports it.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

PAYMENTS_DOMAIN_NAME = "District ServicePayments"
DOMAIN_VERSION = "1"  # ERC20Permit and ServicePayments both use "1"

DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
PERMIT_TYPE = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
INTENT_TYPE = [
    {"name": "payer", "type": "address"},
    {"name": "merchantId", "type": "uint256"},
    {"name": "amount", "type": "uint256"},
    {"name": "ref", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


def permit_typed_data(
    *, chain_id: int, token: str, token_name: str, owner: str, spender: str, value: int,
    nonce: int, deadline: int,
) -> dict[str, Any]:
    """The EIP-2612 permit of `value` from `owner` to `spender`, in the token's domain."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, "Permit": PERMIT_TYPE},
        "primaryType": "Permit",
        "domain": {
            "name": token_name,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(token),
        },
        "message": {
            "owner": to_checksum_address(owner),
            "spender": to_checksum_address(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def intent_typed_data(
    *, chain_id: int, payments: str, payer: str, merchant_id: int, amount: int, ref: bytes,
    nonce: int, deadline: int,
) -> dict[str, Any]:
    """The payment intent (merchant, amount, reference, permit nonce, deadline) for ServicePayments."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, "PaymentIntent": INTENT_TYPE},
        "primaryType": "PaymentIntent",
        "domain": {
            "name": PAYMENTS_DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(payments),
        },
        "message": {
            "payer": to_checksum_address(payer),
            "merchantId": merchant_id,
            "amount": amount,
            "ref": ref,
            "nonce": nonce,
            "deadline": deadline,
        },
    }
