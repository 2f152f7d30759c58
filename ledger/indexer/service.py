"""Composition root of the indexer: settings -> RPC client, store, targets, lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledger.chain.manifest import Manifest
from ledger.db import make_engine, migrate
from ledger.db.lock import writer_lock
from ledger.db.store import Store
from ledger.indexer.progress import Progress
from ledger.indexer.rpc import RpcClient
from ledger.indexer.sync import Indexer, Targets


@dataclass(frozen=True)
class IndexerConfig:
    rpc_url: str
    database_url: str
    manifest: Path
    confirmations: int
    poll_interval: float = 1.0
    head_poll: float = 0.1
    use_finalized_tag: bool = True


@contextmanager
def open_store(database_url: str, *, upgrade: bool = True) -> Iterator[Store]:
    engine = make_engine(database_url)
    try:
        if upgrade:
            migrate(engine)
        yield Store(engine)
    finally:
        engine.dispose()


@contextmanager
def open_indexer(
    config: IndexerConfig,
    *,
    wait: bool = False,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Iterator[Indexer]:
    """An Indexer holding the single-writer lock of its database."""
    targets = Targets.from_manifest(Manifest.load(config.manifest))
    progress = progress or Progress()
    engine = make_engine(config.database_url)
    try:
        with writer_lock(engine, wait=wait) as lock:
            migrate(engine)
            store = Store(engine)
            if lock is not None:
                store.write_guard = lock.guard
            with RpcClient(
                config.rpc_url,
                on_retry=lambda what, n, delay: progress.event(
                    "rpc-retry", call=what, attempt=n, in_s=round(delay, 2)
                ),
            ) as rpc:
                yield Indexer(
                    rpc, store, targets, confirmations=config.confirmations,
                    poll_interval=config.poll_interval, progress=progress, stop=stop,
                    use_finalized_tag=config.use_finalized_tag, head_poll=config.head_poll,
                )
    finally:
        engine.dispose()
