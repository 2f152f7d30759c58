"""Reading an eth_getLogs answer during a backfill: the compiled reader when it was built.

`_logscan.c` reads the answer's bytes and builds the row of a day-to-day event directly (a token
Transfer's block, log index, transaction, from, to and value; deposits, redemptions, payments,
refunds and bookings opened: `Decoder.row_specs`), where orjson made a dict of ten strings per
log that the decoder then read again: about a third of the indexer's CPU on token transfers.
Every other log is parsed by orjson alone and decoded as before, and an answer the reader is
not sure to read exactly as orjson does (an error, a duplicated key, invalid JSON...) is parsed
by orjson whole. Installing without a C compiler leaves the module out: `compiled` is then
False and every answer goes through orjson (same rows, more CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

try:
    from ledger.indexer import _logscan  # type: ignore[attr-defined]
except ImportError:  # built without a C compiler: orjson alone
    _logscan = None

compiled = _logscan is not None


class ScannedLogs:
    """The logs of an eth_getLogs answer as the compiled reader left them.

    items: per log, in order, its row (a log of a kind the reader was given, whose row rebuilds
    it exactly) or the log's dict as orjson parses it; blocks: the (blockNumber, blockHash,
    blockTimestamp or None) of the logs, consecutive repeats left out; removed: whether a log
    carries `"removed": true`.
    """

    __slots__ = ("blocks", "items", "removed")

    def __init__(self, items: list[Any], blocks: list[tuple[str, str, str | None]],
                 removed: bool) -> None:
        self.items = items
        self.blocks = blocks
        self.removed = removed


RowSpec = tuple[str, str, int, int, type, bytes]


def reader(specs: tuple[RowSpec, ...], day_of: Callable[[int], str]
           ) -> Callable[[bytes], Any] | None:
    """A parser of eth_getLogs answers (JSON-RPC bytes -> what orjson.loads returns, the logs'
    array as ScannedLogs) building the rows `specs` describe (see `_logscan.c`; `day_of` gives
    the local day of a block time); None without the compiled reader."""
    if _logscan is None:
        return None
    scan = _logscan.scan
    loads = orjson.loads

    def read(body: bytes) -> Any:
        scanned = scan(body, specs, loads, ScannedLogs, day_of)
        return loads(body) if scanned is None else scanned

    return read
