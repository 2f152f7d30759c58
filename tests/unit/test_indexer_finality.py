"""Finality is measured from the highest head ever reported, not from a node's lower head."""

from __future__ import annotations

from typing import Any

from ledger.indexer.errors import RpcError
from ledger.indexer.sync import Indexer, Targets


class _NoTagNode:
    """A node without the `finalized` tag."""

    def call(self, method: str, params: Any = ()) -> Any:
        raise RpcError(method, -32602, "unknown block tag")


class _Heads:
    def __init__(self) -> None:
        self.noted: list[int] = []

    def note_head(self, chain_id: int, head: int) -> None:
        self.noted.append(head)


def _indexer(store: _Heads) -> Indexer:
    targets = Targets(chain_id=69003, token="0x" + "11" * 20, payments=None, start_block=1)
    return Indexer(_NoTagNode(), store, targets, confirmations=2)  # type: ignore[arg-type]


def test_a_node_back_lower_does_not_lower_finality() -> None:
    store = _Heads()
    indexer = _indexer(store)
    indexer.highest_head = 100  # as loaded from the database by check_chain
    assert indexer.finalized(90) == 98  # not 88: blocks 89..98 stay final
    assert store.noted == []


def test_a_higher_head_raises_finality_and_is_stored() -> None:
    store = _Heads()
    indexer = _indexer(store)
    indexer.highest_head = 100
    assert indexer.finalized(120) == 118
    assert store.noted == [120] and indexer.highest_head == 120
