"""Indexer benchmark: fill a local node with events, then measure in one run (a) the limit: raw
eth_getLogs over the range + orjson parsing, and (b) the indexer end-to-end into SQLite and into
PostgreSQL. Prints events/s for each, the ratio to the limit and the CPU seconds spent (this
process and the node, while indexing), with the ceiling they set: the machine's cores cannot run
that CPU in less than CPU / cores seconds. In `--rounds` rounds (the figure is the median
ratio); then (c) the live
lag of the indexer following a node that mines a block a second.

    .venv/bin/python -m bench.indexer [--workload synthetic|realistic|both|live|all]
        [--rounds 3] [--events 100000] [--per-tx 1000] [--realistic-events 20000]
        [--live-seconds 30] [--block-ms 1000] [--head-poll 0.1] [--postgres URL]
        [--node hardhat|anvil] [--limit-seconds 2] [--python-only]

Two workloads, each on a node of its own:
- synthetic: >= 100,000 Transfer events, 1,000 per transaction (dense blocks: the log path);
- realistic: a district's day-to-day chain: sparse blocks (one to three transactions, then
  zero to four empty blocks), each transaction one action of residents and merchants (payments,
  transfers, refunds, bookings opened and closed, deposits, a few redemptions), about three
  logs per block holding logs, so header fetches and small batches weigh as they do live.
PostgreSQL: --postgres or LEDGER_TEST_POSTGRES_URL (a scratch database is created and dropped).
The events come from TEST-ONLY contracts (tests/fixtures/contracts/DistrictMocks.sol) emitting
the district's events: the real contracts would take far too long to drive here. EnergySettlement
events are not in the realistic mix (a settled day is a handful of logs a day).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_abi.abi import encode  # noqa: E402

from ledger.chain.devnode import AnvilNode, DevNode, free_port  # noqa: E402
from ledger.db import make_engine, migrate  # noqa: E402
from ledger.db import store as store_module  # noqa: E402
from ledger.db.store import Store  # noqa: E402
from ledger.indexer import logscan  # noqa: E402
from ledger.indexer.rpc import AdaptiveRange  # noqa: E402
from ledger.indexer.service import IndexerConfig, open_indexer  # noqa: E402
from ledger.indexer.sync import gc_paused, settle_heap  # noqa: E402
from ledger.settings import LedgerSettings  # noqa: E402
from tests.fixtures.districtchain import Chain, MockDistrict, selector  # noqa: E402


def fill(chain: Chain, district: MockDistrict, events: int, per_tx: int) -> tuple[int, int]:
    district.spray_mint(10**30)
    first = chain.block_number()
    sent = 0
    seed = 0
    while sent < events:
        n = min(per_tx, events - sent)
        district.spray(n, seed)
        seed += 1
        sent += n
    return first, chain.block_number()


def fill_realistic(chain: Chain, district: MockDistrict, events: int, seed: int = 3
                   ) -> tuple[int, int]:
    """A district's chain: residents pay merchants, transfer, book and get refunds; blocks of
    one to three transactions separated by empty blocks, mined with automine off (one evm_mine
    per block); returns (first, last) block."""
    rng = random.Random(seed)
    _open_district(chain, district)
    first = chain.block_number() + 1
    actions = _Actions(chain, district, rng)
    _send_batch(chain, [{"method": "evm_setAutomine", "params": [False]}])
    while actions.logs < events:
        # The node answers a batch's calls in no set order: the block is mined by a request
        # of its own once its transactions are all in the pool.
        _send_batch(chain, actions.block())
        _send_batch(chain, [{"method": "evm_mine", "params": []}])
        gap = rng.choice((0, 0, 1, 2, 4))
        if gap:
            _send_batch(chain, [{"method": "hardhat_mine", "params": [hex(gap)]}])
    _send_batch(chain, [{"method": "evm_setAutomine", "params": [True]}])
    return first, chain.block_number()


def _open_district(chain: Chain, district: MockDistrict) -> None:
    """Three merchants and fifteen residents holding M3E (automine on)."""
    for i, payout in enumerate(chain.accounts[16:19]):
        district.register(f"Commerce {i + 1}", i, payout)
    for i, resident in enumerate(chain.accounts[1:16]):
        district.deposit(f"VIR-BENCH-{i}".encode(), resident, 10**15)


class _Actions:
    """The district's day-to-day transactions, one block's worth at a time (after
    `_open_district`): residents pay merchants, transfer, book and get refunds."""

    def __init__(self, chain: Chain, district: MockDistrict, rng: random.Random) -> None:
        self.chain = chain
        self.district = district
        self.rng = rng
        self.residents = chain.accounts[1:16]
        self.merchants = 3
        self.open_bookings: list[int] = []
        self.bookings = 0
        self.logs = 0  # logs the transactions sent so far emit

    def _call(self, to: str, sender: str, signature: str, types: list[str], args: list[object]
              ) -> dict[str, object]:
        data = "0x" + selector(signature) + encode(types, args).hex()
        return {"method": "eth_sendTransaction",
                "params": [{"from": sender, "to": to, "data": data, "gas": hex(1_000_000)}]}

    def block(self) -> list[dict[str, object]]:
        """One to three transactions (eth_sendTransaction requests)."""
        rng = self.rng
        district = self.district
        operator = self.chain.accounts[0]
        requests: list[dict[str, object]] = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            payer = rng.choice(self.residents)
            merchant = rng.randrange(1, self.merchants + 1)
            roll = rng.random()
            if roll < 0.55:  # a payment: Transfer + PaymentMade
                requests.append(self._call(
                    district.payments, payer, "pay(uint256,uint256,bytes32)",
                    ["uint256", "uint256", "bytes32"],
                    [merchant, rng.randrange(500_000, 40_000_000), rng.randbytes(32)]))
                self.logs += 2
            elif roll < 0.75:  # a transfer between residents
                requests.append(self._call(
                    district.token, payer, "transfer(address,uint256)", ["address", "uint256"],
                    [rng.choice(self.residents), rng.randrange(1, 20_000_000)]))
                self.logs += 1
            elif roll < 0.85:  # a booking deposit: Transfer + BookingOpened
                requests.append(self._call(
                    district.payments, payer, "openBooking(uint256,uint256,uint64,bytes32)",
                    ["uint256", "uint256", "uint64", "bytes32"],
                    [merchant, 30_000_000, 2_000_000_000, rng.randbytes(32)]))
                self.bookings += 1
                self.open_bookings.append(self.bookings)
                self.logs += 2
            elif roll < 0.93 and self.open_bookings:  # closed with a charge: 2 Transfers + Closed
                booking = self.open_bookings.pop(rng.randrange(len(self.open_bookings)))
                requests.append(self._call(
                    district.payments, operator, "closeBooking(uint256,uint256)",
                    ["uint256", "uint256"], [booking, rng.randrange(0, 30_000_001)]))
                self.logs += 3
            elif roll < 0.97:  # a refund of part of a payment: Transfer + PaymentRefunded
                requests.append(self._call(
                    district.payments, operator, "refund(uint256,address,uint256,bytes32)",
                    ["uint256", "address", "uint256", "bytes32"],
                    [merchant, payer, rng.randrange(1, 400_000), rng.randbytes(32)]))
                self.logs += 2
            else:  # a euro deposit: Transfer + DepositRecorded
                requests.append(self._call(
                    district.token, operator, "recordDeposit(bytes32,address,uint256)",
                    ["bytes32", "address", "uint256"],
                    [rng.randbytes(32), payer, rng.randrange(10_000_000, 200_000_000)]))
                self.logs += 2
        return requests


def make_final(chain: Chain, last: int) -> int:
    """Mine empty blocks until the node's `finalized` block reaches `last`; returns how many.

    anvil mimics proof of stake and declares final only the blocks 64 below its head (the
    district's QBFT chain finalizes each block at once, Hardhat answers its head). The indexer
    reads the blocks above its finality one header each, as when following live: without these
    blocks, 64 of the synthetic workload's 104 blocks (64 % of its events) went that way, and
    the bench measured the live path instead of the backfill."""
    mined = 0
    while (final := int(chain.rpc("eth_getBlockByNumber", ["finalized", False])["number"], 16)
           ) < last and mined < 1_000:
        _send_batch(chain, [{"method": "evm_mine", "params": []} for _ in range(last - final)])
        mined += last - final
    return mined


def _send_batch(chain: Chain, requests: list[dict[str, object]]) -> None:
    payload = [{"jsonrpc": "2.0", "id": i, **r} for i, r in enumerate(requests)]
    replies = chain.http.post(chain.url, content=orjson.dumps(payload),
                              headers={"content-type": "application/json"}).json()
    failed = [r for r in replies if "error" in r]
    if failed:
        raise RuntimeError(f"filling the chain failed: {failed[0]['error']}")


def measure_limit(
    url: str, addresses: list[str], first: int, last: int, span: int | None,
    at_least: float = 0.0,
) -> tuple[int, float, int]:
    """Sequential eth_getLogs over [first, last] + orjson parsing, in `span`-block ranges, or
    (span None) in the indexer's own adaptive ranges (same AdaptiveRange, same starting span),
    in passes repeated until `at_least` seconds have gone (see `--limit-seconds`); returns the
    logs read, the seconds and the passes. Runs with the garbage collector paused as the
    indexer's backfill does (fair to the limit)."""
    count = passes = 0
    started = time.perf_counter()
    while True:
        n, _ = _limit_pass(url, addresses, first, last, span)
        count += n
        passes += 1
        if time.perf_counter() - started >= at_least:
            return count, time.perf_counter() - started, passes


def node_pauses(url: str, seconds: float = 3.0) -> str:
    """How often the node stops answering: a small eth_getLogs over and over for `seconds`;
    the answers slower than 50 ms and the longest (anvil writes its state file once a second,
    and answers nothing meanwhile: the larger the chain, the longer)."""
    slow: list[float] = []
    calls = 0
    with httpx.Client(timeout=60) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
                                   "params": [{"fromBlock": "0x0", "toBlock": "0x0"}]})
            took = time.perf_counter() - started
            calls += 1
            if took > 0.05:
                slow.append(took)
    return (f"the node's pauses: {len(slow)} of {calls:,} small eth_getLogs over {seconds:.0f} s "
            f"took more than 50 ms" + (f", {sum(slow):.2f} s in all, the longest "
                                         f"{max(slow) * 1000:.0f} ms" if slow else ""))


