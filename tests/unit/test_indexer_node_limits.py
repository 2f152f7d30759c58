"""How the indexer's JSON-RPC client reads a node's limits: rate limits back off and retry the same
call (the range is never shrunk for them), a range cap is learned once and kept."""

from __future__ import annotations

import httpx
import orjson
import pytest

from ledger.indexer.errors import RangeTooLarge, RateLimited
from ledger.indexer.rpc import AdaptiveRange, RetryPolicy, RpcClient, is_rate_limit


def _client(handler: object, sleeps: list[float], attempts: int = 8) -> RpcClient:
    return RpcClient(
        "http://127.0.0.1:1/",
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        retry=RetryPolicy(attempts=attempts, base=0.01, cap=0.05, sleep=sleeps.append),
    )


@pytest.mark.parametrize("reply", [
    {"status": 429, "body": b"Too Many Requests"},
    {"status": 200, "body": orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": {
        "code": -32005, "message": "rate limited: 50 requests per second exceeded"}})},
    {"status": 200, "body": orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": {
        "code": -32000, "message": "Too Many Requests, please slow down"}})},
])
def test_a_rate_limit_backs_off_and_retries_the_same_range(reply: dict[str, object]) -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if len(bodies) <= 3:
            return httpx.Response(int(reply["status"]), content=reply["body"])  # type: ignore[arg-type]
        return httpx.Response(200, content=orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": []}))

    sleeps: list[float] = []
    with _client(handler, sleeps) as rpc:
        assert rpc.get_logs(["0x" + "11" * 20], 100, 5_099) == []
    assert len(sleeps) == 3 and sleeps == sorted(sleeps)  # growing waits, then the answer
    assert len(set(bodies)) == 1  # the very same range each time, never shrunk


def test_a_rate_limit_that_never_ends_says_so_after_the_bounded_backoff() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": {
            "code": -32005, "message": "daily request count exceeded, request rate limited"}}))

    sleeps: list[float] = []
    with _client(handler, sleeps, attempts=4) as rpc, pytest.raises(RateLimited, match="rate limit"):
        rpc.get_logs(["0x" + "11" * 20], 0, 10)
    assert len(sleeps) == 3


def test_a_range_refusal_is_not_mistaken_for_a_rate_limit() -> None:
    assert not is_rate_limit("query returned more than 10000 results")
    assert not is_rate_limit("block range too large")
    assert is_rate_limit("Your app has exceeded its compute units per second capacity")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=orjson.dumps({"jsonrpc": "2.0", "id": 1, "error": {
            "code": -32005, "message": "query returned more than 10000 results"}}))

    with _client(handler, []) as rpc, pytest.raises(RangeTooLarge):
        rpc.get_logs(["0x" + "11" * 20], 0, 100_000)


def test_a_stated_range_cap_is_learned_from_one_refusal_and_kept() -> None:
    r = AdaptiveRange(initial=16, maximum=1_000_000, target_logs=20_000)
    r.on_success(16, 0)
    r.on_success(r.span, 0)
    assert r.span == 1_024
    assert r.on_error(1_024, "exceed maximum block range: 500")
    assert r.span == 500 and r.maximum == 500
    for _ in range(10):
        r.on_success(r.span, 0)
    assert r.span == 500 and r.refusals == 1


def test_a_suggested_range_is_taken_as_is() -> None:
    r = AdaptiveRange(initial=4_096)
    assert r.on_error(4_096, "query returned more than 10000 results. Try with this block "
                             "range [0x10, 0x7cf].")
    assert r.span == 0x7CF - 0x10 + 1


def test_an_unstated_range_cap_is_found_by_bisection_with_few_refusals() -> None:
    cap = 2_500
    r = AdaptiveRange(initial=16, maximum=1_000_000, target_logs=20_000)
    calls = 0
    for _ in range(200):
        calls += 1
        span = r.span
        if span > cap:
            assert r.on_error(span, "block range is too large")
        else:
            r.on_success(span, 0)
    assert r.refusals <= 14  # about log2 of the gap, not one refusal in two
    assert cap // 2 < r.span <= cap


def test_more_results_than_allowed_lowers_the_log_target_not_the_range_cap() -> None:
    r = AdaptiveRange(initial=8_192, target_logs=20_000)
    assert r.on_error(8_192, "query returned more than 10000 results")
    assert r.target_logs == 7_500 and r.refused_at is None and r.span == 4_096


def test_nothing_is_kept_of_a_node_that_never_refused() -> None:
    r = AdaptiveRange(initial=16)
    r.on_success(16, 0)
    assert r.learned() is None


@pytest.mark.parametrize("message", ["exceed maximum block range: 500", "block range is too large"])
def test_a_restart_starts_at_the_learned_cap_and_is_not_refused_again(message: str) -> None:
    cap = 500
    first = AdaptiveRange(initial=16)
    for _ in range(100):
        if first.span > cap:
            assert first.on_error(first.span, message)
        else:
            first.on_success(first.span, 0)
    learned = first.learned()
    assert learned is not None
    again = AdaptiveRange(initial=16)
    again.restore(learned)
    assert cap // 2 < again.span <= cap  # starts at the cap, not at 16
    for _ in range(100):
        assert again.span <= cap, "a restarted range asked the node for more than it refused"
        again.on_success(again.span, 0)
    assert again.refusals == 0
