"""Offline signed payments and their cancellation: ERC-3009 authorizations, as pure functions.

A resident signs at home (no network); a merchant's terminal later submits
`ServicePayments.payWithAuthorization(payer, merchantId, amount, ref, validAfter, validBefore,
payerNonce, signature)`. The one signature is an EIP-712 `ReceiveWithAuthorization(from = payer,
to = ServicePayments, value = amount, validAfter, validBefore, nonce)` on the token's domain
(name "Monnaie du 3e", version "1", chain id 69003, the token), whose nonce is the payment witness
keccak256(abi.encode(PaymentWitness typehash, merchantId, payout, ref, payerNonce)) with a fresh
random 32-byte payerNonce (see ledger.chain.typed_data, the one definition). Nothing of it can be
changed by the terminal; it pays once ever; payments signed in any order all go through.

The payer cancels an unused one with an EIP-712 `CancelAuthorization(authorizer, nonce)` of the
same witness nonce, which anyone may submit (`wallet cancel`, or `wallet broadcast` of the file).

eth-account is imported lazily (inside the functions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wallet_cli.errors import UsageError, WalletError
from wallet_cli.names import keccak256, to_checksum_address

TOKEN_NAME = "Monnaie du 3e"
FILE_KIND = "m3e-signed-payment"
FILE_VERSION = 2
CANCEL_KIND = "m3e-signed-cancel"
CANCEL_VERSION = 1


@dataclass(frozen=True)
class PaymentTerms:
    """What the payer agrees to; everything the signature covers."""

    token: str
    service_payments: str
    chain_id: int
    payer: str
    merchant_id: int
    payout: str
    amount: int
    ref: bytes
    valid_after: int
    valid_before: int
    payer_nonce: bytes
    token_name: str = TOKEN_NAME

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise UsageError("A signed payment needs an amount above zero.")
        if self.merchant_id <= 0:
            raise UsageError("Merchant ids start at 1.")
        if len(self.ref) != 32:
            raise UsageError("The reference must be exactly 32 bytes.")
        if len(self.payer_nonce) != 32:
            raise UsageError("The payer nonce must be exactly 32 bytes.")
        if self.valid_after < 0 or self.valid_before <= self.valid_after:
            raise UsageError("The payment must become valid before it expires.")

    @property
    def nonce(self) -> bytes:
        """The ERC-3009 nonce the token marks used: the witness of merchant, payout, ref."""
        from ledger.chain.typed_data import payment_authorization_nonce

        return payment_authorization_nonce(self.merchant_id, self.payout, self.ref, self.payer_nonce)


def authorization_typed_data(terms: PaymentTerms) -> dict[str, Any]:
    """The EIP-712 ReceiveWithAuthorization the payer signs."""
    from ledger.chain import typed_data

    return typed_data.authorization_typed_data(
        primary_type="ReceiveWithAuthorization", chain_id=terms.chain_id, token=terms.token,
        token_name=terms.token_name, sender=terms.payer,
        to=terms.service_payments, value=terms.amount, valid_after=terms.valid_after,
        valid_before=terms.valid_before, nonce=terms.nonce,
    )


@dataclass(frozen=True)
class SignedPayment:
    terms: PaymentTerms
    signature: bytes
    digest: bytes

    def pay_with_authorization_args(self) -> list[Any]:
        """The arguments of ServicePayments.payWithAuthorization, in order (bytes as 0x-hex)."""
        t = self.terms
        return [
            to_checksum_address(t.payer),
            t.merchant_id,
            t.amount,
            "0x" + t.ref.hex(),
            t.valid_after,
            t.valid_before,
            "0x" + t.payer_nonce.hex(),
            "0x" + self.signature.hex(),
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
            "payout": to_checksum_address(t.payout),
            "amount": str(t.amount),
            "ref": "0x" + t.ref.hex(),
            "valid_after": str(t.valid_after),
            "valid_before": str(t.valid_before),
            "payer_nonce": "0x" + t.payer_nonce.hex(),
            "nonce": "0x" + t.nonce.hex(),
            "signature": "0x" + self.signature.hex(),
            "digest": "0x" + self.digest.hex(),
        }


def sign_payment(private_key: bytes, terms: PaymentTerms) -> SignedPayment:
    """Sign the authorization with the payer's key (no network)."""
    from eth_account import Account

    account = Account.from_key(private_key)
    if account.address.lower() != terms.payer.lower():
        raise WalletError("The key does not belong to the payer of these terms.")
    signed = Account.sign_typed_data(private_key, full_message=authorization_typed_data(terms))
    return SignedPayment(terms, bytes(signed.signature), bytes(signed.message_hash))