def _limit_pass(
    url: str, addresses: list[str], first: int, last: int, span: int | None
) -> tuple[int, float]:
    client = httpx.Client(timeout=600)
    ranges = AdaptiveRange()
    count = 0
    with gc_paused():
        started = time.perf_counter()
        a = first
        while a <= last:
            width = span or ranges.span
            b = min(last, a + width - 1)
            body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [
                {"address": addresses, "fromBlock": hex(a), "toBlock": hex(b)}]})
            reply = orjson.loads(client.post(url, content=body,
                                             headers={"content-type": "application/json"}).content)
            n = len(reply["result"])
            ranges.on_success(b - a + 1, n)
            count += n
            del reply
            gc.collect(1)
            a = b + 1
        elapsed = time.perf_counter() - started
    client.close()
    return count, elapsed


def measure_limit_with_headers(url: str, addresses: list[str], last: int) -> tuple[int, float]:
    """What the indexer must read by design, sequentially, without writing: eth_getLogs in its
    adaptive ranges with the range's end header in the same batch, then the header of every
    block whose logs lack `blockTimestamp` (its time dates payments), 500 per batch, + orjson
    parsing. On a node that puts the time in its logs, no header beyond the range's end."""
    client = httpx.Client(timeout=600)
    ranges = AdaptiveRange()
    count = 0

    def post(payload: object) -> Any:
        return orjson.loads(client.post(url, content=orjson.dumps(payload),
                                        headers={"content-type": "application/json"}).content)

    with gc_paused():
        started = time.perf_counter()
        a = 0
        while a <= last:
            b = min(last, a + ranges.span - 1)
            replies = {r["id"]: r for r in post([
                {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [
                    {"address": addresses, "fromBlock": hex(a), "toBlock": hex(b)}]},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber",
                 "params": [hex(b), False]}])}
            logs = replies[1]["result"]
            ranges.on_success(b - a + 1, len(logs))
            count += len(logs)
            blocks = sorted({log["blockNumber"] for log in logs
                             if log.get("blockTimestamp") is None} - {hex(b)})
            for i in range(0, len(blocks), 500):
                post([{"jsonrpc": "2.0", "id": j, "method": "eth_getBlockByNumber",
                       "params": [n, False]} for j, n in enumerate(blocks[i : i + 500])])
            del logs
            gc.collect(1)
            a = b + 1
        elapsed = time.perf_counter() - started
    client.close()
    return count, elapsed


