"""The API's shared state with Redis for the hot, short-lived part (LEDGER_API_REDIS_URL).

Sessions, spent nonces and rate windows go to Redis (each key expires with what it holds: a
session at its end, a nonce at its expiry, a rate window after 10 minutes); payment requests
and naming choices stay in the database (`durable`, an ApiState such as SqlApiState), because
losing them would lose a merchant's references or a resident's choice.

Keys: `ledger:api:session:<sha256>` = "address|expires_at", `ledger:api:nonce:<nonce>`,
`ledger:api:rate:<key>:<window>` (kept 10 minutes). Redis errors become DatabaseUnavailable (503 to clients).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.db.api_state import StoredRequest
from ledger.db.errors import DatabaseUnavailable

PREFIX = "ledger:api:"
RATE_KEY_SECONDS = 600  # longer than two of any limiter's windows (at most a few minutes)


class RedisApiState:
    inline = False  # a network round trip: run in worker threads

    def __init__(self, url: str, durable: Any) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self.durable = durable

    def _call(self, what: str, run: Any) -> Any:
        try:
            return run()
        except self._errors as exc:
            raise DatabaseUnavailable(f"the API's session store (Redis) cannot {what} right now") from exc

    def close(self) -> None:
        self._redis.close()
        self.durable.close()

    def create_session(self, token_hash: str, address: str, expires_at: int, now: int) -> None:
        ttl = max(1, expires_at - now)
        self._call(
            "be written",
            lambda: self._redis.set(f"{PREFIX}session:{token_hash}", f"{address}|{expires_at}", ex=ttl),
        )

    def session(self, token_hash: str, now: int) -> tuple[str, int] | None:
        raw = self._call("be read", lambda: self._redis.get(f"{PREFIX}session:{token_hash}"))
        if raw is None:
            return None
        address, _, expires = bytes(raw).decode().partition("|")
        return (address, int(expires)) if int(expires) > now else None

    def revoke_session(self, token_hash: str) -> None:
        self._call("be written", lambda: self._redis.delete(f"{PREFIX}session:{token_hash}"))

    def revoke_sessions_of(self, address: str) -> None:
        """End every session of `address` (its erasure). Sessions are keyed by token only, so
        this scans them: an erasure is rare, and a scan also finds sessions made before it."""

        def run() -> None:
            for key in self._redis.scan_iter(match=f"{PREFIX}session:*", count=1000):
                raw: Any = self._redis.get(key)
                if raw is not None and bytes(raw).decode().partition("|")[0].lower() == address.lower():
                    self._redis.delete(key)

        self._call("be written", run)

    def spend_nonce(self, nonce: str, expires_at: int, now: int) -> bool:
        ttl = max(1, expires_at - now)
        return bool(
            self._call("be written", lambda: self._redis.set(f"{PREFIX}nonce:{nonce}", 1, nx=True, ex=ttl))
        )

    def hit(self, key: str, window: int, keep_after: int) -> tuple[int, int]:
        current, previous = f"{PREFIX}rate:{key}:{window}", f"{PREFIX}rate:{key}:{window - 1}"
        lifetime = RATE_KEY_SECONDS

        def run() -> tuple[int, int]:
            pipe = self._redis.pipeline()
            pipe.incr(current)
            pipe.expire(current, lifetime)
            pipe.get(previous)
            count, _, before = pipe.execute()
            return int(count), int(before or 0)

        result: tuple[int, int] = self._call("count requests", run)
        return result

    def save_request(self, chain_id: int, request: StoredRequest) -> None:
        self.durable.save_request(chain_id, request)

    def requests(self, chain_id: int, commitments: Sequence[bytes]) -> dict[bytes, StoredRequest]:
        found: dict[bytes, StoredRequest] = self.durable.requests(chain_id, commitments)
        return found

    def set_named(self, address: str, named: bool, now: int) -> None:
        self.durable.set_named(address, named, now)

    def named(self, addresses: Sequence[str]) -> set[str]:
        found: set[str] = self.durable.named(addresses)
        return found

    def set_merchant_address(self, chain_id: int, merchant_id: int, street_address: str, now: int) -> None:
        self.durable.set_merchant_address(chain_id, merchant_id, street_address, now)

    def merchant_addresses(self, chain_id: int) -> dict[int, str]:
        found: dict[int, str] = self.durable.merchant_addresses(chain_id)
        return found
