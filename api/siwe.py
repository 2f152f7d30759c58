"""Sign-In with Ethereum (EIP-4361): the message text, its checks, nonces and sessions.

The message format (EIP-4361, version 1)::

    ${scheme}://${domain} wants you to sign in with your Ethereum account:   (scheme optional)
    ${address}                      (EIP-55 checksummed)

    ${statement}                    (optional line; when absent the blank line stays)

    URI: ${uri}
    Version: 1
    Chain ID: ${chain-id}
    Nonce: ${nonce}                 (issued by this server: expiry, random, HMAC; single use)
    Issued At: ${RFC 3339}
    Expiration Time: ${RFC 3339}    (optional)
    Not Before: ${RFC 3339}         (optional)
    Request ID: ${request-id}       (optional)
    Resources:                      (optional, then one "- ${uri}" per line)

The signature is EIP-191 `personal_sign` over the exact text, recovered with eth_account.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_checksum_address

from api.errors import BadRequest, NotSignedIn
from api.state import ApiState, NonceSigner

PREAMBLE = " wants you to sign in with your Ethereum account:"
_HEADER = re.compile(
    r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://)?(?P<domain>[^\s/?#@]+(?::[0-9]{1,5})?)"
    + re.escape(PREAMBLE)
    + r"$"
)
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_NONCE = re.compile(r"^[A-Za-z0-9]{8,64}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$")
_SIGNATURE = re.compile(r"^0x[0-9a-fA-F]{130}$")
MAX_MESSAGE_CHARS = 4096
# The statement residents read in their wallet, in French. EIP-4361 allows only RFC 3986
# characters there (no accents), hence this wording. The page checks it before asking to sign.
SIGN_IN_STATEMENT = (
    "Connexion au registre de la Monnaie du 3e (Lyon) pour consulter mon espace personnel,"
    " sans aucun paiement."
)


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    version: str = "1"
    statement: str | None = None
    scheme: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    def to_text(self) -> str:
        """The exact text to sign."""
        prefix = f"{self.scheme}://" if self.scheme else ""
        lines = [f"{prefix}{self.domain}{PREAMBLE}", self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        else:
            lines += [""]
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {_fmt(self.issued_at)}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_fmt(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_fmt(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _malformed(why: str) -> BadRequest:
    return BadRequest(f"The sign-in message is not a valid EIP-4361 message: {why}.", code="siwe_malformed")


def _time(value: str, name: str) -> datetime:
    if not _RFC3339.match(value):
        raise _malformed(f"{name} must be an RFC 3339 date-time such as 2026-11-25T17:00:00Z")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _malformed(f"{name} is not a real date-time") from None


def parse_message(text: str) -> SiweMessage:
    """Parse the EIP-4361 text strictly (BadRequest with the reason otherwise)."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise _malformed("it is too long")
    if "\r" in text:
        raise _malformed("lines must end with LF only")
    lines = text.split("\n")
    if len(lines) < 8:
        raise _malformed("it is too short")
    header = _HEADER.match(lines[0])
    if header is None:
        raise _malformed(f"the first line must end with '{PREAMBLE.strip()}'")
    address = lines[1]
    if not _ADDRESS.match(address):
        raise _malformed("the second line must be an Ethereum address")
    if not is_checksum_address(address):
        raise _malformed("the address must be written with its EIP-55 checksum")
    if lines[2] != "":
        raise _malformed("a blank line must follow the address")
    index = 3
    statement: str | None = None
    if lines[3] != "":
        statement = lines[3]
        index = 4
    if index >= len(lines) or lines[index] != "":
        raise _malformed("a blank line must come before the URI")
    index += 1

    def take(tag: str, required: bool) -> str | None:
        nonlocal index
        if index < len(lines) and lines[index].startswith(f"{tag}: "):
            value = lines[index][len(tag) + 2 :]
            index += 1
            return value
        if required:
            raise _malformed(f"the line '{tag}: ...' is missing or out of order")
        return None

    uri = take("URI", True) or ""
    version = take("Version", True) or ""
    chain = take("Chain ID", True) or ""
    nonce = take("Nonce", True) or ""
    issued = take("Issued At", True) or ""
    expiration = take("Expiration Time", False)
    not_before = take("Not Before", False)
    request_id = take("Request ID", False)
    resources: list[str] = []
    if index < len(lines) and lines[index] == "Resources:":
        index += 1
        while index < len(lines) and lines[index].startswith("- "):
            resource = lines[index][2:]
            if not _URI.match(resource):
                raise _malformed("each resource must be a URI")
            resources.append(resource)
            index += 1
    if index != len(lines):
        raise _malformed(f"unexpected text on line {index + 1}")
    if not _URI.match(uri):
        raise _malformed("URI must be an absolute URI")
    if version != "1":
        raise _malformed("Version must be 1")
    if not chain.isascii() or not chain.isdigit() or len(chain) > 12:
        raise _malformed("Chain ID must be a number")
    if not _NONCE.match(nonce):
        raise _malformed("Nonce must be 8 to 64 letters or digits")
    return SiweMessage(
        domain=header.group("domain"),
        address=address,
        uri=uri,
        chain_id=int(chain),
        nonce=nonce,
        issued_at=_time(issued, "Issued At"),
        version=version,
        statement=statement,
        scheme=header.group("scheme"),
        expiration_time=_time(expiration, "Expiration Time") if expiration is not None else None,
        not_before=_time(not_before, "Not Before") if not_before is not None else None,
        request_id=request_id,
        resources=tuple(resources),
    )


