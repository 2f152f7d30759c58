"""A past day's reserve and supply when the node keeps only recent states (Besu by default, the
local chain): read from the index when it has reached that day's last block, else a sentence."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from web3.exceptions import Web3RPCError

from ledger.db import make_engine, migrate
from ledger.db.records import Batch, BlockRow, Cursor, TransferRow
from ledger.db.store import Store
from ledger.errors import ChainError
from ledger.treasury.chain import ChainTreasury

CHAIN = 69003
ZERO = "0x" + "00" * 20
ALICE = "0x" + "a1" * 20
DAY = date(2026, 11, 30)


def _pruned(block: int | str) -> int:
    raise Web3RPCError("BlockOutOfRangeError: block height is 900 but requested was 2")


def _treasury(index: object, last_block_of_day: int, read: object = _pruned) -> ChainTreasury:
    """The treasury's chain adapter over a node whose contract reads at a block go to `read`."""
    treasury = ChainTreasury.__new__(ChainTreasury)
    treasury.w3 = SimpleNamespace(eth=SimpleNamespace(chain_id=CHAIN))  # type: ignore[assignment]
    treasury.district = SimpleNamespace(reserve=read, total_supply=read)  # type: ignore[assignment]
    treasury.index = index  # type: ignore[assignment]
    treasury.block_at_end_of = lambda day: last_block_of_day  # type: ignore[method-assign]
    return treasury


def test_a_past_day_whose_state_is_gone_is_read_from_the_index(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    blocks = [BlockRow(n, f"0x{n:064x}", f"0x{n - 1:064x}", 1_764_000_000 + n) for n in (1, 2, 3)]
    batch = Batch(CHAIN, 1, Cursor(3, blocks[-1].hash))
    batch.blocks = blocks
    batch.block_times = {b.number: b.timestamp for b in blocks}
    batch.transfers = [
        TransferRow(1, 0, "0x" + "01" * 32, ZERO, ALICE, 50_000_000),
        TransferRow(3, 0, "0x" + "02" * 32, ZERO, ALICE, 7_000_000),  # after the day's end
    ]
    Store(engine).apply(batch)
    on_chain_at_2 = Store(engine).supply(CHAIN, 2)
    assert on_chain_at_2[0] == 50_000_000
    treasury = _treasury(engine, 2)
    assert treasury.total_supply(DAY) == 50_000_000
    assert treasury.reserve(DAY) == on_chain_at_2[1]
    # a node that keeps the state is asked, not the index
    assert _treasury(engine, 2, lambda block: 123).total_supply(DAY) == 123
    # the index not there yet: a sentence, never a figure from a later block
    with pytest.raises(ChainError, match=r"block 4, the last of 2026-11-30 .*run `ledger index`"):
        _treasury(engine, 4).reserve(DAY)
    engine.dispose()


def test_without_an_index_a_past_day_whose_state_is_gone_says_what_to_do() -> None:
    with pytest.raises(ChainError, match=r"recent blocks only.*archive node"):
        _treasury(None, 2).reserve(DAY)
