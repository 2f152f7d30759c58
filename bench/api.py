"""API benchmark: one uvicorn server on loopback over a seeded SQLite index, 50 concurrent clients.

Seeds a database (indexer schema, written through ledger.db.store like the indexer does): 200
accounts, 20,000 transfers over 2,000 blocks. Then measures, in one run against the same server,
/v1/health (trivial), /v1/accounts/{a}/balance and /v1/accounts/{a}/history, printing requests/s
and p50/p99 latency for each. Goal: balance and history >= half the trivial endpoint's throughput
and p99 <= 50 ms. Bounded: a fixed number of requests per endpoint, loopback only.

    .venv/bin/python bench/api.py [--requests 3000] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.db import make_engine, migrate  # noqa: E402
from ledger.db.records import Batch, BlockRow, Cursor, TransferRow  # noqa: E402
from ledger.db.store import Store  # noqa: E402

CHAIN_ID = 69003
ZERO = "0x" + "0" * 40


def seed(url: str, accounts: int = 200, blocks: int = 2000, per_block: int = 10) -> list[str]:
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine)
    rng = random.Random(69003)
    people = [f"0x{rng.getrandbits(160):040x}" for _ in range(accounts)]
    balances = dict.fromkeys(people, 0)
    base_time = int(time.time()) - blocks * 2
    parent = "0x" + "00" * 32
    chunk = 200
    for first in range(1, blocks + 1, chunk):
        last = min(blocks, first + chunk - 1)
        rows: list[BlockRow] = []
        transfers: list[TransferRow] = []
        for number in range(first, last + 1):
            block_hash = f"0x{number:064x}"
            rows.append(BlockRow(number, block_hash, parent, base_time + number * 2))
            parent = block_hash
            for log_index in range(per_block):
                tx = f"0x{number:032x}{log_index:032x}"
                if number <= 20:  # mint first
                    to = people[(number * per_block + log_index) % accounts]
                    transfers.append(TransferRow(number, log_index, tx, ZERO, to, 1_000_000_000))
                    balances[to] += 1_000_000_000
                    continue
                sender, to = rng.sample(people, 2)
                value = rng.randint(1, max(1, balances[sender] // 10))
                if balances[sender] < value:
                    continue
                balances[sender] -= value
                balances[to] += value
                transfers.append(TransferRow(number, log_index, tx, sender, to, value))
        batch = Batch(CHAIN_ID, first, Cursor(last, rows[-1].hash))
        batch.blocks = rows
        batch.block_times = {r.number: r.timestamp for r in rows}
        batch.transfers = transfers
        store.apply(batch)
    engine.dispose()
    return people


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(url_paths: list[str], base: str, requests: int, clients: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(url_paths[i % len(url_paths)])
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while True:
                try:
                    path = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    response = await client.get(path)
                except httpx.TransportError:  # counted, not retried: the figure must show it
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, errors


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        t0 = time.perf_counter()
        people = seed(url)
        print(f"seeded 200 accounts, ~20,000 transfers in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        env = {
            **os.environ,
            "LEDGER_API_DATABASE_URL": url,
            "LEDGER_API_PORT": str(port),
            "LEDGER_API_HOST": "127.0.0.1",
            "LEDGER_API_RATE_LIMIT_ENABLED": "false",  # 50 clients share one address here
            "LEDGER_MANIFEST": f"{tmp}/none.json",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "ledger", "serve", "--log-level", "warning"],
            cwd=ROOT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise SystemExit("the API did not start")
            endpoints = {
                "trivial /v1/health": ["/v1/health"],
                "balance": [f"/v1/accounts/{p}/balance" for p in people],
                "history (limit 50)": [f"/v1/accounts/{p}/history?limit=50" for p in people],
            }
            asyncio.run(run(["/v1/health"], base, 300, args.clients))  # warm-up
            results: dict[str, tuple[float, float, float, int]] = {}
            for name, paths in endpoints.items():
                elapsed, latencies, errors = asyncio.run(run(paths, base, args.requests, args.clients))
                results[name] = (args.requests / elapsed, pct(latencies, 0.5), pct(latencies, 0.99), errors)
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"\n{args.clients} concurrent clients, {args.requests} requests per endpoint, one uvicorn worker")
    print(f"{'endpoint':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, (rps, p50, p99, errors) in results.items():
        print(f"{name:<22}{rps:>10.0f}{p50:>10.1f}{p99:>10.1f}{errors:>8}")
    trivial = results["trivial /v1/health"][0]
    for name in ("balance", "history (limit 50)"):
        rps, _, p99, _ = results[name]
        verdict = "MET" if rps >= trivial / 2 and p99 <= 50 else "NOT MET"
        print(
            f"goal for {name}: >= {trivial / 2:.0f} req/s and p99 <= 50 ms: {verdict} "
            f"({rps / trivial:.0%} of trivial)"
        )


if __name__ == "__main__":
    main()
