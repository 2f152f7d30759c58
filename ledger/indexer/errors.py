"""Errors of the chain indexer.

IndexerError (ledger.errors.LedgerError)
├── RpcError              the node answered a JSON-RPC error (code, message)
│   └── RangeTooLarge     eth_getLogs refused the range or returned too much: shrink it
├── RpcUnavailable        (also a ledger.errors.ChainUnavailable) retries exhausted
│   └── RateLimited       the node kept refusing for rate limits after the backoff
├── NodeLagging           the node's answer is behind what it claimed (header missing...)
│   └── NodeBehind        the node's head is below the indexed cursor: wait, never roll back
├── ChainMismatch         the node serves another chain (chain id or genesis) than the index's
├── DecodeError           a log of ours does not fit its event's ABI
├── DeepReorgError        a reorg reached below finality: stop and alert, delete nothing
└── RebuildRefused        `--rebuild-from` outside what is indexed
"""

from __future__ import annotations

from ledger.errors import ChainUnavailable, LedgerError


class IndexerError(LedgerError):
    """Root of the indexer's errors."""


class RpcError(IndexerError):
    """A JSON-RPC error answer."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: node error {code}: {message}")
        self.method = method
        self.code = code
        self.rpc_message = message


class RangeTooLarge(RpcError):
    """eth_getLogs refused the block range or its result size."""


class RpcUnavailable(IndexerError, ChainUnavailable):
    """The node could not be reached after the bounded retries."""


class RateLimited(RpcUnavailable):
    """The node refused for rate limits (HTTP 429, -32005 "rate limited") past the backoff."""


class NodeLagging(IndexerError):
    """The node answered for a chain state it does not have yet (or no longer)."""


class NodeBehind(NodeLagging):
    """The node's head is below the indexed cursor: a lagging or emptied node, not a reorg."""


class ChainMismatch(IndexerError):
    """The node's chain id or genesis is not the manifest's."""


class DecodeError(IndexerError):
    """A log from one of our contracts does not decode as its event."""


class DeepReorgError(IndexerError):
    """A reorganisation reached below the finality boundary; nothing was deleted.

    `rebuild_from` is the block that `ledger index --rebuild-from` should start again from.
    """

    def __init__(self, message: str, rebuild_from: int) -> None:
        super().__init__(message)
        self.rebuild_from = rebuild_from


class RebuildRefused(IndexerError):
    """`ledger index --rebuild-from BLOCK` named a block outside what can be rebuilt."""