Node = DevNode | AnvilNode


@contextmanager
def local_node(kind: str, tmp: str) -> Iterator[Node]:
    """The node the workload runs on: anvil as the demo and `ledger node` run it (its state
    dumped to a file every second), or Hardhat's (which keeps nothing)."""
    node: Node = (AnvilNode(free_port(), Path(tmp) / "anvil-state.json") if kind == "anvil"
                  else DevNode(free_port()))
    with node:
        yield node


def run_indexer(node: Node, manifest: Path, database_url: str, python_only: bool = False
                ) -> tuple[int, float, tuple[float, float]]:
    """Index the node's chain into a new database: (events, seconds, CPU seconds of this process
    and of the node), all three measured around the indexing alone (not the migrations).
    python_only: every answer parsed by orjson and every column packed in Python, as when the
    C modules were not built."""
    engine = make_engine(database_url)
    migrate(engine)
    engine.dispose()
    config = IndexerConfig(node.url, database_url, manifest, confirmations=0)
    from ledger.indexer.progress import Progress

    with open(os.devnull, "w") as sink, open_indexer(config, progress=Progress(sink)) as indexer:
        packer = store_module._columns
        if python_only:
            indexer.read_logs = None
            store_module._columns = None
        settle_heap()  # as `ledger index` does before it runs
        cpu = _cpu(node)
        started = time.perf_counter()
        indexer.run(follow=False)
        elapsed = time.perf_counter() - started
        own, by_node = _cpu(node)
        gc.unfreeze()  # this round's indexer is collected with the rest
        store_module._columns = packer
        return indexer.events_indexed, elapsed, (own - cpu[0], by_node - cpu[1])


