"""Liveness and readiness of the ledger: node reachable, same genesis, indexer lag, database.

Pure reads (no write, no lock): safe to call from the API on every probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from ledger.db.errors import DatabaseUnavailable
from ledger.db.ops import OpsFigures, ops_figures
from ledger.indexer.errors import IndexerError
from ledger.indexer.rpc import RetryPolicy, RpcClient


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    ok: bool
    checks: list[Check]
    head: int | None = None
    lag: int | None = None
    figures: OpsFigures | None = field(default=None, repr=False)


def node_probe(rpc_url: str, timeout: float = 2.0) -> RpcClient:
    """A client that fails fast (one try): a probe must not hang on a dead node."""
    return RpcClient(rpc_url, timeout=timeout, retry=RetryPolicy(attempts=1, deadline=timeout))


def readiness(rpc: RpcClient, engine: Engine, chain_id: int, genesis_hash: str,
              max_lag: int) -> Readiness:
    """Ready when the database answers, the node answers with the manifest's chain id and block 0,
    and the index is at most `max_lag` blocks behind the node's head."""
    checks: list[Check] = []
    figures: OpsFigures | None = None
    head: int | None = None
    try:
        figures = ops_figures(engine, chain_id)
        checks.append(Check("database", True, "answers"))
    except DatabaseUnavailable as exc:
        checks.append(Check("database", False, str(exc)))
    try:
        node_chain = rpc.chain_id()
        head = rpc.block_number()
        genesis = rpc.headers([0])[0]
        checks.append(Check("node", node_chain == chain_id,
                            f"chain {node_chain}, head {head}" if node_chain == chain_id else
                            f"the node serves chain {node_chain}, not {chain_id}"))
        node_genesis = str(genesis["hash"]).lower() if genesis else ""
        expected = genesis_hash.lower() or (figures.genesis_hash or "" if figures else "")
        same = not expected or node_genesis == expected
        checks.append(Check("genesis", same, node_genesis if same else
                            f"the node's block 0 is {node_genesis}, the deployment's {expected}"))
    except IndexerError as exc:
        checks.append(Check("node", False, str(exc)))
    lag: int | None = None
    if figures is not None and head is not None:
        if figures.cursor is None:
            checks.append(Check("indexer", False, "nothing indexed yet: is `ledger index` running?"))
        else:
            lag = max(0, head - figures.cursor)
            checks.append(Check("indexer", lag <= max_lag,
                                f"{lag} block(s) behind the head (at most {max_lag})"))
    return Readiness(all(c.ok for c in checks), checks, head, lag, figures)
