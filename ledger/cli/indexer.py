"""`ledger index` and `ledger reconcile`: follow the chain into SQL, and check it.

Exit codes: 0 done (reconcile: no difference); 1 failed or refused (another indexer holds the
database, the node is unreachable, serves another genesis or is behind the index with --once, a
reorg below finality, whose message names the `--rebuild-from` command: the message says which);
3 reconcile found differences; 2 bad usage or settings.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from ledger.settings import LedgerSettings

RECONCILE_DIFFERENCES = 3


def _settings(
    rpc_url: str | None, manifest: Path | None, database_url: str | None,
    confirmations: int | None,
) -> LedgerSettings:
    overrides: dict[str, object] = {}
    if rpc_url:
        overrides["rpc_url"] = rpc_url
    if manifest:
        overrides["manifest"] = manifest
    if database_url:
        overrides["database_url"] = database_url
    if confirmations is not None:
        overrides["confirmations"] = confirmations
    return LedgerSettings(**overrides)  # type: ignore[arg-type]


RpcOpt = Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL (env LEDGER_RPC_URL)")]
ManifestOpt = Annotated[
    Path | None, typer.Option("--manifest", help="deployment manifest (env LEDGER_MANIFEST)")
]
DbOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL (env LEDGER_DATABASE_URL; default "
                 "sqlite file .state/ledger.db)"),
]


def index(
    rpc_url: RpcOpt = None,
    manifest: ManifestOpt = None,
    database_url: DbOpt = None,
    confirmations: Annotated[
        int | None,
        typer.Option(help="blocks after which a block is final when the node serves no "
                     "`finalized` tag (env LEDGER_CONFIRMATIONS)"),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow/--once", help="keep following new blocks, or stop at the head")
    ] = True,
    until_block: Annotated[int | None, typer.Option(help="stop after this block")] = None,
    wait: Annotated[
        bool, typer.Option(help="wait for another running indexer to stop instead of exiting")
    ] = False,
    poll_interval: Annotated[
        float,
        typer.Option(help="caught up: seconds between two checks that the last indexed block "
                     "is still on the chain"),
    ] = 1.0,
    head_poll: Annotated[
        float,
        typer.Option(help="caught up: seconds between two asks of the node's head (one "
                     "eth_blockNumber); a new block is read as soon as it is seen"),
    ] = 0.1,
    rebuild_from: Annotated[
        int | None,
        typer.Option("--rebuild-from", metavar="BLOCK",
                     help="first delete what is indexed from BLOCK on, then index it again from "
                     "the node (the recovery after a reorg below finality)"),
    ] = None,
) -> None:
    """Index every event of the district contracts into SQL: backfill, then follow live."""
    from ledger.indexer.progress import Progress
    from ledger.indexer.service import IndexerConfig, open_indexer
    from ledger.indexer.sync import settle_heap

    settings = _settings(rpc_url, manifest, database_url, confirmations)
    config = IndexerConfig(
        rpc_url=settings.rpc_url, database_url=settings.db_url, manifest=settings.manifest_path,
        confirmations=settings.confirmations, poll_interval=poll_interval, head_poll=head_poll,
    )
    stop = threading.Event()
    progress = Progress()

    def _stop(signum: int, _frame: object) -> None:
        progress.event("stopping", signal=signum)
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open_indexer(config, wait=wait, progress=progress, stop=stop) as indexer:
            progress.event("start", chain_id=indexer.chain_id, cursor=indexer.cursor().block_number,
                           database=_safe_url(config.database_url))
            if rebuild_from is not None:
                indexer.rebuild_from(rebuild_from)
            settle_heap()
            indexer.run(follow=follow and until_block is None, until=until_block)
            progress.event("stopped", cursor=indexer.cursor().block_number,
                           events=indexer.events_indexed, reorgs=indexer.reorgs)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def reconcile(
    block: Annotated[int | None, typer.Option(help="block to compare at (default: the cursor)")] = None,
    rpc_url: RpcOpt = None,
    manifest: ManifestOpt = None,
    database_url: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Compare indexed balances, supply and reserve with balanceOf/totalSupply/reserve on chain."""
    from ledger.chain.manifest import Manifest
    from ledger.indexer.reconcile import reconcile as run_reconcile
    from ledger.indexer.rpc import RpcClient
    from ledger.indexer.service import open_store
    from ledger.indexer.sync import Targets

    settings = _settings(rpc_url, manifest, database_url, None)
    targets = Targets.from_manifest(Manifest.load(settings.manifest_path))
    with open_store(settings.db_url, upgrade=False) as store, RpcClient(settings.rpc_url) as rpc:
        result = run_reconcile(rpc, store, targets, block)
    if as_json:
        typer.echo(json.dumps({
            "ok": result.ok, "block": result.block, "accounts": result.accounts,
            "differences": [
                {"what": d.what, "indexed": str(d.indexed), "on_chain": str(d.on_chain)}
                for d in result.differences
            ],
        }))
    else:
        for d in result.differences:
            typer.echo(f"DIFFERENT {d.what}: indexed {d.indexed}, on chain {d.on_chain}")
        verdict = "match" if result.ok else f"{len(result.differences)} difference(s)"
        typer.echo(f"block {result.block}: {result.accounts} accounts, supply and reserve: {verdict}")
    if not result.ok:
        raise typer.Exit(RECONCILE_DIFFERENCES)


def _safe_url(url: str) -> str:
    from ledger.db.engine import display_url

    return display_url(url)


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("reconcile")(reconcile)
