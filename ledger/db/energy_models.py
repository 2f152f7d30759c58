"""Energy tables: the sharing registry and the stored meter readings (SQLAlchemy 2 models).

Registry: energy_operations, energy_participants, energy_commodities, energy_gateways,
energy_meters. Meter serials are personal data and stay in this database (never on chain);
`serial_hash` (0x + sha256(salt || serial)) is the on-chain form.

Readings: energy_readings is keyed for idempotency by (source, meter, start_ts, step_s,
direction, version); `start_ts` is the interval start in Unix seconds UTC (exact, no time zone
ambiguity on SQLite); `current` is false for a raw value superseded by a correction (history kept).
energy_reading_reviews holds conflicting values, energy_raw_inputs the sha256 of every raw input
stored, energy_ingest_counts the outcome counters. Energy values are integer Wh (L for water) in
BIGINT: far below 2^53, exact on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db.models import Base


class EnergyOperation(Base):
    __tablename__ = "energy_operations"
    operation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(String(16))
    step_s: Mapped[int] = mapped_column(Integer)
    settle_on_gateway: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class EnergyParticipant(Base):
    __tablename__ = "energy_participants"
    operation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("energy_operations.operation_id"), primary_key=True
    )
    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    role: Mapped[str] = mapped_column(String(10))
    share: Mapped[str | None] = mapped_column(String(64), nullable=True)  # exact fraction "1/3"
    priority: Mapped[int | None] = mapped_column(Integer, nullable=True)


class EnergyCommodity(Base):
    __tablename__ = "energy_commodities"
    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    commodity: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    unit: Mapped[str] = mapped_column(String(4))


class EnergyGateway(Base):
    __tablename__ = "energy_gateways"
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # DER SubjectPublicKeyInfo
    last_counter: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class EnergyMeter(Base):
    __tablename__ = "energy_meters"
    meter_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(128), unique=True)
    serial_hash: Mapped[str] = mapped_column(String(66), unique=True)
    commodity: Mapped[str] = mapped_column(String(16))
    max_rate: Mapped[int] = mapped_column(BigInteger)  # W (electricity, gas) or L/h (water)
    device_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("energy_gateways.device_id"), nullable=True, index=True
    )
    operation_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("energy_operations.operation_id"), nullable=True, index=True
    )
    wallet: Mapped[str | None] = mapped_column(String(42), nullable=True)


class EnergyRawInput(Base):
    __tablename__ = "energy_raw_inputs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(8))
    size: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    counter: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    received_ts: Mapped[int] = mapped_column(BigInteger)


class EnergyReading(Base):
    __tablename__ = "energy_readings"
    reading_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(12))
    meter_id: Mapped[int] = mapped_column(Integer, ForeignKey("energy_meters.meter_id"))
    start_ts: Mapped[int] = mapped_column(BigInteger)
    step_s: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    version: Mapped[str] = mapped_column(String(10))
    value: Mapped[int] = mapped_column(BigInteger)
    current: Mapped[bool] = mapped_column(Boolean)
    raw_sha256: Mapped[str] = mapped_column(String(64), ForeignKey("energy_raw_inputs.sha256"))
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    counter: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    clock_status: Mapped[str] = mapped_column(String(10))
    received_ts: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint(
            "source", "meter_id", "start_ts", "step_s", "direction", "version",
            name="uq_energy_readings_key",
        ),
        Index("ix_energy_readings_meter_start", "meter_id", "start_ts"),
    )


class EnergyReadingReview(Base):
    __tablename__ = "energy_reading_reviews"
    review_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(12))
    meter_id: Mapped[int] = mapped_column(Integer, ForeignKey("energy_meters.meter_id"), index=True)
    start_ts: Mapped[int] = mapped_column(BigInteger)
    step_s: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    version: Mapped[str] = mapped_column(String(10))
    stored_value: Mapped[int] = mapped_column(BigInteger)
    proposed_value: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="open")
    received_ts: Mapped[int] = mapped_column(BigInteger)
    resolution: Mapped[str | None] = mapped_column(String(10), nullable=True)
    resolved_value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    resolved_ts: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_energy_reading_reviews_status", "status", "start_ts"),)


class EnergyHalfWhCarry(Base):
    """A half Wh left by an odd average power at the end of a run of half-hours: it belongs to the
    half-hour starting at `at_ts` of the same meter, direction and version (see csv_import)."""

    __tablename__ = "energy_half_wh_carries"
    source: Mapped[str] = mapped_column(String(12), primary_key=True)
    meter_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("energy_meters.meter_id"), primary_key=True
    )
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    version: Mapped[str] = mapped_column(String(10), primary_key=True)
    at_ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    raw_sha256: Mapped[str] = mapped_column(String(64))


class EnergyRegisterSample(Base):
    """A cumulative register index read at `at_ts` on the physical meter `serial` behind the
    registered meter `meter_id`; `event` is "" or "final" / "initial" at a meter replacement."""

    __tablename__ = "energy_register_samples"
    source: Mapped[str] = mapped_column(String(12), primary_key=True)
    meter_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("energy_meters.meter_id"), primary_key=True
    )
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    at_ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    serial: Mapped[str] = mapped_column(String(128), primary_key=True)
    register_index: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(8))
    raw_sha256: Mapped[str] = mapped_column(String(64))


class EnergyIngestCount(Base):
    __tablename__ = "energy_ingest_counts"
    outcome: Mapped[str] = mapped_column(String(48), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class EnergyOperationRules(Base):
    """The limits `ledger operation check` applies (absent: 2 km and 3 MW)."""

    __tablename__ = "energy_operation_rules"
    operation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("energy_operations.operation_id"), primary_key=True
    )
    perimeter_m: Mapped[int] = mapped_column(Integer)
    power_cap_w: Mapped[int] = mapped_column(BigInteger)


class EnergyMeterSite(Base):
    """Where a meter is (WGS 84, micro-degrees) and, for a producer, its installed power (W)."""

    __tablename__ = "energy_meter_sites"
    meter_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("energy_meters.meter_id"), primary_key=True
    )
    lat_e6: Mapped[int] = mapped_column(Integer)
    lon_e6: Mapped[int] = mapped_column(Integer)
    installed_w: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class EnergySupplyContract(Base):
    """A consumer's supply contract for the complement (its supplier and contract reference)."""

    __tablename__ = "energy_supply_contracts"
    operation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("energy_operations.operation_id"), primary_key=True
    )
    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    supplier: Mapped[str] = mapped_column(Text)
    contract_ref: Mapped[str] = mapped_column(Text)


