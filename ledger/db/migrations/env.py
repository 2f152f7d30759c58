"""Alembic environment: uses the engine passed by `ledger.db.migrate` (or the configured URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

import ledger.db.api_models
import ledger.db.energy_models
import ledger.db.settlement_models  # noqa: F401 - and the settlement state tables
from ledger.db.engine import make_engine
from ledger.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine: Engine | None = config.attributes.get("engine")
    own = engine is None
    if engine is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no database URL: call ledger.db.migrate(url)")
        engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        if own:
            engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; use ledger.db.migrate")
run_migrations_online()
