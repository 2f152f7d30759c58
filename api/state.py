"""The API's shared state and its server key: what every worker process must agree on.

- `ApiState` (port): sessions, spent sign-in nonces, rate windows, payment requests created
  through the API, naming opt-ins. Real adapter: ledger.db.api_state.SqlApiState (the database:
  SQLite embedded, PostgreSQL in production); in-memory fake: api.fakes.MemoryApiState.
- `ServerKey`: one secret (LEDGER_API_SERVER_KEY, else a 0600 file generated under the state
  dir), from which the nonce MAC key and the pseudonym key are derived. Never logged.
- `NonceSigner`: stateless sign-in nonces, `hex(expiry || random || HMAC)`; nothing is stored
  when a nonce is issued, so a flood of nonce requests fills nothing. A nonce is recorded as
  spent only after a valid signature (`ApiState.spend_nonce`), which makes it single use.
- `SessionStore`: a random token for the client; the store keeps its sha256 only.
- `SharedLimiter`: sliding-window counters per client in the shared store (429, Retry-After).
- `Pseudonyms`: HMAC(pseudonym key, prosumer || buyer): stable for one prosumer, unlinkable
  across prosumers.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from eth_utils.address import to_checksum_address

from ledger.db.api_state import StoredRequest
from ledger.errors import ConfigError

Clock = Callable[[], float]
KEY_BYTES = 32
KEY_FILE = "api-server.key"


class ApiState(Protocol):
    """What the API's worker processes share (see ledger.db.api_state.SqlApiState)."""

    # True when the calls are quick local writes/reads (SQLite, memory): run on the event loop.
    inline: bool

    def create_session(self, token_hash: str, address: str, expires_at: int, now: int) -> None: ...

    def session(self, token_hash: str, now: int) -> tuple[str, int] | None: ...

    def revoke_session(self, token_hash: str) -> None: ...

    def revoke_sessions_of(self, address: str) -> None: ...

    def spend_nonce(self, nonce: str, expires_at: int, now: int) -> bool: ...

    def hit(self, key: str, window: int, keep_after: int) -> tuple[int, int]: ...

    def save_request(self, chain_id: int, request: StoredRequest) -> None: ...

    def requests(self, chain_id: int, commitments: Sequence[bytes]) -> dict[bytes, StoredRequest]: ...

    def set_named(self, address: str, named: bool, now: int) -> None: ...

    def named(self, addresses: Sequence[str]) -> set[str]: ...

    def set_merchant_address(
        self, chain_id: int, merchant_id: int, street_address: str, now: int
    ) -> None: ...

    def merchant_addresses(self, chain_id: int) -> dict[int, str]: ...

    def close(self) -> None: ...


# -- the server key --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerKey:
    secret: bytes

    def __repr__(self) -> str:  # never in a log or a traceback
        return "ServerKey(<hidden>)"

    def derive(self, label: str) -> bytes:
        return hmac.new(self.secret, b"district-ledger-api/" + label.encode(), hashlib.sha256).digest()

    @classmethod
    def from_text(cls, text: str) -> ServerKey:
        raw = text.strip().removeprefix("0x")
        try:
            secret = bytes.fromhex(raw)
        except ValueError:
            raise ConfigError("LEDGER_API_SERVER_KEY must be hexadecimal (64 digits or more)") from None
        if len(secret) < KEY_BYTES:
            raise ConfigError("LEDGER_API_SERVER_KEY must hold at least 32 bytes (64 hex digits)")
        return cls(secret)

    @classmethod
    def load_or_create(cls, folder: Path) -> ServerKey:
        """The key in `folder`/api-server.key, created (0600, atomically: the first of several
        worker processes wins, the others read its key) when absent."""
        path = folder / KEY_FILE
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            temp = folder / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, secrets.token_hex(KEY_BYTES).encode() + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(temp, path)  # fails when another process created it first
            except FileExistsError:
                pass
            finally:
                temp.unlink()
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(f"the API server key file {path} is readable by others: chmod 600 it")
        return cls.from_text(path.read_text(encoding="ascii"))


