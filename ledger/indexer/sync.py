"""Backfill then follow the district contracts, exactly once, under reorgs and crashes.

Correctness rules (see docs in `Indexer`):
- the cursor (last block number + hash) is written in the same transaction as the data;
- finality: min(the node's `finalized` block when it serves the tag, head - confirmations);
- below finality: large adaptive eth_getLogs ranges, fetched one range ahead of the writer;
- above finality: every header is fetched and stored, parent hashes are checked, and a reorg rolls
  the database back to the common ancestor; a reorg reaching finalized blocks stops with
  DeepReorgError and deletes nothing;
- a node answer is trusted only when the range's end header exists and every log's block hash
  matches its header (a lagging node's empty answer is not taken as truth).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ledger.db.errors import DatabaseUnavailable
from ledger.db.records import Batch, BlockRow, Cursor
from ledger.db.store import Store
from ledger.indexer.errors import (
    ChainMismatch,
    DeepReorgError,
    NodeLagging,
    RangeTooLarge,
    RpcError,
    RpcUnavailable,
)
from ledger.indexer.events import PAYMENTS_EVENTS, TOKEN_EVENTS, Decoder, check_abi
from ledger.indexer.progress import Progress
from ledger.indexer.rpc import AdaptiveRange, Call, RpcClient


@dataclass(frozen=True)
class Targets:
    """What to index: the chain and the district contracts (from the deployment manifest)."""

    chain_id: int
    token: str
    payments: str | None
    start_block: int
    others: tuple[str, ...] = ()

    @classmethod
    def from_manifest(cls, manifest: Any) -> Targets:
        """From a ledger.chain.manifest.Manifest (duck-typed: chain_id, contracts)."""
        contracts = manifest.contracts
        if "DistrictToken" not in contracts:
            raise ChainMismatch("the deployment manifest has no DistrictToken")
        token = contracts["DistrictToken"]
        payments = contracts.get("ServicePayments")
        problems = check_abi(token.abi, TOKEN_EVENTS)
        if payments is not None:
            problems += check_abi(payments.abi, PAYMENTS_EVENTS)
        if problems:
            raise ChainMismatch("the contracts' events differ from the indexer's: "
                                + "; ".join(problems))
        others = tuple(
            c.address.lower() for n, c in contracts.items()
            if n not in ("DistrictToken", "ServicePayments")
        )
        return cls(
            chain_id=int(manifest.chain_id),
            token=token.address.lower(),
            payments=payments.address.lower() if payments is not None else None,
            start_block=min(int(c.deploy_block) for c in contracts.values()),
            others=others,
        )


@dataclass
class Fetched:
    first: int
    last: int
    last_hash: str
    logs: list[dict[str, Any]]
    headers: dict[int, dict[str, Any]]
    store_all: bool = False
    blocks: list[BlockRow] = field(default_factory=list)


def _block_row(h: dict[str, Any]) -> BlockRow:
    return BlockRow(int(h["number"], 16), h["hash"], h["parentHash"], int(h["timestamp"], 16))


class Indexer:
    def __init__(
        self,
        rpc: RpcClient,
        store: Store,
        targets: Targets,
        *,
        confirmations: int = 12,
        poll_interval: float = 1.0,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        ranges: AdaptiveRange | None = None,
        unfinalized_span: int = 64,
        use_finalized_tag: bool = True,
    ) -> None:
        self.rpc = rpc
        self.store = store
        self.targets = targets
        self.chain_id = targets.chain_id
        self.confirmations = max(0, confirmations)
        self.poll_interval = poll_interval
        self.progress = progress or Progress()
        self.stop = stop or threading.Event()
        self.ranges = ranges or AdaptiveRange()
        self.unfinalized_span = unfinalized_span
        self.decoder = Decoder(targets.token, targets.payments, targets.others)
        self.addresses = self.decoder.addresses
        self._tag_supported = use_finalized_tag
        self.events_indexed = 0
        self.reorgs = 0

    # -- public -------------------------------------------------------------------------------

    def run(self, *, follow: bool = True, until: int | None = None) -> None:
        """Index up to the head (or `until`), then keep following when `follow`."""
        self.check_chain()
        self.verify_cursor()
        backoff = 0.5
        while not self.stop.is_set():
            try:
                caught_up = self.step(until)
                backoff = 0.5
            except NodeLagging as exc:
                self.progress.event("node-lagging", detail=str(exc))
                self.stop.wait(self.poll_interval)
                continue
            except (RpcUnavailable, DatabaseUnavailable) as exc:
                if not follow:
                    raise
                self.progress.event("retrying", error=str(exc), in_s=backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if caught_up:
                if not follow:
                    break
                self.stop.wait(self.poll_interval)
        self.progress.done()

    def check_chain(self) -> None:
        chain_id = self.rpc.chain_id()
        if chain_id != self.chain_id:
            raise ChainMismatch(
                f"the node serves chain {chain_id} but the manifest is for chain {self.chain_id}"
            )

    def cursor(self) -> Cursor:
        return self.store.cursor(self.chain_id) or Cursor(self.targets.start_block - 1, "")

    def verify_cursor(self) -> None:
        """At start: the saved cursor block must still be on the chain (else roll back)."""
        saved = self.store.cursor(self.chain_id)
        if saved is None:
            return
        header = self.rpc.headers([saved.block_number])[0]
        if header is None or header["hash"] != saved.block_hash:
            head = self.rpc.block_number()
            self.handle_reorg(self.finalized(head))

    def finalized(self, head: int) -> int:
        """The highest block taken as final."""
        by_depth = head - self.confirmations
        if self._tag_supported:
            try:
                tagged = self.rpc.call("eth_getBlockByNumber", ["finalized", False])
            except RpcError:
                self._tag_supported = False
            else:
                if tagged:
                    return min(by_depth, int(tagged["number"], 16))
        return by_depth

    def step(self, until: int | None = None) -> bool:
        """Index what is available; True when caught up with the head (or `until`)."""
        head = self.rpc.block_number()
        target = head if until is None else min(head, until)
        cursor = self.cursor()
        if cursor.block_number >= target:
            if cursor.block_hash and cursor.block_number <= head:
                # Still on the chain? (a reorg can replace the head without growing it)
                header = self.rpc.headers([cursor.block_number])[0]
                if header is None or header["hash"] != cursor.block_hash:
                    self.handle_reorg(self.finalized(head))
                    return False
            elif cursor.block_number > head:
                self.handle_reorg(self.finalized(head))
                return False
            return True
        finalized = self.finalized(head)
        if cursor.block_number < finalized:
            self._backfill(cursor, min(finalized, target), head)
        else:
            self._step_unfinalized(cursor, target, finalized, head)
        return False

    # -- below finality -----------------------------------------------------------------------

    def _fetch_final(self, first: int, end: int) -> Fetched:
        last = min(end, first + self.ranges.span - 1)
        while True:
            try:
                logs, end_header = self.rpc.batch([
                    ("eth_getLogs", [{"address": self.addresses, "fromBlock": hex(first),
                                      "toBlock": hex(last)}]),
                    ("eth_getBlockByNumber", [hex(last), False]),
                ])
            except RangeTooLarge:
                if not self.ranges.on_error(last - first + 1):
                    raise
                last = min(end, first + self.ranges.span - 1)
                continue
            break
        if end_header is None:
            raise NodeLagging(f"the node has no block {last} although it reported it")
        self.ranges.on_success(last - first + 1, len(logs))
        headers = {last: end_header}
        hashes: dict[int, str] = {}
        for log in logs:
            hashes[int(log["blockNumber"], 16)] = log["blockHash"]
        missing = sorted(n for n in hashes if n not in headers)
        for n, header in zip(missing, self.rpc.headers(missing), strict=True):
            if header is None:
                raise NodeLagging(f"the node has logs in block {n} but no header for it")
            headers[n] = header
        for n, block_hash in hashes.items():
            if headers[n]["hash"] != block_hash:
                raise NodeLagging(f"block {n} changed while reading it; reading again")
        return Fetched(first, last, end_header["hash"], logs, headers)

    def _backfill(self, cursor: Cursor, end: int, head: int) -> None:
        """Blocks (cursor, end], all final: fetch one range ahead of the writer."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="getlogs") as pool:
            first = cursor.block_number + 1
            future: Future[Fetched] | None = pool.submit(self._fetch_final, first, end)
            try:
                while future is not None:
                    fetched = future.result()
                    following = fetched.last + 1
                    future = None
                    if following <= end and not self.stop.is_set():
                        future = pool.submit(self._fetch_final, following, end)
                    self._write(fetched, head)
            finally:
                if future is not None:
                    future.cancel()

    # -- above finality -----------------------------------------------------------------------

    def _step_unfinalized(self, cursor: Cursor, target: int, finalized: int, head: int) -> None:
        first = cursor.block_number + 1
        last = min(target, first + self.unfinalized_span - 1)
        numbers = list(range(first - 1 if cursor.block_hash else first, last + 1))
        calls: list[Call] = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        calls.append(("eth_getLogs", [{"address": self.addresses, "fromBlock": hex(first),
                                        "toBlock": hex(last)}]))
        calls.append(("eth_getBlockByNumber", [hex(last), False]))
        replies = self.rpc.batch(calls)
        headers: list[dict[str, Any] | None] = replies[: len(numbers)]
        logs: list[dict[str, Any]] = replies[-2]
        end_again: dict[str, Any] | None = replies[-1]
        if cursor.block_hash:
            parent = headers.pop(0)
            if parent is None or parent["hash"] != cursor.block_hash:
                self.handle_reorg(finalized)
                return
        if any(h is None for h in headers) or end_again is None:
            raise NodeLagging(f"the node misses headers in {first}..{last}")
        chain: list[dict[str, Any]] = [h for h in headers if h is not None]
        previous = cursor.block_hash
        for h in chain:
            if previous and h["parentHash"] != previous:
                raise NodeLagging(f"the chain changed while reading {first}..{last}")
            previous = h["hash"]
        if end_again["hash"] != chain[-1]["hash"]:
            raise NodeLagging(f"the head changed while reading {first}..{last}")
        by_number = {int(h["number"], 16): h for h in chain}
        for log in logs:
            n = int(log["blockNumber"], 16)
            if n not in by_number or by_number[n]["hash"] != log["blockHash"]:
                raise NodeLagging(f"logs of block {n} are from another fork; reading again")
        self._write(Fetched(first, last, chain[-1]["hash"], logs, by_number, store_all=True), head)

    def handle_reorg(self, finalized: int) -> Cursor:
        """Roll back to the newest stored block still on the chain; refuse below finality."""
        cursor = self.cursor()
        candidates: list[tuple[int, str]] = []
        if cursor.block_hash:
            candidates.append((cursor.block_number, cursor.block_hash))
        candidates += [
            c for c in self.store.stored_blocks_desc(self.chain_id, cursor.block_number, 100_000)
            if c[0] != cursor.block_number
        ]
        ancestor: Cursor | None = None
        for i in range(0, len(candidates), 256):
            chunk = candidates[i : i + 256]
            chain = self.rpc.headers([n for n, _ in chunk])
            for (number, stored_hash), header in zip(chunk, chain, strict=True):
                if header is not None and header["hash"] == stored_hash:
                    ancestor = Cursor(number, stored_hash)
                    break
                if number <= finalized:
                    raise DeepReorgError(
                        f"ALERT: block {number} changed below finality (stored {stored_hash}, "
                        f"node {header['hash'] if header else 'no block'}); nothing was deleted. "
                        "Check the node and the chain before indexing again."
                    )
            if ancestor is not None:
                break
        if ancestor is None:
            if self.targets.start_block - 1 <= finalized and cursor.block_number > finalized:
                raise DeepReorgError(
                    "ALERT: no indexed block is on the node's chain any more; nothing was "
                    "deleted. Check the node (is it the right chain?) before indexing again."
                )
            ancestor = Cursor(self.targets.start_block - 1, "")
        removed = self.store.rollback_to(self.chain_id, ancestor)
        self.reorgs += 1
        self.progress.event(
            "reorg", rolled_back_to=ancestor.block_number, from_block=cursor.block_number,
            depth=cursor.block_number - ancestor.block_number, logs_removed=removed,
        )
        return ancestor

    # -- writing ------------------------------------------------------------------------------

    def _write(self, fetched: Fetched, head: int) -> None:
        batch = Batch(self.chain_id, fetched.first, Cursor(fetched.last, fetched.last_hash))
        times = batch.block_times
        for n, h in fetched.headers.items():
            times[n] = int(h["timestamp"], 16)
        log_blocks = {int(lg["blockNumber"], 16) for lg in fetched.logs} if fetched.logs else set()
        stored = fetched.headers if fetched.store_all else {
            n: h for n, h in fetched.headers.items() if n in log_blocks
        }
        batch.blocks = [_block_row(stored[n]) for n in sorted(stored)]
        count = self.decoder.decode_into(fetched.logs, batch)
        self.store.apply(batch)
        self.events_indexed += count
        self.progress.update(fetched.last, head, count)
