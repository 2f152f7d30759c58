"""Below finality, a block's time comes from its logs' `blockTimestamp` when the node gives it:
its header is read only when the logs lack it, and logs that disagree are read again."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ledger.indexer.errors import NodeLagging
from ledger.indexer.rpc import AdaptiveRange, Call
from ledger.indexer.sync import Indexer, Targets

TOKEN = "0x" + "11" * 20


def _hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def _header(n: int) -> dict[str, Any]:
    return {"number": hex(n), "hash": _hash(n), "parentHash": _hash(n - 1),
            "timestamp": hex(1_700_000_000 + n)}


def _log(n: int, index: int, *, stamp: int | None = None, block_hash: str | None = None
         ) -> dict[str, Any]:
    log: dict[str, Any] = {
        "blockNumber": hex(n), "blockHash": block_hash or _hash(n), "logIndex": hex(index),
        "transactionHash": "0x" + "ab" * 32, "transactionIndex": "0x0", "address": TOKEN,
        "topics": ["0x" + "00" * 32], "data": "0x", "removed": False,
    }
    if stamp is not None:
        log["blockTimestamp"] = hex(stamp)
    return log


def _answered(results: list[Any], parse: Any) -> list[Any]:
    """The results as the client returns them: when the indexer gives a reader of the answer's
    bytes (the compiled log reader), through it, as RpcClient.batch does."""
    if parse is None:
        return results
    replies = parse(orjson.dumps([{"jsonrpc": "2.0", "id": i, "result": r}
                                  for i, r in enumerate(results)]))
    return [reply["result"] for reply in replies]


class _Node:
    """Answers one eth_getLogs range with `logs`; counts the headers read."""

    def __init__(self, logs: list[dict[str, Any]]) -> None:
        self.logs = logs
        self.headers_read: list[int] = []

    def batch(self, calls: list[Call], parse: Any = None) -> list[Any]:
        out: list[Any] = []
        for method, params in calls:
            if method == "eth_getLogs":
                out.append(self.logs)
            else:
                n = int(params[0], 16)
                self.headers_read.append(n)
                out.append(_header(n))
        return _answered(out, parse)

    def headers(self, numbers: list[int]) -> list[dict[str, Any] | None]:
        self.headers_read.extend(numbers)
        return [_header(n) for n in numbers]


def _fetch(node: _Node) -> Any:
    targets = Targets(chain_id=69003, token=TOKEN, payments=None, start_block=1)
    indexer = Indexer(node, None, targets, ranges=AdaptiveRange(initial=100))  # type: ignore[arg-type]
    fetched = indexer._fetch_final(1, 100)
    batch, _count = indexer._decode(fetched)
    return batch


def test_logs_carrying_their_block_time_need_no_header_but_the_range_end() -> None:
    node = _Node([_log(10, 0, stamp=1_700_000_010), _log(10, 1, stamp=1_700_000_010),
                  _log(40, 0, stamp=1_700_000_040)])
    batch = _fetch(node)
    assert node.headers_read == [100]  # the range's end, read with the logs
    assert batch.block_times[10] == 1_700_000_010 and batch.block_times[40] == 1_700_000_040
    assert [(b.number, b.hash, b.parent_hash, b.timestamp) for b in batch.blocks] == [
        (10, _hash(10), None, 1_700_000_010), (40, _hash(40), None, 1_700_000_040)]


def test_logs_without_a_block_time_read_the_header_as_before() -> None:
    node = _Node([_log(10, 0), _log(40, 0, stamp=1_700_000_040), _log(40, 1)])
    batch = _fetch(node)
    assert sorted(node.headers_read) == [10, 40, 100]
    assert [(b.number, b.parent_hash, b.timestamp) for b in batch.blocks] == [
        (10, _hash(9), 1_700_000_010), (40, _hash(39), 1_700_000_040)]


def test_logs_of_one_block_with_two_times_are_read_again() -> None:
    node = _Node([_log(10, 0, stamp=1_700_000_010), _log(10, 1, stamp=1_700_000_011)])
    with pytest.raises(NodeLagging, match="two block times"):
        _fetch(node)


def test_two_times_in_one_block_are_seen_past_a_log_without_a_time() -> None:
    node = _Node([_log(10, 0, stamp=1_700_000_010), _log(10, 1),
                  _log(10, 2, stamp=1_700_000_011)])
    with pytest.raises(NodeLagging, match="two block times"):
        _fetch(node)


def test_a_header_read_must_give_the_time_its_logs_give() -> None:
    """The range's end header is read with the logs: a log dating its block otherwise is not
    of the same block (a payment's day is read from its log's time by the compiled reader, from
    the header's by the decoder: both must be the one time)."""
    node = _Node([_log(100, 0, stamp=1_700_000_099)])
    with pytest.raises(NodeLagging, match="block 100 and its header give two block times"):
        _fetch(node)
    node = _Node([_log(10, 0, stamp=1_700_000_009), _log(10, 1)])  # its header read for the other
    with pytest.raises(NodeLagging, match="block 10 and its header give two block times"):
        _fetch(node)
    node = _Node([_log(10, 0, stamp=1_700_000_010), _log(10, 1)])
    assert _fetch(node).block_times[10] == 1_700_000_010


def test_logs_of_one_block_with_two_hashes_are_read_again() -> None:
    node = _Node([_log(10, 0, stamp=1_700_000_010),
                  _log(10, 1, stamp=1_700_000_010, block_hash=_hash(999))])
    with pytest.raises(NodeLagging, match="two block hashes"):
        _fetch(node)


def test_a_header_read_must_match_its_logs_hash() -> None:
    node = _Node([_log(100, 0, stamp=1_700_000_100, block_hash=_hash(999))])
    with pytest.raises(NodeLagging, match="changed while reading"):
        _fetch(node)


class _DenseNode:
    """Every block holds `per_block` logs carrying their time; answers any range."""

    def __init__(self, per_block: int) -> None:
        self.per_block = per_block
        self.ranges: list[tuple[int, int]] = []

    def batch(self, calls: list[Call], parse: Any = None) -> list[Any]:
        out: list[Any] = []
        for method, params in calls:
            if method == "eth_getLogs":
                a, b = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
                self.ranges.append((a, b))
                out.append([_log(n, i, stamp=1_700_000_000 + n)
                            for n in range(a, b + 1) for i in range(self.per_block)])
            else:
                out.append(_header(int(params[0], 16)))
        return _answered(out, parse)

    def headers(self, numbers: list[int]) -> list[dict[str, Any] | None]:
        return [_header(n) for n in numbers]


def test_the_last_ranges_of_a_backfill_halve_so_the_writer_has_little_left_at_the_end() -> None:
    """1,000 blocks of 10 logs, ranges of 300 blocks (3,000 logs): the ranges cover every
    block once, in order, and near the end halve down to about 2,000 logs."""
    node = _DenseNode(per_block=10)
    targets = Targets(chain_id=69003, token=TOKEN, payments=None, start_block=1)
    indexer = Indexer(node, None, targets, ranges=AdaptiveRange(initial=300, maximum=300))  # type: ignore[arg-type]
    first = 1
    while first <= 1_000:
        first = indexer._fetch_final(first, 1_000).last + 1
    covered = [n for a, b in node.ranges for n in range(a, b + 1)]
    assert covered == list(range(1, 1_001))
    spans = [b - a + 1 for a, b in node.ranges]
    assert spans[:2] == [300, 300]  # far from the end: the adaptive span
    assert spans[2:] == [200, 200]  # 400 blocks left (4,000 logs): halves, of 2,000 logs each
    assert max(spans) <= 300
