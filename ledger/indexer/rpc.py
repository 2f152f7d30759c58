"""A small raw JSON-RPC client: httpx + orjson, batched requests, bounded retries.

No web3 here: the indexer speaks JSON-RPC directly, which is several times faster for logs.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from ledger.db.records import NodeLimits
from ledger.indexer.errors import RangeTooLarge, RateLimited, RpcError, RpcUnavailable
from ledger.indexer.transport import PlainHttpTransport

# Error texts by which nodes (geth, Besu, Erigon, Nethermind, providers) refuse a log range.
_TOO_LARGE_HINTS = (
    "more than", "too many", "limit", "range", "exceed", "too large", "size", "timeout",
    "timed out", "10000", "response",
)
# Error texts by which nodes and providers say "slow down" (checked before the range hints: a
# rate limit is never a reason to shrink the range). HTTP 429 means the same.
_RATE_HINTS = (
    "rate limit", "rate-limit", "ratelimit", "too many requests", "request rate",
    "rate exceeded", "requests per second", "request count", "compute units", "throttl",
)


def is_rate_limit(message: str) -> bool:
    lowered = message.lower()
    return any(h in lowered for h in _RATE_HINTS)


class _Throttled(Exception):
    """Internal: the node answered a rate-limit refusal; back off and send again."""


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and in total time."""

    attempts: int = 8
    base: float = 0.1
    cap: float = 5.0
    deadline: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delays(self) -> list[float]:
        return [min(self.cap, self.base * 2**i) for i in range(self.attempts - 1)]


Call = tuple[str, Sequence[Any]]


