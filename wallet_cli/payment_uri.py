"""ERC-681 payment requests for M3E, and how the payment reference travels in them.

A request reads::

    ethereum:<token>@69003/transfer?address=<merchant payout>&uint256=<micro-M3E>&ref=<reference>

- `<token>` is the M3E token contract, `@69003` the district chain id, `transfer` the ERC-20
  function, `address` the recipient and `uint256` the amount in base units (micro-M3E, so
  12.50 M3E is `uint256=12500000`). ERC-681 lets numbers use scientific notation: `1.25e7`
  is read as 12500000 too; a number that is not a whole number of base units is refused.
- `ref` is this project's extension (ERC-681 lets a URI carry more parameters; wallets that do
  not know it ignore it). It is the payment reference the merchant wants to see on chain
  (`ServicePayments.pay(merchantId, amount, ref)`), percent-encoded UTF-8 text of at most 32
  bytes, or `0x` followed by 64 hex digits for a raw bytes32. On chain the text becomes a
  bytes32 holding its UTF-8 bytes left-aligned and zero-padded (what Solidity's `bytes32("...")`
  and ledger.chain's `ref32` produce; ethers' `encodeBytes32String` does the same up to 31
  bytes), so both ends turn it back into the same text.
- Parsing refuses: another scheme, an ENS name instead of an address, a missing or different
  chain id, a token other than the expected one, a function other than `transfer`, ether
  attached (`value`), a missing or zero amount, repeated parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, unquote

from wallet_cli.amounts import MAX_UINT256, format_amount
from wallet_cli.errors import AddressError, PaymentURIError, UsageError
from wallet_cli.names import to_checksum_address

DISTRICT_CHAIN_ID = 69003
REF_MAX_BYTES = 32
_NUMBER = re.compile(r"^[+]?[0-9]*(\.[0-9]+)?([eE][+]?[0-9]+)?$")
_RAW_REF = re.compile(r"^0x[0-9a-fA-F]{64}$")
_IGNORED_PARAMS = {"gas", "gasLimit", "gasPrice"}


@dataclass(frozen=True)
class PaymentRequest:
    token: str
    chain_id: int
    to: str
    amount: int
    ref: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "chain_id": self.chain_id,
            "to": self.to,
            "amount": str(self.amount),
            "amount_display": format_amount(self.amount),
            "ref": self.ref,
            "ref_bytes32": "0x" + ref_to_bytes32(self.ref).hex() if self.ref else None,
        }


def check_ref(ref: str) -> str:
    """A reference is non-empty printable text of at most 32 UTF-8 bytes, or a raw bytes32."""
    if _RAW_REF.match(ref):
        return ref.lower()
    if not ref or not ref.isprintable():
        raise UsageError("A payment reference must be printable text (for example INV-2025-042).")
    size = len(ref.encode("utf-8"))
    if size > REF_MAX_BYTES:
        raise UsageError(
            f"The payment reference is {size} bytes long: at most {REF_MAX_BYTES} bytes of text "
            "fit in the on-chain reference."
        )
    return ref


def ref_to_bytes32(ref: str) -> bytes:
    """The on-chain bytes32 of a reference (UTF-8, left-aligned, zero-padded; or raw hex)."""
    ref = check_ref(ref)
    if _RAW_REF.match(ref):
        return bytes.fromhex(ref[2:])
    return ref.encode("utf-8").ljust(32, b"\0")


def bytes32_to_ref(value: bytes) -> str:
    """Back from the chain: the text when it is padded UTF-8 text, else 0x-hex."""
    if len(value) != 32:
        raise UsageError("A reference is exactly 32 bytes on chain.")
    text_bytes = value.rstrip(b"\0")
    if b"\0" not in text_bytes and len(text_bytes) <= REF_MAX_BYTES:
        try:
            text = text_bytes.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if text and text.isprintable():
            return text
    return "0x" + value.hex()


def build_payment_uri(
    token: str, to: str, amount: int, *, ref: str | None = None, chain_id: int = DISTRICT_CHAIN_ID
) -> str:
    """The ERC-681 URI of a request to pay `amount` micro-M3E to `to`."""
    if amount <= 0 or amount > MAX_UINT256:
        raise UsageError("The requested amount must be more than zero.")
    token = to_checksum_address(token)
    to = to_checksum_address(to)
    uri = f"ethereum:{token}@{chain_id}/transfer?address={to}&uint256={amount}"
    if ref is not None:
        uri += "&ref=" + quote(check_ref(ref), safe="")
    return uri


def parse_erc681_number(text: str, what: str) -> int:
    """An ERC-681 number ("12500000", "1.25e7", "2.014e18") as an exact integer."""
    mantissa = re.split("[eE]", text)[0]
    if not _NUMBER.match(text) or not any(c.isdigit() for c in mantissa):
        raise PaymentURIError(f"The {what} '{text}' is not a number.")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex filtered
        raise PaymentURIError(f"The {what} '{text}' is not a number.") from exc
    if value != value.to_integral_value():
        raise PaymentURIError(
            f"The {what} '{text}' is not a whole number of base units (micro-M3E)."
        )
    number = int(value)
    if number > MAX_UINT256:
        raise PaymentURIError(f"The {what} '{text}' is too large.")
    return number


def parse_payment_uri(
    uri: str,
    *,
    expected_token: str | None = None,
    expected_chain_id: int = DISTRICT_CHAIN_ID,
) -> PaymentRequest:
    """Read an ERC-681 M3E payment request and check it is for this chain and token."""
    text = uri.strip()
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() != "ethereum":
        raise PaymentURIError("This is not a payment request: it should start with 'ethereum:'.")
    rest = rest.removeprefix("pay-")
    target_part, _, query = rest.partition("?")
    target_chain, _, function = target_part.partition("/")
    target, at, chain_text = target_chain.partition("@")
    try:
        token = to_checksum_address(target)
    except AddressError:
        raise PaymentURIError(
            f"The request names '{target}' instead of a token address (ENS names are not used "
            "on the district chain)."
        ) from None
    if not at:
        raise PaymentURIError(
            f"The request does not say which chain it is for (expected @{expected_chain_id})."
        )
    if not chain_text.isdigit():
        raise PaymentURIError(f"The chain id '{chain_text}' is not a number.")
    chain_id = int(chain_text)
    if chain_id != expected_chain_id:
        raise PaymentURIError(
            f"This request is for chain {chain_id}, not the district chain {expected_chain_id}: "
            "nothing was paid."
        )
    if function != "transfer":
        what = f"the function '{function}'" if function else "a plain ether transfer"
        raise PaymentURIError(f"This request asks for {what}; an M3E request uses 'transfer'.")
    if expected_token is not None and token.lower() != expected_token.lower():
        raise PaymentURIError(
            f"This request is for the token {token}, not M3E "
            f"({to_checksum_address(expected_token)}): nothing was paid."
        )
    params = _parse_query(query)
    if "value" in params and parse_erc681_number(params["value"], "value") != 0:
        raise PaymentURIError("This request also asks for ether ('value'): refused.")
    if "address" not in params:
        raise PaymentURIError("This request does not say who to pay (no 'address').")
    if "uint256" not in params:
        raise PaymentURIError("This request does not say how much to pay (no 'uint256').")
    try:
        to = to_checksum_address(params["address"])
    except AddressError as exc:
        raise PaymentURIError(f"The recipient is not valid: {exc.message}") from None
    amount = parse_erc681_number(params["uint256"], "amount")
    if amount == 0:
        raise PaymentURIError("This request is for an amount of zero.")
    ref = params.get("ref")
    if ref is not None:
        try:
            ref = check_ref(ref)
        except UsageError as exc:
            raise PaymentURIError(exc.message) from None
    known = {"address", "uint256", "ref", "value"} | _IGNORED_PARAMS
    extra = {k: v for k, v in params.items() if k not in known}
    return PaymentRequest(token, chain_id, to, amount, ref, extra)


def _parse_query(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    if not query:
        return params
    for part in query.split("&"):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq:
            raise PaymentURIError(f"The parameter '{key}' has no value.")
        key = unquote(key)
        if key in params:
            raise PaymentURIError(f"The parameter '{key}' appears twice: refused as ambiguous.")
        try:
            params[key] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise PaymentURIError(f"The parameter '{key}' is not valid UTF-8 text.") from None
    return params
