"""Indexer benchmark: fill a local node with events, then measure in one run (a) the limit: raw
eth_getLogs over the range + orjson parsing, and (b) the indexer end-to-end into SQLite and into
PostgreSQL. Prints events/s for each and the ratio to the limit.

    .venv/bin/python -m bench.indexer [--workload synthetic|realistic|both] [--events 100000]
        [--per-tx 1000] [--realistic-events 20000] [--postgres URL]

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
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_abi.abi import encode  # noqa: E402

from ledger.chain.devnode import DevNode, free_port  # noqa: E402
from ledger.db import make_engine, migrate  # noqa: E402
from ledger.indexer.rpc import AdaptiveRange  # noqa: E402
from ledger.indexer.service import IndexerConfig, open_indexer  # noqa: E402
from ledger.indexer.sync import gc_paused  # noqa: E402
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
    residents = chain.accounts[1:16]
    payouts = chain.accounts[16:19]
    for i, payout in enumerate(payouts):
        district.register(f"Commerce {i + 1}", i, payout)
    for i, resident in enumerate(residents):
        district.deposit(f"VIR-BENCH-{i}".encode(), resident, 10**15)
    first = chain.block_number() + 1

    def call(to: str, sender: str, signature: str, types: list[str], args: list[object]
             ) -> dict[str, object]:
        data = "0x" + selector(signature) + encode(types, args).hex()
        return {"method": "eth_sendTransaction",
                "params": [{"from": sender, "to": to, "data": data, "gas": hex(1_000_000)}]}

    def ref() -> bytes:
        return rng.randbytes(32)

    open_bookings: list[int] = []
    bookings = 0
    sent_logs = 0
    _send_batch(chain, [{"method": "evm_setAutomine", "params": [False]}])
    while sent_logs < events:
        requests: list[dict[str, object]] = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            payer = rng.choice(residents)
            merchant = rng.randrange(1, len(payouts) + 1)
            roll = rng.random()
            if roll < 0.55:  # a payment: Transfer + PaymentMade
                requests.append(call(district.payments, payer, "pay(uint256,uint256,bytes32)",
                                     ["uint256", "uint256", "bytes32"],
                                     [merchant, rng.randrange(500_000, 40_000_000), ref()]))
                sent_logs += 2
            elif roll < 0.75:  # a transfer between residents
                requests.append(call(district.token, payer, "transfer(address,uint256)",
                                     ["address", "uint256"],
                                     [rng.choice(residents), rng.randrange(1, 20_000_000)]))
                sent_logs += 1
            elif roll < 0.85:  # a booking deposit: Transfer + BookingOpened
                requests.append(call(district.payments, payer,
                                     "openBooking(uint256,uint256,uint64,bytes32)",
                                     ["uint256", "uint256", "uint64", "bytes32"],
                                     [merchant, 30_000_000, 2_000_000_000, ref()]))
                bookings += 1
                open_bookings.append(bookings)
                sent_logs += 2
            elif roll < 0.93 and open_bookings:  # closed with a charge: 2 Transfers + Closed
                booking = open_bookings.pop(rng.randrange(len(open_bookings)))
                requests.append(call(district.payments, chain.accounts[0],
                                     "closeBooking(uint256,uint256)", ["uint256", "uint256"],
                                     [booking, rng.randrange(0, 30_000_001)]))
                sent_logs += 3
            elif roll < 0.97:  # a refund of part of a payment: Transfer + PaymentRefunded
                requests.append(call(district.payments, chain.accounts[0],
                                     "refund(uint256,address,uint256,bytes32)",
                                     ["uint256", "address", "uint256", "bytes32"],
                                     [merchant, payer, rng.randrange(1, 400_000), ref()]))
                sent_logs += 2
            else:  # a euro deposit: Transfer + DepositRecorded
                requests.append(call(district.token, chain.accounts[0],
                                     "recordDeposit(bytes32,address,uint256)",
                                     ["bytes32", "address", "uint256"],
                                     [ref(), payer, rng.randrange(10_000_000, 200_000_000)]))
                sent_logs += 2
        # The node answers a batch's calls in no set order: the block is mined by a request
        # of its own once its transactions are all in the pool.
        _send_batch(chain, requests)
        _send_batch(chain, [{"method": "evm_mine", "params": []}])
        gap = rng.choice((0, 0, 1, 2, 4))
        if gap:
            _send_batch(chain, [{"method": "hardhat_mine", "params": [hex(gap)]}])
    _send_batch(chain, [{"method": "evm_setAutomine", "params": [True]}])
    return first, chain.block_number()


def _send_batch(chain: Chain, requests: list[dict[str, object]]) -> None:
    payload = [{"jsonrpc": "2.0", "id": i, **r} for i, r in enumerate(requests)]
    replies = chain.http.post(chain.url, content=orjson.dumps(payload),
                              headers={"content-type": "application/json"}).json()
    failed = [r for r in replies if "error" in r]
    if failed:
        raise RuntimeError(f"filling the chain failed: {failed[0]['error']}")


def measure_limit(
    url: str, addresses: list[str], first: int, last: int, span: int | None
) -> tuple[int, float]:
    """Sequential eth_getLogs over [first, last] + orjson parsing, in `span`-block ranges, or
    (span None) in the indexer's own adaptive ranges (same AdaptiveRange, same starting span).
    Runs with the garbage collector paused as the indexer's backfill does (fair to the limit)."""
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