class RpcClient:
    """JSON-RPC over HTTP. `call` and `batch` retry transport failures, never node errors."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        on_retry: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self.url = url
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self._ids = itertools.count(1)
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport or PlainHttpTransport(),
            headers={"content-type": "application/json"},
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, body: bytes, what: str,
              parse: Callable[[bytes], Any] = orjson.loads) -> Any:
        """Send `body` and parse the answer with `parse`; transport failures and rate-limit
        refusals (HTTP 429 or an error whose text says so, in any reply of a batch) are retried
        with exponential backoff, bounded."""
        started = time.monotonic()
        delays = self.retry.delays()
        attempt = 0
        while True:
            try:
                response = self._client.post(self.url, content=body)
                if response.status_code == 429:
                    raise _Throttled(f"HTTP 429 {response.text[:100]}")
                if response.status_code in (502, 503, 504):
                    raise httpx.TransportError(f"HTTP {response.status_code}")
                if response.status_code == 413:
                    raise RangeTooLarge(what, 413, "request or response too large")
                if response.status_code >= 400 and not response.content.startswith((b"{", b"[")):
                    raise RpcError(what, response.status_code, response.text[:200])
                reply = parse(response.content)
                throttled = _throttle_message(reply)
                if throttled is not None:
                    raise _Throttled(throttled)
                return reply
            except _Throttled as exc:
                if attempt >= len(delays) or time.monotonic() - started > self.retry.deadline:
                    raise RateLimited(
                        f"the node at {self.url} kept refusing {what} for rate limits after "
                        f"{attempt + 1} tries over {time.monotonic() - started:.0f} s ({exc}); "
                        "the indexer waits and tries again when following; lower the load on "
                        "the node or raise its rate limit"
                    ) from None
                delay = delays[attempt] * (0.5 + random.random() / 2)
                if self.on_retry:
                    self.on_retry(f"{what} (rate limited)", attempt + 1, delay)
                self.retry.sleep(delay)
                attempt += 1
            except (httpx.TransportError, orjson.JSONDecodeError) as exc:
                if attempt >= len(delays) or time.monotonic() - started > self.retry.deadline:
                    raise RpcUnavailable(
                        f"the node at {self.url} did not answer {what} after {attempt + 1} "
                        f"tries ({exc}); is it running?"
                    ) from exc
                delay = delays[attempt] * (0.5 + random.random() / 2)
                if self.on_retry:
                    self.on_retry(what, attempt + 1, delay)
                self.retry.sleep(delay)
                attempt += 1

    @staticmethod
    def _result(method: str, reply: Any) -> Any:
        """The result of one reply; a refused log range raises RangeTooLarge."""
        if not isinstance(reply, dict):
            raise RpcError(method, -32700, f"unexpected reply {str(reply)[:200]}")
        error = reply.get("error")
        if error is not None:
            code = int(error.get("code", 0)) if isinstance(error, dict) else 0
            message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
            if method == "eth_getLogs" and (
                code in (-32005, -32602, -32603, -32000, -32011)
                and any(h in message.lower() for h in _TOO_LARGE_HINTS)
            ):
                raise RangeTooLarge(method, code, message)
            raise RpcError(method, code, message)
        return reply.get("result")

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        body = orjson.dumps(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        return self._result(method, self._post(body, method))

    def batch(self, calls: Sequence[Call],
              parse: Callable[[bytes], Any] | None = None) -> list[Any]:
        """Results in order; raises the first node error. An empty batch sends nothing.
        `parse` reads the answer's bytes instead of orjson.loads (see ledger.indexer.logscan)."""
        if not calls:
            return []
        first = next(self._ids)
        payload = [
            {"jsonrpc": "2.0", "id": first + i, "method": m, "params": list(p)}
            for i, (m, p) in enumerate(calls)
        ]
        for _ in range(len(calls) - 1):
            next(self._ids)
        replies = self._post(orjson.dumps(payload), f"batch of {len(calls)} ({calls[0][0]}...)",
                             parse or orjson.loads)
        if isinstance(replies, dict):  # a node refusing the whole batch answers one error
            raise RpcError(calls[0][0], -32600, str(replies.get("error", replies))[:200])
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        results = []
        for i, (method, _params) in enumerate(calls):
            reply = by_id.get(first + i)
            if reply is None:
                raise RpcError(method, -32603, "the batch answer misses this call")
            results.append(self._result(method, reply))
        return results

    # -- typed helpers ------------------------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def get_logs(self, addresses: Sequence[str], from_block: int, to_block: int) -> list[Any]:
        result = self.call(
            "eth_getLogs",
            [{"address": list(addresses), "fromBlock": hex(from_block), "toBlock": hex(to_block)}],
        )
        if not isinstance(result, list):
            raise RpcError("eth_getLogs", -32603, f"not a list: {str(result)[:100]}")
        return result

    def headers(self, numbers: Sequence[int | str]) -> list[dict[str, Any] | None]:
        """Block headers (without transactions) by number or tag, batched; None when absent."""
        calls: list[Call] = [
            ("eth_getBlockByNumber", [n if isinstance(n, str) else hex(n), False]) for n in numbers
        ]
        out: list[dict[str, Any] | None] = []
        for i in range(0, len(calls), 500):
            out.extend(self.batch(calls[i : i + 500]))
        return out


def _throttle_message(reply: Any) -> str | None:
    """The text of a rate-limit error in a reply (or in any reply of a batch), else None."""
    for item in reply if isinstance(reply, list) else (reply,):
        if not isinstance(item, dict):
            continue
        error = item.get("error")
        if error is None:
            continue
        if isinstance(error, dict):
            code = error.get("code")
            message = str(error.get("message", ""))
            if code == 429 or is_rate_limit(message):
                return f"node error {code}: {message[:200]}"
        elif is_rate_limit(str(error)):
            return str(error)[:200]
    return None


_SUGGESTED = re.compile(r"\[\s*(0x[0-9a-f]+)\s*,\s*(0x[0-9a-f]+)\s*\]")
_NUMBER = re.compile(r"(\d[\d,_]*)\s*(k\b)?")
_SIZE_WORDS = ("result", "logs", "response size", "too many", "size")
_RANGE_WORDS = ("block range", "range", "blocks")


