"""Reading a Sign-In with Ethereum (EIP-4361) message before signing it, and EIP-191 signing.

The wallet never signs a sign-in message blindly: it reads what the person is signing for (the
domain, the URI, the chain id, the expiry) and checks it against what it expects (the API it
talks to, its own address, the district's chain). Only the fields shown are parsed here; the
API checks the whole grammar when the signature comes back.

The message format (version 1)::

    [scheme://]domain wants you to sign in with your Ethereum account:
    0xAddress

    statement (optional)

    URI: ...
    Version: 1
    Chain ID: 69003
    Nonce: ...
    Issued At: 2026-11-25T17:00:00Z
    Expiration Time: ...      (optional)
    Not Before: ...           (optional)
    ...

Signatures are EIP-191 `personal_sign` (eth_account's `encode_defunct` + `sign_message`):
the same bytes a browser wallet signs on the district's web page. eth_account is imported
inside the functions (start-up time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from wallet_cli.errors import UsageError

PREAMBLE = " wants you to sign in with your Ethereum account:"


class SiweMessageError(UsageError):
    """The text is not a sign-in message this wallet can read."""


@dataclass(frozen=True)
class SignInRequest:
    """The fields of an EIP-4361 message a person must see before signing it."""

    text: str
    scheme: str | None
    domain: str
    address: str
    statement: str | None
    uri: str
    chain_id: int
    nonce: str
    issued_at: int
    expires_at: int | None
    not_before: int | None

    def describe(self) -> list[str]:
        """What the person is signing for, in plain lines."""
        lines = [
            f"Sign in to:   {self.domain}" + (f" ({self.scheme}://)" if self.scheme else ""),
            f"URI:          {self.uri}",
            f"As:           {self.address}",
            f"Chain id:     {self.chain_id}",
            f"Expires:      {format_time(self.expires_at) if self.expires_at else 'never'}",
        ]
        if self.statement:
            lines.insert(0, f"Statement:    {self.statement}")
        return lines


def format_time(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _timestamp(value: str, name: str) -> int:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SiweMessageError(f"The sign-in message has an unreadable {name}: {value!r}.") from None
    if moment.tzinfo is None:
        raise SiweMessageError(f"The sign-in message's {name} has no time zone.")
    return int(moment.timestamp())


def looks_like_sign_in(text: str) -> bool:
    first = text.split("\n", 1)[0]
    return first.endswith(PREAMBLE)


def parse_sign_in(text: str) -> SignInRequest:
    """The fields of an EIP-4361 message (SiweMessageError when it is not one)."""
    if "\r" in text:
        raise SiweMessageError("The sign-in message must have LF line ends only.")
    lines = text.split("\n")
    if len(lines) < 8 or not lines[0].endswith(PREAMBLE):
        raise SiweMessageError("This is not a Sign-In with Ethereum (EIP-4361) message.")
    origin = lines[0][: -len(PREAMBLE)]
    scheme: str | None = None
    if "://" in origin:
        scheme, origin = origin.split("://", 1)
    if not origin or any(c.isspace() for c in origin):
        raise SiweMessageError("The sign-in message does not name a domain.")
    address = lines[1]
    statement = lines[3] if len(lines) > 3 and lines[3] and lines[2] == "" else None
    fields: dict[str, str] = {}
    for line in lines[2:]:
        key, sep, value = line.partition(": ")
        if sep and key in ("URI", "Version", "Chain ID", "Nonce", "Issued At",
                           "Expiration Time", "Not Before") and key not in fields:
            fields[key] = value
    for required in ("URI", "Version", "Chain ID", "Nonce", "Issued At"):
        if required not in fields:
            raise SiweMessageError(f"The sign-in message has no '{required}:' line.")
    if fields["Version"] != "1":
        raise SiweMessageError(f"Sign-in message version {fields['Version']} is not known.")
    chain = fields["Chain ID"]
    if not chain.isascii() or not chain.isdigit():
        raise SiweMessageError(f"The sign-in message's chain id is not a number: {chain!r}.")
    return SignInRequest(
        text=text,
        scheme=scheme,
        domain=origin,
        address=address,
        statement=statement,
        uri=fields["URI"],
        chain_id=int(chain),
        nonce=fields["Nonce"],
        issued_at=_timestamp(fields["Issued At"], "Issued At"),
        expires_at=_timestamp(fields["Expiration Time"], "Expiration Time")
        if "Expiration Time" in fields else None,
        not_before=_timestamp(fields["Not Before"], "Not Before")
        if "Not Before" in fields else None,
    )


def _host_port(netloc: str, scheme: str) -> tuple[str, int]:
    parts = urlsplit(f"{scheme}://{netloc}")
    default = 443 if scheme == "https" else 80
    try:
        port = parts.port or default
    except ValueError:
        port = -1
    return (parts.hostname or "").lower(), port


def check_sign_in(
    request: SignInRequest, *, api_url: str, address: str, chain_id: int, now: float
) -> None:
    """Refuse a message made for another site, another address, another chain, or expired.

    The wallet fetched the message from `api_url`: the domain and the URI must be that API's
    (a message for another site would let that site use the signature).
    """
    api = urlsplit(api_url.rstrip("/"))
    scheme = (api.scheme or "http").lower()
    expected = _host_port(api.netloc, scheme)
    if _host_port(request.domain, request.scheme or scheme) != expected:
        raise SiweMessageError(
            f"The API at {api_url} asked to sign in to {request.domain}, which is another "
            "site: nothing was signed."
        )
    uri = urlsplit(request.uri)
    if (uri.scheme or "").lower() != scheme or _host_port(uri.netloc, scheme) != expected:
        raise SiweMessageError(
            f"The sign-in message is for {request.uri}, not for {api_url}: nothing was signed."
        )
    if request.address.lower() != address.lower():
        raise SiweMessageError(
            f"The sign-in message is for {request.address}, not for your account {address}: "
            "nothing was signed."
        )
    if request.chain_id != chain_id:
        raise SiweMessageError(
            f"The sign-in message is for chain {request.chain_id}; this district is chain "
            f"{chain_id}: nothing was signed."
        )
    if request.expires_at is not None and request.expires_at <= now:
        raise SiweMessageError("The sign-in message has expired already: try again.")


def personal_sign(private_key: bytes, text: str) -> str:
    """The EIP-191 (version 0x45, `personal_sign`) signature of `text`, 0x + 130 hex digits."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    signed = Account.sign_message(encode_defunct(text=text), private_key=private_key)
    return "0x" + bytes(signed.signature).hex()


def recover_signer(text: str, signature: str) -> str:
    """The address that made `signature` over `text` (EIP-191)."""
    from eth_account import Account
    from eth_account.messages import encode_defunct

    return str(Account.recover_message(encode_defunct(text=text), signature=signature))
