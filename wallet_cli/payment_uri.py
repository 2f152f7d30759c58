"""ERC-681 payment requests for M3E, and how the payment reference travels in them.

A request reads::

    ethereum:<token>@69003/transfer?address=<merchant payout>&uint256=<micro-M3E>&ref=<reference>

- `<token>` is the M3E token contract, `@69003` the district chain id, `transfer` the ERC-20
  function, `address` the recipient and `uint256` the amount in base units (micro-M3E, so
  12.50 M3E is `uint256=12500000`). ERC-681 lets numbers use scientific notation: `1.25e7`
  is read as 12500000 too; a number that is not a whole number of base units is refused.
- `ref` and `refsalt` are this project's extension (ERC-681 lets a URI carry more parameters;
  wallets that do not know them ignore them). `ref` is the payment reference the merchant wants
  to match (percent-encoded UTF-8 text, 1 to 140 bytes); `refsalt` is 32 random bytes written
  `0x` + 64 hex digits, drawn by `wallet request` for this request only. The chain never sees
  the reference: `ServicePayments.pay(merchantId, amount, ref)` gets the commitment
  `keccak256(DOMAIN || salt || utf8(ref))` (ledger.chain.reference), which the payer and the
  merchant, who both hold the URI, can match and nobody else can guess. Example::

      ethereum:0x5FbDB2315678afecb367f032d93F642f64180aa3@69003/transfer
        ?address=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC&uint256=7500000
        &ref=TABLE-7&refsalt=0x9f2c...(64 hex digits)

  Older requests carry `ref` without `refsalt`: text of at most 32 bytes, or `0x` followed by
  64 hex digits. Either is committed by the paying wallet under a salt it draws and prints,
  since the merchant cannot match the payment without it: a `0x` reference is not sent as is,
  since nothing proves it is a commitment rather than zero-padded clear text. `refsalt`
  without `ref` is refused.
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
    ref_salt: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        on_chain = self.on_chain_ref() if self.ref is not None else None
        return {
            "token": self.token,
            "chain_id": self.chain_id,
            "to": self.to,
            "amount": str(self.amount),
            "amount_display": format_amount(self.amount),
            "ref": self.ref,
            "ref_salt": "0x" + self.ref_salt.hex() if self.ref_salt else None,
            "ref_bytes32": "0x" + on_chain.hex() if on_chain is not None else None,
            "ref_on_chain": (
                None if self.ref is None
                else "the commitment ref_bytes32" if on_chain is not None
                else "a commitment under a salt the paying wallet draws (not known yet)"
            ),
        }

    def on_chain_ref(self) -> bytes | None:
        """What the chain gets: the commitment when the request has a salt; None when it has a
        reference but no salt (the paying wallet commits it under a salt it draws then: the
        reference never goes on chain in clear, even written as 0x and 64 hex digits)."""
        if self.ref is None:
            return bytes(32)
        if self.ref_salt is not None:
            from wallet_cli.references import commit

            return commit(self.ref, self.ref_salt).commitment
        return None


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
    token: str, to: str, amount: int, *, ref: str | None = None, chain_id: int = DISTRICT_CHAIN_ID,
    ref_salt: bytes | None = None,
) -> str:
    """The ERC-681 URI of a request to pay `amount` micro-M3E to `to` (with `ref_salt`, the
    reference may be up to 140 bytes: only its commitment goes on chain)."""
    if amount <= 0 or amount > MAX_UINT256:
        raise UsageError("The requested amount must be more than zero.")
    token = to_checksum_address(token)
    to = to_checksum_address(to)
    uri = f"ethereum:{token}@{chain_id}/transfer?address={to}&uint256={amount}"
    if ref_salt is not None:
        from wallet_cli.references import check_reference

        if ref is None or len(ref_salt) != 32:
            raise UsageError("A reference salt goes with a reference, and is 32 bytes.")
        return (uri + "&ref=" + quote(check_reference(ref), safe="")
                + "&refsalt=0x" + ref_salt.hex())
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
    if value.is_zero():
        return 0
    if value.adjusted() >= len(str(MAX_UINT256)):  # bound before building a huge integer
        raise PaymentURIError(f"The {what} '{text}' is too large.")
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
    if not (chain_text.isascii() and chain_text.isdigit()):  # '³'.isdigit() is True
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
    salt_text = params.get("refsalt")
    ref_salt = None
    if salt_text is not None:
        from ledger.chain.reference import ReferenceError, parse_salt

        if ref is None:
            raise PaymentURIError("This request has a reference salt ('refsalt') but no 'ref'.")
        if not salt_text.lower().startswith("0x"):
            raise PaymentURIError("The reference salt ('refsalt') must be 0x and 64 hex digits.")
        try:
            ref_salt = parse_salt(salt_text)
        except ReferenceError as exc:
            raise PaymentURIError(str(exc)) from None
    if ref is not None:
        try:
            if ref_salt is not None:
                from wallet_cli.references import check_reference

                ref = check_reference(ref)
            else:
                ref = check_ref(ref)
        except UsageError as exc:
            raise PaymentURIError(exc.message) from None
    known = {"address", "uint256", "ref", "refsalt", "value"} | _IGNORED_PARAMS
    extra = {k: v for k, v in params.items() if k not in known}
    return PaymentRequest(token, chain_id, to, amount, ref, extra, ref_salt)


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