def _indexer_line(db: str, n: int, s: float, cpu: tuple[float, float], limit: float,
                  with_headers: float, limit_s: float) -> str:
    """One indexer run against the limit, with the ceiling its CPU sets on this machine: the
    run cannot take less than all the CPU seconds it used (here and in the node) spread over
    every core, so its ratio to the limit is at most cores x limit time / those seconds."""
    used = cpu[0] + cpu[1]
    ceiling = (os.cpu_count() or 1) * limit_s / used if used else float("inf")
    return (f"  (b) indexer -> {db + ':':11s} {n:,} events in {s:.2f} s = {n / s:,.0f} ev/s "
            f"(ratio to limit {n / s / limit:.2f} [{n / s / with_headers:.2f}]; CPU "
            f"{cpu[0]:.2f} s here + {cpu[1]:.2f} s node: on {os.cpu_count()} cores, at most "
            f"{ceiling:.2f} of the limit)")


def _cpu(node: Node) -> tuple[float, float]:
    """CPU seconds used so far by this process and by the node's processes (Linux /proc; the
    node runs in a session of its own, so its process group). Less swayed by other jobs on a
    shared machine than the wall-clock ratios."""
    tick = os.sysconf("SC_CLK_TCK")
    group = node.process.pid if node.process else -1
    used = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == group:
            used += int(fields[11]) + int(fields[12])
    return time.process_time(), used / tick