def _refused(code: str, message: str) -> NotSignedIn:
    return NotSignedIn(message, code=code)


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class SiweVerifier:
    domain: str
    origin: str
    chain_id: int
    nonces: NonceSigner
    state: ApiState
    skew_seconds: int = 60
    clock: Callable[[], float] = time.time

    def verify(self, text: str, signature: str) -> SiweMessage:
        """The checked message, or NotSignedIn/BadRequest saying what was refused.

        The nonce is checked without any state (its MAC and expiry); it is recorded as spent only
        once the signature is valid, so nobody but the key's holder can use up a nonce, and a
        valid message opens one session, ever."""
        try:
            message = parse_message(text)
        except BadRequest as exc:  # a malformed sign-in is a refused sign-in (401), with the reason
            raise _refused(exc.code, exc.message) from None
        nonce_expires = self.nonces.check(message.nonce)
        if message.domain.lower() != self.domain.lower():
            raise _refused(
                "siwe_wrong_domain", f"The message was made for {message.domain}, not for {self.domain}."
            )
        expected_scheme = urlsplit(self.origin).scheme
        if message.scheme is not None and message.scheme.lower() != expected_scheme:
            raise _refused(
                "siwe_wrong_domain",
                f"The message was made for {message.scheme}://, not {expected_scheme}://.",
            )
        if _origin(message.uri) != self.origin.lower():
            raise _refused("siwe_wrong_uri", f"The message's URI must be on {self.origin}.")
        if message.chain_id != self.chain_id:
            raise _refused(
                "siwe_wrong_chain",
                f"The message is for chain {message.chain_id}; this district is chain {self.chain_id}.",
            )
        if nonce_expires is None:
            raise _refused(
                "siwe_bad_nonce",
                "The nonce is unknown, expired or already used: ask for a new one and sign again.",
            )
        now = self.clock()
        if message.issued_at.timestamp() > now + self.skew_seconds:
            raise _refused("siwe_not_yet_valid", "The message is dated in the future; check your clock.")
        if message.not_before is not None and message.not_before.timestamp() > now + self.skew_seconds:
            raise _refused("siwe_not_yet_valid", "The message is not valid yet (Not Before).")
        if message.expiration_time is not None and message.expiration_time.timestamp() <= now:
            raise _refused("siwe_expired", "The message has expired; sign a new one.")
        if not _SIGNATURE.match(signature):
            raise _refused(
                "siwe_bad_signature", "The signature must be 65 bytes in hex (0x followed by 130 digits)."
            )
        try:
            signer = Account.recover_message(encode_defunct(text=text), signature=signature)
        except Exception:  # eth_keys raises several types for invalid (v, r, s)
            raise _refused("siwe_bad_signature", "The signature is not valid.") from None
        if signer.lower() != message.address.lower():
            raise _refused("siwe_bad_signature", "The signature was not made by the address in the message.")
        # Recorded in lower case: the MAC check reads hex case-blind, so every spelling of one nonce
        # must spend the same record (all stores: memory, SQL, Redis).
        if not self.state.spend_nonce(message.nonce.lower(), nonce_expires, int(now)):
            raise _refused(
                "siwe_bad_nonce",
                "The nonce is unknown, expired or already used: ask for a new one and sign again.",
            )
        return message
