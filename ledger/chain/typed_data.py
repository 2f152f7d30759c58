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


# ERC-3009 authorizations (the district token's domain). A signed payment is a
# ReceiveWithAuthorization to ServicePayments whose nonce is the payment witness hash below.
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


def _token_domain(chain_id: int, token: str, token_name: str) -> dict[str, Any]:
    return {
        "name": token_name,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(token),
    }


def payment_authorization_nonce(merchant_id: int, payout: str, ref: bytes, payer_nonce: bytes) -> bytes:
    """ServicePayments.paymentAuthorizationNonce: the ERC-3009 nonce binding merchant, payout, reference."""
    from eth_abi.abi import encode
    from eth_utils.crypto import keccak

    if len(ref) != 32 or len(payer_nonce) != 32:
        raise ValueError("the reference and the payer nonce are 32 bytes each")
    return keccak(
        encode(
            ["bytes32", "uint256", "address", "bytes32", "bytes32"],
            [keccak(text=PAYMENT_WITNESS_TYPE), merchant_id, to_checksum_address(payout), ref, payer_nonce],
        )
    )


def authorization_typed_data(
    *, primary_type: str, chain_id: int, token: str, token_name: str, sender: str, to: str, value: int,
    valid_after: int, valid_before: int, nonce: bytes,
) -> dict[str, Any]:
    """An ERC-3009 TransferWithAuthorization or ReceiveWithAuthorization in the token's domain."""
    if primary_type not in ("TransferWithAuthorization", "ReceiveWithAuthorization"):
        raise ValueError(f"not an ERC-3009 transfer type: {primary_type}")
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, primary_type: AUTHORIZATION_TYPE},
        "primaryType": primary_type,
        "domain": _token_domain(chain_id, token, token_name),
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
    """The ERC-3009 CancelAuthorization of `nonce` by its signer."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, "CancelAuthorization": CANCEL_AUTHORIZATION_TYPE},
        "primaryType": "CancelAuthorization",
        "domain": _token_domain(chain_id, token, token_name),
        "message": {"authorizer": to_checksum_address(authorizer), "nonce": nonce},
    }