def _cpu_since(node: Node, before: tuple[float, float]) -> str:
    own, by_node = _cpu(node)
    return f"CPU {own - before[0]:.2f} s here + {by_node - before[1]:.2f} s node"


def _scratch_postgres(admin_url: str) -> Iterator[str]:
    """A scratch PostgreSQL database, dropped afterwards."""
    admin = make_engine(admin_url)
    name = f"ledger_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


scratch_postgres = contextmanager(_scratch_postgres)


def run_workload(workload: str, args: argparse.Namespace) -> dict[str, float]:
    """One workload on a node of its own: fill, then `args.rounds` rounds of (limits, indexer
    into a new SQLite file, into a new PostgreSQL database), each ratio against the limits of
    its own round; returns the median ratio per database."""
    print(f"-- {workload} workload, on {args.node}, the indexer "
          f"{'in Python alone' if args.python_only else 'with its C modules'}")
    ratios: dict[str, list[float]] = {"SQLite": [], "PostgreSQL": []}
    with tempfile.TemporaryDirectory() as tmp, local_node(args.node, tmp) as node:
        chain = Chain(node.url)
        district = MockDistrict(chain)
        manifest = district.write_manifest(Path(tmp) / "deployment.json")
        t0 = time.perf_counter()
        if workload == "synthetic":
            first, last = fill(chain, district, args.events, args.per_tx)
        else:
            first, last = fill_realistic(chain, district, args.realistic_events)
        mined = make_final(chain, last)
        if mined:
            print(f"mined {mined} empty blocks after the workload: the node declares final only "
                  f"blocks {mined} below its head, and a backfill reads final blocks")
        last = chain.block_number()
        addresses = [district.token.lower(), district.payments.lower()]
        ways: list[tuple[str, int | None]] = [
            ("adaptive ranges (the indexer's)", None), ("20-block ranges", 20),
            ("10000-block ranges", 10_000)]
        for _name, span in ways:  # warm the node's log cache over every range used
            measure_limit(node.url, addresses, 0, last, span)
        with_logs = len(_blocks_with_logs(node.url, addresses, last))
        print(node_pauses(node.url))
        print(f"filled blocks {first}..{last} in {time.perf_counter() - t0:.1f} s; "
              f"{with_logs:,} of {last + 1:,} blocks hold logs")
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_} of {args.rounds}, load average {os.getloadavg()[0]:.1f}")
            limits: dict[str, float] = {}
            limit_runs: dict[str, float] = {}
            for name, span in ways:
                cpu = _cpu(node)
                n, s, passes = measure_limit(node.url, addresses, 0, last, span,
                                             args.limit_seconds)
                limits[name] = n / s
                limit_runs[name] = s / passes  # one pass over the chain
                print(f"  (a) limit, eth_getLogs + orjson, {name}: {n:,} logs in {passes} "
                      f"passes, {s:.2f} s = {n / s:,.0f} ev/s ({_cpu_since(node, cpu)})")
            used = max(limits, key=lambda k: limits[k])
            limit = limits[used]
            n, s = measure_limit_with_headers(node.url, addresses, last)
            with_headers = n / s
            print(f"  (a') with the headers the indexer needs (range ends; logs' blocks when "
                  f"their logs lack blockTimestamp): {n:,} logs in {s:.2f} s = "
                  f"{with_headers:,.0f} ev/s")
            print(f"  ratios below are to the highest (a): {used}, {limit:,.0f} ev/s; "
                  "[to (a')]")
            limit_s = limit_runs[used]
            n, s, cpu = run_indexer(node, manifest, f"sqlite:///{tmp}/bench{round_}.db",
                                    args.python_only)
            ratios["SQLite"].append(n / s / limit)
            print(_indexer_line("SQLite", n, s, cpu, limit, with_headers, limit_s))
            if args.postgres:
                with scratch_postgres(args.postgres) as url:
                    n, s, cpu = run_indexer(node, manifest, url, args.python_only)
                ratios["PostgreSQL"].append(n / s / limit)
                print(_indexer_line("PostgreSQL", n, s, cpu, limit, with_headers, limit_s)
                      + " (PostgreSQL's own CPU not counted)")
        chain.close()
    if not args.postgres:
        print("(b) indexer -> PostgreSQL: skipped (no --postgres / LEDGER_TEST_POSTGRES_URL)")
    medians = {db: statistics.median(r) for db, r in ratios.items() if r}
    for db, median in medians.items():
        print(f"{workload}, {db}: median ratio to the limit {median:.2f} over {args.rounds} "
              f"rounds ({', '.join(f'{r:.2f}' for r in ratios[db])}); goal >= 0.7: "
              f"{'met' if median >= 0.7 else 'not met'}")
    return medians


