"""Backfill then follow the district contracts, exactly once, under reorgs and crashes.

Correctness rules (see docs in `Indexer`):
- before anything: the node's chain id and block 0 hash must be the manifest's (and the ones the
  index was built from, recorded in the database): an emptied node or another chain is refused
  with a sentence and nothing is read or deleted;
- a node whose head is below the indexed cursor is behind (a lagging replica, a node restored
  from an older state): the indexer waits for it (follow mode) or exits non-zero (--once); it
  never reads that as a reorg;
- the cursor (last block number + hash) is written in the same transaction as the data;
- finality: min(the node's `finalized` block when it serves the tag, H - confirmations), where H
  is the highest head any node ever reported (stored), not the current node's possibly lower one;
- below finality: large adaptive eth_getLogs ranges, fetched one range ahead of the writer;
- above finality: every header is fetched and stored, parent hashes are checked, and a reorg rolls
  the database back to the common ancestor; a reorg reaching finalized blocks stops with
  DeepReorgError, deletes nothing and names the recovery command (`ledger index --rebuild-from
  BLOCK`, which `rebuild_from` implements); a log marked `removed: true` takes the reorg path;
- a node answer is trusted only when the range's end header exists, the logs of a block agree on
  its hash (and time), and every header read matches its logs' hash (a lagging node's empty
  answer is not taken as truth); below finality a block's header is read only when its logs
  lack `blockTimestamp`, above it every header is read.
"""

from __future__ import annotations

import gc
import hashlib
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ledger.db.errors import DatabaseUnavailable
from ledger.db.records import Batch, BlockRow, Cursor, NodeLimits
from ledger.db.store import Store
from ledger.indexer.errors import (
    ChainMismatch,
    DeepReorgError,
    NodeBehind,
    NodeLagging,
    RangeTooLarge,
    RebuildRefused,
    RpcError,
    RpcUnavailable,
)
from ledger.indexer.events import (
    FUND_EVENTS,
    PAYMENTS_EVENTS,
    SETTLEMENT_EVENTS,
    TOKEN_EVENTS,
    Decoder,
    check_abi,
    local_day,
)
from ledger.indexer.logscan import ScannedLogs, reader
from ledger.indexer.progress import Progress
from ledger.indexer.rpc import AdaptiveRange, Call, RpcClient

_PREFETCH = 2  # ranges read ahead of the writer
_GC_EVERY = 16  # batches between two collections of the young generations during a backfill
_HEAD_POLL = 0.1  # seconds between two eth_blockNumber while caught up (new-head detection)
_TAIL_LOGS = 2_000  # the logs of the last ranges of a backfill (see Indexer._tail_span)
_LAGGING_TRIES = 60  # --once: polls of a node that answers behind its own head before giving up


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic garbage collection while the block runs (restored after).

    A backfill allocates millions of short-lived, acyclic objects (parsed logs, rows) that
    reference counting frees; the cyclic collector's automatic passes over them (full ones
    included, which walk every live object) took more time than decoding itself. The backfill
    loop collects the young generations every few batches instead.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def settle_heap() -> None:
    """Once, before a long-running indexer starts: a full collection, then every object alive
    now (modules, classes, the libraries' caches) moved out of the cyclic collector's reach
    (`gc.freeze`). A full collection otherwise walks them all: 80 ms measured when one fell at
    a backfill's end, before the indexes' build, and as long in a follower whenever one comes.
    Frozen objects are still freed by reference counting; only a cycle among them would stay
    (the indexer's own objects live as long as the process)."""
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class Targets:
    """What to index: the chain and the district contracts (from the deployment manifest)."""

    chain_id: int
    token: str
    payments: str | None
    start_block: int
    others: tuple[str, ...] = ()
    settlement: str | None = None
    fund: str | None = None
    genesis_hash: str = ""  # block 0's hash from the manifest ("" when it has none)

    @classmethod
    def from_manifest(cls, manifest: Any) -> Targets:
        """From a ledger.chain.manifest.Manifest (duck-typed: chain_id, contracts)."""
        contracts = manifest.contracts
        if "DistrictToken" not in contracts:
            raise ChainMismatch("the deployment manifest has no DistrictToken")
        token = contracts["DistrictToken"]
        payments = contracts.get("ServicePayments")
        settlement = contracts.get("EnergySettlement")
        fund = contracts.get("CommonsFund")
        problems = check_abi(token.abi, TOKEN_EVENTS)
        if payments is not None:
            problems += check_abi(payments.abi, PAYMENTS_EVENTS)
        if settlement is not None:
            problems += check_abi(settlement.abi, SETTLEMENT_EVENTS)
        if fund is not None:
            problems += check_abi(fund.abi, FUND_EVENTS)
        if problems:
            raise ChainMismatch("the contracts' events differ from the indexer's: "
                                + "; ".join(problems))
        others = tuple(
            c.address.lower() for n, c in contracts.items()
            if n not in ("DistrictToken", "ServicePayments", "EnergySettlement", "CommonsFund")
        )
        return cls(
            chain_id=int(manifest.chain_id),
            token=token.address.lower(),
            payments=payments.address.lower() if payments is not None else None,
            start_block=min(int(c.deploy_block) for c in contracts.values()),
            others=others,
            settlement=settlement.address.lower() if settlement is not None else None,
            fund=fund.address.lower() if fund is not None else None,
            genesis_hash=str(getattr(manifest, "genesis_hash", "") or "").lower(),
        )


