"""Errors of the chain indexer.

IndexerError (ledger.errors.LedgerError)
├── RpcError              the node answered a JSON-RPC error (code, message)
│   └── RangeTooLarge     eth_getLogs refused the range or returned too much: shrink it
├── RpcUnavailable        (also a ledger.errors.ChainUnavailable) retries exhausted
├── NodeLagging           the node's answer is behind what it claimed (header missing...)
├── ChainMismatch         the node serves another chain than the manifest's
├── DecodeError           a log of ours does not fit its event's ABI
└── DeepReorgError        a reorg reached below finality: stop and alert, delete nothing
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


class NodeLagging(IndexerError):
    """The node answered for a chain state it does not have yet (or no longer)."""


class ChainMismatch(IndexerError):
    """The node's chain id or genesis is not the manifest's."""


class DecodeError(IndexerError):
    """A log from one of our contracts does not decode as its event."""


class DeepReorgError(IndexerError):
    """A reorganisation reached below the finality boundary; nothing was deleted."""