class EnergyMembership(Base):
    """A period [start_day, end_day) of a participant's membership (local days, ISO text)."""

    __tablename__ = "energy_memberships"
    membership_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("energy_operations.operation_id")
    )
    wallet: Mapped[str] = mapped_column(String(42))
    role: Mapped[str] = mapped_column(String(10))
    share: Mapped[str | None] = mapped_column(String(64), nullable=True)
    priority: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start_day: Mapped[str] = mapped_column(String(10))
    end_day: Mapped[str | None] = mapped_column(String(10), nullable=True)
    recorded_ts: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_energy_memberships_operation", "operation_id"),)


class EnergyConsent(Base):
    """A member's signed consent: the sentence, its signature and the document's sha256."""

    __tablename__ = "energy_consents"
    consent_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("energy_operations.operation_id")
    )
    wallet: Mapped[str] = mapped_column(String(42))
    kind: Mapped[str] = mapped_column(String(16))
    document_sha256: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(132))
    recorded_ts: Mapped[int] = mapped_column(BigInteger)


class EnergyDistrictPublished(Base):
    """A district figure of one step, frozen the first time it was published: later readings
    never change it, so two public answers never differ by one late home's reading."""

    __tablename__ = "energy_district_published"
    start_ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    step_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    figure: Mapped[str] = mapped_column(String(12), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger)
    homes: Mapped[int] = mapped_column(Integer)
    published_ts: Mapped[int] = mapped_column(BigInteger)


class ResidentConsent(Base):
    """A resident's current choice for one purpose (and, for sharing, one named third party);
    no row means the purpose's default (see ledger.domain.data_ownership)."""

    __tablename__ = "resident_consents"
    account: Mapped[str] = mapped_column(String(42), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    party: Mapped[str] = mapped_column(String(32), primary_key=True)  # "" when the purpose names none
    granted: Mapped[bool] = mapped_column(Boolean)
    changed_ts: Mapped[int] = mapped_column(BigInteger)