@dataclass
class Fetched:
    first: int
    last: int
    last_hash: str
    logs: list[Any]  # dicts, or TransferRows from the compiled reader
    headers: dict[int, dict[str, Any]]
    store_all: bool = False
    blocks: list[BlockRow] = field(default_factory=list)
    log_blocks: set[int] | None = None  # the blocks holding logs, when already known


def _time_of(stamp: Any, n: int) -> int:
    """A block time as the node writes it (hex text)."""
    try:
        return int(stamp, 16)
    except (TypeError, ValueError):
        raise NodeLagging(f"the node gives block {n} a time that is not a hex number: "
                          f"{str(stamp)[:40]!r}") from None


def _block_row(n: int, h: dict[str, Any]) -> BlockRow:
    return BlockRow(n, h["hash"], h["parentHash"], int(h["timestamp"], 16))


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
        head_poll: float = _HEAD_POLL,
    ) -> None:
        self.rpc = rpc
        self.store = store
        self.targets = targets
        self.chain_id = targets.chain_id
        self.confirmations = max(0, confirmations)
        self.poll_interval = poll_interval
        self.head_poll = head_poll
        self._caught_up_at = -1  # the cursor's block when `step` last found nothing new
        self.progress = progress or Progress()
        self.stop = stop or threading.Event()
        self.ranges = ranges or AdaptiveRange()
        self._density = 0.0  # logs per block in the last final range read
        self.unfinalized_span = unfinalized_span
        self.decoder = Decoder(
            targets.token, targets.payments, targets.others, targets.settlement, targets.fund
        )
        self.addresses = self.decoder.addresses
        # The compiled reader of eth_getLogs answers for final ranges (None: orjson alone).
        self.read_logs = reader(self.decoder.row_specs(), local_day)
        self._tag_supported = use_finalized_tag
        self.events_indexed = 0
        self.reorgs = 0
        self._indexes_ready = False
        self.highest_head = -1  # the highest head ever reported (loaded by check_chain)
        # The node's log-range limits are kept per node, keyed by a hash of its URL (which may
        # carry a provider's key): a restart starts at the cap instead of learning it again.
        self._node_key = hashlib.sha256(str(getattr(rpc, "url", "")).encode()).hexdigest()
        self._limits_saved: NodeLimits | None = None

    # -- public -------------------------------------------------------------------------------

    def run(self, *, follow: bool = True, until: int | None = None) -> None:
        """Index up to the head (or `until`), then keep following when `follow`.

        A node behind the cursor is waited for when following and raises NodeBehind otherwise.
        """
        self.check_chain()
        self.load_node_limits()
        backoff = 0.5
        lagging = 0
        verified = False
        while not self.stop.is_set():
            try:
                if not verified:
                    self.verify_cursor()
                    verified = True
                caught_up = self.step(until)
                backoff = 0.5
                lagging = 0
            except NodeBehind as exc:
                if not follow:
                    raise
                self.progress.event("node-behind", detail=str(exc))
                self.stop.wait(self.poll_interval)
                continue
            except NodeLagging as exc:
                lagging += 1
                if not follow and lagging >= _LAGGING_TRIES:
                    raise
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
                self._wait_for_new_head()
        self.progress.done()

    def _wait_for_new_head(self) -> None:
        """Caught up: ask the node for its head every `head_poll` s (one eth_blockNumber) and
        return as soon as it passes the cursor, else after `poll_interval`, when `step` checks
        again that the cursor's block is still on the chain (a reorg that does not grow it).
        Waiting the whole poll interval left a new block unread for up to that long."""
        deadline = time.monotonic() + self.poll_interval
        while (left := deadline - time.monotonic()) > 0:
            if self.stop.wait(min(self.head_poll, left)):
                return
            try:
                if self.rpc.block_number() > self._caught_up_at:
                    return
            except (RpcUnavailable, RpcError):
                return  # `step` meets it again and retries or reports it

    def check_chain(self) -> None:
        """The node must serve the manifest's chain id and genesis, and the genesis the index
        was built from; the first run records it. Raises ChainMismatch, deleting nothing."""
        chain_id = self.rpc.chain_id()
        if chain_id != self.chain_id:
            raise ChainMismatch(
                f"the node serves chain {chain_id} but the manifest is for chain {self.chain_id}; "
                "point --rpc-url (LEDGER_RPC_URL) at the district's node"
            )
        genesis = self.rpc.headers([0])[0]
        if genesis is None:
            raise ChainMismatch("the node has no block 0; point --rpc-url at a synced node")
        node_genesis = str(genesis["hash"]).lower()
        if self.targets.genesis_hash and node_genesis != self.targets.genesis_hash:
            raise ChainMismatch(
                f"the node's block 0 is {node_genesis} but the contracts were deployed on the "
                f"chain whose block 0 is {self.targets.genesis_hash}: this node is a fresh or "
                "another chain with the same chain id. Nothing was read or deleted; point "
                "--rpc-url at the district's node (or deploy again for this chain)"
            )
        head = self.rpc.block_number()
        known = self.store.chain_identity(self.chain_id)
        if known is None:
            self.store.record_chain_identity(self.chain_id, node_genesis, head)
            self.highest_head = head
            return
        recorded, highest = known
        if recorded.lower() != node_genesis:
            raise ChainMismatch(
                f"the node's block 0 is {node_genesis} but this database indexed the chain whose "
                f"block 0 is {recorded}. Nothing was read or deleted; point --rpc-url at that "
                "chain's node, or index this chain into a new database"
            )
        self.highest_head = highest
        self._note_head(head)

    def load_node_limits(self) -> None:
        """Start the adaptive log range at what an earlier run learned of this node."""
        limits = self.store.node_limits(self.chain_id, self._node_key)
        if limits is not None:
            self.ranges.restore(limits)
            self._limits_saved = limits
            self.progress.event("node-limits", max_span=limits.max_span,
                                refused_span=limits.refused_span, served_span=limits.served_span,
                                target_logs=limits.target_logs)

    def _save_node_limits(self) -> None:
        """Record newly learned limits (rare: only after a refusal changed them)."""
        learned = self.ranges.learned()
        if learned is not None and learned != self._limits_saved:
            self.store.save_node_limits(self.chain_id, self._node_key, learned)
            self._limits_saved = learned

    def _note_head(self, head: int) -> None:
        if head > self.highest_head:
            self.store.note_head(self.chain_id, head)
            self.highest_head = head

    def cursor(self) -> Cursor:
        return self.store.cursor(self.chain_id) or Cursor(self.targets.start_block - 1, "")

    def verify_cursor(self) -> None:
        """At start: the saved cursor block must still be on the chain (else roll back). A node
        whose head is below the cursor is behind (NodeBehind), not reorganised."""
        saved = self.store.cursor(self.chain_id)
        if saved is None or not saved.block_hash:
            return
        head = self.rpc.block_number()
        self._note_head(head)
        if head < saved.block_number:
            raise self._behind(saved.block_number, head)
        header = self.rpc.headers([saved.block_number])[0]
        if header is None:
            raise NodeLagging(f"the node reports head {head} but has no block {saved.block_number}")
        if header["hash"] != saved.block_hash:
            self.handle_reorg(self.finalized(head))

    def _behind(self, cursor: int, head: int) -> NodeBehind:
        return NodeBehind(
            f"the node's head is block {head}, below block {cursor} already indexed: the node is "
            "behind (still syncing, a lagging replica, or restored from an older state). Nothing "
            "was deleted; `ledger index` (following) waits for it to catch up, or point "
            "--rpc-url at a synced node"
        )

    def finalized(self, head: int) -> int:
        """The highest block taken as final: measured from the highest head ever reported, so
        a node that comes back lower does not make final blocks reorganisable."""
        self._note_head(head)
        by_depth = max(head, self.highest_head) - self.confirmations
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
        if cursor.block_hash and cursor.block_number > head:
            raise self._behind(cursor.block_number, head)
        if cursor.block_number >= target:
            if cursor.block_hash:
                # Still on the chain? (a reorg can replace the head without growing it)
                header = self.rpc.headers([cursor.block_number])[0]
                if header is None:
                    raise NodeLagging(f"the node reports head {head} but has no block "
                                      f"{cursor.block_number}")
                if header["hash"] != cursor.block_hash:
                    self.handle_reorg(self.finalized(head))
                    return False
            self._ensure_indexes()
            self._caught_up_at = cursor.block_number
            return True
        finalized = self.finalized(head)
        if cursor.block_number < finalized:
            self._backfill(cursor, min(finalized, target), head)
        else:
            self._ensure_indexes()
            self._step_unfinalized(cursor, target, finalized, head)
        return False

    def _ensure_indexes(self) -> None:
        """The readers' secondary indexes exist (built now if an initial backfill dropped them,
        in this run or in one that crashed)."""
        if self._indexes_ready:
            return
        started = time.monotonic()
        built = self.store.build_deferred_indexes()
        if built:
            self.progress.event("indexes-built", count=built,
                                seconds=round(time.monotonic() - started, 2))
        self._indexes_ready = True

    # -- below finality -----------------------------------------------------------------------

    def _tail_span(self, first: int, end: int) -> int:
        """The span of the next final range: the adaptive one, except near the backfill's end,
        where the ranges halve down to about `_TAIL_LOGS` logs. The writer then writes the
        first halves while the last ones are read, and has little left when the reading ends
        (the last range of a district's backfill held half its events, written after the node
        had answered everything)."""
        span = self.ranges.span
        remaining = end - first + 1
        density = self._density
        if density <= 0 or remaining > 2 * span or remaining * density <= _TAIL_LOGS:
            return span
        return min(span, max(remaining // 2, int(_TAIL_LOGS / density), 1))

    def _fetch_final(self, first: int, end: int) -> Fetched:
        last = min(end, first + self._tail_span(first, end) - 1)
        while True:
            try:
                answer, end_header = self.rpc.batch([
                    ("eth_getLogs", [{"address": self.addresses, "fromBlock": hex(first),
                                      "toBlock": hex(last)}]),
                    ("eth_getBlockByNumber", [hex(last), False]),
                ], parse=self.read_logs)
            except RangeTooLarge as exc:
                if not self.ranges.on_error(last - first + 1, exc.rpc_message):
                    raise
                last = min(end, first + self.ranges.span - 1)
                continue
            break
        if end_header is None:
            raise NodeLagging(f"the node has no block {last} although it reported it")
        logs: list[Any]
        blocks: Iterable[tuple[str, str, str | None]]
        if isinstance(answer, ScannedLogs):  # read by the compiled reader
            logs, blocks, removed = answer.items, answer.blocks, answer.removed
        else:
            logs = answer
            removed = any(log.get("removed") for log in logs)
            blocks = ((log["blockNumber"], log["blockHash"], log.get("blockTimestamp"))
                      for log in logs)
        if removed:
            raise NodeLagging(f"the node marks logs of final blocks {first}..{last} as removed; "
                              "reading again")
        self.ranges.on_success(last - first + 1, len(logs))
        self._density = len(logs) / (last - first + 1)
        headers = {last: end_header}
        hashes: dict[int, str] = {}
        stamps: dict[int, str | None] = {}  # a block's time as its logs give it
        undated: set[int] = set()  # blocks with a log that gives no time
        # Every (block, hash, time) of the answer, parsed once per block (not once per log).
        for number_hex, block_hash, stamp in dict.fromkeys(blocks):
            n = int(number_hex, 16)
            if hashes.setdefault(n, block_hash) != block_hash:
                raise NodeLagging(f"logs of block {number_hex} carry two block hashes")
            known = stamps.setdefault(n, stamp)
            if stamp is None:
                undated.add(n)
            elif known is None:
                stamps[n] = stamp  # its first log gave no time, this one does
            elif known != stamp:
                raise NodeLagging(f"logs of block {number_hex} carry two block times")
        # A final block whose logs carry its time needs no header: its number and hash come
        # with the logs, and it cannot change any more. The header is read only when the node
        # leaves `blockTimestamp` out (older nodes): that was most of a sparse chain's cost.
        missing = sorted(n for n in hashes if n not in headers and n in undated)
        for n, header in zip(missing, self.rpc.headers(missing), strict=True):
            if header is None:
                raise NodeLagging(f"the node has logs in block {n} but no header for it")
            headers[n] = header
        for n, block_hash in hashes.items():
            header = headers.get(n)
            stamp = stamps[n]
            if header is None:
                headers[n] = {"hash": block_hash, "parentHash": None, "timestamp": stamp}
                continue
            if header["hash"] != block_hash:
                raise NodeLagging(f"block {n} changed while reading it; reading again")
            # The block's time is the header's: a log dated otherwise is not the same block (a
            # payment's day is read from its log's time by the compiled reader).
            if stamp is not None and _time_of(stamp, n) != _time_of(header["timestamp"], n):
                raise NodeLagging(f"the logs of block {n} and its header give two block times")
        return Fetched(first, last, end_header["hash"], logs, headers, log_blocks=set(hashes))

    def _backfill(self, cursor: Cursor, end: int, head: int) -> None:
        """Blocks (cursor, end], all final. A fetch thread reads ranges (eth_getLogs, headers,
        JSON parsing) and a decode thread turns them into rows, each up to `_PREFETCH` ahead of
        the next stage, while this thread writes them, so the node and the decoder work while
        the database writes.

        Into empty tables, the readers' secondary indexes are dropped first and built once the
        backfill reaches `end` (until then only the API's reads are slower; a crash leaves them
        missing and the next backfill's end builds them).
        """
        written = cursor.block_number
        # Three stages, each a queue of `_PREFETCH` apart: a thread reads ranges (eth_getLogs,
        # headers, JSON), a thread decodes them into rows, this thread writes them. Decoding
        # runs while the database works (SQLite and PostgreSQL release the GIL meanwhile) and
        # the node answers; what is written, and its transaction, are unchanged.
        fetched_q: queue.Queue[Fetched | BaseException | None] = queue.Queue(maxsize=_PREFETCH)
        decoded_q: queue.Queue[tuple[Batch, int] | BaseException | None] = queue.Queue(
            maxsize=_PREFETCH)
        quit_ = threading.Event()

        def hand_over(q: queue.Queue[Any], item: object) -> None:
            while not quit_.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def fetch_ahead() -> None:
            first = cursor.block_number + 1
            try:
                while first <= end and not self.stop.is_set() and not quit_.is_set():
                    fetched = self._fetch_final(first, end)
                    first = fetched.last + 1
                    hand_over(fetched_q, fetched)
            except BaseException as exc:  # handed on to the writer, which raises it
                hand_over(fetched_q, exc)
                return
            hand_over(fetched_q, None)

        def decode_ahead() -> None:
            while not quit_.is_set():
                try:
                    item = fetched_q.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is None or isinstance(item, BaseException):
                    hand_over(decoded_q, item)
                    return
                try:
                    decoded = self._decode(item)
                except BaseException as exc:  # handed on to the writer, which raises it
                    hand_over(decoded_q, exc)
                    return
                del item
                hand_over(decoded_q, decoded)

        stages = [threading.Thread(target=fetch_ahead, name="getlogs", daemon=True),
                  threading.Thread(target=decode_ahead, name="decode", daemon=True)]
        batches = 0
        with gc_paused(), self.store.backfilling():
            for stage in stages:
                stage.start()
            try:
                # The node answers the first range meanwhile (the readers do not touch the DB).
                if not cursor.block_hash and self.store.drop_deferred_indexes_if_empty():
                    self._indexes_ready = False
                while (ready := decoded_q.get()) is not None:
                    if isinstance(ready, BaseException):
                        raise ready
                    batch, count = ready
                    self._apply(batch, count, head)
                    written = batch.cursor.block_number
                    del ready, batch
                    batches += 1
                    if batches % _GC_EVERY == 0:
                        gc.collect(1)  # the young generations only: bounded by a few batches
            finally:
                quit_.set()
                for stage in stages:
                    stage.join()
        if written >= end:
            self._ensure_indexes()

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
        if any(log.get("removed") for log in logs):
            # The node saw a reorg while answering: check the stored blocks against it (a roll
            # back if they changed) and read the range again; never write a removed log.
            self.progress.event("removed-log", first=first, last=last)
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
        deep: tuple[int, str, str] | None = None  # the first final block found changed
        for i in range(0, len(candidates), 256):
            chunk = candidates[i : i + 256]
            chain = self.rpc.headers([n for n, _ in chunk])
            for (number, stored_hash), header in zip(chunk, chain, strict=True):
                if header is not None and header["hash"] == stored_hash:
                    ancestor = Cursor(number, stored_hash)
                    break
                if number <= finalized and deep is None:
                    deep = (number, stored_hash, header["hash"] if header else "no block")
            if ancestor is not None:
                break
        if deep is None and ancestor is None and (
            self.targets.start_block - 1 <= finalized < cursor.block_number
        ):
            deep = (self.targets.start_block, "", "")
        if deep is not None:
            rebuild = (ancestor.block_number if ancestor else self.targets.start_block - 1) + 1
            number, stored_hash, node_hash = deep
            changed = (f"block {number} changed below finality (stored {stored_hash}, node "
                       f"{node_hash})" if stored_hash else
                       "no indexed block is on the node's chain any more")
            raise DeepReorgError(
                f"ALERT: {changed}; nothing was deleted. Check that the node serves the district's "
                f"chain; if it does, rebuild the index from the last common block with "
                f"`ledger index --rebuild-from {rebuild}`.",
                rebuild,
            )
        if ancestor is None:
            ancestor = Cursor(self.targets.start_block - 1, "")
        removed = self.store.rollback_to(self.chain_id, ancestor)
        self.reorgs += 1
        self.progress.event(
            "reorg", rolled_back_to=ancestor.block_number, from_block=cursor.block_number,
            depth=cursor.block_number - ancestor.block_number, logs_removed=removed,
        )
        return ancestor

    def rebuild_from(self, block: int) -> Cursor:
        """Delete what is indexed from `block` on and index it again from the node: the recovery
        after a reorg deeper than finality (the operator checked the node's chain). The highest
        head seen restarts from the node's head."""
        self.check_chain()
        cursor = self.cursor()
        first = self.targets.start_block
        if not first <= block <= cursor.block_number + 1:
            raise RebuildRefused(
                f"--rebuild-from {block} is outside the indexed blocks {first}..{cursor.block_number}"
                f"; give a block between {first} and {cursor.block_number + 1}"
            )
        head = self.rpc.block_number()
        if block - 1 > head:
            raise self._behind(block - 1, head)
        ancestor = Cursor(first - 1, "")
        if block - 1 >= first:
            header = self.rpc.headers([block - 1])[0]
            if header is None:
                raise NodeLagging(f"the node has no block {block - 1}; try again once it has")
            ancestor = Cursor(block - 1, header["hash"])
        removed = self.store.rollback_to(self.chain_id, ancestor)
        genesis = self.rpc.headers([0])[0]
        self.store.record_chain_identity(self.chain_id, str(genesis["hash"]).lower()
                                         if genesis else "", head)
        self.highest_head = head
        self.progress.event("rebuild", from_block=block, logs_removed=removed)
        return ancestor

    # -- writing ------------------------------------------------------------------------------

    def _write(self, fetched: Fetched, head: int) -> None:
        self._apply(*self._decode(fetched), head)

    def _apply(self, batch: Batch, count: int, head: int) -> None:
        """Write one decoded batch with its cursor (one transaction)."""
        self.store.apply(batch)
        self._save_node_limits()
        self.events_indexed += count
        self.progress.update(batch.cursor.block_number, head, count)

    def _decode(self, fetched: Fetched) -> tuple[Batch, int]:
        """The rows of a fetched range (no I/O: the backfill runs it on the fetch thread)."""
        batch = Batch(self.chain_id, fetched.first, Cursor(fetched.last, fetched.last_hash))
        times = batch.block_times
        for n, h in fetched.headers.items():
            times[n] = int(h["timestamp"], 16)
        log_blocks = fetched.log_blocks
        if log_blocks is None:
            log_blocks = {int(lg["blockNumber"], 16) for lg in fetched.logs}
        stored = fetched.headers if fetched.store_all else {
            n: h for n, h in fetched.headers.items() if n in log_blocks
        }
        batch.blocks = [_block_row(n, stored[n]) for n in sorted(stored)]
        count = self.decoder.decode_into(fetched.logs, batch)
        return batch, count
