"""Payment references as commitments: what goes on chain instead of the reference in clear.

A payment reference ("DESK-2026-11-CHLOE") says who paid what for what: it must not be readable
by anyone with RPC access or the public API. On chain a payment carries only

    commitment = keccak256(DOMAIN || salt || utf8(reference))

where `salt` is 32 random bytes chosen by whoever issues the payment request (the merchant) and
travels with the request (the ERC-681 URI, the QR code, the signed authorization's context) to the
payer, and `DOMAIN` is a fixed tag so the hash cannot be confused with another keccak use. Payer
and merchant both hold (reference, salt) and can match the commitment; nobody else can guess it,
even for short or predictable references, because of the salt.

No web3 here: the service, the API and the wallet all import this one definition.
"""

from __future__ import annotations

import secrets

from eth_utils.crypto import keccak

DOMAIN = b"M3E payment reference v1\x00"
SALT_BYTES = 32
REFERENCE_MAX_BYTES = 140  # the SEPA remittance field's size: plenty for an invoice reference


class ReferenceError(ValueError):
    """A reference or a salt that cannot be committed; the message says what to change."""


def new_salt() -> bytes:
    """A fresh random salt for one payment request."""
    return secrets.token_bytes(SALT_BYTES)


def check_reference(reference: str) -> bytes:
    """The UTF-8 bytes of a valid reference: printable text of 1 to 140 bytes."""
    if not reference or not reference.isprintable():
        raise ReferenceError("A payment reference must be printable text (for example INV-2025-042).")
    data = reference.encode("utf-8")
    if len(data) > REFERENCE_MAX_BYTES:
        raise ReferenceError(
            f"The payment reference is {len(data)} bytes long: at most {REFERENCE_MAX_BYTES} bytes."
        )
    return data


def parse_salt(text: str) -> bytes:
    """A salt written as 64 hexadecimal digits (with or without 0x), as it travels in a URI."""
    raw = text[2:] if text.lower().startswith("0x") else text
    try:
        salt = bytes.fromhex(raw)
    except ValueError:
        raise ReferenceError("The reference salt must be 64 hexadecimal digits.") from None
    if len(salt) != SALT_BYTES:
        raise ReferenceError(f"The reference salt must be {SALT_BYTES} bytes (64 hexadecimal digits).")
    return salt


def reference_commitment(reference: str, salt: bytes) -> bytes:
    """The 32-byte commitment to `reference` under `salt` that the chain records."""
    if len(salt) != SALT_BYTES:
        raise ReferenceError(f"The reference salt must be {SALT_BYTES} bytes.")
    return bytes(keccak(DOMAIN + salt + check_reference(reference)))


def matches(commitment: bytes, reference: str, salt: bytes) -> bool:
    """True when `commitment` is the commitment of `reference` under `salt`."""
    try:
        return secrets.compare_digest(reference_commitment(reference, salt), bytes(commitment))
    except ReferenceError:
        return False
