"""Indexer benchmark: fill a local Hardhat node with >= 100,000 events, then measure in one run
(a) the limit: raw eth_getLogs over the range + orjson parsing, and (b) the indexer end-to-end
into SQLite and into PostgreSQL. Prints events/s for each and the ratio to the limit.

    .venv/bin/python -m bench.indexer [--events 100000] [--per-tx 1000] [--postgres URL]

PostgreSQL: --postgres or LEDGER_TEST_POSTGRES_URL (a scratch database is created and dropped).
The events come from a TEST-ONLY contract (tests/fixtures/contracts/DistrictMocks.sol) emitting
Transfer events of the token ABI: a real transaction per event would take far too long here.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.chain.devnode import DevNode, free_port  # noqa: E402
from ledger.db import make_engine, migrate  # noqa: E402
from ledger.indexer.rpc import AdaptiveRange  # noqa: E402
from ledger.indexer.service import IndexerConfig, open_indexer  # noqa: E402
from ledger.indexer.sync import gc_paused  # noqa: E402
from tests.fixtures.districtchain import Chain, MockDistrict  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-tx", type=int, default=1_000)
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
          f", {platform.system()} {platform.release()}")
    with tempfile.TemporaryDirectory() as tmp, DevNode(free_port()) as node:
        chain = Chain(node.url)
        district = MockDistrict(chain)
        manifest = district.write_manifest(Path(tmp) / "deployment.json")
        t0 = time.perf_counter()
        first, last = fill(chain, district, args.events, args.per_tx)
        print(f"filled blocks {first}..{last} with {args.events:,} events in "
              f"{time.perf_counter() - t0:.1f} s")
        addresses = [district.token.lower(), district.payments.lower()]
        for span in (None, 20, 10_000):  # warm the node's log cache over every range used
            measure_limit(node.url, addresses, 0, last, span)
        limits: dict[str, float] = {}
        for span in (None, 20, 10_000):
            n, s = measure_limit(node.url, addresses, 0, last, span)
            name = "adaptive ranges (the indexer's)" if span is None else f"{span}-block ranges"
            limits[name] = n / s
            print(f"(a) limit, eth_getLogs + orjson, {name}: {n:,} logs in {s:.2f} s "
                  f"= {n / s:,.0f} ev/s")
        used = max(limits, key=lambda k: limits[k])
        limit = limits[used]
        print(f"    ratios below are to the highest limit: {used}, {limit:,.0f} ev/s")
        n, s = run_indexer(node.url, manifest, f"sqlite:///{tmp}/bench.db")
        print(f"(b) indexer -> SQLite:     {n:,} events in {s:.2f} s = {n / s:,.0f} ev/s "
              f"(ratio to limit {n / s / limit:.2f})")
        if args.postgres:
            admin = make_engine(args.postgres)
            name = f"ledger_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
            try:
                url = admin.url.set(database=name).render_as_string(hide_password=False)
                n, s = run_indexer(node.url, manifest, url)
                print(f"(b) indexer -> PostgreSQL: {n:,} events in {s:.2f} s = {n / s:,.0f} ev/s "
                      f"(ratio to limit {n / s / limit:.2f})")
            finally:
                with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.dispose()
        else:
            print("(b) indexer -> PostgreSQL: skipped (no --postgres / LEDGER_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
