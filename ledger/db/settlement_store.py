"""The settlement's `DayStore` on the ledger database (SQLite or PostgreSQL).

`SqlDayStore(engine)` keeps each computed version with its lines and residues in one transaction,
and its progress (commit sent, committed, paid, voided; the batches mined). Two processes, or a
restored backup, read the same versions. `claim(operation, day)` holds a day for one run: a
PostgreSQL session advisory lock, or a file lock next to a SQLite file; both vanish with the
process, so a run killed with -9 never leaves a day held.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import Any

import filelock
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ledger.db.engine import sqlite_path
from ledger.db.settlement_models import VERSION_STATES, SettleBatch, SettleLine, SettleResidue, SettleVersion
from ledger.energy.settlement import (
    DayLines,
    Line,
    LineKind,
    SettlementBusy,
    SettlementError,
    Totals,
    batch_hash,
)

_PG_LOCK_NAMESPACE = 69004  # the indexer's writer lock uses 69003
_INSERT_CHUNK = 5_000
_MEMORY_CLAIMS: set[tuple[str, int, date]] = set()
_MEMORY_GUARD = threading.Lock()


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


class SqlDayStore:
    """`ledger.energy.settlement.DayStore` on SQL tables (`ledger.db.settlement_models`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- versions ---------------------------------------------------------------------------

    def load(self, operation_id: int, day: date) -> dict[int, DayLines]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SettleVersion)
                .where(SettleVersion.operation_id == operation_id, SettleVersion.day == day)
                .order_by(SettleVersion.version)
            ).all()
            return {int(row.version): self._lines_of(conn, row) for row in rows}

    def _lines_of(self, conn: Connection, row: Any) -> DayLines:
        key = (SettleLine.operation_id == row.operation_id, SettleLine.day == row.day,
               SettleLine.version == row.version)
        columns = (SettleLine.kind, SettleLine.index, SettleLine.time, SettleLine.payer, SettleLine.payee,
                   SettleLine.wh, SettleLine.value)
        lines = tuple(
            Line(LineKind(kind), int(index), int(at), payer, payee, int(wh), int(value))
            for kind, index, at, payer, payee, wh, value in conn.execute(
                select(*columns).where(*key).order_by(SettleLine.line_number)
            )
        )
        residues: dict[str, dict[tuple[str, str], int]] = {"before": {}, "after": {}}
        for r in conn.execute(
            select(SettleResidue).where(
                SettleResidue.operation_id == row.operation_id,
                SettleResidue.day == row.day,
                SettleResidue.version == row.version,
            )
        ):
            residues[r.side][(r.producer, r.consumer)] = int(r.residue)
        totals = Totals(
            int(row.produced_wh), int(row.consumed_wh), int(row.allocated_wh), int(row.surplus_wh),
            int(row.amount), int(row.transfers),
        )
        loaded = DayLines(
            operation_id=int(row.operation_id),
            day=row.day,
            version=int(row.version),
            step_minutes=int(row.step_minutes),
            lines=lines,
            totals=totals,
            batch_size=int(row.batch_size),
            residues_before=residues["before"],
            residues_after=residues["after"],
        )
        if (
            len(lines) != row.line_count
            or _hex(loaded.root) != row.root
            or residues_digest(loaded.residues_before, loaded.residues_after) != row.residues_hash
            or not _totals_match_lines(loaded)
        ):
            raise SettlementError(
                f"the stored lines of {row.day} version {row.version} do not hash to their recorded "
                "root (or its residues, totals or batch size no longer match it): the settlement "
                "tables were altered; restore them from a backup or run `ledger settle-rebuild`"
            )
        return loaded

    def save(self, lines: DayLines) -> None:
        root = _hex(lines.root)
        try:
            with self.engine.begin() as conn:
                _insert_version(conn, lines, "computed", None)
        except IntegrityError as exc:
            # The (operation, day, version) is taken: the same lines are fine (a re-run), other
            # lines are refused before anything is sent for them.
            with self.engine.connect() as conn:
                stored = conn.execute(
                    select(SettleVersion.root).where(*_version_key(SettleVersion, lines))
                ).scalar_one_or_none()
            if stored is None:  # refused for another reason than a version already stored
                raise SettlementError(
                    f"the settlement store refused {lines.day} version {lines.version} "
                    f"({type(exc.orig).__name__}: {exc.orig}); nothing was stored or sent for it"
                ) from None
            if stored != root:
                raise SettlementError(
                    f"{lines.day} version {lines.version} is already stored with other lines (root "
                    f"{stored}); another run computed it first: run `ledger settle` again to continue it"
                ) from None

    def replace_version(
        self, lines: DayLines, state: str, commit_tx: str | None, batches: Iterable[tuple[int, str, int]]
    ) -> None:
        """Store a version rebuilt from the chain in place of whatever was stored under its number,
        with its progress and the batches paid (batch, tx hash, block), in one transaction."""
        with self.engine.begin() as conn:
            for table in (SettleBatch, SettleResidue, SettleLine, SettleVersion):
                conn.execute(delete(table).where(*_version_key(table, lines)))
            _insert_version(conn, lines, state, commit_tx)
            rows = [
                {"operation_id": lines.operation_id, "day": lines.day, "version": lines.version,
                 "batch": batch, "tx_hash": tx, "block_number": block}
                for batch, tx, block in batches
            ]
            if rows:
                conn.execute(insert(SettleBatch), rows)

    def latest_before(self, operation_id: int, day: date) -> tuple[date, int] | None:
        """(day, latest version) of the latest stored day before `day`, or None."""
        with self.engine.connect() as conn:
            row = self._latest_before(conn, operation_id, day)
        return None if row is None else (row.day, int(row.version))

    def _latest_before(self, conn: Connection, operation_id: int, day: date) -> Any:
        return conn.execute(
            select(SettleVersion.day, SettleVersion.version)
            .where(SettleVersion.operation_id == operation_id, SettleVersion.day < day)
            .order_by(SettleVersion.day.desc(), SettleVersion.version.desc())
            .limit(1)
        ).first()

    def residues_before(self, operation_id: int, day: date) -> dict[tuple[str, str], int]:
        """The residues after the latest version of the latest stored day before `day`."""
        with self.engine.connect() as conn:
            row = self._latest_before(conn, operation_id, day)
            if row is None:
                return {}
            return {
                (r.producer, r.consumer): int(r.residue)
                for r in conn.execute(
                    select(SettleResidue).where(
                        SettleResidue.operation_id == operation_id,
                        SettleResidue.day == row.day,
                        SettleResidue.version == row.version,
                        SettleResidue.side == "after",
                    )
                )
            }

    # --- progress ---------------------------------------------------------------------------

    def mark(
        self, operation_id: int, day: date, version: int, state: str, commit_tx: str | None = None
    ) -> None:
        if state not in VERSION_STATES:
            raise ValueError(f"unknown settlement state {state!r}")
        values: dict[str, object] = {"state": state}
        if commit_tx is not None:
            values["commit_tx"] = commit_tx
        with self.engine.begin() as conn:
            conn.execute(
                update(SettleVersion)
                .where(
                    SettleVersion.operation_id == operation_id,
                    SettleVersion.day == day,
                    SettleVersion.version == version,
                )
                .values(**values)
            )

    def record_batch(
        self, operation_id: int, day: date, version: int, batch: int, tx_hash: str, block_number: int
    ) -> None:
        key = {"operation_id": operation_id, "day": day, "version": version, "batch": batch}
        with self.engine.begin() as conn:
            conn.execute(delete(SettleBatch).where(*(getattr(SettleBatch, k) == v for k, v in key.items())))
            conn.execute(insert(SettleBatch).values(**key, tx_hash=tx_hash, block_number=block_number))

    def recorded_batches(self, operation_id: int, day: date) -> set[tuple[int, int]]:
        """(version, batch) of every batch recorded as mined for the day."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SettleBatch.version, SettleBatch.batch).where(
                    SettleBatch.operation_id == operation_id, SettleBatch.day == day
                )
            ).all()
        return {(int(v), int(b)) for v, b in rows}

    def record_commit(self, operation_id: int, day: date, version: int, commit_tx: str) -> None:
        """Record the transaction that committed a version (read from its log), state unchanged."""
        with self.engine.begin() as conn:
            conn.execute(
                update(SettleVersion)
                .where(
                    SettleVersion.operation_id == operation_id,
                    SettleVersion.day == day,
                    SettleVersion.version == version,
                )
                .values(commit_tx=commit_tx)
            )

    def progress(self, operation_id: int, day: date) -> dict[int, tuple[str, str | None, int]]:
        """version -> (state, commit tx, batches recorded as mined)."""
        with self.engine.connect() as conn:
            versions = conn.execute(
                select(SettleVersion.version, SettleVersion.state, SettleVersion.commit_tx).where(
                    SettleVersion.operation_id == operation_id, SettleVersion.day == day
                )
            ).all()
            batches = conn.execute(
                select(SettleBatch.version).where(
                    SettleBatch.operation_id == operation_id, SettleBatch.day == day
                )
            ).all()
        counts: dict[int, int] = {}
        for (v,) in batches:
            counts[int(v)] = counts.get(int(v), 0) + 1
        return {int(v): (s, tx, counts.get(int(v), 0)) for v, s, tx in versions}

    def days(self, operation_id: int | None = None) -> dict[date, list[int]]:
        """Operations with a stored version, per day."""
        query = select(SettleVersion.day, SettleVersion.operation_id).distinct()
        if operation_id is not None:
            query = query.where(SettleVersion.operation_id == operation_id)
        found: dict[date, list[int]] = {}
        with self.engine.connect() as conn:
            for the_day, op in conn.execute(query):
                found.setdefault(the_day, []).append(int(op))
        return found

    def operations(self, day: date | None = None) -> list[int]:
        """The operations with a stored version (of `day` only, when given), in order."""
        found = self.days()
        chosen = found.get(day, []) if day is not None else [op for ops in found.values() for op in ops]
        return sorted(set(chosen))

    # --- one run per day ----------------------------------------------------------------------

    @contextmanager
    def claim(self, operation_id: int, day: date) -> Iterator[None]:
        busy = SettlementBusy(
            f"another `ledger settle` (or `settle-watch`) is settling {day} of this operation right "
            "now; wait for it to finish, then run again if the day is still open"
        )
        name = f"{operation_id}:{day.isoformat()}"
        if self.engine.dialect.name == "postgresql":
            with self._pg_claim(name, busy):
                yield
            return
        path = sqlite_path(self.engine)
        if path is None:  # an in-memory database is private to this process
            token = (str(id(self.engine)), operation_id, day)
            with _MEMORY_GUARD:
                if token in _MEMORY_CLAIMS:
                    raise busy
                _MEMORY_CLAIMS.add(token)
            try:
                yield
            finally:
                with _MEMORY_GUARD:
                    _MEMORY_CLAIMS.discard(token)
            return
        with _file_claim(path, name, busy):
            yield

    @contextmanager
    def _pg_claim(self, name: str, busy: SettlementBusy) -> Iterator[None]:
        key = zlib.crc32(name.encode()) & 0x7FFFFFFF
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :k)"), {"ns": _PG_LOCK_NAMESPACE, "k": key}
            ).scalar_one())
            conn.commit()
            if not got:
                raise busy
            try:
                yield
            finally:
                with suppress(Exception):  # a dropped session has released its lock already
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:ns, :k)"), {"ns": _PG_LOCK_NAMESPACE, "k": key}
                    )
                    conn.commit()
        finally:
            conn.close()


def residues_digest(before: Mapping[tuple[str, str], int], after: Mapping[tuple[str, str], int]) -> str:
    """A digest of a version's residues: they are not leaves of the root, yet they carry money
    from day to day, so an altered residue row must be caught on reading like an altered line."""
    sides = (("before", before), ("after", after))
    rows = sorted((side, p, c, int(r)) for side, held in sides for (p, c), r in held.items())
    return _hex(hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).digest())


def _totals_match_lines(lines: DayLines) -> bool:
    """The stored totals and batch size are what the committed lines say (the DAY line carries the
    transfer count, the allocated energy and the amount; each batch line its line count): a pending
    version is committed and paid with them."""
    day = [ln for ln in lines.lines if ln.kind is LineKind.DAY]
    if len(day) != 1:
        return False
    totals = lines.totals
    if lines.batch_size < 1:
        return False
    if (day[0].index, day[0].wh, day[0].value) != (totals.transfers, totals.allocated_wh, totals.amount):
        return False
    batch_lines = sorted((ln for ln in lines.lines if ln.kind is LineKind.BATCH), key=lambda ln: ln.index)
    starts = range(0, totals.transfers, lines.batch_size)
    expected = [min(lines.batch_size, totals.transfers - start) for start in starts]
    sizes = [ln.wh for ln in batch_lines]
    return sizes == expected


def _version_key(table: Any, lines: DayLines) -> tuple[Any, ...]:
    return (table.operation_id == lines.operation_id, table.day == lines.day, table.version == lines.version)


def _insert_version(conn: Connection, lines: DayLines, state: str, commit_tx: str | None) -> None:
    key = {"operation_id": lines.operation_id, "day": lines.day, "version": lines.version}
    conn.execute(insert(SettleVersion).values(
        **key,
        step_minutes=lines.step_minutes,
        batch_size=lines.batch_size,
        root=_hex(lines.root),
        transfers_hash=_hex(batch_hash(lines.transfers)),
        produced_wh=lines.totals.produced_wh,
        consumed_wh=lines.totals.consumed_wh,
        allocated_wh=lines.totals.allocated_wh,
        surplus_wh=lines.totals.surplus_wh,
        amount=lines.totals.amount,
        transfers=lines.totals.transfers,
        line_count=len(lines.lines),
        residues_hash=residues_digest(lines.residues_before, lines.residues_after),
        state=state,
        commit_tx=commit_tx,
    ))
    rows = [
        {**key, "line_number": n, "kind": int(ln.kind), "index": ln.index, "time": ln.time,
         "payer": ln.payer, "payee": ln.payee, "wh": ln.wh, "value": ln.value}
        for n, ln in enumerate(lines.lines)
    ]
    for start in range(0, len(rows), _INSERT_CHUNK):
        conn.execute(insert(SettleLine), rows[start : start + _INSERT_CHUNK])
    residues = [
        {**key, "side": side, "producer": p, "consumer": c, "residue": r}
        for side, held in (("before", lines.residues_before), ("after", lines.residues_after))
        for (p, c), r in held.items()
    ]
    if residues:
        conn.execute(insert(SettleResidue), residues)


@contextmanager
def _file_claim(database: Path, name: str, busy: SettlementBusy) -> Iterator[None]:
    folder = database.parent / f"{database.name}.settle-locks"
    folder.mkdir(mode=0o700, exist_ok=True)
    lock = filelock.FileLock(folder / f"{hashlib.sha256(name.encode()).hexdigest()[:24]}.lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise busy from None
    try:
        yield
    finally:
        lock.release()


def settle_store(url: str) -> SqlDayStore:
    """The store on the database at `url`, migrated to head."""
    from ledger.db.engine import make_engine
    from ledger.db.migrate import migrate

    engine = make_engine(url)
    migrate(engine)
    return SqlDayStore(engine)

