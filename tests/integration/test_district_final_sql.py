"""The public district figure of a step is published only once final and then never changes,
on real SQLite and PostgreSQL (migration 0017_data_ownership): a late home's reading, read by a
second API process, never shows as the difference between two answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text

from api.services_energy import CLOSE_AFTER_S, district
from ledger.db import make_engine, migrate
from ledger.db.energy_models import EnergyMeter, EnergyRawInput, EnergyReading
from ledger.db.queries_energy import EnergyQueries
from ledger.domain.energy.steps import day_bounds
from tests.conftest import require_service

DAY = date(2025, 6, 21)
NOON = int(day_bounds(DAY)[0].timestamp()) + 12 * 3600  # 12:00 in Paris, 10:00 UTC
HOMES = [f"0x{n:040x}" for n in range(1, 9)]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    base = require_service("LEDGER_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"district_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reading(url: str, home_index: int, start_ts: int, value: int) -> None:
    """One home's electricity import of one 15-minute step (its meter made on first use)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            raw = f"{home_index:02x}{start_ts:016x}".ljust(64, "0")
            conn.execute(
                insert(EnergyRawInput).values(
                    sha256=raw, source="gateway", channel="http", size=1, received_ts=start_ts
                )
            )
            meter = conn.execute(
                text("SELECT meter_id FROM energy_meters WHERE serial = :s"), {"s": f"M{home_index}"}
            ).scalar()
            if meter is None:
                meter = conn.execute(
                    insert(EnergyMeter)
                    .values(
                        serial=f"M{home_index}", serial_hash=f"0x{home_index:064x}", commodity="electricity",
                        max_rate=36_000, wallet=HOMES[home_index],
                    )
                    .returning(EnergyMeter.meter_id)
                ).scalar_one()
            conn.execute(
                insert(EnergyReading).values(
                    source="gateway", meter_id=meter, start_ts=start_ts, step_s=900, direction="import",
                    version="v1", value=value, current=True, raw_sha256=raw, clock_status="ok",
                    received_ts=start_ts,
                )
            )
    finally:
        engine.dispose()


def _consumption(url: str, now: float) -> int | None:
    """Noon's district consumption as a fresh API process (its own engines) publishes it."""
    queries = EnergyQueries.from_url(url, 69003)
    try:
        out = district(queries, DAY, now=now)
    finally:
        queries.close()
    noon = next(s for s in out.steps if s.start == "2025-06-21T10:00:00Z")
    return noon.consumption_wh


def test_a_late_homes_reading_never_changes_a_published_figure(database_url: str) -> None:
    for n in range(5):
        _reading(database_url, n, NOON, 100 + n)
    before = _consumption(database_url, now=NOON + 3600)
    _reading(database_url, 6, NOON, 5555)
    after = _consumption(database_url, now=NOON + 3600)
    assert before == after == sum(100 + n for n in range(5))


def test_a_step_waits_for_every_expected_home_or_its_close(database_url: str) -> None:
    """Six homes reported the day before; five report noon: the step is not final (withheld)
    until the sixth reports, or until it closes two days after its end."""
    for n in range(6):
        _reading(database_url, n, NOON - 86_400, 50)
    for n in range(5):
        _reading(database_url, n, NOON, 100 + n)
    assert _consumption(database_url, now=NOON + 3600) is None
    closed = NOON + 900 + CLOSE_AFTER_S
    assert _consumption(database_url, now=closed - 1) is None
    assert _consumption(database_url, now=closed) == sum(100 + n for n in range(5))
    _reading(database_url, 5, NOON, 7777)  # after the close: settlement sees it, the public never
    assert _consumption(database_url, now=closed + 60) == sum(100 + n for n in range(5))
