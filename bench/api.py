"""API benchmark: `ledger serve` on loopback over a seeded SQLite index, 50 concurrent clients.

Seeds a database (indexer schema, written through ledger.db.store like the indexer does): 200
accounts (with keys), 20,000 transfers over 2,000 blocks. Each account signs in (Sign-In with
Ethereum, through the server's own routes): balance and history are private, so every request
carries its account's session token and the server checks it in the shared store. Then measures,
against the same server, /v1/health (trivial), /v1/accounts/{a}/balance and
/v1/accounts/{a}/history?limit=50 (rotating over the 200 accounts), printing requests/s, p50/p99
latency and errors for each, and the goals: balance and history >= half the trivial endpoint's
throughput, and p99 <= 50 ms (ok / MISSED). `--workers 1,2` runs the whole measure once per worker
count (each its own server, stopped before the next) and compares them.

Load generator: wrk (C, keep-alive, exact percentiles with --latency; `apt-get install wrk`) when
it is on PATH, else a Python httpx client (its own CPU use then caps and skews the figures; the
output says which was used). Bounded: a fixed duration (wrk) or request count (httpx) per endpoint,
loopback only. The machine's load average is printed: other jobs on the same cores move the figures.

    .venv/bin/python bench/api.py [--seconds 10] [--clients 50] [--workers 1,2] [--loop asyncio]
                                  [--client auto|wrk|httpx] [--requests 3000 (httpx)]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ledger.db import make_engine, migrate  # noqa: E402
from ledger.db.records import Batch, BlockRow, Cursor, TransferRow  # noqa: E402
from ledger.db.store import Store  # noqa: E402

CHAIN_ID = 69003
ZERO = "0x" + "0" * 40
GOAL_RATIO = 0.5
GOAL_P99_MS = 50.0
TRIVIAL = "trivial /v1/health"


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def keys(accounts: int = 200) -> list[Any]:
    """Deterministic bench accounts (keys derived from their number: for this bench only)."""
    return [Account.from_key((69003 * 1000 + n).to_bytes(32, "big")) for n in range(1, accounts + 1)]


def seed(url: str, people: list[str], blocks: int = 2000, per_block: int = 10) -> None:
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine)
    rng = random.Random(69003)
    accounts = len(people)
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


def sign_in_all(base: str, accounts: list[Any]) -> list[str]:
    """A session token per account, through GET /v1/auth/nonce and POST /v1/auth/siwe."""
    tokens = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for account in accounts:
            message = client.get("/v1/auth/nonce", params={"address": account.address}).json()["message"]
            signature = "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()
            opened = client.post("/v1/auth/siwe", json={"message": message, "signature": signature})
            if opened.status_code != 200:
                raise SystemExit(f"sign-in refused: {opened.text}")
            tokens.append(str(opened.json()["token"]))
    return tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- wrk -----------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk_script(paths: list[str], tokens: list[str] | None, folder: Path) -> Path:
    """A wrk Lua script cycling over `paths` (one shared counter per wrk thread), each request with
    its session token when `tokens` are given (the script file is deleted with the temp dir)."""
    script = folder / f"paths_{abs(hash(tuple(paths)))}.lua"
    listed = ",\n".join(f'  "{p}"' for p in paths)
    auth = ",\n".join(f'  "Bearer {t}"' for t in tokens) if tokens else ""
    headers = "{Authorization = auth[(i % #auth) + 1]}" if tokens else "nil"
    script.write_text(
        f"local paths = {{\n{listed}\n}}\nlocal auth = {{\n{auth}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i + 1\n"
        f'  return wrk.format("GET", paths[(i % #paths) + 1], {headers})\nend\n'
    )
    script.chmod(0o600)
    return script


def run_wrk(
    wrk: str,
    base: str,
    paths: list[str],
    tokens: list[str] | None,
    seconds: float,
    clients: int,
    folder: Path,
) -> Result:
    command = [wrk, "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "5s", "--latency"]
    if len(paths) > 1 or tokens:
        command += ["-s", str(wrk_script(paths, tokens, folder))]
        target = base
    else:
        target = base + paths[0]
    out = subprocess.run([*command, target], capture_output=True, text=True, timeout=seconds + 60, check=True)
    text = out.stdout
    p50 = re.search(r"^\s*50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)", text, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    if not (p50 and p99 and rps and total):
        raise SystemExit(f"unreadable wrk output:\n{text}\n{out.stderr}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return Result(float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(total.group(1)), errors)


# -- httpx fallback ----------------------------------------------------------------------------


async def _httpx(
    paths: list[str], tokens: list[str] | None, base: str, requests: int, clients: int
) -> Result:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[tuple[str, dict[str, str]]] = asyncio.Queue()
    for i in range(requests):
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"} if tokens else {}
        queue.put_nowait((paths[i % len(paths)], headers))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while True:
                try:
                    path, headers = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    response = await client.get(path, headers=headers)
                except httpx.TransportError:  # counted, not retried: the figure must show it
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return Result(requests / elapsed, pct(latencies, 0.5), pct(latencies, 0.99), requests, errors)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- main ----------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def measure(
    args: argparse.Namespace, workers: int, tmp: str, url: str, accounts: list[Any]
) -> dict[str, Result]:
    """One server with `workers` processes: sign everyone in, warm up, measure; always stopped."""
    wrk = shutil.which("wrk") if args.client in ("auto", "wrk") else None
    folder = Path(tmp)
    port = free_port()
    env = {
        **os.environ,
        "LEDGER_API_DATABASE_URL": url,
        "LEDGER_API_PORT": str(port),
        "LEDGER_API_HOST": "127.0.0.1",
        "LEDGER_API_RATE_LIMIT_ENABLED": "false",  # 50 clients share one address here
        "LEDGER_MANIFEST": f"{tmp}/none.json",
        "LEDGER_STATE_DIR": tmp,  # the server key file is generated there
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ledger",
            "serve",
            "--log-level",
            "warning",
            "--no-access-log",
            "--loop",
            args.loop,
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Result] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("the API did not start")
        tokens = sign_in_all(base, accounts)
        people = [a.address for a in accounts]
        endpoints: dict[str, tuple[list[str], list[str] | None]] = {
            TRIVIAL: (["/v1/health"], None),
            "balance": ([f"/v1/accounts/{p}/balance" for p in people], tokens),
            "history (limit 50)": ([f"/v1/accounts/{p}/history?limit=50" for p in people], tokens),
        }
        for paths, auth in endpoints.values():  # warm-up: every route and worker has answered
            if wrk is not None:
                run_wrk(wrk, base, paths, auth, 1, args.clients, folder)
            else:
                asyncio.run(_httpx(paths, auth, base, 300, args.clients))
        for name, (paths, auth) in endpoints.items():
            if wrk is not None:
                results[name] = run_wrk(wrk, base, paths, auth, args.seconds, args.clients, folder)
            else:
                results[name] = asyncio.run(_httpx(paths, auth, base, args.requests, args.clients))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    return results


def report(results: dict[str, Result], workers: int, args: argparse.Namespace) -> None:
    print(
        f"\nserver: ledger serve, {workers} uvicorn worker(s), loop "
        f"{'uvloop' if workers > 1 and args.loop == 'asyncio' else args.loop}, httptools"
    )
    print(f"{'endpoint':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'errors':>8}")
    for name, r in results.items():
        print(f"{name:<22}{r.rps:>10.0f}{r.p50_ms:>10.1f}{r.p99_ms:>10.1f}{r.requests:>10}{r.errors:>8}")
    trivial = results[TRIVIAL]
    floor = trivial.rps * GOAL_RATIO
    print(f"goals: throughput >= {GOAL_RATIO:.0%} of trivial ({floor:.0f} req/s), p99 <= {GOAL_P99_MS:g} ms")
    for name, r in results.items():
        ratio = r.rps / trivial.rps
        parts = (
            [] if name == TRIVIAL else [f"throughput {ratio:.0%} of trivial: {verdict(ratio >= GOAL_RATIO)}"]
        )
        parts.append(f"p99 {r.p99_ms:.1f} ms: {verdict(r.p99_ms <= GOAL_P99_MS)}")
        parts.append(f"errors {r.errors}: {verdict(r.errors == 0)}")
        print(f"  {name:<20} " + "; ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per endpoint (wrk)")
    parser.add_argument("--requests", type=int, default=3000, help="per endpoint (httpx fallback)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", default="1", help="uvicorn worker processes; a list (1,2) compares them")
    parser.add_argument("--loop", default="asyncio", choices=("asyncio", "uvloop", "auto"))
    parser.add_argument("--client", default="auto", choices=("auto", "wrk", "httpx"))
    args = parser.parse_args()
    try:
        counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        raise SystemExit("--workers takes a number or a list such as 1,2") from None
    wrk = shutil.which("wrk") if args.client in ("auto", "wrk") else None
    if args.client == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    if not 1 <= args.clients <= 1000 or not 0 < args.seconds <= 120 or not 1 <= args.requests <= 100_000:
        raise SystemExit("bounded runs only: 1-1000 clients, up to 120 s or 100,000 requests per endpoint")
    if not all(1 <= c <= 16 for c in counts):
        raise SystemExit("--workers: 1 to 16 each")
    accounts = keys()
    runs: dict[int, dict[str, Result]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        t0 = time.perf_counter()
        seed(url, [a.address.lower() for a in accounts])
        print(f"seeded 200 accounts, ~20,000 transfers in {time.perf_counter() - t0:.1f} s")
        for count in counts:
            runs[count] = measure(args, count, tmp, url, accounts)
    load_after = os.getloadavg()
    client = (
        f"wrk -t1 -c{args.clients} -d{args.seconds:g}s (keep-alive)"
        if wrk is not None
        else f"httpx AsyncClient, {args.clients} keep-alive connections, {args.requests} requests "
        "(Python client: its CPU use caps the figures)"
    )
    print(f"\nclient: {client}; balance and history requests carry a session token (checked per request)")
    print(
        f"{os.cpu_count()} CPUs shared with the client; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    for count, results in runs.items():
        report(results, count, args)
    if len(runs) > 1:
        first, *rest = counts
        print("\nworkers compared (req/s):")
        for name in runs[first]:
            figures = ", ".join(f"{c} workers {runs[c][name].rps:.0f}" for c in counts)
            gains = ", ".join(f"x{runs[c][name].rps / runs[first][name].rps:.2f}" for c in rest)
            print(f"  {name:<20} {figures} ({gains} against {first})")


if __name__ == "__main__":
    main()