def run_live(args: argparse.Namespace) -> None:
    """Live lag: a node mining a block every `args.block_ms` ms with the district's
    transactions in most blocks, the indexer following (default confirmations and polls) in a
    thread. Sampled every 10 ms: the node's head and the indexer's cursor; printed, the lag
    (head - cursor) seen when each new block appears and the time from a block's appearance
    to its rows being committed, against the goal of at most one block of lag."""
    print(f"-- live, on {args.node}: a block every {args.block_ms} ms for {args.live_seconds} s")
    with tempfile.TemporaryDirectory() as tmp, local_node(args.node, tmp) as node:
        chain = Chain(node.url)
        district = MockDistrict(chain)
        manifest = district.write_manifest(Path(tmp) / "deployment.json")
        _open_district(chain, district)
        actions = _Actions(chain, district, random.Random(5))
        _send_batch(chain, [{"method": "evm_setAutomine", "params": [False]},
                            {"method": "evm_setIntervalMining", "params": [args.block_ms]}])
        databases = [("SQLite", nullcontext(f"sqlite:///{tmp}/live.db"))]
        if args.postgres:
            databases.append(("PostgreSQL", scratch_postgres(args.postgres)))
        for db, opened in databases:
            with opened as url:
                _follow_and_sample(node.url, chain, actions, manifest, str(url), db, args)
        chain.close()


def _follow_and_sample(rpc_url: str, chain: Chain, actions: _Actions, manifest: Path, url: str,
                       db: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine)
    config = IndexerConfig(rpc_url, url, manifest, head_poll=args.head_poll,
                           confirmations=LedgerSettings.model_fields["confirmations"].default)
    from ledger.indexer.progress import Progress

    stop = threading.Event()
    rpc = httpx.Client(timeout=30)

    def head() -> int:
        reply = rpc.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber",
                                        "params": []})
        return int(reply.json()["result"], 16)

    def drive() -> None:  # one block's transactions at a random moment of each block time
        rng = random.Random(7)
        while not stop.wait(args.block_ms / 1000 * rng.uniform(0.5, 1.5)):
            if rng.random() < 0.8:
                _send_batch(chain, actions.block())

    chain_id = int(chain.rpc("eth_chainId"), 16)
    with open(os.devnull, "w") as sink, open_indexer(config, progress=Progress(sink),
                                                     stop=stop) as indexer:
        following = threading.Thread(target=indexer.run, kwargs={"follow": True},
                                     name="indexer")
        driver = threading.Thread(target=drive, name="driver")
        following.start()
        driver.start()
        try:
            deadline = time.monotonic() + 60  # the backfill of the opening blocks
            while (cursor := store.cursor(chain_id)) is None or cursor.block_number < head() - 1:
                if time.monotonic() > deadline or not following.is_alive():
                    raise RuntimeError("the indexer did not catch up with the node in 60 s")
                time.sleep(0.01)
            lags: list[int] = []
            appeared: dict[int, float] = {}
            committed: dict[int, float] = {}
            seen = head()
            indexed = cursor.block_number
            end = time.monotonic() + args.live_seconds
            while time.monotonic() < end:
                time.sleep(0.01)
                got = store.cursor(chain_id)  # before the head: a lag is never understated
                now_head = head()
                now = time.monotonic()
                indexed_now = got.block_number if got else indexed
                for b in range(indexed + 1, indexed_now + 1):
                    committed[b] = now
                indexed = max(indexed, indexed_now)
                if now_head > seen:
                    for b in range(seen + 1, now_head + 1):
                        appeared[b] = now
                    lags.append(now_head - indexed)
                    seen = now_head
                if not following.is_alive():
                    raise RuntimeError("the indexer stopped while following")
        finally:
            stop.set()
            driver.join()
            following.join(30)
            rpc.close()
    engine.dispose()
    delays = sorted(committed[b] - appeared[b] for b in appeared if b in committed)
    counts = {lag: lags.count(lag) for lag in sorted(set(lags))}
    worst = max(lags) if lags else 0
    print(f"(c) live, {db}: {len(lags)} new blocks seen; lag (head - indexed) when a block "
          f"appears: " + ", ".join(f"{lag} block{'s' if lag != 1 else ''} x{n}"
                                   for lag, n in counts.items()))
    if delays:
        print(f"    block seen -> its rows committed: median {statistics.median(delays):.3f} s, "
              f"p90 {delays[int(len(delays) * 0.9)]:.3f} s, max {delays[-1]:.3f} s "
              f"(block time {args.block_ms / 1000:.1f} s)")
    print(f"    goal: lag <= 1 block at every new block: {'met' if worst <= 1 else 'not met'} "
          f"(worst {worst})")