class AdaptiveRange:
    """Block span for eth_getLogs: grows while answers stay small, halves on refusal or when an
    answer holds more logs than `target_logs`.

    A node's range cap is learned once and kept: a number in the refusal ("block range too
    large, max 2000", "up to a 2K block range") or a suggested range ("[0x10, 0x7cf]") sets it
    directly; otherwise the smallest refused span bounds the growth, which then only probes
    half-way between the largest span served and it. "More than N results" lowers `target_logs`
    instead, since the range itself was not the limit.
    """

    def __init__(
        self, initial: int = 16, minimum: int = 1, maximum: int = 1_000_000,
        target_logs: int = 20_000,
    ) -> None:
        self.span = initial
        self.minimum = minimum
        self.maximum = maximum
        self._unbounded = maximum  # `maximum` before any node stated a cap
        self.target_logs = target_logs
        self.refused_at: int | None = None  # the smallest span refused as a range
        self.served = 0  # the largest span answered below `refused_at`
        self.refusals = 0

    def learned(self) -> NodeLimits | None:
        """What refusals taught of the node (None: nothing yet), to keep across restarts."""
        if self.refusals == 0:
            return None
        return NodeLimits(
            self.maximum if self.maximum < self._unbounded else None,
            self.refused_at, self.served, self.target_logs,
        )

    def restore(self, limits: NodeLimits) -> None:
        """Start from limits learned by an earlier run: at the stated cap, or at the largest span
        served below a refused one, so a restart does not learn them again from refusals."""
        if limits.max_span is not None:
            self.maximum = max(self.minimum, min(self.maximum, limits.max_span))
        self.refused_at = limits.refused_span
        self.served = limits.served_span
        self.target_logs = max(1, limits.target_logs)
        start = self.maximum if limits.max_span is not None else limits.served_span
        if start > 0:
            self.span = max(self.minimum, min(self.maximum, start))

    def _grow_to(self, wanted: int, span: int) -> int:
        wanted = min(self.maximum, wanted)
        if self.refused_at is not None and wanted >= self.refused_at:
            wanted = max(span, (self.served + self.refused_at) // 2)
        return wanted

    def on_success(self, span: int, logs: int) -> None:
        if self.refused_at is None or span < self.refused_at:
            self.served = max(self.served, span)
        if logs > self.target_logs:
            self.span = max(self.minimum, span // 2)
        elif logs * 2 < self.target_logs and span >= self.span:
            factor = 8 if logs * 16 < self.target_logs else 2
            self.span = self._grow_to(span * factor, span)

    def on_error(self, span: int, message: str = "") -> bool:
        """Shrink after a refusal (learning the node's cap from it); False when already at the
        minimum (give up)."""
        self.refusals += 1
        lowered = message.lower()
        suggested = _SUGGESTED.search(lowered)
        if suggested:
            fit = int(suggested.group(2), 16) - int(suggested.group(1), 16) + 1
            if 0 < fit < span:
                self.span = max(self.minimum, fit)
                return True
        is_size = any(w in lowered for w in _SIZE_WORDS) and "block range" not in lowered
        numbers = [int(n.replace(",", "").replace("_", "")) * (1000 if k else 1)
                   for n, k in _NUMBER.findall(lowered) if n.replace(",", "").replace("_", "")]
        if is_size and numbers:
            self.target_logs = max(1, min(self.target_logs, max(numbers) * 3 // 4))
        elif any(w in lowered for w in _RANGE_WORDS):
            caps = [n for n in numbers if 0 < n < span]
            if caps:
                self.maximum = max(self.minimum, max(caps))
                self.span = self.maximum
                return True
            self.refused_at = span if self.refused_at is None else min(self.refused_at, span)
            if 0 < self.served < span:  # back to the largest span the node served
                self.span = self.served
                return True
        if span <= self.minimum:
            return False
        self.span = max(self.minimum, span // 2)
        return True
