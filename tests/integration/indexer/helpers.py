"""Shared helpers of the indexer integration tests."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ledger.chain.manifest import Manifest
from ledger.db.store import Store
from ledger.indexer.progress import Progress
from ledger.indexer.reconcile import Reconciliation, reconcile
from ledger.indexer.rpc import RpcClient
from ledger.indexer.service import IndexerConfig, open_indexer, open_store
from ledger.indexer.sync import Targets

ROOT = Path(__file__).resolve().parents[3]
CHAIN_ID = 69003


def following(indexer: Any, failure: list[BaseException]) -> threading.Thread:
    """The indexer following in a thread of its own (started); what ends it goes to
    `failure`."""

    def follow() -> None:
        try:
            indexer.run(follow=True)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=follow)
    worker.start()
    return worker


def index_once(url: str, manifest: Path, database_url: str, confirmations: int = 12,
               until: int | None = None) -> int:
    config = IndexerConfig(url, database_url, manifest, confirmations=confirmations)
    with open_indexer(config, progress=Progress(io.StringIO())) as indexer:
        indexer.run(follow=False, until=until)
        return indexer.events_indexed


def check(url: str, manifest: Path, database_url: str, block: int | None = None) -> Reconciliation:
    targets = Targets.from_manifest(Manifest.load(manifest))
    with open_store(database_url, upgrade=False) as store, RpcClient(url) as rpc:
        return reconcile(rpc, store, targets, block)


def digest(database_url: str) -> str:
    with open_store(database_url, upgrade=False) as store:
        return store.digest(CHAIN_ID)


def district_logs(url: str, manifest: Path) -> list[dict[str, Any]]:
    """Every log of our contracts on the chain, as the node serves it."""
    targets = Targets.from_manifest(Manifest.load(manifest))
    addresses = [targets.token, *targets.others] + [
        a for a in (targets.payments, targets.settlement, targets.fund) if a]
    with RpcClient(url) as rpc:
        return list(rpc.get_logs(addresses, targets.start_block, rpc.block_number()))


def chain_logs(url: str, manifest: Path) -> list[tuple[int, int, str]]:
    """(block, log index, block hash) of every log of our contracts on the chain."""
    return [(int(lg["blockNumber"], 16), int(lg["logIndex"], 16), lg["blockHash"])
            for lg in district_logs(url, manifest)]


def indexed_logs(database_url: str) -> list[tuple[int, int, str]]:
    """(block, log index, block hash) of every log the index holds, raw or decoded."""
    with open_store(database_url, upgrade=False) as store:
        with store.engine.connect() as conn:
            chains = sorted(int(c) for c, in conn.exec_driver_sql(
                "SELECT chain_id FROM indexer_cursor"))
            hashes = {(int(c), int(n)): str(h) for c, n, h in conn.exec_driver_sql(
                "SELECT chain_id, number, hash FROM blocks")}
        keys = [(c, *k) for c in chains for k in store.log_keys(c)]
    return [(b, i, hashes.get((c, b), "")) for c, b, i in keys]


def store_for(database_url: str) -> Store:
    from ledger.db import make_engine

    return Store(make_engine(database_url))


def ledger_cmd(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "ledger", *args]


def run_ledger(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ledger_cmd(*args), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))
