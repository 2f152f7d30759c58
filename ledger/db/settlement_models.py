"""Settlement state tables: what `ledger settle` computed, sent and saw paid (SQLAlchemy 2 models).

The chain is the truth of what is committed and paid; these tables keep what the chain does not:
the lines behind each committed root (for proofs and for paying the next batch), the residues
carried to the next day, and the progress of each version as this side saw it.

- settle_versions: one row per (operation, day, version) computed; `state` is computed ->
  commit-sent -> committed -> paid, or voided; `commit_tx` is the hash of the commit sent.
  Unique by (operation, day, version): two runs can never store two different versions N.
- settle_lines: the Merkle leaves of a version in tree order (`line_number`), exact integers.
- settle_batches: each payment batch seen mined (tx hash, block).
- settle_residues: the 1/1000 micro-euro carried per (producer meter, consumer meter), before
  and after the day, as the version computed them.

Operation ids are uint256 (keccak of a text id) and BATCH line values are hashes: U256 columns.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKeyConstraint, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db.models import Address, Base, Hash
from ledger.db.types import U256

VERSION_STATES = ("computed", "commit-sent", "committed", "paid", "voided")
_VERSION_KEY = ["settle_versions.operation_id", "settle_versions.day", "settle_versions.version"]


class SettleVersion(Base):
    __tablename__ = "settle_versions"
    operation_id: Mapped[int] = mapped_column(U256, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    step_minutes: Mapped[int] = mapped_column(Integer)
    batch_size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(Hash)
    transfers_hash: Mapped[str] = mapped_column(Hash)
    produced_wh: Mapped[int] = mapped_column(U256)
    consumed_wh: Mapped[int] = mapped_column(U256)
    allocated_wh: Mapped[int] = mapped_column(U256)
    surplus_wh: Mapped[int] = mapped_column(U256)
    amount: Mapped[int] = mapped_column(U256)
    transfers: Mapped[int] = mapped_column(BigInteger)
    line_count: Mapped[int] = mapped_column(BigInteger)
    residues_hash: Mapped[str | None] = mapped_column(Hash, nullable=True)  # NULL reads as altered
    state: Mapped[str] = mapped_column(String(12))
    commit_tx: Mapped[str | None] = mapped_column(Hash, nullable=True)


class SettleLine(Base):
    __tablename__ = "settle_lines"
    operation_id: Mapped[int] = mapped_column(U256, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger)
    index: Mapped[int] = mapped_column(BigInteger)
    time: Mapped[int] = mapped_column(BigInteger)
    payer: Mapped[str] = mapped_column(Address)
    payee: Mapped[str] = mapped_column(Address)
    wh: Mapped[int] = mapped_column(U256)
    value: Mapped[int] = mapped_column(U256)

    __table_args__ = (
        ForeignKeyConstraint(["operation_id", "day", "version"], _VERSION_KEY, ondelete="CASCADE"),
    )


class SettleBatch(Base):
    __tablename__ = "settle_batches"
    operation_id: Mapped[int] = mapped_column(U256, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    batch: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tx_hash: Mapped[str] = mapped_column(Hash)
    block_number: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        ForeignKeyConstraint(["operation_id", "day", "version"], _VERSION_KEY, ondelete="CASCADE"),
    )


class SettleResidue(Base):
    __tablename__ = "settle_residues"
    operation_id: Mapped[int] = mapped_column(U256, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    side: Mapped[str] = mapped_column(String(6), primary_key=True)  # "before" | "after"
    producer: Mapped[str] = mapped_column(String(128), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(128), primary_key=True)
    residue: Mapped[int] = mapped_column(BigInteger)  # 0..999 (1/1000 micro-euro)

    __table_args__ = (
        ForeignKeyConstraint(["operation_id", "day", "version"], _VERSION_KEY, ondelete="CASCADE"),
    )
