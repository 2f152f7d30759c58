"""Rebuild a lost settlement store from the chain and the stored readings (`ledger settle-rebuild`).

The chain holds, per (operation, day, version), the committed root, the batch size, how many
batches were processed and whether the version was voided; its logs name the commit and payment
transactions. The lines behind a root are not on chain: they are computed again from the
readings in the database, day after day in order (each day starts from the residues the day
before carried), each version from what the earlier versions of its day really moved. A rebuilt
version is kept only when its root equals the committed root; the first one that differs stops
the rebuild before anything is written (the readings changed since, or the registry did): the
store is then restored from a backup instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from ledger.energy.settlement import (
    DEFAULT_BATCH,
    Compute,
    DayLines,
    DayLogs,
    OnChainDay,
    SettlementError,
    transferred_by,
    with_batch_size,
)


class RebuildChain(Protocol):
    def committed_days(self, operation_id: int, from_block: int = 0) -> list[date]: ...

    def latest_version(self, operation_id: int, day: date) -> int: ...

    def commitment(self, operation_id: int, day: date, version: int) -> OnChainDay: ...

    def day_logs(self, operation_id: int, day: date, from_block: int = 0) -> DayLogs: ...


class RebuildStore(Protocol):
    def replace_version(
        self, lines: DayLines, state: str, commit_tx: str | None, batches: Sequence[tuple[int, str, int]]
    ) -> None: ...

    def claim(self, operation_id: int, day: date) -> AbstractContextManager[None]: ...


class RebuildRefused(SettlementError):
    """A committed root cannot be reproduced from the readings: nothing was written."""


@dataclass(frozen=True)
class RebuiltVersion:
    lines: DayLines
    state: str
    commit_tx: str | None
    batches: tuple[tuple[int, str, int], ...] = field(default_factory=tuple)
    """(batch number, tx hash, block) of each batch paid."""


def rebuild_versions(
    chain: RebuildChain,
    operation_id: int,
    compute_for: Callable[[date], Compute],
    from_block: int = 0,
) -> list[RebuiltVersion]:
    """Every committed version of the operation, recomputed and checked against its root.

    Raises RebuildRefused at the first version whose root differs (or whose day cannot be
    computed), naming it.
    """
    out: list[RebuiltVersion] = []
    residues: Mapping[tuple[str, str], int] = {}
    for day in chain.committed_days(operation_id, from_block):
        logs = chain.day_logs(operation_id, day, from_block)
        progress: list[tuple[DayLines, int]] = []
        latest: DayLines | None = None
        for version in range(1, chain.latest_version(operation_id, day) + 1):
            on_chain = chain.commitment(operation_id, day, version)
            compute = with_batch_size(compute_for(day), on_chain.batch_size or DEFAULT_BATCH)
            try:
                lines = compute(version, residues, transferred_by(progress))
            except SettlementError as exc:
                raise RebuildRefused(
                    f"{day} version {version} cannot be computed from the stored readings ({exc}); "
                    "nothing was rebuilt: restore the settlement tables from a backup"
                ) from exc
            if lines.root != on_chain.root:
                raise RebuildRefused(
                    f"{day} version {version}: the readings in the database give root "
                    f"0x{lines.root.hex()}, the chain holds 0x{on_chain.root.hex()} (the readings or "
                    "the registry changed since it was committed); nothing was rebuilt: restore "
                    "the settlement tables from a backup"
                )
            state = "voided" if on_chain.voided else "paid" if on_chain.closed else "committed"
            batches = tuple(
                (b.from_index // lines.batch_size, b.tx_hash, b.block_number)
                for b in logs.paid
                if b.version == version
            )
            out.append(RebuiltVersion(lines, state, logs.commits.get(version), batches))
            progress.append((lines, on_chain.processed_batches))
            latest = lines
        if latest is not None:
            residues = latest.residues_after
    return out


def rebuild_store(
    chain: RebuildChain,
    store: RebuildStore,
    operation_id: int,
    compute_for: Callable[[date], Compute],
    from_block: int = 0,
) -> list[RebuiltVersion]:
    """Recompute and check every committed version, then (only if all match) store them."""
    # Hold every day it may rewrite, as a run does: a run in progress would otherwise see its
    # version and batches replaced under it (SettlementBusy names the day; nothing is written).
    with ExitStack() as held:
        for day in chain.committed_days(operation_id, from_block):
            held.enter_context(store.claim(operation_id, day))
        rebuilt = rebuild_versions(chain, operation_id, compute_for, from_block)
        for version in rebuilt:
            store.replace_version(version.lines, version.state, version.commit_tx, version.batches)
    return rebuilt
