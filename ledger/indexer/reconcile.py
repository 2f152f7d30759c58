"""Compare what the database says with what the token contract says, at one block."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_utils.crypto import keccak

from ledger.chain.devnode import RECENT_STATES
from ledger.db.store import Store
from ledger.indexer.errors import IndexerError, RpcError
from ledger.indexer.rpc import Call, RpcClient
from ledger.indexer.sync import Targets

_BALANCE_OF = "0x" + keccak(text="balanceOf(address)")[:4].hex()
_TOTAL_SUPPLY = "0x" + keccak(text="totalSupply()")[:4].hex()
_RESERVE = "0x" + keccak(text="reserve()")[:4].hex()


@dataclass
class Difference:
    what: str
    indexed: int
    on_chain: int


@dataclass
class Reconciliation:
    block: int
    accounts: int
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def _int(reply: object) -> int:
    if not isinstance(reply, str) or not reply.startswith("0x") or len(reply) < 3:
        raise IndexerError(f"unexpected eth_call answer {reply!r}")
    return int(reply, 16)


def reconcile(rpc: RpcClient, store: Store, targets: Targets, block: int | None = None) -> Reconciliation:
    """Balances of every account the index knows, total supply and reserve, at `block`
    (default: the indexer's cursor). Every mismatch is a Difference."""
    cursor = store.cursor(targets.chain_id)
    if cursor is None:
        raise IndexerError("nothing indexed yet: run `ledger index` first")
    at_cursor = block is None
    if block is None:
        block = cursor.block_number
    if block > cursor.block_number:
        raise IndexerError(
            f"block {block} is not indexed yet (the index is at block {cursor.block_number})"
        )
    tag = hex(block)
    # At the cursor, check the live projection (what the API reads); before it, the history.
    indexed = store.balances(targets.chain_id, None if block == cursor.block_number else block)
    supply, reserve = store.supply(targets.chain_id, block)
    accounts = sorted(indexed)
    result = Reconciliation(block=block, accounts=len(accounts))
    token = targets.token
    calls: list[Call] = [
        ("eth_call", [{"to": token, "data": _BALANCE_OF + "0" * 24 + a[2:]}, tag]) for a in accounts
    ]
    calls.append(("eth_call", [{"to": token, "data": _TOTAL_SUPPLY}, tag]))
    calls.append(("eth_call", [{"to": token, "data": _RESERVE}, tag]))
    replies: list[object] = []
    try:
        for i in range(0, len(calls), 500):
            replies.extend(rpc.batch(calls[i : i + 500]))
    except RpcError as exc:
        advice = (
            "if the node no longer keeps that block's state, the index is further behind than "
            "that: let `ledger index` catch up, then reconcile again"
            if at_cursor
            else "compare at the indexed cursor (no --block) once the index has caught up, or ask "
            "an archive node (--rpc-url)"
        )
        raise IndexerError(
            f"the node could not read the contracts at block {block} ({exc.rpc_message}). Nodes "
            f"keep the state of recent blocks only (the local chain the last {RECENT_STATES}, Besu "
            f"512 by default): {advice}"
        ) from exc
    for account, reply in zip(accounts, replies, strict=False):
        on_chain = _int(reply)
        if on_chain != indexed[account]:
            result.differences.append(Difference(f"balance {account}", indexed[account], on_chain))
    chain_supply = _int(replies[-2])
    chain_reserve = _int(replies[-1])
    if chain_supply != supply:
        result.differences.append(Difference("total supply", supply, chain_supply))
    if chain_reserve != reserve:
        result.differences.append(Difference("reserve", reserve, chain_reserve))
    return result