def load_signed_payment(data: dict[str, Any], *, check_signer: bool = True) -> SignedPayment:
    """Read a signed-payment file back; check the signature is the payer's key.

    `check_signer=False` for a payer that is a contract wallet (EIP-1271): only the wallet
    contract can say whether it accepts the signature, and the token asks it on submission.
    """
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    if data.get("kind") == FILE_KIND and data.get("version") == 1:
        raise UsageError(
            "This payment was signed for the old permit path, which the contracts no longer accept: "
            "ask the payer to sign it again with this wallet (`wallet sign payment`)."
        )
    if data.get("kind") != FILE_KIND or data.get("version") != FILE_VERSION:
        raise UsageError(f"This is not a signed M3E payment file ({FILE_KIND} v{FILE_VERSION}).")
    try:
        terms = PaymentTerms(
            token=str(data["token"]),
            service_payments=str(data["service_payments"]),
            chain_id=int(data["chain_id"]),
            payer=str(data["payer"]),
            merchant_id=int(data["merchant_id"]),
            payout=to_checksum_address(str(data["payout"])),
            amount=int(data["amount"]),
            ref=_hex(data["ref"], 32),
            valid_after=int(data["valid_after"]),
            valid_before=int(data["valid_before"]),
            payer_nonce=_hex(data["payer_nonce"], 32),
            token_name=str(data.get("token_name", TOKEN_NAME)),
        )
        signature = _hex(data["signature"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"The signed payment file is malformed ({exc}).") from exc
    message = encode_typed_data(full_message=authorization_typed_data(terms))
    if check_signer:
        try:
            signer = Account.recover_message(message, signature=signature)
        except Exception as exc:
            raise WalletError(f"The payment's signature cannot be read ({type(exc).__name__}).") from exc
        if signer.lower() != terms.payer.lower():
            raise WalletError(
                f"The payment was not signed by the payer {terms.payer} (signed by {signer}): "
                "the file was changed after signing."
            )
    return SignedPayment(terms, signature, _digest(message))


@dataclass(frozen=True)
class SignedCancel:
    """The payer's cancellation of one unused authorization (by its ERC-3009 nonce)."""

    token: str
    chain_id: int
    authorizer: str
    nonce: bytes
    signature: bytes
    token_name: str = TOKEN_NAME

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": CANCEL_KIND,
            "version": CANCEL_VERSION,
            "chain_id": self.chain_id,
            "token": to_checksum_address(self.token),
            "token_name": self.token_name,
            "authorizer": to_checksum_address(self.authorizer),
            "nonce": "0x" + self.nonce.hex(),
            "signature": "0x" + self.signature.hex(),
        }


def cancel_typed_data(token: str, token_name: str, chain_id: int, authorizer: str,
                      nonce: bytes) -> dict[str, Any]:
    from ledger.chain import typed_data

    return typed_data.cancel_authorization_typed_data(chain_id=chain_id, token=token, token_name=token_name,
                                        authorizer=authorizer, nonce=nonce)


def sign_cancel(private_key: bytes, payment: PaymentTerms) -> SignedCancel:
    """Sign the cancellation of a signed payment (no network); only its payer can."""
    from eth_account import Account

    account = Account.from_key(private_key)
    if account.address.lower() != payment.payer.lower():
        raise WalletError(
            f"Only the payer {payment.payer} can cancel this payment; this account is {account.address}."
        )
    message = cancel_typed_data(payment.token, payment.token_name, payment.chain_id, payment.payer,
                                payment.nonce)
    signed = Account.sign_typed_data(private_key, full_message=message)
    return SignedCancel(payment.token, payment.chain_id, account.address, payment.nonce,
                        bytes(signed.signature), payment.token_name)


def load_signed_cancel(data: dict[str, Any], *, check_signer: bool = True) -> SignedCancel:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    if data.get("kind") != CANCEL_KIND or data.get("version") != CANCEL_VERSION:
        raise UsageError(f"This is not a signed M3E cancellation ({CANCEL_KIND} v{CANCEL_VERSION}).")
    try:
        cancel = SignedCancel(
            token=str(data["token"]), chain_id=int(data["chain_id"]),
            authorizer=to_checksum_address(str(data["authorizer"])), nonce=_hex(data["nonce"], 32),
            signature=_hex(data["signature"]), token_name=str(data.get("token_name", TOKEN_NAME)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"The signed cancellation file is malformed ({exc}).") from exc
    if check_signer:
        message = encode_typed_data(full_message=cancel_typed_data(
            cancel.token, cancel.token_name, cancel.chain_id, cancel.authorizer, cancel.nonce))
        signer = Account.recover_message(message, signature=cancel.signature)
        if signer.lower() != cancel.authorizer.lower():
            raise WalletError(f"The cancellation was not signed by {cancel.authorizer}: refused.")
    return cancel


def _digest(message: Any) -> bytes:
    """keccak256(0x19 || version || header || body): the EIP-712 digest that is signed."""
    return keccak256(b"\x19" + bytes(message.version) + bytes(message.header) + bytes(message.body))


def _hex(value: Any, length: int | None = None) -> bytes:
    raw = bytes.fromhex(str(value).removeprefix("0x"))
    if length is not None and len(raw) != length:
        raise ValueError(f"a {length}-byte value has {len(raw)} bytes")
    return raw