# -- nonces ----------------------------------------------------------------------------------------

_EXPIRY_BYTES = 5
_RANDOM_BYTES = 8
_MAC_BYTES = 16
NONCE_HEX = 2 * (_EXPIRY_BYTES + _RANDOM_BYTES + _MAC_BYTES)  # 58: within EIP-4361's alphanumerics


class NonceSigner:
    def __init__(self, key: ServerKey, ttl_seconds: int, clock: Clock = time.time) -> None:
        self._mac_key = key.derive("siwe-nonce")
        self.ttl = ttl_seconds
        self.clock = clock

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._mac_key, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def issue(self) -> tuple[str, int]:
        expires = int(self.clock()) + self.ttl
        body = expires.to_bytes(_EXPIRY_BYTES, "big") + secrets.token_bytes(_RANDOM_BYTES)
        return (body + self._mac(body)).hex(), expires

    def check(self, nonce: str) -> int | None:
        """The expiry of a nonce this server issued that has not expired yet, else None."""
        if len(nonce) != NONCE_HEX:
            return None
        try:
            raw = bytes.fromhex(nonce)
        except ValueError:
            return None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        expires = int.from_bytes(body[:_EXPIRY_BYTES], "big")
        return expires if expires > self.clock() else None


# -- sessions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    address: str
    expires_at: float


class SessionStore:
    """Sessions in the shared store; the client holds a random token, the store only its hash."""

    def __init__(self, state: ApiState, ttl_seconds: int, clock: Clock = time.time) -> None:
        self.state = state
        self.ttl = ttl_seconds
        self.clock = clock

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def create(self, address: str, not_after: float | None = None) -> tuple[str, Session]:
        now = self.clock()
        expires = now + self.ttl if not_after is None else min(now + self.ttl, not_after)
        token = secrets.token_urlsafe(32)
        session = Session(to_checksum_address(address), int(expires))
        self.state.create_session(self._key(token), session.address, int(expires), int(now))
        return token, session

    def get(self, token: str) -> Session | None:
        if len(token) > 256:
            return None
        found = self.state.session(self._key(token), int(self.clock()))
        return Session(found[0], found[1]) if found is not None else None

    def revoke(self, token: str) -> None:
        self.state.revoke_session(self._key(token))


# -- rate limits -----------------------------------------------------------------------------------


class SharedLimiter:
    """At most `burst` requests per client over any span of ceil(burst / rate) seconds (a sliding
    window: the current window's count plus the previous window's, weighted by how much of it the
    span still covers), counted in the shared store, so N workers hold one limit."""

    def __init__(self, state: ApiState, rate: float, burst: int, clock: Clock = time.time) -> None:
        self.state = state
        self.limit = burst
        self.window = max(1, math.ceil(burst / rate))
        self.clock = clock

    def take(self, key: str) -> float:
        """0 when the request may go on, else the seconds to wait."""
        now = self.clock()
        window = int(now // self.window)
        current, previous = self.state.hit(key, window, window - 2)
        elapsed = now / self.window - window  # share of the current window gone by, in [0, 1)
        if current + previous * (1.0 - elapsed) <= self.limit:
            return 0.0
        return max(1.0, (window + 1) * self.window - now)


# -- pseudonyms ------------------------------------------------------------------------------------


class Pseudonyms:
    def __init__(self, key: ServerKey) -> None:
        self._key = key.derive("buyer-pseudonym")

    def of(self, viewer: str, other: str) -> str:
        """How `other` appears to `viewer`: the same every time for this viewer, unrelated to how
        it appears to anyone else."""
        message = viewer.lower().encode() + b"|" + other.lower().encode()
        return "neighbour-" + hmac.new(self._key, message, hashlib.sha256).hexdigest()[:12]
