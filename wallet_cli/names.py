"""Addresses and names: what may be an account or contact name, what is an address.

A name must never be mistaken for an address (or an address for a name): names that look like
an address (`0x` followed by hex, or 40 hex digits), like an ENS name (`alice.eth`,
`pay.example.org`) or like a URI are refused. Addresses are checked against their EIP-55
checksum when they are written in mixed case.
"""

from __future__ import annotations

import re

from wallet_cli.errors import AddressError, BadNameError

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEXISH = re.compile(r"^(0x|0X)?[0-9a-fA-F]{40}$")
_DOTTED = re.compile(r"^[^\s.]+(\.[^\s.]+)+$")
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_CONTACT_CHARS = re.compile(r"^[\w][\w '&.-]{0,63}$")


def keccak256(data: bytes) -> bytes:
    from eth_hash.auto import keccak  # lazy: loads a backend

    return bytes(keccak(data))


def to_checksum_address(text: str) -> str:
    """Validate `text` as an address and return it in EIP-55 form.

    All-lowercase and all-uppercase hex are accepted as is; mixed case must match the checksum.
    """
    value = text.strip()
    if not _ADDRESS.match(value):
        raise AddressError(
            f"'{text}' is not an address: an address is 0x followed by 40 hexadecimal digits."
        )
    hex_part = value[2:]
    digest = keccak256(hex_part.lower().encode("ascii")).hex()
    checksummed = "0x" + "".join(
        ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch.lower()
        for i, ch in enumerate(hex_part)
    )
    mixed = hex_part != hex_part.lower() and hex_part != hex_part.upper()
    if mixed and value != checksummed:
        raise AddressError(
            f"'{text}' has a wrong checksum (a typo?): check the address letter by letter."
        )
    return checksummed


def is_address(text: str) -> bool:
    return bool(_ADDRESS.match(text.strip()))


def looks_like_address(text: str) -> bool:
    """True for anything a person could take for an address or an ENS name."""
    value = text.strip()
    return bool(
        _HEXISH.match(value)
        or value.lower().startswith("0x")
        or _DOTTED.match(value)
        or ":" in value
        or "/" in value
        or "@" in value
    )


def check_account_name(name: str) -> str:
    """An account (keystore) name: letters, digits, '-' and '_', at most 64, not address-like."""
    if looks_like_address(name) or not _ACCOUNT_NAME.match(name):
        raise BadNameError(
            f"'{name}' cannot be an account name: use letters, digits, '-' or '_' "
            "(at most 64), and nothing that looks like an address."
        )
    return name


def check_contact_name(name: str) -> str:
    """A contact name: words (accents welcome), spaces, ' & . -, never address- or ENS-like."""
    from ledger.names import char_names, printable, unsafe_characters

    value = " ".join(name.split())
    hidden = unsafe_characters(value)
    if hidden:
        raise BadNameError(
            f"'{printable(value)}' cannot be a contact name: it holds characters nobody can see "
            f"or that change how a name is shown ({char_names(hidden)}). Type the name again "
            "with letters, digits, spaces and ' & . - only."
        )
    if looks_like_address(value):
        raise BadNameError(
            f"'{name}' looks like an address or an ENS name: a contact name must not, "
            "so that a name is never mistaken for an address."
        )
    if value.isdigit():
        raise BadNameError(
            f"'{name}' cannot be a contact name: a number is read as a merchant number (#id). "
            "Use a name with letters."
        )
    if not _CONTACT_CHARS.match(value):
        raise BadNameError(
            f"'{name}' cannot be a contact name: use letters, digits, spaces and ' & . - "
            "(at most 64 characters)."
        )
    return value
