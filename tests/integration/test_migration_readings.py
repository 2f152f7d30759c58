"""Migration 0006_readings_reviews on SQLite and PostgreSQL: a database at 0004 with a held
review keeps it, open, through the upgrade; the downgrade and a second upgrade are clean."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from ledger.db import make_engine
from ledger.db.migrate import alembic_config, migrate
from tests.integration.test_reviews_and_corrections import postgres_url  # noqa: F401 - fixture


def _cycle(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate(engine, "0004")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO energy_meters (serial, serial_hash, commodity, max_rate) "
                              "VALUES ('PRM-1', '0x01', 'electricity', 12000)"))
            conn.execute(text(
                "INSERT INTO energy_reading_reviews (source, meter_id, start_ts, step_s, direction,"
                " version, stored_value, proposed_value, reason, raw_sha256, status, received_ts) "
                "VALUES ('distributor', 1, 1750000500, 900, 'import', 'raw', 70, 90, 'r', 'ab', "
                "'open', 1)"
            ))
            conn.execute(text("INSERT INTO energy_operations (operation_id, name, key, step_s) "
                              "VALUES ('op', 'op', 'default', 900)"))
        migrate(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("energy_reading_reviews")}
        assert {"resolution", "resolved_value", "resolved_ts", "resolved_by"} <= columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT status, resolution FROM energy_reading_reviews")).one() \
                == ("open", None)
            assert conn.execute(text("SELECT settle_on_gateway FROM energy_operations")).scalar_one() \
                in (False, 0)
        assert {"energy_half_wh_carries", "energy_register_samples", "energy_operation_rules",
                "energy_meter_sites", "energy_supply_contracts", "energy_memberships",
                "energy_consents"} <= set(inspect(engine).get_table_names())
        command.downgrade(alembic_config(engine), "0004")
        assert "energy_register_samples" not in inspect(engine).get_table_names()
        migrate(engine)
    finally:
        engine.dispose()


def test_the_readings_migration_on_sqlite(tmp_path: Path) -> None:
    _cycle(f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}")


def test_the_readings_migration_on_postgresql(postgres_url: str) -> None:  # noqa: F811
    _cycle(postgres_url)