def _blocks_with_logs(url: str, addresses: list[str], last: int) -> set[str]:
    with httpx.Client(timeout=600) as client:
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [
            {"address": addresses, "fromBlock": "0x0", "toBlock": hex(last)}]})
        logs = orjson.loads(client.post(url, content=body,
                                        headers={"content-type": "application/json"}).content)
    return {log["blockNumber"] for log in logs["result"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("synthetic", "realistic", "both", "live", "all"),
                        default="all", help="both: synthetic and realistic; all: both and live")
    parser.add_argument("--events", type=int, default=100_000, help="synthetic: Transfer events")
    parser.add_argument("--per-tx", type=int, default=1_000, help="synthetic: events per tx")
    parser.add_argument("--realistic-events", type=int, default=20_000,
                        help="realistic: about this many events")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"))
    parser.add_argument("--node", choices=("hardhat", "anvil"), default="hardhat",
                        help="the local node: Hardhat's (the figures quoted since the start) or "
                             "anvil (the embedded default chain; its eth_getLogs is 1.5 to 2.4 times "
                             "faster, so the limit is mostly orjson's parsing)")
    parser.add_argument("--python-only", action="store_true",
                        default=not (logscan.compiled and store_module._columns is not None),
                        help="the indexer without its C modules (ledger/indexer/_logscan.c, "
                             "ledger/db/_columns.c): answers parsed by orjson, columns packed "
                             "in Python (the default when they were not built)")
    parser.add_argument("--limit-seconds", type=float, default=2.0,
                        help="each limit repeats its pass over the chain until this long has "
                             "gone, so that it meets the node's pauses as the indexer's run does "
                             "(anvil stops answering while it writes its state file, once a "
                             "second); 0: one pass")
    parser.add_argument("--rounds", type=int, default=3,
                        help="limit + indexer measures per workload (the median is the figure)")
    parser.add_argument("--live-seconds", type=float, default=30.0)
    parser.add_argument("--block-ms", type=int, default=1000, help="live: block time")
    parser.add_argument("--head-poll", type=float, default=IndexerConfig.head_poll,
                        help="live: the indexer's head poll (1.0: as before new-head detection)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
          f", {platform.system()} {platform.release()}, load average {os.getloadavg()[0]:.1f}")
    chosen = {"both": ("synthetic", "realistic"), "all": ("synthetic", "realistic", "live")}
    for workload in chosen.get(args.workload, (args.workload,)):
        if workload == "live":
            run_live(args)
        else:
            run_workload(workload, args)


if __name__ == "__main__":
    main()