def run_indexer(url: str, manifest: Path, database_url: str) -> tuple[int, float]:
    engine = make_engine(database_url)
    migrate(engine)
    engine.dispose()
    config = IndexerConfig(url, database_url, manifest, confirmations=0)
    from ledger.indexer.progress import Progress

    with open(os.devnull, "w") as sink, open_indexer(config, progress=Progress(sink)) as indexer:
        started = time.perf_counter()
        indexer.run(follow=False)
        elapsed = time.perf_counter() - started
        return indexer.events_indexed, elapsed


def run_workload(workload: str, args: argparse.Namespace) -> None:
    """One workload on a node of its own: fill, measure the limit, run the indexer."""
    print(f"-- {workload} workload")
    with tempfile.TemporaryDirectory() as tmp, DevNode(free_port()) as node:
        chain = Chain(node.url)
        district = MockDistrict(chain)
        manifest = district.write_manifest(Path(tmp) / "deployment.json")
        t0 = time.perf_counter()
        if workload == "synthetic":
            first, last = fill(chain, district, args.events, args.per_tx)
        else:
            first, last = fill_realistic(chain, district, args.realistic_events)
        addresses = [district.token.lower(), district.payments.lower()]
        for span in (None, 20, 10_000):  # warm the node's log cache over every range used
            measure_limit(node.url, addresses, 0, last, span)
        with_logs = len(_blocks_with_logs(node.url, addresses, last))
        print(f"filled blocks {first}..{last} in {time.perf_counter() - t0:.1f} s; "
              f"{with_logs:,} of {last + 1:,} blocks hold logs")
        limits: dict[str, float] = {}
        for span in (None, 20, 10_000):
            n, s = measure_limit(node.url, addresses, 0, last, span)
            name = "adaptive ranges (the indexer's)" if span is None else f"{span}-block ranges"
            limits[name] = n / s
            print(f"(a) limit, eth_getLogs + orjson, {name}: {n:,} logs in {s:.2f} s "
                  f"= {n / s:,.0f} ev/s")
        used = max(limits, key=lambda k: limits[k])
        limit = limits[used]
        n, s = measure_limit_with_headers(node.url, addresses, last)
        with_headers = n / s
        print(f"(a') limit with the headers the indexer needs (range ends; logs' blocks when "
              f"their logs lack blockTimestamp): {n:,} logs in "
              f"{s:.2f} s = {with_headers:,.0f} ev/s")
        print(f"    ratios below are to the highest eth_getLogs limit: {used}, {limit:,.0f} ev/s"
              f"; [with headers: to (a')]")

        def ratios(rate: float) -> str:
            return f"ratio to limit {rate / limit:.2f} [{rate / with_headers:.2f}]"

        n, s = run_indexer(node.url, manifest, f"sqlite:///{tmp}/bench.db")
        print(f"(b) indexer -> SQLite:     {n:,} events in {s:.2f} s = {n / s:,.0f} ev/s "
              f"({ratios(n / s)})")
        if args.postgres:
            admin = make_engine(args.postgres)
            name = f"ledger_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
            try:
                url = admin.url.set(database=name).render_as_string(hide_password=False)
                n, s = run_indexer(node.url, manifest, url)
                print(f"(b) indexer -> PostgreSQL: {n:,} events in {s:.2f} s = {n / s:,.0f} ev/s "
                      f"({ratios(n / s)})")
            finally:
                with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.dispose()
        else:
            print("(b) indexer -> PostgreSQL: skipped (no --postgres / LEDGER_TEST_POSTGRES_URL)")
        chain.close()


def _blocks_with_logs(url: str, addresses: list[str], last: int) -> set[str]:
    with httpx.Client(timeout=600) as client:
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [
            {"address": addresses, "fromBlock": "0x0", "toBlock": hex(last)}]})
        logs = orjson.loads(client.post(url, content=body,
                                        headers={"content-type": "application/json"}).content)
    return {log["blockNumber"] for log in logs["result"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("synthetic", "realistic", "both"), default="both")
    parser.add_argument("--events", type=int, default=100_000, help="synthetic: Transfer events")
    parser.add_argument("--per-tx", type=int, default=1_000, help="synthetic: events per tx")
    parser.add_argument("--realistic-events", type=int, default=20_000,
                        help="realistic: about this many events")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
          f", {platform.system()} {platform.release()}, load average {os.getloadavg()[0]:.1f}")
    for workload in (("synthetic", "realistic") if args.workload == "both" else (args.workload,)):
        run_workload(workload, args)


if __name__ == "__main__":
    main()
